/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The grant and revoke checks of docs/protocol.md §7 as pure functions:
 * everything they depend on comes in through a context struct, so the
 * same code runs in the driver and in the vector test module.
 */
#ifndef SIVSHM_GRANT_H
#define SIVSHM_GRANT_H

#include <linux/types.h>

#include "sivshm.h"

/* Single-use serials: a high-water mark and a bitmap of the 64 below it. */
struct sivshm_serials {
	bool started;
	u64 high;
	u64 seen;	/* bit i: serial high - i was used */
};

/*
 * Channels revoked in the current epoch, refused by every later grant.
 * Bounded: past SIVSHM_MAX_REVOKED channels in one epoch the set
 * overflows and then stands for every channel (fail closed: no grant is
 * accepted until the epoch changes). A new epoch starts an empty set.
 */
#define SIVSHM_MAX_REVOKED	256

struct sivshm_revoked {
	u64 epoch;
	unsigned int count;
	bool overflow;
	u64 channel[SIVSHM_MAX_REVOKED];
};

bool sivshm_revoked_has(const struct sivshm_revoked *r, u64 epoch, u64 channel);
void sivshm_revoked_add(struct sivshm_revoked *r, u64 epoch, u64 channel);

/* What the device knows when a token arrives. */
struct sivshm_grant_ctx {
	const u8 *key;		/* SIVSHM_KEY_SIZE bytes */
	u32 vm_id;
	u64 epoch;
	const u8 *kn;		/* nonce of the file the token came on */
	u64 now_ns;		/* unix time */
	u64 region_size;
	u64 data_offset;
	u64 data_size;
	struct sivshm_serials *serials;	/* committed only on acceptance */
	const struct sivshm_revoked *revoked;	/* NULL: none recorded */
	/*
	 * The header (CPU byte order) of the channel device bound to the
	 * token's channel, for a device grant; NULL: no such device here.
	 */
	const struct sivshm_chandev_header *chandev;
};

struct sivshm_revoke_ctx {
	const u8 *key;
	u32 vm_id;
	u64 epoch;
	struct sivshm_serials *serials;
};

/* HMAC-SHA256(key, label || NUL || msg); 0 or a negative errno. */
int sivshm_hmac_sha256(const u8 *key, const char *label, const void *msg,
		       size_t len, u8 out[SIVSHM_TAG_SIZE]);

bool sivshm_serial_fresh(const struct sivshm_serials *s, u64 serial);
void sivshm_serial_commit(struct sivshm_serials *s, u64 serial);

bool sivshm_window_in_data(u64 offset, u64 length, u64 region_size,
			   u64 data_offset, u64 data_size);

/*
 * Check a grant token; returns an enum sivshm_verdict (SIVSHM_OK on
 * acceptance) or a negative errno if the HMAC could not be computed.
 */
int sivshm_check_grant(const struct sivshm_grant_ctx *ctx,
		       const struct sivshm_grant_token *tok,
		       const u8 tag[SIVSHM_TAG_SIZE]);

int sivshm_check_revoke(const struct sivshm_revoke_ctx *ctx,
			const struct sivshm_revoke_token *tok,
			const u8 tag[SIVSHM_TAG_SIZE]);

/*
 * The same checks minus the tag, for a caller that verified the tag
 * itself (the driver does, with its keyed transform and no lock held).
 */
int sivshm_check_grant_fields(const struct sivshm_grant_ctx *ctx,
			      const struct sivshm_grant_token *tok);
int sivshm_check_revoke_fields(const struct sivshm_revoke_ctx *ctx,
			       const struct sivshm_revoke_token *tok);

/*
 * Data area per direction of a window laid out for page granule @granule
 * (4096 in layout v1), or 0 if the length is not one.
 */
u64 sivshm_window_data_size(u64 window_length, u64 granule);

/*
 * Can a window of a region laid out for @granule (and aligned to it) be
 * mapped with pages of @page_size bytes so that no page holds pages of
 * both roles? Only if the granule is at least the page size: every part of
 * the window is then whole pages.
 */
bool sivshm_granule_fits(u64 granule, u64 page_size);

#endif /* SIVSHM_GRANT_H */
