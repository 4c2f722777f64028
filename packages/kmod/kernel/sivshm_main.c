// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm: guest driver for the IVSHMEM PCI devices (1af4:1110) of a VM: the
 * control device (the shared region and the doorbells) and any number of
 * channel devices (sivshm_chandev.c).
 *
 * /dev/sivshm hands a channel window of BAR2 only to the process that
 * opened the file and presented a grant token signed by the host with this
 * VM's key (docs/protocol.md §7). Inside a window the holder's own pages
 * are writable and the peer's are read-only; nothing is executable, nothing
 * is inherited across fork, growable or movable with mremap. A revoke token
 * zaps every mapping of the channel, bars the channel from every later
 * grant of the epoch and returns a receipt hostd verifies before it reuses
 * the window. Doorbells (ivshmem-doorbell, MSI-X) are per channel: a
 * grant names its channel's route (the peer's IVPosition, the vectors to
 * ring there, the own vectors to observe); the file holding it may ring
 * exactly those with an ioctl and sees exactly those with read()/poll().
 *
 * Locking: sivshm.lock (a mutex) orders every change of the VM's state:
 * key, serials, revoked channels, the file list, the installed windows,
 * the control device's PCI binding and the list of channel devices (probe
 * adds one, remove takes it off and kills its windows, GRANT finds one and
 * installs its window: so a window is never installed on a device being
 * removed). It is never held across a user copy (a stalled user page must
 * not block other openers), an HMAC, or the wait of a device GRANT for its
 * hot-plugged device (probe_wq, woken by every channel device probe).
 * Each file's rwsem guards its windows for the fault path, which never
 * takes sivshm.lock; lock order is sivshm.lock, then a file's rwsem.
 */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <linux/bits.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/log2.h>
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

#include "sivshm_dev.h"
#include "sivshm_hmac.h"

struct sivshm_dev sivshm;

/*
 * Copy the header once and validate the copy (the page is shared memory):
 * from the read-only control device once one was bound (sivshm_roctl.c),
 * else from the region. Caller holds sivshm.lock.
 */
int sivshm_read_header(struct sivshm_region_header *h)
{
	const char *magic = SIVSHM_REGION_MAGIC;
	const void *page = sivshm.ctl.mem;
	u32 version, granule;

	if (sivshm.roctl_bound) {
		page = sivshm.ctl.mem ? sivshm.roctl.mem : NULL;
		magic = SIVSHM_CONTROL_MAGIC;
	}
	if (!page)
		return -ENODEV;
	memcpy(h, page, sizeof(*h));
	version = le32_to_cpu((__force __le32)h->layout_version);
	granule = le32_to_cpu((__force __le32)h->page_granule);
	if (memcmp(h->magic, magic, sizeof(h->magic)) ||
	    le64_to_cpu((__force __le64)h->region_size) != sivshm.ctl.len)
		return -ENODATA;
	/* version 1: 4 KiB pages, granule word 0; version 2 names its granule */
	if (version == SIVSHM_LAYOUT_VERSION && !granule)
		granule = SIVSHM_GRANULE_MIN;
	else if (version != SIVSHM_LAYOUT_VERSION_GRANULE || !is_power_of_2(granule) ||
		 granule < SIVSHM_GRANULE_MIN || granule > SIVSHM_GRANULE_MAX)
		return -ENODATA;
	h->page_granule = granule;
	h->epoch = le64_to_cpu((__force __le64)h->epoch);
	h->data_offset = le64_to_cpu((__force __le64)h->data_offset);
	h->data_size = le64_to_cpu((__force __le64)h->data_size);
	h->region_size = sivshm.ctl.len;
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
	if (!sivshm.ctl.pdev) {
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

/*
 * Fill up to @max events for the vectors this file's live grants observe
 * that fired since the last read; caller holds sf->rwsem for writing.
 */
static int sivshm_collect(struct sivshm_file *sf, struct sivshm_event *ev, int max)
{
	int i, n = 0;

	for (i = 0; i < sivshm.nvec && n < max; i++) {
		u32 now = atomic_read(&sivshm.vec[i].count);

		if (!(sf->observe & BIT(i)) || now == sf->seen[i])
			continue;
		ev[n].vector = i;
		ev[n].count = now - sf->seen[i];
		WRITE_ONCE(sf->seen[i], now);
		n++;
	}
	return n;
}

/* No device bound (any more): readers get -ENODEV. */
static bool sivshm_gone(void)
{
	return !READ_ONCE(sivshm.ctl.pdev);
}

/* Lockless (a wait condition): a stale answer is fixed by the next wake-up. */
static bool sivshm_pending(struct sivshm_file *sf)
{
	u32 observe = READ_ONCE(sf->observe);
	int i;

	for (i = 0; i < sivshm.nvec; i++)
		if ((observe & BIT(i)) &&
		    atomic_read(&sivshm.vec[i].count) != READ_ONCE(sf->seen[i]))
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
		/* doorbells are for this file's grants: none, nothing to see */
		if (!READ_ONCE(sf->nlive))
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
	 * Without a grant on this file nothing is reported, not even that
	 * events are pending; not an error either, so a poller that is
	 * about to get a grant keeps waiting. sivshm_pending() looks at the
	 * vectors this file's grants observe only.
	 */
	if (!sivshm_is_opener(sf) || !READ_ONCE(sf->nlive))
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

/*
 * The control device: the shared region and the doorbells. Nothing is
 * published in sivshm until every step succeeded (pcim/devm undo them).
 */
static int sivshm_control_probe(struct pci_dev *pdev, const struct sivshm_bar *bar)
{
	void __iomem *regs;
	u32 ivposition;
	int ret, i, nvec;

	mutex_lock(&sivshm.lock);
	ret = sivshm.ctl.pdev ? -EBUSY : 0;
	mutex_unlock(&sivshm.lock);
	if (ret) {
		dev_notice(&pdev->dev, "sivshm: a second device without a channel header: not bound\n");
		return ret;
	}
	/* MSI-X messages are bus-master writes: QEMU drops them otherwise */
	pci_set_master(pdev);
	ret = pci_request_region(pdev, 0, "sivshm");	/* released by pcim */
	if (ret)
		return ret;
	regs = pcim_iomap(pdev, 0, 0);
	if (!regs)
		return -ENOMEM;
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
	if (sivshm.ctl.pdev) {
		ret = -EBUSY;
	} else {
		sivshm.ctl.start = bar->start;
		sivshm.ctl.len = bar->len;
		sivshm.ctl.mem = bar->mem;
		sivshm.regs = regs;
		sivshm.ivposition = ivposition;
		sivshm.nvec = nvec;
		WRITE_ONCE(sivshm.ctl.pdev, pdev);
	}
	mutex_unlock(&sivshm.lock);
	if (ret)
		return ret;
	schedule_delayed_work(&sivshm.epoch_watch, SIVSHM_EPOCH_WATCH_PERIOD);
	dev_info(&pdev->dev, "sivshm: IVPosition %u, BAR2 %llu bytes, %d vectors\n",
		 ivposition, bar->len, nvec);
	return 0;
}

/*
 * Every 1af4:1110 device: a channel device if its BAR2 starts with a valid
 * channel header (sivshm_chandev.c), the read-only control device if it
 * starts with the control magic and the hypervisor drops writes to it
 * (sivshm_roctl.c), else the control device (the region) as before.
 */
static int sivshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct sivshm_chandev_header ch;
	struct sivshm_bar bar = { .pdev = pdev };
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pci_request_region(pdev, 2, "sivshm");	/* /dev/mem and resource2 refused */
	if (ret)
		return ret;
	bar.start = pci_resource_start(pdev, 2);
	bar.len = pci_resource_len(pdev, 2);
	if (!bar.len || bar.start % PAGE_SIZE)
		return -ENODEV;
	/*
	 * Write-back, not write-combining: on KVM hosts that honour the
	 * guest PAT an uncached BAR2 is slow. The memtype reserved here is
	 * also the one the user mappings get.
	 */
	bar.mem = devm_memremap(&pdev->dev, bar.start, bar.len, MEMREMAP_WB);
	if (IS_ERR(bar.mem))
		return PTR_ERR(bar.mem);
	ret = sivshm_read_chandev(bar.mem, bar.len, &ch);
	if (!ret)
		return sivshm_chandev_probe(pdev, &bar, &ch);
	/* a channel device with a broken header must not pass for the control device */
	if (ret == -EINVAL) {
		dev_notice(&pdev->dev, "sivshm: channel device header not valid: not bound\n");
		return -ENODEV;
	}
	if (sivshm_is_roctl(bar.mem, bar.len)) {
		ret = sivshm_roctl_probe(pdev, &bar);
		if (ret != -EPERM)	/* -EPERM: it takes writes, so it is no control device */
			return ret;
	}
	return sivshm_control_probe(pdev, &bar);
}

static void sivshm_remove(struct pci_dev *pdev)
{
	struct sivshm_chandev *cd = pci_get_drvdata(pdev);
	struct sivshm_file *sf;

	if (cd) {
		sivshm_chandev_remove(cd);
		return;
	}
	if (sivshm_roctl_remove(pdev))
		return;
	/* the watch takes sivshm.lock: stopped before it is taken here */
	cancel_delayed_work_sync(&sivshm.epoch_watch);
	mutex_lock(&sivshm.lock);
	/* gone before the windows die, so the readers they wake see -ENODEV */
	WRITE_ONCE(sivshm.ctl.pdev, NULL);
	/* BAR2 goes away: no mapping may outlive the binding */
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, SIVSHM_KILL_ALL, 0);
	sivshm.regs = NULL;
	sivshm.ctl.mem = NULL;
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
	/* every vector the driver counts can be named in a grant's route */
	BUILD_BUG_ON(SIVSHM_MAX_VECTORS > SIVSHM_DB_MAX_VECTORS);
	mutex_init(&sivshm.lock);
	INIT_DELAYED_WORK(&sivshm.epoch_watch, sivshm_epoch_watch);
	init_waitqueue_head(&sivshm.wq);
	INIT_LIST_HEAD(&sivshm.files);
	INIT_LIST_HEAD(&sivshm.chandevs);
	init_waitqueue_head(&sivshm.probe_wq);
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
