// SPDX-License-Identifier: GPL-2.0
/*
 * sivshm: the read-only control device (docs/protocol.md §10.4). Every
 * guest's region is one writable BAR (it holds the windows of region
 * channels), so root in any guest could rewrite the header every other
 * guest's driver checks grants and epochs against. hostd therefore keeps
 * the header and the channel table in a file of their own, which QEMU gives
 * every guest through a read-only memory backend behind an ivshmem-plain
 * device: its BAR2 starts with SIVSHM_CONTROL_MAGIC, and the hypervisor
 * drops the guest's writes to it. Once such a device is bound the header is
 * read from it only; whether one is bound is decided by the devices the VM
 * was given, never by a flag in memory another guest can write.
 */
#include <linux/compiler.h>
#include <linux/delay.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/string.h>

#include "sivshm_dev.h"

/* Does the BAR2 at @mem (@bar_len bytes) start with the control magic? */
bool sivshm_is_roctl(const void *mem, u64 bar_len)
{
	return bar_len >= SIVSHM_PAGE_SIZE &&
	       !memcmp(mem, SIVSHM_CONTROL_MAGIC, sizeof(((struct sivshm_region_header *)0)->magic));
}

/* Flips of the probe byte that must all be dropped (see below). */
#define SIVSHM_ROCTL_PROBES 16

/*
 * Whether the hypervisor drops this guest's writes to @mem: the last byte
 * of the header page (unused, zero) is written with SIVSHM_ROCTL_PROBES
 * different values, a few microseconds apart, and every one must read back
 * as the old byte. A writable BAR that carries the magic (a region another
 * guest wrote it into) must never become the device the header is trusted
 * from, and that guest can store the old byte back at any moment: one flip
 * it could hide by winning a race, every one of them in a row it cannot.
 * The old byte is put back only over this probe's own write, never over a
 * value someone else stored meanwhile.
 */
static bool sivshm_refuses_writes(void *mem)
{
	u8 *probe = (u8 *)mem + SIVSHM_PAGE_SIZE - 1;
	u8 old = READ_ONCE(*probe);
	int i;

	for (i = 0; i < SIVSHM_ROCTL_PROBES; i++) {
		u8 flip = old ^ (u8)(0x5a + 0x13 * i);	/* never 0: old is never written */
		u8 seen;

		WRITE_ONCE(*probe, flip);
		mb();	/* the read below must see the memory after the write */
		seen = READ_ONCE(*probe);
		if (seen != old) {
			if (seen == flip)
				WRITE_ONCE(*probe, old);
			return false;
		}
		udelay(5);
	}
	return true;
}

/*
 * Bind @pdev, whose BAR2 @bar starts with the control magic, as the
 * read-only control device: 0, -EBUSY for a second one, or -EPERM when the
 * BAR takes writes (the caller then treats it as the region device).
 */
int sivshm_roctl_probe(struct pci_dev *pdev, const struct sivshm_bar *bar)
{
	int ret = 0;

	/*
	 * The control device is an ivshmem-plain device; the region is the
	 * ivshmem-doorbell one, with MSI-X. A BAR with MSI-X is never taken for
	 * the control device, whatever another guest wrote into it.
	 */
	if (pci_find_capability(pdev, PCI_CAP_ID_MSIX)) {
		dev_notice(&pdev->dev, "sivshm: BAR2 carries the control magic on a device with MSI-X: not the read-only control device\n");
		return -EPERM;
	}
	if (!sivshm_refuses_writes(bar->mem)) {
		dev_notice(&pdev->dev, "sivshm: BAR2 carries the control magic but takes writes: not the read-only control device\n");
		return -EPERM;
	}
	mutex_lock(&sivshm.lock);
	if (sivshm.roctl.pdev) {
		ret = -EBUSY;
	} else {
		sivshm.roctl = *bar;
		sivshm.roctl_bound = true;
	}
	mutex_unlock(&sivshm.lock);
	if (ret) {
		dev_notice(&pdev->dev, "sivshm: a second read-only control device: not bound\n");
		return ret;
	}
	dev_info(&pdev->dev, "sivshm: read-only control device, BAR2 %llu bytes\n", bar->len);
	return 0;
}

/*
 * Unbind @pdev if it is the read-only control device (true then). The
 * header is not read from the region afterwards: grants fail with -ENODEV
 * until the module is loaded again.
 */
bool sivshm_roctl_remove(struct pci_dev *pdev)
{
	bool ours;

	mutex_lock(&sivshm.lock);
	ours = sivshm.roctl.pdev == pdev;
	if (ours) {
		sivshm.roctl.mem = NULL;
		WRITE_ONCE(sivshm.roctl.pdev, NULL);
	}
	mutex_unlock(&sivshm.lock);
	if (ours)
		dev_info(&pdev->dev, "sivshm: read-only control device removed\n");
	return ours;
}
