// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm: guest driver for the IVSHMEM PCI device (1af4:1110).
 *
 * /dev/sivshm hands a channel window of BAR2 only to the process that
 * opened the file and presented a grant token signed by the host with this
 * VM's key (docs/protocol.md §7). Inside a window the holder's own pages
 * are writable and the peer's are read-only; nothing is executable, nothing
 * is inherited across fork or growable with mremap. A revoke token zaps
 * every mapping of the channel. Doorbells (ivshmem-doorbell, MSI-X) are
 * rung with an ioctl and received with read()/poll().
 */
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

#include "sivshm_grant.h"

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
	struct mutex lock;	/* key, serials, files, pdev */
	struct pci_dev *pdev;
	void __iomem *regs;
	void *region;		/* BAR2, mapped write-back */
	phys_addr_t bar2_start;
	u64 bar2_len;
	u32 ivposition;
	int nvec;
	struct sivshm_vector vec[SIVSHM_MAX_VECTORS];
	wait_queue_head_t wq;

	bool key_set;
	u8 key[SIVSHM_KEY_SIZE];
	u32 vm_id;
	struct sivshm_serials grant_serials;
	struct sivshm_serials revoke_serials;
	struct list_head files;
} sivshm;

struct sivshm_window {
	bool live;
	u8 role;
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
		  sivshm_page_writable(w, off - w->offset)))
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
	if (w && sivshm_page_writable(w, off - w->offset))
		ret = 0;
	up_read(&sf->rwsem);
	return ret;
}

static const struct vm_operations_struct sivshm_vm_ops = {
	.fault = sivshm_fault,
	.pfn_mkwrite = sivshm_pfn_mkwrite,
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
			any_writable |= sivshm_page_writable(w, p);
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

/* Mark @sf's windows of @channel (all if @all) dead, then zap their PTEs. */
static void sivshm_kill_windows(struct sivshm_file *sf, u64 channel, bool all)
{
	struct sivshm_window dead[SIVSHM_MAX_GRANTS];
	int i, n = 0;

	down_write(&sf->rwsem);
	for (i = 0; i < SIVSHM_MAX_GRANTS; i++) {
		if (sf->win[i].live && (all || sf->win[i].channel_id == channel)) {
			sf->win[i].live = false;
			dead[n++] = sf->win[i];
		}
	}
	up_write(&sf->rwsem);
	/* faults after this point find no live window and get SIGBUS */
	for (i = 0; i < n; i++)
		unmap_mapping_range(sf->mapping, dead[i].offset, dead[i].length, 1);
}

static long sivshm_ioc_info(void __user *arg)
{
	struct sivshm_region_header h;
	struct sivshm_info info = {};

	mutex_lock(&sivshm.lock);
	info.region_size = sivshm.bar2_len;
	info.ivposition = sivshm.ivposition;
	info.vectors = sivshm.nvec;
	if (sivshm.key_set) {
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
	long ret = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0) {
		ret = -EINVAL;
		goto out;
	}
	mutex_lock(&sivshm.lock);
	if (sivshm.key_set) {
		ret = -EEXIST;
	} else {
		memcpy(sivshm.key, req.key, sizeof(sivshm.key));
		sivshm.vm_id = req.vm_id;
		sivshm.key_set = true;
	}
	mutex_unlock(&sivshm.lock);
out:
	memzero_explicit(&req, sizeof(req));
	return ret;
}

static long sivshm_add_window(struct sivshm_file *sf,
			      const struct sivshm_grant_token *t, u32 *verdict)
{
	struct sivshm_window w = {
		.live = true,
		.role = t->role,
		.channel_id = le64_to_cpu((__force __le64)t->channel_id),
		.offset = le64_to_cpu((__force __le64)t->window_offset),
		.length = le64_to_cpu((__force __le64)t->window_length),
	};
	struct sivshm_window *slot = NULL;
	int i;

	w.data_size = sivshm_window_data_size(w.length);
	if (!w.data_size) {
		*verdict = SIVSHM_REJ_LAYOUT;
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
	if (slot)
		*slot = w;
	up_write(&sf->rwsem);
	return slot ? 0 : -ENOSPC;
}

static long sivshm_ioc_grant(struct sivshm_file *sf, void __user *arg)
{
	struct sivshm_grant_req req;
	struct sivshm_region_header h;
	struct sivshm_grant_ctx ctx;
	long ret;
	int v;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0 || req.verdict)
		return -EINVAL;
	mutex_lock(&sivshm.lock);
	if (!sivshm.key_set) {
		mutex_unlock(&sivshm.lock);
		return -ENOKEY;
	}
	ret = sivshm_read_header(&h);
	if (ret) {
		mutex_unlock(&sivshm.lock);
		return ret;
	}
	ctx = (struct sivshm_grant_ctx) {
		.key = sivshm.key,
		.vm_id = sivshm.vm_id,
		.epoch = h.epoch,
		.kn = sf->kn,
		.now_ns = ktime_get_real_ns(),
		.region_size = h.region_size,
		.data_offset = h.data_offset,
		.data_size = h.data_size,
		.serials = &sivshm.grant_serials,
	};
	v = sivshm_check_grant(&ctx, &req.token, req.tag);
	mutex_unlock(&sivshm.lock);
	if (v < 0)
		return v;
	req.verdict = v;
	ret = v == SIVSHM_OK ? sivshm_add_window(sf, &req.token, &req.verdict)
			     : -EACCES;
	if (put_user(req.verdict, (u32 __user *)(arg + offsetof(struct sivshm_grant_req, verdict))))
		return -EFAULT;
	return ret;
}

static long sivshm_ioc_revoke(void __user *arg)
{
	struct sivshm_revoke_req req;
	struct sivshm_region_header h;
	struct sivshm_revoke_ctx ctx;
	struct sivshm_file *sf;
	long ret;
	int v;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.pad0 || req.verdict)
		return -EINVAL;
	mutex_lock(&sivshm.lock);
	if (!sivshm.key_set) {
		ret = -ENOKEY;
		goto out;
	}
	ret = sivshm_read_header(&h);
	if (ret)
		goto out;
	ctx = (struct sivshm_revoke_ctx) {
		.key = sivshm.key,
		.vm_id = sivshm.vm_id,
		.epoch = h.epoch,
		.serials = &sivshm.revoke_serials,
	};
	v = sivshm_check_revoke(&ctx, &req.token, req.tag);
	if (v < 0) {
		ret = v;
		goto out;
	}
	if (v == SIVSHM_OK)	/* every file of this VM loses the channel */
		list_for_each_entry(sf, &sivshm.files, node)
			sivshm_kill_windows(sf, le64_to_cpu((__force __le64)req.token.channel_id),
					    false);
	ret = v == SIVSHM_OK ? 0 : -EACCES;
	if (put_user((u32)v, (u32 __user *)(arg + offsetof(struct sivshm_revoke_req, verdict))))
		ret = -EFAULT;
out:
	mutex_unlock(&sivshm.lock);
	return ret;
}

static long sivshm_ioc_doorbell(struct sivshm_file *sf, void __user *arg)
{
	struct sivshm_doorbell db;
	bool granted = false;
	long ret = 0;
	int i;

	if (copy_from_user(&db, arg, sizeof(db)))
		return -EFAULT;
	if (db.pad0)
		return -EINVAL;
	/* only a grant holder may interrupt other VMs */
	down_read(&sf->rwsem);
	for (i = 0; i < SIVSHM_MAX_GRANTS; i++)
		granted |= sf->win[i].live;
	up_read(&sf->rwsem);
	if (!granted)
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
		down_write(&sf->rwsem);	/* serialises readers of sf->seen */
		n = sivshm_collect(sf, ev, max);
		up_write(&sf->rwsem);
		if (n)
			break;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(sivshm.wq, sivshm_pending(sf));
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
	.llseek = no_llseek,
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

static int sivshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
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
	ret = pcim_iomap_regions(pdev, BIT(0), "sivshm");
	if (ret)
		return ret;
	ret = pci_request_region(pdev, 2, "sivshm");	/* released by pcim */
	if (ret)
		return ret;
	sivshm.bar2_start = pci_resource_start(pdev, 2);
	sivshm.bar2_len = pci_resource_len(pdev, 2);
	if (!sivshm.bar2_len || sivshm.bar2_start % PAGE_SIZE)
		return -ENODEV;
	/*
	 * Write-back, not write-combining: on KVM hosts that honour the
	 * guest PAT an uncached BAR2 is slow. The memtype reserved here is
	 * also the one the user mappings get.
	 */
	sivshm.region = devm_memremap(&pdev->dev, sivshm.bar2_start,
				      sivshm.bar2_len, MEMREMAP_WB);
	if (IS_ERR(sivshm.region)) {
		ret = PTR_ERR(sivshm.region);
		sivshm.region = NULL;
		return ret;
	}
	sivshm.regs = pcim_iomap_table(pdev)[0];
	sivshm.ivposition = ioread32(sivshm.regs + SIVSHM_REG_IVPOSITION);

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
	sivshm.nvec = nvec;
	sivshm.pdev = pdev;
	mutex_unlock(&sivshm.lock);
	dev_info(&pdev->dev, "sivshm: IVPosition %u, BAR2 %llu bytes, %d vectors\n",
		 sivshm.ivposition, sivshm.bar2_len, nvec);
	return 0;
}

static void sivshm_remove(struct pci_dev *pdev)
{
	struct sivshm_file *sf;

	mutex_lock(&sivshm.lock);
	/* BAR2 goes away: no mapping may outlive the binding */
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, 0, true);
	sivshm.pdev = NULL;
	sivshm.regs = NULL;
	sivshm.region = NULL;
	sivshm.nvec = 0;
	mutex_unlock(&sivshm.lock);
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

	mutex_init(&sivshm.lock);
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
	memzero_explicit(sivshm.key, sizeof(sivshm.key));
}

module_init(sivshm_init);
module_exit(sivshm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sivshm: grant-gated IVSHMEM channel windows");
