// SPDX-License-Identifier: GPL-2.0
/* HMAC-SHA256 through the kernel crypto API, for the grant and revoke tags. */
#include <crypto/hash.h>
#include <linux/err.h>
#include <linux/string.h>

#include "sivshm_grant.h"

int sivshm_hmac_sha256(const u8 *key, const char *label, const void *msg,
		       size_t len, u8 out[SIVSHM_TAG_SIZE])
{
	struct crypto_shash *tfm;
	int ret;

	/*
	 * A transform per call: grants are rare, and a shared keyed tfm would
	 * need a lock around setkey + digest.
	 */
	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	ret = crypto_shash_setkey(tfm, key, SIVSHM_KEY_SIZE);
	if (!ret) {
		SHASH_DESC_ON_STACK(desc, tfm);

		desc->tfm = tfm;
		ret = crypto_shash_init(desc);
		if (!ret)	/* the label's NUL is part of the MAC input */
			ret = crypto_shash_update(desc, label, strlen(label) + 1);
		if (!ret)
			ret = crypto_shash_update(desc, msg, len);
		if (!ret)
			ret = crypto_shash_final(desc, out);
		shash_desc_zero(desc);
	}
	crypto_free_shash(tfm);
	return ret;
}
