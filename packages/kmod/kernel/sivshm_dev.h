/* SPDX-License-Identifier: GPL-2.0 */
/*
 * State shared by the driver's files: the device, its open files and
 * their windows (see the locking note in sivshm_main.c).
 */
#ifndef SIVSHM_DEV_H
#define SIVSHM_DEV_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pid.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "sivshm_grant.h"

struct crypto_shash;

#define SIVSHM_VENDOR		0x1af4
#define SIVSHM_DEVICE		0x1110
#define SIVSHM_REG_IVPOSITION	0x08
#define SIVSHM_REG_DOORBELL	0x0c
#define SIVSHM_MAX_VECTORS	8	/* <= SIVSHM_DB_MAX_VECTORS */
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

/* BAR2 of one bound IVSHMEM device. */
struct sivshm_bar {
	struct pci_dev *pdev;	/* NULL while not bound */
	void *mem;		/* BAR2, mapped write-back */
	phys_addr_t start;
	u64 len;
};

/*
 * A channel device: an ivshmem-plain device that the hypervisor gave to
 * one channel's two VMs only, recognised at probe by its header and bound
 * to that channel. Listed in sivshm.chandevs and looked at only under
 * sivshm.lock; windows on it remember its uid and physical address, never
 * a pointer to it, so it can go (hot-unplug) whenever remove() has killed
 * them.
 */
struct sivshm_chandev {
	struct list_head node;
	struct sivshm_bar bar;
	struct sivshm_chandev_header hdr;	/* as validated at probe, CPU order */
	u64 uid;		/* never 0, never reused while the module is loaded */
};

/*
 * The VM's state: its key, serials, revoked channels and open files; the
 * control device (the shared region with the channel table, and the
 * doorbells: one per VM, as today) and any number of channel devices.
 */
struct sivshm_dev {
	struct mutex lock;	/* see the locking note in sivshm_main.c */
	struct sivshm_bar ctl;	/* the control device's region */
	/*
	 * The read-only control device (SIVCTL): where the header is read
	 * from once bound; roctl_bound stays set when it goes, so the
	 * writable region's header is never read again (sivshm_roctl.c).
	 */
	struct sivshm_bar roctl;
	bool roctl_bound;
	void __iomem *regs;
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
	struct list_head chandevs;	/* struct sivshm_chandev */
	u64 chandev_uids;	/* the last uid given */
	atomic_t chandev_probes;	/* bumped when a channel device is bound */
	wait_queue_head_t probe_wq;	/* GRANTs waiting for their channel device */
};

extern struct sivshm_dev sivshm;

struct sivshm_window {
	bool live;
	u8 role;
	u64 epoch;	/* of the region header when the window was granted */
	u64 channel_id;
	u64 offset;
	u64 length;
	u64 data_size;
	u64 granule;	/* the region's page granule: size of each control page */
	phys_addr_t phys;	/* where the window starts in guest-physical memory */
	u64 dev_uid;	/* 0: in the region; else the uid of its channel device */
	/* the channel's doorbell route, as the grant named it */
	u16 db_peer;
	u32 db_ring;
	u32 db_observe;
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
	/* vectors the live windows observe (OR of db_observe); as nlive */
	u32 observe;
	u32 seen[SIVSHM_MAX_VECTORS];	/* under rwsem (write) */
};

static inline bool sivshm_is_opener(const struct sivshm_file *sf)
{
	return current->mm == sf->mm && task_tgid(current) == sf->tgid;
}

/* Which windows sivshm_kill_windows() kills. */
enum sivshm_kill {
	SIVSHM_KILL_CHANNEL,	/* of channel @arg */
	SIVSHM_KILL_ALL,
	SIVSHM_KILL_STALE,	/* granted in another epoch than @arg */
	SIVSHM_KILL_DEVICE,	/* on the channel device of uid @arg */
};

/* How long a device GRANT waits for its channel device to be hot-plugged. */
#define SIVSHM_CHANDEV_WAIT_MS	2000

/* How often the region header is checked for a new epoch. */
#define SIVSHM_EPOCH_WATCH_PERIOD	HZ

/* sivshm_main.c */
int sivshm_read_header(struct sivshm_region_header *h);

/* sivshm_roctl.c: the read-only control device */
bool sivshm_is_roctl(const void *mem, u64 bar_len);
int sivshm_roctl_probe(struct pci_dev *pdev, const struct sivshm_bar *bar);
bool sivshm_roctl_remove(struct pci_dev *pdev);

/* sivshm_chandev.c: channel devices */
int sivshm_read_chandev(const void *mem, u64 bar_len, struct sivshm_chandev_header *h);
int sivshm_chandev_probe(struct pci_dev *pdev, const struct sivshm_bar *bar,
			 const struct sivshm_chandev_header *h);
void sivshm_chandev_remove(struct sivshm_chandev *cd);
struct sivshm_chandev *sivshm_chandev_find(u64 channel_id);
long sivshm_chandev_wait(u64 channel_id);

/* sivshm_map.c: mmap and faults */
int sivshm_mmap(struct file *file, struct vm_area_struct *vma);

/* sivshm_windows.c: installing and killing windows */
void sivshm_kill_windows(struct sivshm_file *sf, enum sivshm_kill how, u64 arg);
void sivshm_kill_stale(u64 epoch);
void sivshm_epoch_watch(struct work_struct *work);
long sivshm_add_window(struct sivshm_file *sf, const struct sivshm_grant_token *t,
		       const struct sivshm_region_header *h,
		       const struct sivshm_chandev *cd, u32 *verdict);
bool sivshm_may_ring(struct sivshm_file *sf, u16 peer, u16 vector);

/* sivshm_ioctl.c */
long sivshm_ioctl(struct file *file, unsigned int cmd, unsigned long a);

#endif /* SIVSHM_DEV_H */
