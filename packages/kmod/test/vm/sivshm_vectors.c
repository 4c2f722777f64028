// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm_vectors: test-only module that feeds @sivshm/core's grant vector
 * file (compiled into sivshm_vectors_data.h by the VM test driver) to the
 * driver's own sivshm_check_grant(), HMAC through the kernel crypto API,
 * and logs one line per vector. It binds to no device.
 */
#include <linux/module.h>
#include <linux/string.h>

#include "sivshm_grant.h"

struct sivshm_vector {
	const char *name;
	u8 key[SIVSHM_KEY_SIZE];
	u8 token[sizeof(struct sivshm_grant_token)];
	u8 tag[SIVSHM_TAG_SIZE];
	u32 vm_id;
	u64 epoch;
	u8 kn[SIVSHM_KN_SIZE];
	u64 now_ns;
	u64 region_size;
	u64 data_offset;
	u64 data_size;
	u64 seen[8];
	int nseen;
	int want;
};

#include "sivshm_vectors_data.h"

static int __init sivshm_vectors_init(void)
{
	int i, j, agree = 0, n = ARRAY_SIZE(sivshm_vectors);

	for (i = 0; i < n; i++) {
		const struct sivshm_vector *v = &sivshm_vectors[i];
		struct sivshm_serials serials = {};
		struct sivshm_grant_token tok;
		struct sivshm_grant_ctx ctx = {
			.key = v->key,
			.vm_id = v->vm_id,
			.epoch = v->epoch,
			.kn = v->kn,
			.now_ns = v->now_ns,
			.region_size = v->region_size,
			.data_offset = v->data_offset,
			.data_size = v->data_size,
			.serials = &serials,
		};
		int got;

		for (j = 0; j < v->nseen; j++)
			sivshm_serial_commit(&serials, v->seen[j]);
		memcpy(&tok, v->token, sizeof(tok));
		got = sivshm_check_grant(&ctx, &tok, v->tag);
		if (got == v->want) {
			agree++;
			pr_info("sivshm_vectors: ok %d %s\n", i, v->name);
		} else {
			pr_info("sivshm_vectors: not ok %d %s: verdict %d, want %d\n",
				i, v->name, got, v->want);
		}
	}
	pr_info("sivshm_vectors: summary %d/%d agree\n", agree, n);
	return 0;
}

static void __exit sivshm_vectors_exit(void)
{
}

module_init(sivshm_vectors_init);
module_exit(sivshm_vectors_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sivshm grant check against @sivshm/core's vectors (test only)");
