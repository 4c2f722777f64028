/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The driver's HMAC-SHA256: one transform, keyed once when the VM's key is
 * provisioned and then shared. A keyed shash transform is read-only, each
 * caller hashes through its own descriptor, so no lock is needed around it.
 */
#ifndef SIVSHM_HMAC_H
#define SIVSHM_HMAC_H

#include <linux/types.h>

#include "sivshm.h"

struct crypto_shash;

/* A transform keyed with @key, or an ERR_PTR. */
struct crypto_shash *sivshm_hmac_new(const u8 key[SIVSHM_KEY_SIZE]);

/* HMAC(key of @tfm, label[0..label_len) || msg); 0 or a negative errno. */
int sivshm_hmac_keyed(struct crypto_shash *tfm, const void *label,
		      size_t label_len, const void *msg, size_t len,
		      u8 out[SIVSHM_TAG_SIZE]);

#endif /* SIVSHM_HMAC_H */
