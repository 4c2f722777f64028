// SPDX-License-Identifier: GPL-2.0
/*
 * chandev-checks: runs inside a QEMU guest that has the control device (the
 * shared region) and two channel devices (ivshmem-plain whose BAR2 starts
 * with a channel header, issue 18) for channels 21 and 22; prints one
 * "@@ ok <name>" / "@@ not ok <name>: <why>" line per check.
 *
 *   chandev-checks <control tty> <region window offset> <BDF of channel 21's device>
 *
 * Tokens come from the host's stand-in for hostd over the control tty
 * ("GRANT dev:<id>:<role>[:<window length>] <kn>", "REVOKE chan:<id>").
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include "guest-report.h"
#include "sivshm.h"
#include "guest-control.h"

#define PAGE 4096UL
#define DIR_SIZE (3 * PAGE)		/* producer page, consumer page, 4 KiB data */
#define WIN_LEN (2 * DIR_SIZE)
#define DRV "/sys/bus/pci/drivers/sivshm/"

static unsigned long win;
static const char *bdf21;

/* A new file holding the grant of @spec, or -1 (the verdict in *@verdict). */
static int granted_file(const char *spec, unsigned int *verdict)
{
	struct sivshm_grant_req req;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("open " DEV);
	get_token(spec, fd, &req);
	if (present(fd, &req)) {
		*verdict = req.verdict;
		close(fd);
		return -1;
	}
	*verdict = 0;
	return fd;
}

static volatile char *map_device_window(int fd)
{
	void *m = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)SIVSHM_DEVMAP_BASE);

	return m == MAP_FAILED ? NULL : m;
}

/* Devices the driver bound (symlinks named by their PCI address). */
static int bound_devices(void)
{
	DIR *d = opendir(DRV);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "0000:", 5);
	closedir(d);
	return n;
}

static int sysfs_write(const char *file, const char *s)
{
	int fd = open(file, O_WRONLY), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
	close(fd);
	return ok;
}

/* The region's channel 1 still maps and writes beside the channel devices. */
static void check_region_grant(void)
{
	struct sivshm_grant_req req;
	volatile char *m = MAP_FAILED;
	int fd = open(DEV, O_RDWR | O_CLOEXEC), r;

	if (fd < 0)
		die("open " DEV);
	get_token("consumer", fd, &req);
	r = present(fd, &req);
	if (!r)
		m = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, win);
	if (m != MAP_FAILED)
		strcpy((char *)m + 2 * PAGE, "REGION-BESIDE-DEVICES");	/* c2p data area */
	report("region-grant-works-beside-channel-devices", !r && m != MAP_FAILED,
	       "grant %d verdict %u, mmap %s", r, req.verdict, m == MAP_FAILED ? "failed" : "ok");
	close(fd);	/* the mapping stays until exit */
}

/* Channel 21 (consumer): the device window maps at SIVSHM_DEVMAP_BASE with the role's rules. */
static volatile char *check_device_window(int *fd21)
{
	unsigned int v;
	volatile char *m = NULL;
	int peer_sig = -1, own_sig = -1, at_window = -1;

	*fd21 = granted_file("dev:21:consumer", &v);
	if (*fd21 >= 0)
		m = map_device_window(*fd21);
	if (m) {
		own_sig = touch(m, 1, 'x');
		strcpy((char *)m, "CHAN21-C");			/* own producer page */
		strcpy((char *)m + 2 * PAGE, "CHAN21-DATA");	/* own data area */
		peer_sig = touch(m + DIR_SIZE, 1, 'x');		/* the provider's producer page */
		/* the window's device offset means nothing in the file's region space */
		at_window = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, *fd21, PAGE) == MAP_FAILED
			    ? errno : 0;
	}
	report("device-grant-maps-its-device-window", m && !own_sig,
	       "grant fd %d verdict %u, mmap at SIVSHM_DEVMAP_BASE %s, own page write sig %d",
	       *fd21, v, m ? "ok" : "failed", own_sig);
	report("device-window-peer-pages-read-only", peer_sig == SIGBUS,
	       "write to the peer's producer page: signal %d", peer_sig);
	report("device-window-only-at-devmap-base", at_window == EPERM,
	       "mmap at the window's device offset: %s", strerror(at_window));
	return m;
}

/* Refusals: no device, another window, another VM's role, a second device window per file. */
static void check_refusals(int fd21)
{
	struct sivshm_grant_req req;
	uint64_t t0 = now_ms(), waited;
	unsigned int v_nodev, v_len, v_vm;
	int fd, r;

	fd = granted_file("dev:23:consumer", &v_nodev);
	waited = now_ms() - t0;
	report("device-grant-without-device-nodev", fd < 0 && v_nodev == SIVSHM_REJ_NODEV &&
	       waited >= 1500, "verdict %u after %llu ms (want %u after waiting ~2 s)", v_nodev,
	       (unsigned long long)waited, SIVSHM_REJ_NODEV);
	fd = granted_file("dev:21:consumer:12288", &v_len);
	report("device-grant-other-window-refused", fd < 0 && v_len == SIVSHM_REJ_WINDOW,
	       "verdict %u", v_len);
	/* the header names VM 2 as the provider, this guest is VM 1 */
	fd = granted_file("dev:21:provider", &v_vm);
	report("device-grant-other-vm-role-refused", fd < 0 && v_vm == SIVSHM_REJ_WINDOW,
	       "verdict %u", v_vm);
	get_token("dev:22:consumer", fd21, &req);
	r = present(fd21, &req);
	report("one-device-window-per-file", r == -EACCES && req.verdict == SIVSHM_REJ_OVERLAP,
	       "second device grant on the same file: %d verdict %u", r, req.verdict);
}

/* Channel 22 on its own file: mapped beside 21, then revoked: its mapping faults. */
static void check_revoke(void)
{
	struct sivshm_revoke_req rv;
	unsigned int v;
	volatile char *m = NULL;
	int fd, r = -1, before = -1, after = -1;

	fd = granted_file("dev:22:consumer", &v);
	if (fd >= 0)
		m = map_device_window(fd);
	if (m) {
		before = touch(m, 1, 'y');
		strcpy((char *)m, "CHAN22-C");
		get_revoke("chan:22", &rv);
		r = present_revoke(fd, &rv);
		after = touch(m, 0, 0);
	}
	report("revoke-device-channel-zaps-its-mapping", m && !before && !r && after == SIGBUS,
	       "grant verdict %u, mmap %s, write before %d, revoke %d verdict %u, read after: "
	       "signal %d", v, m ? "ok" : "failed", before, r, rv.verdict, after);
	if (fd >= 0)
		close(fd);
}

/*
 * Unbind channel 21's device (as a hot-unplug does) under a live mapping:
 * the mapping faults, a grant for it waits and gets NODEV; binding it again
 * (a hot-plug) probes it at run time and a new grant sees the same memory.
 */
static void check_unbind(int fd21, volatile char *m21)
{
	char path[128];
	unsigned int v_gone, v_back;
	volatile char *m = NULL;
	int sig = -1, ub, b, fd, n_before = bound_devices(), n_after;

	snprintf(path, sizeof(path), "%s", bdf21);
	ub = sysfs_write(DRV "unbind", path);
	n_after = bound_devices();
	if (m21)
		sig = touch(m21, 0, 0);
	fd = granted_file("dev:21:consumer", &v_gone);
	report("unbind-channel-device-zaps-its-mappings",
	       !ub && n_after == n_before - 1 && sig == SIGBUS && fd < 0 &&
	       v_gone == SIVSHM_REJ_NODEV,
	       "unbind %s: %s; devices %d -> %d; read of the live mapping: signal %d; grant: "
	       "verdict %u", bdf21, strerror(-ub), n_before, n_after, sig, v_gone);
	if (fd >= 0)
		close(fd);
	close(fd21);
	b = sysfs_write(DRV "bind", path);
	fd = granted_file("dev:21:consumer", &v_back);
	if (fd >= 0)
		m = map_device_window(fd);
	report("rebound-channel-device-grants-again",
	       !b && m && !strcmp((const char *)m + 2 * PAGE, "CHAN21-DATA"),
	       "bind: %s; grant verdict %u; mmap %s; data area holds '%.12s'", strerror(-b),
	       v_back, m ? "ok" : "failed", m ? (const char *)m + 2 * PAGE : "");
	if (fd >= 0)
		close(fd);
}

/*
 * Hot-plug (QMP on the host, ACPI hot-plug in the guest): the device of
 * channel 23 arrives while this runs; its grant waits for the probe. Then
 * it is unplugged under a live mapping: the mapping faults and a grant
 * gets NODEV. A probe slower than the grant's own 2 s wait is retried.
 */
static void check_hotplug(void)
{
	char plug[64], unplug[64];
	unsigned int v = 0, v_gone = 0;
	volatile char *m = NULL;
	uint64_t t0, end;
	int fd = -1, fd2, sig = -1, tries = 0;

	ask(plug, sizeof(plug), "PLUG 23");
	t0 = now_ms();
	end = t0 + 30000;
	do {
		fd = granted_file("dev:23:consumer", &v);
		tries++;
	} while (fd < 0 && v == SIVSHM_REJ_NODEV && now_ms() < end);
	if (fd >= 0)
		m = map_device_window(fd);
	if (m)
		strcpy((char *)m, "CHAN23-C");
	printf("@@ note hot-plug: QMP %s ms; the grant was accepted %llu ms later (%d tries)\n",
	       plug + 3, (unsigned long long)(now_ms() - t0), tries);
	report("hotplugged-channel-device-grants", !strncmp(plug, "OK", 2) && m,
	       "PLUG: %s; grant verdict %u after %d tries; mmap %s", plug, v, tries,
	       m ? "ok" : "failed");
	ask(unplug, sizeof(unplug), "UNPLUG 23");
	if (m)
		sig = touch(m, 0, 0);
	fd2 = granted_file("dev:23:consumer", &v_gone);
	printf("@@ note hot-unplug: DEVICE_DELETED %s ms after device_del\n", unplug + 3);
	report("hot-unplug-zaps-device-mappings",
	       !strncmp(unplug, "OK", 2) && m && sig == SIGBUS && fd2 < 0 &&
	       v_gone == SIVSHM_REJ_NODEV,
	       "UNPLUG: %s; read of the live mapping: signal %d; grant after: verdict %u", unplug,
	       sig, v_gone);
	if (fd2 >= 0)
		close(fd2);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_fault };
	struct sivshm_info info;
	struct sivshm_set_key k = {};
	char reply[128];
	unsigned int vm_id;
	volatile char *m21;
	struct termios t;
	int fd, fd21;

	if (argc != 4) {
		fprintf(stderr, "usage: chandev-checks <tty> <region win> <BDF of channel 21>\n");
		return 2;
	}
	role = "devices";
	win = strtoul(argv[2], NULL, 0);
	bdf21 = argv[3];
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	ctl = open(argv[1], O_RDWR | O_NOCTTY);
	if (ctl < 0 || tcgetattr(ctl, &t))
		die(argv[1]);
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	if (tcsetattr(ctl, TCSANOW, &t))
		die("tcsetattr");
	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	ask(reply, sizeof(reply), "KEY");
	if (strlen(reply) < 66 || unhex(reply, k.key, 32) || sscanf(reply + 65, "%u", &vm_id) != 1)
		die("KEY reply");
	k.vm_id = vm_id;
	if (ioctl(fd, SIVSHM_IOC_SET_KEY, &k))
		die("SET_KEY");
	/* the region, two channel devices and the read-only control device; not the forgery */
	report("control-and-two-channel-devices-bound",
	       bound_devices() == 4 && !ioctl(fd, SIVSHM_IOC_INFO, &info) &&
	       (info.flags & SIVSHM_INFO_HEADER_OK),
	       "devices bound %d, INFO flags %#x", bound_devices(), info.flags);
	/* its epoch is the region's; the writable forgery's is not, and grants would fail */
	report("header-read-from-read-only-control-device",
	       !ioctl(fd, SIVSHM_IOC_INFO, &info) && (info.flags & SIVSHM_INFO_CONTROL_RO) &&
	       info.epoch == 7 && access(DRV "0000:00:1e.0", F_OK) == 0 &&
	       access(DRV "0000:00:1d.0", F_OK) != 0,
	       "INFO flags %#x epoch %llu; read-only device bound %d, writable forgery bound %d",
	       info.flags, (unsigned long long)info.epoch, access(DRV "0000:00:1e.0", F_OK) == 0,
	       access(DRV "0000:00:1d.0", F_OK) == 0);
	check_region_grant();
	m21 = check_device_window(&fd21);
	check_refusals(fd21);
	check_revoke();
	check_unbind(fd21, m21);
	check_hotplug();
	close(fd);
	return failures != 0;
}
