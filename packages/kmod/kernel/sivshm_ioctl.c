// SPDX-License-Identifier: GPL-2.0
/* sivshm: the ioctls (key, grant, revoke with its receipt, doorbell). */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <linux/capability.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "sivshm_dev.h"
#include "sivshm_hmac.h"

/* The original 48-byte INFO (before page_size), still answered. */
#define SIVSHM_IOC_INFO_V1 _IOC(_IOC_READ, SIVSHM_IOCTL_MAGIC, 0x01, 48)

static long sivshm_ioc_info(void __user *arg, size_t size)
{
	struct sivshm_region_header h;
	struct sivshm_info info = { .page_size = PAGE_SIZE };

	mutex_lock(&sivshm.lock);
	info.region_size = sivshm.ctl.len;
	info.ivposition = sivshm.ivposition;
	info.vectors = sivshm.nvec;
	if (sivshm.mac) {
		info.vm_id = sivshm.vm_id;
		info.flags |= SIVSHM_INFO_KEY_SET;
	}
	if (!sivshm_read_header(&h)) {
		info.epoch = h.epoch;
		info.data_offset = h.data_offset;
		info.data_size = h.data_size;
		info.page_granule = h.page_granule;
		info.flags |= SIVSHM_INFO_HEADER_OK;
		if (sivshm.roctl_bound)
			info.flags |= SIVSHM_INFO_CONTROL_RO;
	}
	mutex_unlock(&sivshm.lock);
	return copy_to_user(arg, &info, size) ? -EFAULT : 0;
}

static long sivshm_ioc_set_key(void __user *arg)
{
	struct sivshm_set_key req;
	struct crypto_shash *mac;
	long ret = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0) {
		ret = -EINVAL;
		goto out;
	}
	/* keyed here once, so no GRANT or REVOKE allocates or keys a transform */
	mac = sivshm_hmac_new(req.key);
	if (IS_ERR(mac)) {
		ret = PTR_ERR(mac);
		goto out;
	}
	mutex_lock(&sivshm.lock);
	if (sivshm.mac) {
		ret = -EEXIST;
	} else {
		sivshm.vm_id = req.vm_id;
		smp_store_release(&sivshm.mac, mac);	/* vm_id first */
		mac = NULL;
	}
	mutex_unlock(&sivshm.lock);
	if (mac)
		crypto_free_shash(mac);
out:
	memzero_explicit(&req, sizeof(req));
	return ret;
}

/*
 * 1 if @tag is HMAC(K_vm, @label incl. NUL || @tok), 0 if not, or a
 * negative errno. Needs no device state beyond the keyed transform, so it
 * runs with no lock held.
 */
static int sivshm_tag_ok(struct crypto_shash *mac, const char *label,
			 const void *tok, size_t len, const u8 tag[SIVSHM_TAG_SIZE])
{
	u8 want[SIVSHM_TAG_SIZE];
	int ret;

	ret = sivshm_hmac_keyed(mac, label, strlen(label) + 1, tok, len, want);
	if (!ret)
		ret = !crypto_memneq(want, tag, SIVSHM_TAG_SIZE);
	memzero_explicit(want, sizeof(want));
	return ret;
}

/*
 * Check everything but the tag (checked by the caller) and install the
 * window, all under sivshm.lock: a REVOKE or remove() runs entirely before
 * or entirely after, so none is lost.
 */
static long sivshm_grant_locked(struct sivshm_file *sf,
				const struct sivshm_grant_token *t, bool tag_ok,
				u32 *verdict)
{
	struct sivshm_chandev_header dh;
	struct sivshm_chandev *cd = NULL;
	struct sivshm_region_header h;
	struct sivshm_grant_ctx ctx;
	long ret;

	lockdep_assert_held(&sivshm.lock);
	ret = sivshm_read_header(&h);	/* -ENODEV once the device is gone */
	if (ret)
		return ret;
	if (!tag_ok) {
		*verdict = SIVSHM_REJ_TAG;
		return -EACCES;
	}
	ctx = (struct sivshm_grant_ctx) {
		.vm_id = sivshm.vm_id,
		.epoch = h.epoch,
		.kn = sf->kn,
		.now_ns = ktime_get_real_ns(),
		.region_size = h.region_size,
		.data_offset = h.data_offset,
		.data_size = h.data_size,
		.serials = &sivshm.grant_serials,
		.revoked = &sivshm.revoked,
	};
	if (t->target == SIVSHM_GRANT_TARGET_DEVICE) {
		cd = sivshm_chandev_find(le64_to_cpu((__force __le64)t->channel_id));
		/*
		 * Re-read: a kernel of the peer VM shares this memory and may
		 * have scribbled on the header since the probe. A header that
		 * is no longer valid, or no longer the probed channel and
		 * geometry (the window is installed from the probed copy), counts
		 * as none.
		 */
		if (cd && (sivshm_read_chandev(cd->bar.mem, cd->bar.len, &dh) ||
			   dh.channel_id != cd->hdr.channel_id ||
			   dh.page_granule != cd->hdr.page_granule ||
			   dh.window_offset != cd->hdr.window_offset ||
			   dh.window_length != cd->hdr.window_length))
			cd = NULL;
		ctx.chandev = cd ? &dh : NULL;
	}
	*verdict = sivshm_check_grant_fields(&ctx, t);
	if (*verdict != SIVSHM_OK)
		return -EACCES;
	sivshm_kill_stale(h.epoch);	/* before the watch may have noticed */
	return sivshm_add_window(sf, t, &h, cd, verdict);
}

static long sivshm_ioc_grant(struct sivshm_file *sf, void __user *arg)
{
	struct crypto_shash *mac = smp_load_acquire(&sivshm.mac);
	struct sivshm_grant_req req;
	u32 verdict = SIVSHM_OK;
	long ret;
	int ok;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0 || req.verdict)
		return -EINVAL;
	if (!mac)
		return -ENOKEY;
	ok = sivshm_tag_ok(mac, SIVSHM_GRANT_LABEL, &req.token, sizeof(req.token), req.tag);
	if (ok < 0)
		return ok;
	if (ok && req.token.target == SIVSHM_GRANT_TARGET_DEVICE) {
		ret = sivshm_chandev_wait(le64_to_cpu((__force __le64)req.token.channel_id));
		if (ret)
			return ret;
	}
	mutex_lock(&sivshm.lock);
	ret = sivshm_grant_locked(sf, &req.token, ok, &verdict);
	mutex_unlock(&sivshm.lock);
	if (put_user(verdict, (u32 __user *)(arg + offsetof(struct sivshm_grant_req, verdict))))
		return -EFAULT;
	return ret;
}

/*
 * Check a revoke token (tag checked by the caller); on acceptance record
 * the channel as revoked for the epoch and zap it in every file, all under
 * sivshm.lock.
 */
static long sivshm_revoke_locked(const struct sivshm_revoke_token *t,
				 bool tag_ok, u32 *verdict)
{
	struct sivshm_region_header h;
	struct sivshm_revoke_ctx ctx;
	struct sivshm_file *sf;
	u64 channel;
	long ret;

	lockdep_assert_held(&sivshm.lock);
	ret = sivshm_read_header(&h);
	if (ret)
		return ret;
	if (!tag_ok) {
		*verdict = SIVSHM_REJ_TAG;
		return -EACCES;
	}
	ctx = (struct sivshm_revoke_ctx) {
		.vm_id = sivshm.vm_id,
		.epoch = h.epoch,
		.serials = &sivshm.revoke_serials,
	};
	*verdict = sivshm_check_revoke_fields(&ctx, t);
	if (*verdict != SIVSHM_OK)
		return -EACCES;
	channel = le64_to_cpu((__force __le64)t->channel_id);
	sivshm_revoked_add(&sivshm.revoked, h.epoch, channel);
	list_for_each_entry(sf, &sivshm.files, node)	/* every file of this VM */
		sivshm_kill_windows(sf, SIVSHM_KILL_CHANNEL, channel);
	return 0;
}

static long sivshm_ioc_revoke(void __user *arg)
{
	struct crypto_shash *mac = smp_load_acquire(&sivshm.mac);
	struct sivshm_revoke_req req;
	const size_t out = offsetof(struct sivshm_revoke_req, verdict);
	long ret;
	int ok;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0 || req.verdict)
		return -EINVAL;
	if (!mac)
		return -ENOKEY;
	ok = sivshm_tag_ok(mac, SIVSHM_REVOKE_LABEL, &req.token, sizeof(req.token), req.tag);
	if (ok < 0)
		return ok;
	mutex_lock(&sivshm.lock);
	ret = sivshm_revoke_locked(&req.token, ok, &req.verdict);
	mutex_unlock(&sivshm.lock);
	memset(req.receipt, 0, sizeof(req.receipt));
	/* the receipt proves the teardown above: made only after it happened */
	if (!ret)
		ret = sivshm_hmac_keyed(mac, SIVSHM_RECEIPT_LABEL,
					sizeof(SIVSHM_RECEIPT_LABEL) - 1, &req.token,
					sizeof(req.token), req.receipt);
	/* verdict, pad0 and receipt; user memory only now, with no lock held */
	if (copy_to_user(arg + out, (u8 *)&req + out, sizeof(req) - out))
		return -EFAULT;
	return ret;
}

static long sivshm_ioc_doorbell(struct sivshm_file *sf, void __user *arg)
{
	struct sivshm_doorbell db;
	long ret = 0;

	if (copy_from_user(&db, arg, sizeof(db)))
		return -EFAULT;
	if (db.pad0)
		return -EINVAL;
	/*
	 * Only a route a live grant of this file names; checked and rung
	 * under sivshm.lock, so a ring never follows the REVOKE that ended
	 * its route.
	 */
	mutex_lock(&sivshm.lock);
	if (!sivshm_may_ring(sf, db.peer, db.vector))
		ret = -EPERM;
	else if (!sivshm.regs || !sivshm.nvec)
		ret = -EOPNOTSUPP;	/* ivshmem-plain: nobody to ring */
	else
		iowrite32(((u32)db.peer << 16) | db.vector,
			  sivshm.regs + SIVSHM_REG_DOORBELL);
	mutex_unlock(&sivshm.lock);
	return ret;
}

long sivshm_ioctl(struct file *file, unsigned int cmd, unsigned long a)
{
	struct sivshm_file *sf = file->private_data;
	void __user *arg = (void __user *)a;

	switch (cmd) {	/* unknown first: -ENOTTY whoever asks */
	case SIVSHM_IOC_INFO:
	case SIVSHM_IOC_INFO_V1:
	case SIVSHM_IOC_NONCE:
		break;
	case SIVSHM_IOC_SET_KEY:
	case SIVSHM_IOC_GRANT:
	case SIVSHM_IOC_REVOKE:
	case SIVSHM_IOC_DOORBELL:
		/* state changes need a file opened for writing */
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		break;
	default:
		return -ENOTTY;
	}
	if (!sivshm_is_opener(sf))
		return -EPERM;
	switch (cmd) {
	case SIVSHM_IOC_INFO:
		return sivshm_ioc_info(arg, sizeof(struct sivshm_info));
	case SIVSHM_IOC_INFO_V1:
		return sivshm_ioc_info(arg, 48);
	case SIVSHM_IOC_NONCE:
		return copy_to_user(arg, sf->kn, sizeof(sf->kn)) ? -EFAULT : 0;
	case SIVSHM_IOC_SET_KEY:
		return sivshm_ioc_set_key(arg);
	case SIVSHM_IOC_GRANT:
		return sivshm_ioc_grant(sf, arg);
	case SIVSHM_IOC_REVOKE:
		return sivshm_ioc_revoke(arg);
	case SIVSHM_IOC_DOORBELL:
		return sivshm_ioc_doorbell(sf, arg);
	default:
		return -ENOTTY;
	}
}
