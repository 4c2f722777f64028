// SPDX-License-Identifier: GPL-2.0
/*
 * Grant and revoke token checks (docs/protocol.md §7), in the order
 * @sivshm/core's verifyGrant uses, so both report the same reason for the
 * same token: tag, structure (the doorbell route included), vm, epoch,
 * kn, window, expiry, then (device only) a channel revoked in this epoch,
 * then replay. The serial is committed last, so a refused token never
 * burns one.
 */
#include <crypto/algapi.h>
#include <linux/kernel.h>
#include <linux/string.h>

#include "sivshm_grant.h"

bool sivshm_serial_fresh(const struct sivshm_serials *s, u64 serial)
{
	u64 age;

	if (!s->started || serial > s->high)
		return true;
	age = s->high - serial;
	if (age >= SIVSHM_SERIAL_WINDOW)
		return false;
	return !(s->seen & (1ULL << age));
}

void sivshm_serial_commit(struct sivshm_serials *s, u64 serial)
{
	u64 shift;

	if (!s->started || serial > s->high) {
		shift = s->started ? serial - s->high : SIVSHM_SERIAL_WINDOW;
		s->seen = shift >= SIVSHM_SERIAL_WINDOW ? 0 : s->seen << shift;
		s->high = serial;
		s->started = true;
		s->seen |= 1;
	} else {
		s->seen |= 1ULL << (s->high - serial);
	}
}

bool sivshm_window_in_data(u64 offset, u64 length, u64 region_size,
			   u64 data_offset, u64 data_size)
{
	if (offset % SIVSHM_PAGE_SIZE || length % SIVSHM_PAGE_SIZE || !length)
		return false;
	/* a header claiming a data section past the region makes every window invalid */
	if (data_offset > region_size || data_size > region_size - data_offset)
		return false;
	if (offset < data_offset)
		return false;
	return offset - data_offset <= data_size &&
	       length <= data_size - (offset - data_offset);
}

u64 sivshm_window_data_size(u64 window_length, u64 granule)
{
	u64 d;

	if (window_length % 2)
		return 0;
	if (window_length / 2 < 3 * granule)
		return 0;
	d = window_length / 2 - 2 * granule;
	return is_power_of_2(d) ? d : 0;
}

bool sivshm_granule_fits(u64 granule, u64 page_size)
{
	return granule >= page_size;
}

bool sivshm_revoked_has(const struct sivshm_revoked *r, u64 epoch, u64 channel)
{
	unsigned int i;

	if (r->epoch != epoch)	/* the set of another epoch: nothing revoked yet */
		return false;
	if (r->overflow)
		return true;
	for (i = 0; i < r->count; i++)
		if (r->channel[i] == channel)
			return true;
	return false;
}

void sivshm_revoked_add(struct sivshm_revoked *r, u64 epoch, u64 channel)
{
	if (r->epoch != epoch) {
		r->epoch = epoch;
		r->count = 0;
		r->overflow = false;
	}
	if (sivshm_revoked_has(r, epoch, channel))
		return;
	if (r->count == SIVSHM_MAX_REVOKED)
		r->overflow = true;
	else
		r->channel[r->count++] = channel;
}

static bool sivshm_all_zero(const u8 *p, size_t n)
{
	u8 acc = 0;

	while (n--)
		acc |= *p++;
	return !acc;
}

int sivshm_check_grant(const struct sivshm_grant_ctx *ctx,
		       const struct sivshm_grant_token *tok,
		       const u8 tag[SIVSHM_TAG_SIZE])
{
	u8 want[SIVSHM_TAG_SIZE];
	int ret;

	ret = sivshm_hmac_sha256(ctx->key, SIVSHM_GRANT_LABEL, tok,
				 sizeof(*tok), want);
	if (ret)
		return ret;
	ret = crypto_memneq(want, tag, SIVSHM_TAG_SIZE);
	memzero_explicit(want, sizeof(want));
	if (ret)
		return SIVSHM_REJ_TAG;
	return sivshm_check_grant_fields(ctx, tok);
}

/*
 * A device grant's window is the one its channel device's header names,
 * for the VM the header names in the token's role, in the token's epoch.
 */
static int sivshm_check_device_window(const struct sivshm_grant_ctx *ctx,
				      const struct sivshm_grant_token *tok)
{
	const struct sivshm_chandev_header *d = ctx->chandev;
	u32 vm = le32_to_cpu((__force __le32)tok->vm_id);

	if (!d)
		return SIVSHM_REJ_NODEV;
	if (d->channel_id != le64_to_cpu((__force __le64)tok->channel_id) ||
	    d->epoch != le64_to_cpu((__force __le64)tok->epoch) ||
	    d->window_offset != le64_to_cpu((__force __le64)tok->window_offset) ||
	    d->window_length != le64_to_cpu((__force __le64)tok->window_length) ||
	    vm != (tok->role == SIVSHM_ROLE_CONSUMER ? d->consumer_vm : d->provider_vm))
		return SIVSHM_REJ_WINDOW;
	return SIVSHM_OK;
}

int sivshm_check_grant_fields(const struct sivshm_grant_ctx *ctx,
			      const struct sivshm_grant_token *tok)
{
	int v;

	if (le32_to_cpu((__force __le32)tok->magic) != SIVSHM_GRANT_MAGIC)
		return SIVSHM_REJ_MAGIC;
	if (tok->version != SIVSHM_GRANT_VERSION)
		return SIVSHM_REJ_VERSION;
	if (tok->role != SIVSHM_ROLE_CONSUMER && tok->role != SIVSHM_ROLE_PROVIDER)
		return SIVSHM_REJ_ROLE;
	if (le16_to_cpu((__force __le16)tok->perms) != SIVSHM_PERM_MAP)
		return SIVSHM_REJ_PERMS;
	if (tok->pad0 || !sivshm_all_zero(tok->pad1, sizeof(tok->pad1)) ||
	    tok->pad2 || tok->pad3 || tok->target > SIVSHM_GRANT_TARGET_DEVICE)
		return SIVSHM_REJ_PAD;
	if (tok->mode > SIVSHM_MODE_AEAD)
		return SIVSHM_REJ_MODE;
	/* a route that rings nobody in particular is not a route */
	if (le16_to_cpu((__force __le16)tok->db_peer) == SIVSHM_DB_NO_PEER && tok->db_ring)
		return SIVSHM_REJ_DOORBELL;
	if (le32_to_cpu((__force __le32)tok->vm_id) != ctx->vm_id)
		return SIVSHM_REJ_VM;
	if (le64_to_cpu((__force __le64)tok->epoch) != ctx->epoch)
		return SIVSHM_REJ_EPOCH;
	if (crypto_memneq(tok->kn, ctx->kn, SIVSHM_KN_SIZE))
		return SIVSHM_REJ_KN;
	if (tok->target == SIVSHM_GRANT_TARGET_DEVICE) {
		v = sivshm_check_device_window(ctx, tok);
		if (v != SIVSHM_OK)
			return v;
	} else if (!sivshm_window_in_data(le64_to_cpu((__force __le64)tok->window_offset),
					  le64_to_cpu((__force __le64)tok->window_length),
					  ctx->region_size, ctx->data_offset,
					  ctx->data_size)) {
		return SIVSHM_REJ_WINDOW;
	}
	if (le64_to_cpu((__force __le64)tok->not_after) <= ctx->now_ns)
		return SIVSHM_REJ_EXPIRED;
	if (ctx->revoked &&
	    sivshm_revoked_has(ctx->revoked, ctx->epoch,
			       le64_to_cpu((__force __le64)tok->channel_id)))
		return SIVSHM_REJ_REVOKED;
	if (!sivshm_serial_fresh(ctx->serials,
				 le64_to_cpu((__force __le64)tok->grant_serial)))
		return SIVSHM_REJ_REPLAY;
	sivshm_serial_commit(ctx->serials,
			     le64_to_cpu((__force __le64)tok->grant_serial));
	return SIVSHM_OK;
}

int sivshm_check_revoke(const struct sivshm_revoke_ctx *ctx,
			const struct sivshm_revoke_token *tok,
			const u8 tag[SIVSHM_TAG_SIZE])
{
	u8 want[SIVSHM_TAG_SIZE];
	int ret;

	ret = sivshm_hmac_sha256(ctx->key, SIVSHM_REVOKE_LABEL, tok,
				 sizeof(*tok), want);
	if (ret)
		return ret;
	ret = crypto_memneq(want, tag, SIVSHM_TAG_SIZE);
	memzero_explicit(want, sizeof(want));
	if (ret)
		return SIVSHM_REJ_TAG;
	return sivshm_check_revoke_fields(ctx, tok);
}

int sivshm_check_revoke_fields(const struct sivshm_revoke_ctx *ctx,
			       const struct sivshm_revoke_token *tok)
{
	u64 serial;

	if (le32_to_cpu((__force __le32)tok->magic) != SIVSHM_REVOKE_MAGIC)
		return SIVSHM_REJ_MAGIC;
	if (tok->version != SIVSHM_TOKEN_VERSION)
		return SIVSHM_REJ_VERSION;
	if (!sivshm_all_zero(tok->pad0, sizeof(tok->pad0)) || tok->pad1)
		return SIVSHM_REJ_PAD;
	if (le32_to_cpu((__force __le32)tok->vm_id) != ctx->vm_id)
		return SIVSHM_REJ_VM;
	if (le64_to_cpu((__force __le64)tok->epoch) != ctx->epoch)
		return SIVSHM_REJ_EPOCH;
	serial = le64_to_cpu((__force __le64)tok->revoke_serial);
	if (!sivshm_serial_fresh(ctx->serials, serial))
		return SIVSHM_REJ_REPLAY;
	sivshm_serial_commit(ctx->serials, serial);
	return SIVSHM_OK;
}
