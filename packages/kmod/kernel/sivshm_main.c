// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm: guest driver for the IVSHMEM PCI device (1af4:1110).
 *
 * /dev/sivshm hands a channel window of BAR2 only to the process that
 * opened the file and presented a grant token signed by the host with this
 * VM's key (docs/protocol.md §7). Inside a window the holder's own pages
 * are writable and the peer's are read-only; nothing is executable, nothing
 * is inherited across fork, growable or movable with mremap. A revoke token
 * zaps every mapping of the channel, bars the channel from every later
 * grant of the epoch and returns a receipt hostd verifies before it reuses
 * the window. Doorbells (ivshmem-doorbell, MSI-X) are rung with an ioctl
 * and received with read()/poll() by grant holders.
 *
 * Locking: sivshm.lock (a mutex) orders every change of the device's
 * state: key, serials, revoked channels, the file list, the installed
 * windows and the PCI binding. It is never held across a user copy (a
 * stalled user page must not block other openers) nor across an HMAC.
 * Each file's rwsem guards its windows for the fault path, which never
 * takes sivshm.lock; lock order is sivshm.lock, then a file's rwsem.
 */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "sivshm_grant.h"
#include "sivshm_hmac.h"

#define SIVSHM_VENDOR		0x1af4
#define SIVSHM_DEVICE		0x1110
#define SIVSHM_REG_IVPOSITION	0x08
#define SIVSHM_REG_DOORBELL	0x0c
#define SIVSHM_MAX_VECTORS	8
#define SIVSHM_MAX_GRANTS	8

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define sivshm_vm_flags_set(vma, f)	vm_flags_set(vma, f)
#define sivshm_vm_flags_clear(vma, f)	vm_flags_clear(vma, f)
#else
#define sivshm_vm_flags_set(vma, f)	((vma)->vm_flags |= (f))
#define sivshm_vm_flags_clear(vma, f)	((vma)->vm_flags &= ~(f))
#endif

struct sivshm_vector {
	atomic_t count;
};

/* One device per module: the VM's single IVSHMEM region. */
static struct sivshm_dev {
	struct mutex lock;	/* see the locking note at the top */
	struct pci_dev *pdev;	/* NULL while no device is bound */
	void __iomem *regs;
	void *region;		/* BAR2, mapped write-back */
	phys_addr_t bar2_start;
	u64 bar2_len;
	u32 ivposition;
	int nvec;
	struct sivshm_vector vec[SIVSHM_MAX_VECTORS];
	wait_queue_head_t wq;

	/* keyed once by SET_KEY, published with a release store, freed at exit */
	struct crypto_shash *mac;
	u32 vm_id;
	struct sivshm_serials grant_serials;
	struct sivshm_serials revoke_serials;
	struct sivshm_revoked revoked;
	struct list_head files;
	u64 live_epoch;		/* every live window is of this epoch */
	atomic_t kills;		/* bumped whenever windows die: readers re-check */
	struct delayed_work epoch_watch;
} sivshm;

struct sivshm_window {
	bool live;
	u8 role;
	u64 epoch;	/* of the region header when the window was granted */
	u64 channel_id;
	u64 offset;
	u64 length;
	u64 data_size;
};

/* State of one open file: its nonce, its opener, its grants. */
struct sivshm_file {
	struct list_head node;	/* in sivshm.files */
	u8 kn[SIVSHM_KN_SIZE];
	struct mm_struct *mm;	/* the opener's; held with mmgrab */
	struct pid *tgid;
	struct address_space *mapping;
	struct rw_semaphore rwsem;	/* grants; held for read across faults */
	struct sivshm_window win[SIVSHM_MAX_GRANTS];
	unsigned int nlive;	/* live windows; written under rwsem, read locklessly */
	u32 seen[SIVSHM_MAX_VECTORS];
};

static bool sivshm_is_opener(const struct sivshm_file *sf)
{
	return current->mm == sf->mm && task_tgid(current) == sf->tgid;
}

/* Copy the header once and validate the copy (the page is shared memory). */
static int sivshm_read_header(struct sivshm_region_header *h)
{
	if (!sivshm.region)
		return -ENODEV;
	memcpy(h, sivshm.region, sizeof(*h));
	if (memcmp(h->magic, SIVSHM_REGION_MAGIC, sizeof(h->magic)) ||
	    le32_to_cpu((__force __le32)h->layout_version) != SIVSHM_LAYOUT_VERSION ||
	    le64_to_cpu((__force __le64)h->region_size) != sivshm.bar2_len)
		return -ENODATA;
	h->epoch = le64_to_cpu((__force __le64)h->epoch);
	h->data_offset = le64_to_cpu((__force __le64)h->data_offset);
	h->data_size = le64_to_cpu((__force __le64)h->data_size);
	h->region_size = sivshm.bar2_len;
	return 0;
}

/* Is byte @off of a window writable for @role? (writableRanges in layout.ts) */
static bool sivshm_page_writable(const struct sivshm_window *w, u64 off)
{
	u64 dir = 2 * SIVSHM_PAGE_SIZE + w->data_size;
	u64 own = w->role == SIVSHM_ROLE_CONSUMER ? 0 : dir;
	u64 peer = w->role == SIVSHM_ROLE_CONSUMER ? dir : 0;

	if (off >= own + SIVSHM_WIN_PRODUCER_PAGE &&
	    off < own + SIVSHM_WIN_PRODUCER_PAGE + SIVSHM_PAGE_SIZE)
		return true;
	if (off >= own + SIVSHM_WIN_DATA_AREA &&
	    off < own + SIVSHM_WIN_DATA_AREA + w->data_size)
		return true;
	return off >= peer + SIVSHM_WIN_CONSUMER_PAGE &&
	       off < peer + SIVSHM_WIN_CONSUMER_PAGE + SIVSHM_PAGE_SIZE;
}

/*
 * Is every 4 KiB sub-page of [off, off + len) writable? A kernel page may
 * be 16 or 64 KiB and hold pages of both sides: it is writable only if all
 * of its sub-pages are.
 */
static bool sivshm_range_writable(const struct sivshm_window *w, u64 off, u64 len)
{
	u64 p;

	for (p = off; p < off + len; p += SIVSHM_PAGE_SIZE)
		if (!sivshm_page_writable(w, p))
			return false;
	return true;
}

/* The live window holding [off, off + len), or NULL. Caller holds rwsem. */
static struct sivshm_window *sivshm_find(struct sivshm_file *sf, u64 off,
					 u64 len)
{
	int i;

	for (i = 0; i < SIVSHM_MAX_GRANTS; i++) {
		struct sivshm_window *w = &sf->win[i];

		if (w->live && off >= w->offset && len <= w->length &&
		    off - w->offset <= w->length - len)
			return w;
	}
	return NULL;
}

static vm_fault_t sivshm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct sivshm_file *sf = vma->vm_private_data;
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;
	struct sivshm_window *w;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, PAGE_SIZE);
	if (w && (!(vmf->flags & FAULT_FLAG_WRITE) ||
		  sivshm_range_writable(w, off - w->offset, PAGE_SIZE)))
		/*
		 * vm_page_prot is read-only (write-notify, because of
		 * pfn_mkwrite), so every first write goes through
		 * sivshm_pfn_mkwrite and its page check.
		 */
		ret = vmf_insert_pfn_prot(vma, vmf->address,
					  (sivshm.bar2_start + off) >> PAGE_SHIFT,
					  vma->vm_page_prot);
	up_read(&sf->rwsem);
	return ret;
}

static vm_fault_t sivshm_pfn_mkwrite(struct vm_fault *vmf)
{
	struct sivshm_file *sf = vmf->vma->vm_private_data;
	u64 off = (u64)vmf->pgoff << PAGE_SHIFT;
	struct sivshm_window *w;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, PAGE_SIZE);
	if (w && sivshm_range_writable(w, off - w->offset, PAGE_SIZE))
		ret = 0;
	up_read(&sf->rwsem);
	return ret;
}

/* A window mapping stays where it was made: mremap may not move it. */
static int sivshm_vm_mremap(struct vm_area_struct *vma)
{
	return -EPERM;
}

static const struct vm_operations_struct sivshm_vm_ops = {
	.fault = sivshm_fault,
	.pfn_mkwrite = sivshm_pfn_mkwrite,
	.mremap = sivshm_vm_mremap,
};

static int sivshm_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct sivshm_file *sf = file->private_data;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	struct sivshm_window *w;
	bool any_writable = false;
	u64 p;

	if (!sivshm_is_opener(sf))
		return -EPERM;
	if (!(vma->vm_flags & VM_SHARED) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;
	down_read(&sf->rwsem);
	w = sivshm_find(sf, off, len);
	if (w)
		for (p = off - w->offset; p < off - w->offset + len; p += PAGE_SIZE)
			any_writable |= sivshm_range_writable(w, p, PAGE_SIZE);
	up_read(&sf->rwsem);
	if (!w)
		return -EPERM;
	if ((vma->vm_flags & VM_WRITE) && !any_writable)
		return -EACCES;
	/* a mapping of only the peer's pages can never be made writable */
	if (!any_writable)
		sivshm_vm_flags_clear(vma, VM_MAYWRITE);
	sivshm_vm_flags_clear(vma, VM_MAYEXEC);
	sivshm_vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			    VM_DONTDUMP | VM_DONTCOPY);
	vma->vm_private_data = sf;
	vma->vm_ops = &sivshm_vm_ops;
	return 0;
}

static int sivshm_open(struct inode *inode, struct file *file)
{
	struct sivshm_file *sf;
	int i;

	sf = kzalloc(sizeof(*sf), GFP_KERNEL);
	if (!sf)
		return -ENOMEM;
	get_random_bytes(sf->kn, sizeof(sf->kn));
	init_rwsem(&sf->rwsem);
	if (current->mm) {
		sf->mm = current->mm;
		mmgrab(sf->mm);
	}
	sf->tgid = get_pid(task_tgid(current));
	sf->mapping = file->f_mapping;
	mutex_lock(&sivshm.lock);
	if (!sivshm.pdev) {
		mutex_unlock(&sivshm.lock);
		put_pid(sf->tgid);
		if (sf->mm)
			mmdrop(sf->mm);
		kfree(sf);
		return -ENODEV;
	}
	for (i = 0; i < SIVSHM_MAX_VECTORS; i++)	/* only later interrupts count */
		sf->seen[i] = atomic_read(&sivshm.vec[i].count);
	list_add(&sf->node, &sivshm.files);
	mutex_unlock(&sivshm.lock);
	file->private_data = sf;
	return stream_open(inode, file);
}

static int sivshm_release(struct inode *inode, struct file *file)
{
	struct sivshm_file *sf = file->private_data;

	mutex_lock(&sivshm.lock);
	list_del(&sf->node);
	mutex_unlock(&sivshm.lock);
	put_pid(sf->tgid);
	if (sf->mm)
		mmdrop(sf->mm);
	kfree(sf);
	return 0;
}

/* Which windows sivshm_kill_windows() kills. */
enum sivshm_kill {
	SIVSHM_KILL_CHANNEL,	/* of channel @arg */
	SIVSHM_KILL_ALL,
	SIVSHM_KILL_STALE,	/* granted in another epoch than @arg */
};

static bool sivshm_doomed(const struct sivshm_window *w, enum sivshm_kill how, u64 arg)
{
	if (!w->live)
		return false;
	switch (how) {
	case SIVSHM_KILL_CHANNEL:
		return w->channel_id == arg;
	case SIVSHM_KILL_STALE:
		return w->epoch != arg;
	default:
		return true;
	}
}

/* Mark @sf's windows chosen by @how dead, then zap their PTEs. */
static void sivshm_kill_windows(struct sivshm_file *sf, enum sivshm_kill how, u64 arg)
{
	struct sivshm_window dead[SIVSHM_MAX_GRANTS];
	int i, n = 0;

	down_write(&sf->rwsem);
	for (i = 0; i < SIVSHM_MAX_GRANTS; i++) {
		if (sivshm_doomed(&sf->win[i], how, arg)) {
			sf->win[i].live = false;
			dead[n++] = sf->win[i];
		}
	}
	WRITE_ONCE(sf->nlive, sf->nlive - n);
	up_write(&sf->rwsem);
	/* faults after this point find no live window and get SIGBUS */
	for (i = 0; i < n; i++)
		unmap_mapping_range(sf->mapping, dead[i].offset, dead[i].length, 1);
	if (n) {	/* a reader whose process lost its last grant returns -EPERM */
		atomic_inc(&sivshm.kills);
		wake_up_interruptible_all(&sivshm.wq);
	}
}

static long sivshm_ioc_info(void __user *arg)
{
	struct sivshm_region_header h;
	struct sivshm_info info = {};

	mutex_lock(&sivshm.lock);
	info.region_size = sivshm.bar2_len;
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
		info.flags |= SIVSHM_INFO_HEADER_OK;
	}
	mutex_unlock(&sivshm.lock);
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
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
 * Kill every window granted in another epoch than @epoch: hostd has reset
 * the region (a restart), so the old windows may be handed to others.
 * Caller holds sivshm.lock.
 */
static void sivshm_kill_stale(u64 epoch)
{
	struct sivshm_file *sf;

	lockdep_assert_held(&sivshm.lock);
	if (epoch == sivshm.live_epoch)
		return;
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, SIVSHM_KILL_STALE, epoch);
	sivshm.live_epoch = epoch;
}

#define SIVSHM_EPOCH_WATCH_PERIOD	HZ

/*
 * Nobody tells the guest when hostd moves the region to a new epoch, so
 * the header is looked at once a period while a device is bound.
 */
static void sivshm_epoch_watch(struct work_struct *work)
{
	struct sivshm_region_header h;
	struct sivshm_file *sf;

	mutex_lock(&sivshm.lock);
	if (!sivshm.pdev) {
		mutex_unlock(&sivshm.lock);
		return;
	}
	if (!sivshm_read_header(&h)) {
		sivshm_kill_stale(h.epoch);
	} else {	/* no valid header: no window is of a live epoch */
		list_for_each_entry(sf, &sivshm.files, node)
			sivshm_kill_windows(sf, SIVSHM_KILL_ALL, 0);
	}
	mutex_unlock(&sivshm.lock);
	schedule_delayed_work(&sivshm.epoch_watch, SIVSHM_EPOCH_WATCH_PERIOD);
}

/* Does @w overlap a live window of another channel in a file other than @self? */
static bool sivshm_overlaps_other_file(struct sivshm_file *self,
				       const struct sivshm_window *w)
{
	struct sivshm_file *o;
	bool hit = false;
	int i;

	lockdep_assert_held(&sivshm.lock);
	list_for_each_entry(o, &sivshm.files, node) {
		if (o == self)
			continue;
		down_read(&o->rwsem);
		for (i = 0; i < SIVSHM_MAX_GRANTS && !hit; i++) {
			const struct sivshm_window *x = &o->win[i];

			hit = x->live && x->channel_id != w->channel_id &&
			      x->offset < w->offset + w->length &&
			      w->offset < x->offset + x->length;
		}
		up_read(&o->rwsem);
		if (hit)
			break;
	}
	return hit;
}

static long sivshm_add_window(struct sivshm_file *sf,
			      const struct sivshm_grant_token *t, u64 epoch,
			      u32 *verdict)
{
	struct sivshm_window w = {
		.live = true,
		.role = t->role,
		.epoch = epoch,
		.channel_id = le64_to_cpu((__force __le64)t->channel_id),
		.offset = le64_to_cpu((__force __le64)t->window_offset),
		.length = le64_to_cpu((__force __le64)t->window_length),
	};
	struct sivshm_window *slot = NULL;
	int i;

	lockdep_assert_held(&sivshm.lock);	/* no REVOKE or remove() in between */
	w.data_size = sivshm_window_data_size(w.length);
	if (!w.data_size) {
		*verdict = SIVSHM_REJ_LAYOUT;
		return -EACCES;
	}
	if (sivshm_overlaps_other_file(sf, &w)) {
		*verdict = SIVSHM_REJ_OVERLAP;
		return -EACCES;
	}
	down_write(&sf->rwsem);
	for (i = 0; i < SIVSHM_MAX_GRANTS; i++) {
		struct sivshm_window *o = &sf->win[i];

		if (!o->live) {
			if (!slot)
				slot = o;
			continue;
		}
		if (o->offset < w.offset + w.length && w.offset < o->offset + o->length &&
		    (o->channel_id != w.channel_id || o->role != w.role ||
		     o->offset != w.offset || o->length != w.length)) {
			up_write(&sf->rwsem);
			*verdict = SIVSHM_REJ_OVERLAP;
			return -EACCES;
		}
		if (o->channel_id == w.channel_id && o->offset == w.offset) {
			up_write(&sf->rwsem);	/* the same window again */
			return 0;
		}
	}
	if (slot) {
		*slot = w;
		WRITE_ONCE(sf->nlive, sf->nlive + 1);
	}
	up_write(&sf->rwsem);
	return slot ? 0 : -ENOSPC;
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
	*verdict = sivshm_check_grant_fields(&ctx, t);
	if (*verdict != SIVSHM_OK)
		return -EACCES;
	sivshm_kill_stale(h.epoch);	/* before the watch may have noticed */
	return sivshm_add_window(sf, t, h.epoch, verdict);
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
	/* only a grant holder may interrupt other VMs */
	if (!READ_ONCE(sf->nlive))
		return -EPERM;
	mutex_lock(&sivshm.lock);
	if (!sivshm.regs || !sivshm.nvec)
		ret = -EOPNOTSUPP;	/* ivshmem-plain: nobody to ring */
	else
		iowrite32(((u32)db.peer << 16) | db.vector,
			  sivshm.regs + SIVSHM_REG_DOORBELL);
	mutex_unlock(&sivshm.lock);
	return ret;
}

static long sivshm_ioctl(struct file *file, unsigned int cmd, unsigned long a)
{
	struct sivshm_file *sf = file->private_data;
	void __user *arg = (void __user *)a;

	switch (cmd) {	/* unknown first: -ENOTTY whoever asks */
	case SIVSHM_IOC_INFO:
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
		return sivshm_ioc_info(arg);
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

/* Fill up to @max events for vectors that fired since the last read. */
static int sivshm_collect(struct sivshm_file *sf, struct sivshm_event *ev, int max)
{
	int i, n = 0;

	for (i = 0; i < sivshm.nvec && n < max; i++) {
		u32 now = atomic_read(&sivshm.vec[i].count);

		if (now != sf->seen[i]) {
			ev[n].vector = i;
			ev[n].count = now - sf->seen[i];
			sf->seen[i] = now;
			n++;
		}
	}
	return n;
}

/*
 * Does the process that opened @sf hold a live window on any of its files
 * of the device? Doorbell events are for grant holders only; a process may
 * read them on a file of its own other than the granted one (the runtime
 * keeps one non-blocking file for doorbells).
 */
static bool sivshm_process_has_grant(struct sivshm_file *sf)
{
	struct sivshm_file *o;
	bool any = false;

	mutex_lock(&sivshm.lock);
	list_for_each_entry(o, &sivshm.files, node) {
		if (o->tgid == sf->tgid && READ_ONCE(o->nlive)) {
			any = true;
			break;
		}
	}
	mutex_unlock(&sivshm.lock);
	return any;
}

/* No device bound (any more): readers get -ENODEV. */
static bool sivshm_gone(void)
{
	return !READ_ONCE(sivshm.pdev);
}

static bool sivshm_pending(struct sivshm_file *sf)
{
	int i;

	for (i = 0; i < sivshm.nvec; i++)
		if (atomic_read(&sivshm.vec[i].count) != sf->seen[i])
			return true;
	return false;
}

static ssize_t sivshm_read(struct file *file, char __user *buf, size_t len,
			   loff_t *pos)
{
	struct sivshm_file *sf = file->private_data;
	struct sivshm_event ev[SIVSHM_MAX_VECTORS];
	int max = min_t(size_t, len / sizeof(ev[0]), SIVSHM_MAX_VECTORS);
	int n, ret;

	if (!sivshm_is_opener(sf))
		return -EPERM;
	if (max < 1)
		return -EINVAL;
	for (;;) {
		int kills = atomic_read(&sivshm.kills);

		if (sivshm_gone())
			return -ENODEV;
		if (!sivshm_process_has_grant(sf))
			return -EPERM;
		down_write(&sf->rwsem);	/* serialises readers of sf->seen */
		n = sivshm_collect(sf, ev, max);
		up_write(&sf->rwsem);
		if (n)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(sivshm.wq, sivshm_pending(sf) || sivshm_gone() ||
					       atomic_read(&sivshm.kills) != kills);
		if (ret)
			return ret;
	}
	if (copy_to_user(buf, ev, n * sizeof(ev[0])))
		return -EFAULT;
	return n * sizeof(ev[0]);
}

static __poll_t sivshm_poll(struct file *file, poll_table *wait)
{
	struct sivshm_file *sf = file->private_data;

	poll_wait(file, &sivshm.wq, wait);
	if (sivshm_gone())
		return EPOLLERR | EPOLLHUP;
	/*
	 * Without a grant nothing is reported, not even that events are
	 * pending; not an error either, so a poller that is about to get a
	 * grant keeps waiting.
	 */
	if (!sivshm_is_opener(sf) || !sivshm_process_has_grant(sf))
		return 0;
	return sivshm_pending(sf) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations sivshm_fops = {
	.owner = THIS_MODULE,
	.open = sivshm_open,
	.release = sivshm_release,
	.mmap = sivshm_mmap,
	.unlocked_ioctl = sivshm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = sivshm_read,
	.poll = sivshm_poll,
	/* no .llseek: stream_open() makes lseek fail with -ESPIPE */
};

/* Anyone may open; only a signed grant lets a process map anything. */
static struct miscdevice sivshm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "sivshm",
	.fops = &sivshm_fops,
	.mode = 0666,
};

static irqreturn_t sivshm_irq(int irq, void *data)
{
	struct sivshm_vector *v = data;

	atomic_inc(&v->count);
	wake_up_interruptible(&sivshm.wq);
	return IRQ_HANDLED;
}

/* Nothing is published in sivshm until every step succeeded (pcim/devm undo them). */
static int sivshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	resource_size_t bar2_start, bar2_len;
	void __iomem *regs;
	void *region;
	u32 ivposition;
	int ret, i, nvec;

	mutex_lock(&sivshm.lock);
	ret = sivshm.pdev ? -EBUSY : 0;
	mutex_unlock(&sivshm.lock);
	if (ret)
		return ret;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	/* MSI-X messages are bus-master writes: QEMU drops them otherwise */
	pci_set_master(pdev);
	ret = pci_request_region(pdev, 0, "sivshm");	/* released by pcim */
	if (ret)
		return ret;
	regs = pcim_iomap(pdev, 0, 0);
	if (!regs)
		return -ENOMEM;
	ret = pci_request_region(pdev, 2, "sivshm");
	if (ret)
		return ret;
	bar2_start = pci_resource_start(pdev, 2);
	bar2_len = pci_resource_len(pdev, 2);
	if (!bar2_len || bar2_start % PAGE_SIZE)
		return -ENODEV;
	/*
	 * Write-back, not write-combining: on KVM hosts that honour the
	 * guest PAT an uncached BAR2 is slow. The memtype reserved here is
	 * also the one the user mappings get.
	 */
	region = devm_memremap(&pdev->dev, bar2_start, bar2_len, MEMREMAP_WB);
	if (IS_ERR(region))
		return PTR_ERR(region);
	ivposition = ioread32(regs + SIVSHM_REG_IVPOSITION);

	/* ivshmem-doorbell has MSI-X; ivshmem-plain has no interrupts */
	nvec = pci_alloc_irq_vectors(pdev, 1, SIVSHM_MAX_VECTORS, PCI_IRQ_MSIX);
	if (nvec < 0)
		nvec = 0;
	for (i = 0; i < nvec; i++) {
		ret = devm_request_irq(&pdev->dev, pci_irq_vector(pdev, i),
				       sivshm_irq, 0, "sivshm", &sivshm.vec[i]);
		if (ret)
			return ret;
	}
	mutex_lock(&sivshm.lock);
	if (sivshm.pdev) {
		ret = -EBUSY;
	} else {
		sivshm.bar2_start = bar2_start;
		sivshm.bar2_len = bar2_len;
		sivshm.region = region;
		sivshm.regs = regs;
		sivshm.ivposition = ivposition;
		sivshm.nvec = nvec;
		WRITE_ONCE(sivshm.pdev, pdev);
	}
	mutex_unlock(&sivshm.lock);
	if (ret)
		return ret;
	schedule_delayed_work(&sivshm.epoch_watch, SIVSHM_EPOCH_WATCH_PERIOD);
	dev_info(&pdev->dev, "sivshm: IVPosition %u, BAR2 %llu bytes, %d vectors\n",
		 ivposition, (u64)bar2_len, nvec);
	return 0;
}

static void sivshm_remove(struct pci_dev *pdev)
{
	struct sivshm_file *sf;

	/* the watch takes sivshm.lock: stopped before it is taken here */
	cancel_delayed_work_sync(&sivshm.epoch_watch);
	mutex_lock(&sivshm.lock);
	/* gone before the windows die, so the readers they wake see -ENODEV */
	WRITE_ONCE(sivshm.pdev, NULL);
	/* BAR2 goes away: no mapping may outlive the binding */
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, SIVSHM_KILL_ALL, 0);
	sivshm.regs = NULL;
	sivshm.region = NULL;
	sivshm.nvec = 0;
	mutex_unlock(&sivshm.lock);
	wake_up_interruptible_all(&sivshm.wq);	/* blocked readers get -ENODEV */
}

static const struct pci_device_id sivshm_ids[] = {
	{ PCI_DEVICE(SIVSHM_VENDOR, SIVSHM_DEVICE) },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, sivshm_ids);

static struct pci_driver sivshm_driver = {
	.name = "sivshm",
	.id_table = sivshm_ids,
	.probe = sivshm_probe,
	.remove = sivshm_remove,
};

static int __init sivshm_init(void)
{
	int ret;

	/* the layout is in 4 KiB pages; a larger kernel page is checked per 4 KiB */
	BUILD_BUG_ON(PAGE_SIZE % SIVSHM_PAGE_SIZE);
	mutex_init(&sivshm.lock);
	INIT_DELAYED_WORK(&sivshm.epoch_watch, sivshm_epoch_watch);
	init_waitqueue_head(&sivshm.wq);
	INIT_LIST_HEAD(&sivshm.files);
	ret = pci_register_driver(&sivshm_driver);
	if (ret)
		return ret;
	ret = misc_register(&sivshm_misc);
	if (ret)
		pci_unregister_driver(&sivshm_driver);
	return ret;
}

static void __exit sivshm_exit(void)
{
	misc_deregister(&sivshm_misc);
	pci_unregister_driver(&sivshm_driver);
	if (sivshm.mac)	/* frees (and zeroes) the keyed transform */
		crypto_free_shash(sivshm.mac);
}

module_init(sivshm_init);
module_exit(sivshm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sivshm: grant-gated IVSHMEM channel windows");
