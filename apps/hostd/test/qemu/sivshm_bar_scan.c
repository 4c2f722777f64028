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
 *   insmod sivshm_bar_scan.ko all=1 round=<n> marker=<hex>[,<hex>...]
 *     ->  "sivshm_bar_scan: r<n> <bdf> <hex> <count> of <bytes>", one line per
 *         ivshmem device and marker: every ivshmem BAR2 this guest has (the
 *         control device and any hot-plugged channel device), for the
 *         isolation check, whose third guest must find no device channel's
 *         bytes anywhere it can reach
 *
 *   insmod sivshm_bar_scan.ko scribble=1 round=<n>
 *     ->  "sivshm_bar_scan: w<n> <bdf> <control|region> <blocks> <kept>", one
 *         line per ivshmem device that is not a channel device: root's
 *         writes, for the check that the control device is read-only. The
 *         control device (BAR2 starting with "SIVCTL\0\1") gets SCRIBBLE
 *         over every byte of its BAR2; the region gets it over the first
 *         64 bytes of its header (before the heartbeat word hostd keeps
 *         writing). <blocks> 16-byte blocks were written, <kept> of them read
 *         back as written: 0 when the hypervisor dropped the writes.
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
static bool scribble;
module_param(scribble, bool, 0444);
MODULE_PARM_DESC(scribble, "write SCRIBBLE over the control device and the region header");
/* What root writes; the host looks for it in its files (isolation-markers.ts). */
static const char SCRIBBLE[16] = "sivshm-scribble!";
#define CONTROL_MAGIC	"SIVCTL\0\1"
#define CHANNEL_MAGIC	"SIVCHN\0\1"
#define REGION_SCRIBBLE	64
static bool all;
module_param(all, bool, 0444);
MODULE_PARM_DESC(all, "scan BAR2 of every ivshmem device, one line per device and marker");
static int scan_round;
module_param_named(round, scan_round, int, 0444);
MODULE_PARM_DESC(round, "names the scan in its lines (with all=1)");

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

/* prefix: "" for the first device's classic lines, "r<round> <bdf> " with all=1 */
static int scan_one(const char *prefix, const u8 *bar, size_t len, const char *hex)
{
	size_t hexlen = strlen(hex), n = hexlen / 2;
	u8 want[MAX_MARKER];

	if (n == 0 || n > MAX_MARKER || hexlen % 2 || hex2bin(want, hex, n))
		return -EINVAL;
	pr_info("%s%s %zu of %zu\n", prefix, hex, count_in(bar, len, want, n), len);
	return 0;
}

static int scan_device(struct pci_dev *pdev, const char *prefix)
{
	resource_size_t start = pci_resource_start(pdev, REGION_BAR);
	resource_size_t len = pci_resource_len(pdev, REGION_BAR);
	void *bar = len ? memremap(start, len, MEMREMAP_WB) : NULL;
	int i, err = 0;

	if (!bar)
		return -ENOMEM;
	for (i = 0; i < nmarkers && !err; i++)
		err = scan_one(prefix, bar, len, marker[i]);
	memunmap(bar);
	return err;
}

/* Writes SCRIBBLE over @len bytes of @bar in 16-byte blocks; how many read back as written. */
static size_t scribble_over(u8 *bar, size_t len)
{
	size_t i, kept = 0;

	for (i = 0; i + sizeof(SCRIBBLE) <= len; i += sizeof(SCRIBBLE))
		memcpy(bar + i, SCRIBBLE, sizeof(SCRIBBLE));
	mb();	/* read back after every write was issued */
	for (i = 0; i + sizeof(SCRIBBLE) <= len; i += sizeof(SCRIBBLE)) {
		if (!memcmp(bar + i, SCRIBBLE, sizeof(SCRIBBLE)))
			kept++;
		if (i % CHUNK == 0)
			cond_resched();
	}
	return kept;
}

static int scribble_device(struct pci_dev *pdev)
{
	resource_size_t start = pci_resource_start(pdev, REGION_BAR);
	resource_size_t len = pci_resource_len(pdev, REGION_BAR);
	u8 *bar = len >= 4096 ? memremap(start, len, MEMREMAP_WB) : NULL;
	bool control;
	size_t n;

	if (!bar)
		return -ENOMEM;
	if (!memcmp(bar, CHANNEL_MAGIC, 8)) {	/* a channel device: not this check's */
		memunmap(bar);
		return 0;
	}
	control = !memcmp(bar, CONTROL_MAGIC, 8);
	n = control ? len : REGION_SCRIBBLE;
	pr_info("w%d %s %s %zu %zu\n", scan_round, pci_name(pdev),
		control ? "control" : "region", n / sizeof(SCRIBBLE), scribble_over(bar, n));
	memunmap(bar);
	return 0;
}

static int __init sivshm_bar_scan_init(void)
{
	struct pci_dev *pdev = NULL;
	char prefix[48];
	int err = 0;

	if (scribble) {
		while (!err && (pdev = pci_get_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, pdev)))
			err = scribble_device(pdev);
		pci_dev_put(pdev);
		return err;
	}

	if (!all) {
		pdev = pci_get_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, NULL);
		if (!pdev)
			return -ENODEV;
		err = scan_device(pdev, "");
		pci_dev_put(pdev);
		return err;
	}
	/* pci_get_device drops the previous device's reference and takes the next one's */
	while (!err && (pdev = pci_get_device(IVSHMEM_VENDOR, IVSHMEM_DEVICE, pdev))) {
		snprintf(prefix, sizeof(prefix), "r%d %s ", scan_round, pci_name(pdev));
		err = scan_device(pdev, prefix);
	}
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
