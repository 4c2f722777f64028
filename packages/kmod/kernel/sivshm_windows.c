// SPDX-License-Identifier: GPL-2.0
/* sivshm: installing windows, and killing them on revoke, unbind or a new epoch. */
#include <linux/bits.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "sivshm_dev.h"

static bool sivshm_doomed(const struct sivshm_window *w, enum sivshm_kill how, u64 arg)
{
	if (!w->live)
		return false;
	switch (how) {
	case SIVSHM_KILL_CHANNEL:
		return w->channel_id == arg;
	case SIVSHM_KILL_STALE:
		return w->epoch != arg;
	case SIVSHM_KILL_DEVICE:
		return w->dev_uid == arg;
	default:
		return true;
	}
}

/* The vectors @sf's live windows observe; caller holds sf->rwsem for writing. */
static void sivshm_update_observe(struct sivshm_file *sf)
{
	u32 observe = 0;
	int i;

	for (i = 0; i < SIVSHM_MAX_GRANTS; i++)
		if (sf->win[i].live)
			observe |= sf->win[i].db_observe;
	/*
	 * A vector newly observed counts from now: interrupts it took while
	 * no grant of this file named it are other channels' traffic.
	 */
	for (i = 0; i < SIVSHM_MAX_VECTORS; i++)
		if ((observe & BIT(i)) && !(sf->observe & BIT(i)))
			WRITE_ONCE(sf->seen[i], atomic_read(&sivshm.vec[i].count));
	WRITE_ONCE(sf->observe, observe);
}

/*
 * May @sf ring @vector of the VM at IVPosition @peer? Only if one of its
 * live windows' routes names both. Caller holds sivshm.lock, so no REVOKE
 * runs between this answer and the ring it allows.
 */
bool sivshm_may_ring(struct sivshm_file *sf, u16 peer, u16 vector)
{
	bool ok = false;
	int i;

	lockdep_assert_held(&sivshm.lock);
	if (vector >= SIVSHM_DB_MAX_VECTORS)
		return false;
	down_read(&sf->rwsem);
	for (i = 0; i < SIVSHM_MAX_GRANTS && !ok; i++) {
		const struct sivshm_window *w = &sf->win[i];

		ok = w->live && w->db_peer == peer && (w->db_ring & BIT(vector));
	}
	up_read(&sf->rwsem);
	return ok;
}

/* Mark @sf's windows chosen by @how dead, then zap their PTEs. */
void sivshm_kill_windows(struct sivshm_file *sf, enum sivshm_kill how, u64 arg)
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
	if (n)	/* their doorbell routes go with them */
		sivshm_update_observe(sf);
	up_write(&sf->rwsem);
	/* faults after this point find no live window and get SIGBUS */
	for (i = 0; i < n; i++)
		unmap_mapping_range(sf->mapping, dead[i].offset, dead[i].length, 1);
	if (n) {	/* a reader whose process lost its last grant returns -EPERM */
		atomic_inc(&sivshm.kills);
		wake_up_interruptible_all(&sivshm.wq);
	}
}

/*
 * Kill every window granted in another epoch than @epoch: hostd has reset
 * the region (a restart), so the old windows may be handed to others.
 * Caller holds sivshm.lock.
 */
void sivshm_kill_stale(u64 epoch)
{
	struct sivshm_file *sf;

	lockdep_assert_held(&sivshm.lock);
	if (epoch == sivshm.live_epoch)
		return;
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, SIVSHM_KILL_STALE, epoch);
	sivshm.live_epoch = epoch;
}


/*
 * Nobody tells the guest when hostd moves the region to a new epoch, so
 * the header is looked at once a period while a device is bound.
 */
void sivshm_epoch_watch(struct work_struct *work)
{
	struct sivshm_region_header h;
	struct sivshm_file *sf;

	mutex_lock(&sivshm.lock);
	if (!sivshm.ctl.pdev) {
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
	/*
	 * Device windows are each alone in their channel device: they share
	 * their mmap offset (SIVSHM_DEVMAP_BASE) across files, not memory.
	 */
	if (w->dev_uid)
		return false;
	list_for_each_entry(o, &sivshm.files, node) {
		if (o == self)
			continue;
		down_read(&o->rwsem);
		for (i = 0; i < SIVSHM_MAX_GRANTS && !hit; i++) {
			const struct sivshm_window *x = &o->win[i];

			hit = x->live && !x->dev_uid && x->channel_id != w->channel_id &&
			      x->offset < w->offset + w->length &&
			      w->offset < x->offset + x->length;
		}
		up_read(&o->rwsem);
		if (hit)
			break;
	}
	return hit;
}

/*
 * Install the window of an accepted grant in @sf: in the region (@cd NULL)
 * or in the channel device @cd, whose window is mapped at
 * SIVSHM_DEVMAP_BASE; a file holds at most one device window (a second
 * one overlaps it there). Caller holds sivshm.lock.
 */
long sivshm_add_window(struct sivshm_file *sf,
			      const struct sivshm_grant_token *t,
			      const struct sivshm_region_header *h,
			      const struct sivshm_chandev *cd, u32 *verdict)
{
	struct sivshm_window w = {
		.live = true,
		.role = t->role,
		.epoch = h->epoch,
		.granule = h->page_granule,
		.channel_id = le64_to_cpu((__force __le64)t->channel_id),
		.offset = le64_to_cpu((__force __le64)t->window_offset),
		.length = le64_to_cpu((__force __le64)t->window_length),
		.db_peer = le16_to_cpu((__force __le16)t->db_peer),
		.db_ring = le32_to_cpu((__force __le32)t->db_ring),
		.db_observe = le32_to_cpu((__force __le32)t->db_observe),
	};
	struct sivshm_window *slot = NULL;
	int i;

	lockdep_assert_held(&sivshm.lock);	/* no REVOKE or remove() in between */
	if (cd) {
		w.granule = cd->hdr.page_granule;
		w.phys = cd->bar.start + cd->hdr.window_offset;
		w.dev_uid = cd->uid;
		w.offset = SIVSHM_DEVMAP_BASE;
	} else {
		w.phys = sivshm.ctl.start + w.offset;
	}
	w.data_size = sivshm_window_data_size(w.length, w.granule);
	if (!w.data_size) {
		*verdict = SIVSHM_REJ_LAYOUT;
		return -EACCES;
	}
	if (w.offset % w.granule) {	/* its parts would straddle granules */
		*verdict = SIVSHM_REJ_LAYOUT;
		return -EACCES;
	}
	/* refused here, not at the role's first write to its own page */
	if (!sivshm_granule_fits(w.granule, PAGE_SIZE)) {
		pr_notice_ratelimited("sivshm: grant refused: the region's (or channel device's) page granule is %llu bytes, this kernel's pages are %lu (set region.pageGranule >= %lu)\n",
				      w.granule, PAGE_SIZE, PAGE_SIZE);
		*verdict = SIVSHM_REJ_GRANULE;
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
			/* the same window again: the newer grant's route holds */
			o->db_peer = w.db_peer;
			o->db_ring = w.db_ring;
			o->db_observe = w.db_observe;
			sivshm_update_observe(sf);
			up_write(&sf->rwsem);
			return 0;
		}
	}
	if (slot) {
		*slot = w;
		WRITE_ONCE(sf->nlive, sf->nlive + 1);
		sivshm_update_observe(sf);
	}
	up_write(&sf->rwsem);
	return slot ? 0 : -ENOSPC;
}
