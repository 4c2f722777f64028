// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm: channel devices. hostd hot-plugs one ivshmem-plain device per
 * `isolation: device` channel into exactly the channel's two VMs, so no
 * other VM (kernel included) can reach its memory. BAR2 starts with a
 * header naming the channel; the window follows it. The device is bound to
 * that channel at probe, reached only through a device grant presented on
 * /dev/sivshm (mapped at SIVSHM_DEVMAP_BASE), and on remove (unplug) every
 * mapping of it is zapped before the BAR goes away.
 */
#include <linux/jiffies.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>

#include "sivshm_dev.h"

/*
 * Copy the channel header at the start of @mem (a BAR2 of @bar_len bytes)
 * and validate the copy, converting it to CPU byte order: 0; -ENODATA
 * when it does not start with the channel magic (not a channel device);
 * -EINVAL when it does but a field is wrong. The memory is shared with the
 * host and the peer VM, so only the copy is looked at.
 */
int sivshm_read_chandev(const void *mem, u64 bar_len, struct sivshm_chandev_header *h)
{
	u64 g;

	if (bar_len < sizeof(*h))
		return -ENODATA;
	memcpy(h, mem, sizeof(*h));
	if (memcmp(h->magic, SIVSHM_CHANDEV_MAGIC, sizeof(h->magic)))
		return -ENODATA;
	h->layout_version = le32_to_cpu((__force __le32)h->layout_version);
	h->header_size = le32_to_cpu((__force __le32)h->header_size);
	h->device_size = le64_to_cpu((__force __le64)h->device_size);
	h->epoch = le64_to_cpu((__force __le64)h->epoch);
	h->channel_id = le64_to_cpu((__force __le64)h->channel_id);
	h->window_offset = le64_to_cpu((__force __le64)h->window_offset);
	h->window_length = le64_to_cpu((__force __le64)h->window_length);
	h->page_granule = le32_to_cpu((__force __le32)h->page_granule);
	h->ring_data_size = le32_to_cpu((__force __le32)h->ring_data_size);
	h->consumer_vm = le32_to_cpu((__force __le32)h->consumer_vm);
	h->provider_vm = le32_to_cpu((__force __le32)h->provider_vm);
	h->service = le16_to_cpu((__force __le16)h->service);
	h->instance = le16_to_cpu((__force __le16)h->instance);
	g = h->page_granule;
	if (h->layout_version != SIVSHM_CHANDEV_VERSION || !is_power_of_2(g) ||
	    g < SIVSHM_GRANULE_MIN || g > SIVSHM_GRANULE_MAX || h->header_size != g ||
	    h->window_offset != g || h->device_size != bar_len || !h->channel_id ||
	    !sivshm_window_data_size(h->window_length, g) ||
	    h->window_length > bar_len - g)
		return -EINVAL;
	return 0;
}

/* The channel device bound to @channel_id, or NULL. Caller holds sivshm.lock. */
struct sivshm_chandev *sivshm_chandev_find(u64 channel_id)
{
	struct sivshm_chandev *cd;

	lockdep_assert_held(&sivshm.lock);
	list_for_each_entry(cd, &sivshm.chandevs, node)
		if (cd->hdr.channel_id == channel_id)
			return cd;
	return NULL;
}

/*
 * Bind @pdev, whose BAR2 @bar holds the valid header @h, to its channel.
 * One device per channel: a second one for the same channel is refused.
 */
int sivshm_chandev_probe(struct pci_dev *pdev, const struct sivshm_bar *bar,
			 const struct sivshm_chandev_header *h)
{
	struct sivshm_chandev *cd;
	int ret = 0;

	cd = devm_kzalloc(&pdev->dev, sizeof(*cd), GFP_KERNEL);
	if (!cd)
		return -ENOMEM;
	cd->bar = *bar;
	cd->hdr = *h;
	mutex_lock(&sivshm.lock);
	if (sivshm_chandev_find(h->channel_id)) {
		ret = -EBUSY;
	} else {
		cd->uid = ++sivshm.chandev_uids;
		pci_set_drvdata(pdev, cd);
		list_add(&cd->node, &sivshm.chandevs);
	}
	mutex_unlock(&sivshm.lock);
	if (ret) {
		dev_notice(&pdev->dev, "sivshm: channel %llu already has a device: not bound\n",
			   h->channel_id);
		return ret;
	}
	atomic_inc(&sivshm.chandev_probes);
	wake_up_interruptible_all(&sivshm.probe_wq);
	dev_info(&pdev->dev, "sivshm: channel device of channel %llu, BAR2 %llu bytes, window %llu bytes\n",
		 h->channel_id, bar->len, h->window_length);
	return 0;
}

/*
 * Unbind (hot-unplug): forget the device, then kill every window on it in
 * every file and zap their mappings, all under sivshm.lock, so no GRANT
 * can install a window on it afterwards and no PFN mapping of the BAR
 * survives remove() (the fault path finds no live window: SIGBUS).
 */
void sivshm_chandev_remove(struct sivshm_chandev *cd)
{
	struct sivshm_file *sf;

	mutex_lock(&sivshm.lock);
	list_del(&cd->node);
	list_for_each_entry(sf, &sivshm.files, node)
		sivshm_kill_windows(sf, SIVSHM_KILL_DEVICE, cd->uid);
	mutex_unlock(&sivshm.lock);
	pci_set_drvdata(cd->bar.pdev, NULL);
	dev_info(&cd->bar.pdev->dev, "sivshm: channel device of channel %llu removed\n",
		 cd->hdr.channel_id);
}

static bool sivshm_chandev_bound(u64 channel_id)
{
	bool bound;

	mutex_lock(&sivshm.lock);
	bound = sivshm_chandev_find(channel_id);
	mutex_unlock(&sivshm.lock);
	return bound;
}

/*
 * A device GRANT may arrive before the hot-plugged device is probed: wait
 * for it up to SIVSHM_CHANDEV_WAIT_MS, with no lock held. 0 when it is
 * bound or the time is up (the grant then gets the verdict NODEV), or
 * -ERESTARTSYS on a signal.
 */
long sivshm_chandev_wait(u64 channel_id)
{
	long left = msecs_to_jiffies(SIVSHM_CHANDEV_WAIT_MS);

	while (left > 0) {
		int probes = atomic_read(&sivshm.chandev_probes);

		if (sivshm_chandev_bound(channel_id))
			return 0;
		/* the lock is not taken inside the wait: only the counter */
		left = wait_event_interruptible_timeout(sivshm.probe_wq,
				atomic_read(&sivshm.chandev_probes) != probes, left);
		if (left < 0)
			return left;
	}
	return 0;
}
