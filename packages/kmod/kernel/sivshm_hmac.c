// SPDX-License-Identifier: GPL-2.0
/* HMAC-SHA256 through the kernel crypto API: tags, and revoke receipts. */
#include <crypto/hash.h>
#include <linux/err.h>
#include <linux/string.h>

#include "sivshm_grant.h"
#include "sivshm_hmac.h"

struct crypto_shash *sivshm_hmac_new(const u8 key[SIVSHM_KEY_SIZE])
{
	struct crypto_shash *tfm;
	int ret;

	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return tfm;
	ret = crypto_shash_setkey(tfm, key, SIVSHM_KEY_SIZE);
	if (ret) {
		crypto_free_shash(tfm);
		return ERR_PTR(ret);
	}
	return tfm;
}

int sivshm_hmac_keyed(struct crypto_shash *tfm, const void *label,
		      size_t label_len, const void *msg, size_t len,
		      u8 out[SIVSHM_TAG_SIZE])
{
	SHASH_DESC_ON_STACK(desc, tfm);
	int ret;

	desc->tfm = tfm;
	ret = crypto_shash_init(desc);
	if (!ret)
		ret = crypto_shash_update(desc, label, label_len);
	if (!ret)
		ret = crypto_shash_update(desc, msg, len);
	if (!ret)
		ret = crypto_shash_final(desc, out);
	shash_desc_zero(desc);
	return ret;
}

/* The pure checks' entry (also the vector module's): a transform per call. */
int sivshm_hmac_sha256(const u8 *key, const char *label, const void *msg,
		       size_t len, u8 out[SIVSHM_TAG_SIZE])
{
	struct crypto_shash *tfm = sivshm_hmac_new(key);
	int ret;

	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	/* the label's NUL is part of a tag's MAC input */
	ret = sivshm_hmac_keyed(tfm, label, strlen(label) + 1, msg, len, out);
	crypto_free_shash(tfm);
	return ret;
}
