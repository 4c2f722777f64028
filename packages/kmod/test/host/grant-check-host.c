/*
 * Host build of kernel/sivshm_grant.c for test/grant-check.int.spec.ts: reads one vector per
 * line on stdin and prints the verdict of sivshm_check_grant() for it. HMAC-SHA256 comes from
 * OpenSSL here; in the guest the same .c file uses the kernel crypto API (test/vm/).
 *
 * line: key token tag vm_id epoch kn now_ns region_size data_offset data_size seen,seen,...|-
 */
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sivshm_grant.h"

int sivshm_hmac_sha256(const u8 *key, const char *label, const void *msg, size_t len,
		       u8 out[SIVSHM_TAG_SIZE])
{
	unsigned char buf[256];
	size_t n = strlen(label) + 1;
	unsigned int olen = 0;

	if (n + len > sizeof(buf))
		return -1;
	memcpy(buf, label, n);
	memcpy(buf + n, msg, len);
	return HMAC(EVP_sha256(), key, SIVSHM_KEY_SIZE, buf, n + len, out, &olen) && olen == 32
		       ? 0
		       : -1;
}

static int unhex(const char *s, void *out, size_t n)
{
	u8 *b = out;

	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = v;
	}
	return 0;
}

int main(void)
{
	char key[80], tok[256], tag[80], kn[40], seen[2048];
	unsigned long long epoch, now, rsize, doff, dsize;
	unsigned int vm;

	while (scanf("%79s %255s %79s %u %llu %39s %llu %llu %llu %llu %2047s", key, tok, tag, &vm,
		     &epoch, kn, &now, &rsize, &doff, &dsize, seen) == 11) {
		u8 k[32], t[32], n[16];
		struct sivshm_grant_token token;
		struct sivshm_serials serials = { 0 };
		struct sivshm_grant_ctx ctx = {
			.key = k, .vm_id = vm, .epoch = epoch, .kn = n, .now_ns = now,
			.region_size = rsize, .data_offset = doff, .data_size = dsize,
			.serials = &serials,
		};

		if (unhex(key, k, 32) || unhex(tok, &token, sizeof(token)) || unhex(tag, t, 32) ||
		    unhex(kn, n, 16)) {
			printf("bad-input\n");
			continue;
		}
		if (strcmp(seen, "-"))
			for (char *s = strtok(seen, ","); s; s = strtok(NULL, ","))
				sivshm_serial_commit(&serials, strtoull(s, NULL, 10));
		printf("%d\n", sivshm_check_grant(&ctx, &token, t));
	}
	return 0;
}
