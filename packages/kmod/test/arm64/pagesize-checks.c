// SPDX-License-Identifier: GPL-2.0
/*
 * pagesize-checks: runs as root in the arm64 guest whose kernel uses 16 KiB pages, against
 * /dev/sivshm on an ivshmem-plain device, and prints one "@@ ok <name>" or
 * "@@ not ok <name>: <why>" line per check.
 *
 *   pagesize-checks <fw_cfg dir> <data offset> <vm id> v1|granule
 *
 * It plays hostd for itself: provision-key has already set K_vm from fw_cfg, and this program
 * reads the same fw_cfg item (root only) to sign its grant and revoke tokens, which the module
 * checks with its own HMAC. The host filled every 4 KiB page of the data section with a marker
 * (its region offset as 8 hex digits) and checks after the run which writes landed.
 *
 * "v1": the region is layout v1 (4 KiB granule). Its windows put pages of both roles in one
 * 16 KiB page, so the module must refuse the grant (verdict granule) and map nothing.
 *
 * "granule": the region is laid out for a 16 KiB granule (layout version 2). Windows (data area
 * 32 KiB: 128 KiB, eight 16 KiB kernel pages; the consumer role owns direction 0):
 *   page 0: P0 (own)   1: C0 (peer)   2, 3: D0 (own)
 *   page 4: P1 (peer)  5: C1 (own)    6, 7: D1 (peer)
 * Every page is one role's, so the role's own pages are writable and the peer's read-only, and
 * a channel runs: two processes exchange records through both rings (granule-channel.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "../vm/guest-report.h"
#include "../vm/hmac-sha256.h"
#include "granule-channel.h"
#include "sivshm.h"

#define SUB 4096UL				/* a layout v1 page */
#define KPAGE (16 * 1024UL)			/* the guest kernel's page, and the granule */
#define DATA_AREA (32 * 1024UL)
#define DIR_SIZE (2 * KPAGE + DATA_AREA)
#define WIN_LEN (2 * DIR_SIZE)			/* 128 KiB */
#define V1_WIN_LEN (2 * (2 * SUB + DATA_AREA))	/* the same data area in layout v1: 80 KiB */
#define RECORDS 3000				/* each way: the 32 KiB rings wrap twice */
#define EPOCH 9
#define OWN_MARK "own-16k!"			/* what the host looks for after the run */

#ifdef SIVSHM_GRANT_VERSION
#define GRANT_VERSION SIVSHM_GRANT_VERSION
#else
#define GRANT_VERSION SIVSHM_TOKEN_VERSION
#endif

static uint8_t key[SIVSHM_KEY_SIZE];
static unsigned int vm_id;
static uint64_t serial, revoke_serial;

static void die(const char *what)
{
	printf("@@ not ok arm64-16k-setup: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void read_key(const char *dir)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/key/raw", dir);
	f = fopen(path, "rb");
	if (!f || fread(key, 1, sizeof(key), f) != sizeof(key))
		die(path);
	fclose(f);
}

/*
 * A signed grant of channel @chan, role @role, for the window at @off of @len bytes, bound to
 * @fd's nonce.
 */
static int grant_len(int fd, uint64_t chan, int role, uint64_t off, uint64_t len,
		     uint32_t *verdict)
{
	struct sivshm_grant_req req;
	struct sivshm_nonce kn;
	struct timespec now;
	int rc;

	if (ioctl(fd, SIVSHM_IOC_NONCE, &kn))
		die("SIVSHM_IOC_NONCE");
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&req, 0, sizeof(req));
	req.token.magic = SIVSHM_GRANT_MAGIC;
	req.token.version = GRANT_VERSION;
	req.token.role = role;
	req.token.perms = SIVSHM_PERM_MAP;
	req.token.epoch = EPOCH;
	req.token.grant_serial = ++serial;
	req.token.vm_id = vm_id;
	req.token.channel_id = chan;
	req.token.window_offset = off;
	req.token.window_length = len;
	memcpy(req.token.kn, kn.kn, sizeof(kn.kn));
	/* an hour ahead: the guest clock under TCG may drift */
	req.token.not_after = (uint64_t)(now.tv_sec + 3600) * 1000000000ULL;
	req.token.mode = SIVSHM_MODE_PLAIN;
#ifdef SIVSHM_DB_NO_PEER
	req.token.db_peer = SIVSHM_DB_NO_PEER;
#endif
	hmac_sha256(key, SIVSHM_GRANT_LABEL, sizeof(SIVSHM_GRANT_LABEL), &req.token,
		    sizeof(req.token), req.tag);
	rc = ioctl(fd, SIVSHM_IOC_GRANT, &req) ? -errno : 0;
	*verdict = req.verdict;
	return rc;
}

static int grant(int fd, uint64_t chan, int role, uint64_t off, uint32_t *verdict)
{
	return grant_len(fd, chan, role, off, WIN_LEN, verdict);
}

static int revoke_channel(int fd, uint64_t chan, uint32_t *verdict)
{
	struct sivshm_revoke_req req;
	int rc;

	memset(&req, 0, sizeof(req));
	req.token.magic = SIVSHM_REVOKE_MAGIC;
	req.token.version = SIVSHM_TOKEN_VERSION;
	req.token.epoch = EPOCH;
	req.token.revoke_serial = ++revoke_serial;
	req.token.vm_id = vm_id;
	req.token.channel_id = chan;
	hmac_sha256(key, SIVSHM_REVOKE_LABEL, sizeof(SIVSHM_REVOKE_LABEL), &req.token,
		    sizeof(req.token), req.tag);
	rc = ioctl(fd, SIVSHM_IOC_REVOKE, &req) ? -errno : 0;
	*verdict = req.verdict;
	return rc;
}

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

/* 0 if the write worked, else the signal it raised. */
static int try_write(volatile char *p, const char *s)
{
	int sig = sigsetjmp(jb, 1);

	if (sig)
		return sig;
	for (size_t i = 0; s[i]; i++)
		p[i] = s[i];
	return 0;
}

static int try_read(volatile char *p)
{
	int sig = sigsetjmp(jb, 1);

	if (sig)
		return sig;
	(void)*p;
	return 0;
}

/* Does the 4 KiB layout page at region offset @off hold the host's marker? */
static int has_marker(const volatile char *p, unsigned long off)
{
	char want[9];

	snprintf(want, sizeof(want), "%08lx", off);
	return !memcmp((const char *)p, want, 8);
}

/* Every 4 KiB layout page of [p, p + len), mapped at region offset @off, shows its marker. */
static int markers_ok(const volatile char *p, unsigned long off, size_t len)
{
	for (size_t i = 0; i < len; i += SUB)
		if (!has_marker(p + i, off + i))
			return 0;
	return 1;
}

static const char *fault_name(int r)
{
	return r == 0 ? "no fault" : r == SIGBUS ? "SIGBUS" : r == SIGSEGV ? "SIGSEGV" : "other";
}

static void check_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	report("arm64-16k-page-size-reported", ps == (long)KPAGE && getauxval(AT_PAGESZ) == KPAGE,
	       "sysconf %ld, AT_PAGESZ %lu, want %lu", ps, getauxval(AT_PAGESZ), KPAGE);
}

/* INFO as the region and kernel are: @granule is what the header names (4096 for layout v1). */
static void check_info(const char *name, int fd, unsigned long data_off, unsigned long granule)
{
	struct sivshm_info info;
	int r = ioctl(fd, SIVSHM_IOC_INFO, &info);

	report(name,
	       !r && info.region_size == 4UL << 20 && info.epoch == EPOCH &&
		       info.data_offset == data_off &&
		       info.data_size == info.region_size - data_off && info.vectors == 0 &&
		       info.vm_id == vm_id &&
		       info.flags == (SIVSHM_INFO_KEY_SET | SIVSHM_INFO_HEADER_OK) &&
		       info.page_size == KPAGE && info.page_granule == granule,
	       "ioctl %d, region %llu, epoch %llu, data %llu+%llu, vectors %u, vm %u, flags %#x, page size %u, granule %u (want %lu)",
	       r, (unsigned long long)info.region_size, (unsigned long long)info.epoch,
	       (unsigned long long)info.data_offset, (unsigned long long)info.data_size,
	       info.vectors, info.vm_id, info.flags, info.page_size, info.page_granule, granule);
}

/* Layout v1 on 16 KiB pages: the grant is refused with verdict granule and nothing maps. */
static void check_v1_refused(int fd, unsigned long w)
{
	uint32_t verdict = 0;
	int g = grant_len(fd, 1, SIVSHM_ROLE_CONSUMER, w, V1_WIN_LEN, &verdict);
	void *p;

	report("arm64-16k-v1-layout-refused-at-grant", g == -EACCES && verdict == SIVSHM_REJ_GRANULE,
	       "grant of a layout v1 window returned %d verdict %u, want -EACCES with %u (granule)",
	       g, verdict, SIVSHM_REJ_GRANULE);
	p = mmap(NULL, V1_WIN_LEN, PROT_READ, MAP_SHARED, fd, w);
	report("arm64-16k-v1-refused-window-never-maps", p == MAP_FAILED && errno == EPERM,
	       "read-only mmap of the refused window: %s", p == MAP_FAILED ? strerror(errno) : "MAPPED");
}

/* The consumer's window: its own pages are writable, the peer's fault, page by page. */
static void check_consumer(int fd, unsigned long w)
{
	uint32_t verdict;
	int g = grant(fd, 1, SIVSHM_ROLE_CONSUMER, w, &verdict);
	volatile char *p = MAP_FAILED;
	char *ro;
	struct iovec local, remote;
	char byte = 'x';
	int r;

	if (!g)
		p = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w);
	if (!report("arm64-16k-granted-map",
		    !g && p != MAP_FAILED && markers_ok(p, w, WIN_LEN),
		    "grant %d verdict %u, mmap %s, markers %s", g, verdict,
		    p == MAP_FAILED ? strerror(errno) : "ok",
		    p == MAP_FAILED ? "-" : markers_ok(p, w, WIN_LEN) ? "ok" : "wrong"))
		return;
	r = try_write(p, OWN_MARK);
	report("arm64-16k-own-producer-page-writable", r == 0 && !memcmp((char *)p, OWN_MARK, 8),
	       "write to our producer page P0: %s", fault_name(r));
	r = try_write(p + 2 * KPAGE, OWN_MARK);
	report("arm64-16k-own-data-page-writable",
	       r == 0 && !memcmp((char *)p + 2 * KPAGE, OWN_MARK, 8),
	       "write to our data area D0: %s", fault_name(r));
	r = try_write(p + 5 * KPAGE, OWN_MARK);
	report("arm64-16k-own-consumer-page-writable",
	       r == 0 && !memcmp((char *)p + 5 * KPAGE, OWN_MARK, 8),
	       "write to our consumer page C1: %s", fault_name(r));
	r = try_write(p + KPAGE, "peer-c0!");
	report("arm64-16k-peer-consumer-page-read-only", r == SIGBUS && has_marker(p + KPAGE, w + KPAGE),
	       "write to the peer's consumer page C0 (the 16 KiB page after our producer page): %s",
	       fault_name(r));
	r = try_write(p + 4 * KPAGE, "peer-p1!");
	report("arm64-16k-peer-producer-page-write-faults",
	       r == SIGBUS && has_marker(p + 4 * KPAGE, w + 4 * KPAGE),
	       "write to the peer's producer page P1: %s", fault_name(r));
	r = try_write(p + 6 * KPAGE, "peer-d1!");
	report("arm64-16k-peer-data-write-faults", r == SIGBUS && has_marker(p + 6 * KPAGE, w + 6 * KPAGE),
	       "write to D1: %s", fault_name(r));
	local = (struct iovec){ &byte, 1 };
	remote = (struct iovec){ (void *)(p + KPAGE), 1 };
	r = process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == 1;
	report("arm64-16k-process-vm-writev-to-peer-page-fails", !r && has_marker(p + KPAGE, w + KPAGE),
	       "process_vm_writev wrote %d (%s)", r, strerror(errno));

	/* a mapping of only the peer's pages can never become writable */
	ro = mmap(NULL, 2 * KPAGE, PROT_READ, MAP_SHARED, fd, w + 6 * KPAGE);
	r = ro == MAP_FAILED ? -1 : mprotect(ro, 2 * KPAGE, PROT_READ | PROT_WRITE);
	report("arm64-16k-peer-only-mapping-never-writable",
	       ro != MAP_FAILED && r && errno == EACCES &&
		       mmap(NULL, KPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w + 6 * KPAGE) ==
			       MAP_FAILED && errno == EACCES,
	       "read-only map %s, mprotect %d (%s)", ro == MAP_FAILED ? "failed" : "ok", r,
	       strerror(errno));

	r = revoke_channel(fd, 1, &verdict);
	report("arm64-16k-access-after-revoke-faults",
	       !r && verdict == SIVSHM_OK && try_read(p + 2 * KPAGE) != 0 &&
		       (ro == MAP_FAILED || try_read(ro) != 0),
	       "revoke %d verdict %u", r, verdict);
}

/* The provider owns direction 1 and the consumer page of direction 0. */
static void check_provider(int fd, unsigned long w)
{
	uint32_t verdict;
	int g = grant(fd, 2, SIVSHM_ROLE_PROVIDER, w, &verdict);
	volatile char *p = MAP_FAILED;
	int own_p, own_c, own_d, peer_p, peer_d;

	if (!g)
		p = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w);
	if (p == MAP_FAILED) {
		report("arm64-16k-provider-role-pages", 0, "grant %d verdict %u, mmap %s", g,
		       verdict, strerror(errno));
		return;
	}
	own_p = try_write(p + 4 * KPAGE, OWN_MARK);
	own_c = try_write(p + KPAGE, OWN_MARK);
	own_d = try_write(p + 7 * KPAGE, OWN_MARK);
	peer_p = try_write(p, "peer-p0!");
	peer_d = try_write(p + 3 * KPAGE, "peer-d0!");
	report("arm64-16k-provider-role-pages",
	       !own_p && !own_c && !own_d && peer_p == SIGBUS && peer_d == SIGBUS &&
		       has_marker(p, w) && has_marker(p + 3 * KPAGE, w + 3 * KPAGE),
	       "own P1 %s, own C0 %s, own D1 %s; the consumer's P0 %s, its D0 %s", fault_name(own_p),
	       fault_name(own_c), fault_name(own_d), fault_name(peer_p), fault_name(peer_d));
	munmap((void *)p, WIN_LEN);
}

/* A window 4 KiB-aligned but not 16 KiB-aligned: refused, whatever verdict names it. */
static void check_unaligned(int fd, unsigned long w)
{
	uint32_t verdict;
	int g = grant(fd, 3, SIVSHM_ROLE_CONSUMER, w, &verdict);
	void *p = mmap(NULL, KPAGE, PROT_READ, MAP_SHARED, fd, (w + KPAGE - 1) & ~(KPAGE - 1));

	report("arm64-16k-unaligned-window-confined",
	       g == -EACCES &&
		       (verdict == SIVSHM_REJ_GRANULE || verdict == SIVSHM_REJ_WINDOW ||
			verdict == SIVSHM_REJ_LAYOUT) &&
		       p == MAP_FAILED,
	       "grant returned %d verdict %u (want -EACCES with granule, window or layout), a page inside %s",
	       g, verdict, p == MAP_FAILED ? "does not map" : "MAPPED");
}

/* Grant and map channel @chan in role @role on a file of this process; NULL on failure. */
static volatile char *open_channel(uint64_t chan, int role, unsigned long w, char *why, size_t n)
{
	uint32_t verdict = 0;
	int fd = open("/dev/sivshm", O_RDWR), g;
	void *p;

	if (fd < 0) {
		snprintf(why, n, "open: %s", strerror(errno));
		return NULL;
	}
	g = grant(fd, chan, role, w, &verdict);
	p = g ? MAP_FAILED : mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w);
	if (p == MAP_FAILED) {
		snprintf(why, n, "grant %d verdict %u, mmap %s", g, verdict, strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * Two processes, one per role, each with its own file and grant, run channel 4: RECORDS
 * requests c2p, each answered p2c, in order, within a minute.
 */
static void check_channel_runs(unsigned long w)
{
	uint64_t start = gc_now_ms(), deadline = start + 60000;
	char why[160] = "";
	volatile char *c;
	struct gc_ring c2p, p2c;
	long answered;
	int status = -1;
	pid_t pid;

	/* granted before the fork: the provider's serials are higher, so neither is a replay */
	c = open_channel(4, SIVSHM_ROLE_CONSUMER, w, why, sizeof(why));
	pid = fork();
	if (pid == 0) {	/* the provider */
		volatile char *p;

		serial += 32;	/* its own grant serials, above the parent's, within the window */
		p = open_channel(4, SIVSHM_ROLE_PROVIDER, w, why, sizeof(why));

		if (!p) {
			printf("@@ note provider: %s\n", why);
			_exit(2);
		}
		c2p = gc_ring_of(p, KPAGE, DATA_AREA, 0);
		p2c = gc_ring_of(p, KPAGE, DATA_AREA, 1);
		_exit(gc_serve(&c2p, &p2c, RECORDS, deadline) == RECORDS ? 0 : 1);
	}
	c2p = gc_ring_of(c, KPAGE, DATA_AREA, 0);
	p2c = gc_ring_of(c, KPAGE, DATA_AREA, 1);
	answered = c ? gc_call(&c2p, &p2c, RECORDS, deadline) : -2;
	if (pid > 0)
		waitpid(pid, &status, 0);
	report("arm64-16k-granule-channel-runs",
	       answered == RECORDS && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "consumer: %ld of %d answers in order%s%s; provider exit %d", answered, RECORDS,
	       why[0] ? ", " : "", why, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	printf("@@ note granule channel: %d requests and %d answers in %llu ms\n", RECORDS, RECORDS,
	       (unsigned long long)(gc_now_ms() - start));
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_fault };
	unsigned long data_off;
	int fd;

	if (argc != 5 || (strcmp(argv[4], "v1") && strcmp(argv[4], "granule"))) {
		fprintf(stderr, "usage: pagesize-checks <fw_cfg dir> <data offset> <vm id> v1|granule\n");
		return 2;
	}
	data_off = strtoul(argv[2], NULL, 0);
	vm_id = strtoul(argv[3], NULL, 0);
	read_key(argv[1]);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	fd = open("/dev/sivshm", O_RDWR);
	if (fd < 0)
		die("open /dev/sivshm");
	if (!strcmp(argv[4], "v1")) {
		check_page_size();
		check_info("arm64-16k-v1-info-reports-page-size", fd, data_off, SUB);
		check_v1_refused(fd, data_off);
	} else {
		check_info("arm64-16k-info-sane", fd, data_off, KPAGE);
		check_consumer(fd, data_off);
		check_provider(fd, data_off + 128 * 1024);
		check_unaligned(fd, data_off + 256 * 1024 + SUB);
		check_channel_runs(data_off + 512 * 1024);
	}
	printf("@@ pagesize-checks done, %d failed\n", failures);
	return failures ? 1 : 0;
}
