// SPDX-License-Identifier: GPL-2.0
/*
 * Test module of tier 3 (never shipped): reads the whole region BAR of this
 * guest's ivshmem device the way its kernel can, and counts where the bytes
 * of `marker` occur. It shows what a guest kernel (or anyone who owns it)
 * sees of the channels in the region, whatever sivshm.ko grants its apps:
 * plaintext in plain and mac channels, none in aead.
 *
 *   insmod sivshm_bar_scan.ko marker=<hex>[,<hex>...]
 *     ->  "sivshm_bar_scan: <hex> <n> of <bytes>", one line per marker
 *
 * The counts go to the kernel log when the module loads; unload it to scan
 * again. The BAR is mapped write-back, as sivshm.ko maps it (one memory type
 * per range), and the scan yields the CPU between chunks: on a one-CPU guest
 * the apps whose traffic is scanned must keep running (and beating) meanwhile.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/string.h>

#define IVSHMEM_VENDOR	0x1af4
#define IVSHMEM_DEVICE	0x1110
#define REGION_BAR	2
#define MAX_MARKERS	8
#define MAX_MARKER	32
#define CHUNK		(64 * 1024)

static char *marker[MAX_MARKERS];
static int nmarkers;
module_param_array(marker, charp, &nmarkers, 0444);
MODULE_PARM_DESC(marker, "bytes to count in the region BAR, in hex (at most 32 bytes each)");

static size_t count_in(const u8 *bar, size_t len, const u8 *want, size_t n)
{
	size_t i, count = 0;

	for (i = 0; i + n <= len; i++) {
		if (bar[i] == want[0] && !memcmp(bar + i, want, n))
			count++;
		if (i % CHUNK == CHUNK - 1)
			cond_resched();
	}
	return count;
}

static int scan_one(const u8 *bar, size_t len, const char *hex)
{
	size_t hexlen = strlen(hex), n = hexlen / 2;
	u8 want[MAX_MARKER];

	if (n == 0 || n > MAX_MARKER || hexlen % 2 || hex2bin(want, hex, n))
		return -EINVAL;
	pr_info("%s %zu of %zu\n", hex, count_in(bar, len, want, n), len);
	return 0;
}

static int __init sivshm_bar_scan_init(void)
{
	struct pci_dev *pdev;
	resource_size_t start, len;
	void *bar;
	int i, err = 0;

	pdev = pci_get_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, NULL);
	if (!pdev)
		return -ENODEV;
	start = pci_resource_start(pdev, REGION_BAR);
	len = pci_resource_len(pdev, REGION_BAR);
	bar = len ? memremap(start, len, MEMREMAP_WB) : NULL;
	if (!bar) {
		pci_dev_put(pdev);
		return -ENOMEM;
	}
	for (i = 0; i < nmarkers && !err; i++)
		err = scan_one(bar, len, marker[i]);
	memunmap(bar);
	pci_dev_put(pdev);
	return err;
}

static void __exit sivshm_bar_scan_exit(void)
{
}

module_init(sivshm_bar_scan_init);
module_exit(sivshm_bar_scan_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sivshm tier-3 test: count a marker in the ivshmem region BAR");
