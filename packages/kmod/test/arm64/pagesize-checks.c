// SPDX-License-Identifier: GPL-2.0
/*
 * pagesize-checks: runs as root in the arm64 guest whose kernel uses 16 KiB pages, against
 * /dev/sivshm on an ivshmem-plain device, and prints one "@@ ok <name>" or
 * "@@ not ok <name>: <why>" line per check.
 *
 *   pagesize-checks <fw_cfg dir> <data offset> <vm id>
 *
 * It plays hostd for itself: provision-key has already set K_vm from fw_cfg, and this program
 * reads the same fw_cfg item (root only) to sign its grant and revoke tokens, which the module
 * checks with its own HMAC. The host filled every 4 KiB layout page of the data section with a
 * marker (its region offset as 8 hex digits) and checks after the run which writes landed.
 *
 * Windows (data area 32 KiB: 80 KiB, five 16 KiB kernel pages; consumer role owns direction 0):
 *   page 0: P0 (own) | C0 (peer) | D0[0,8K) (own)      shared by both roles: read-only
 *   page 1: D0[8K,24K) (own)                            writable
 *   page 2: D0[24K,32K) (own) | P1 (peer) | C1 (own)    shared: read-only
 *   page 3, 4: D1 (peer)                                read-only
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

#include "../vm/hmac-sha256.h"
#include "sivshm.h"

#define SUB 4096UL				/* a layout v1 page */
#define KPAGE (16 * 1024UL)			/* the guest kernel's page */
#define DATA_AREA (32 * 1024UL)
#define DIR_SIZE (2 * SUB + DATA_AREA)
#define WIN_LEN (2 * DIR_SIZE)			/* 80 KiB */
#define EPOCH 9
#define OWN_MARK "own-16k!"			/* what the host looks for after the run */

#ifdef SIVSHM_GRANT_VERSION
#define GRANT_VERSION SIVSHM_GRANT_VERSION
#else
#define GRANT_VERSION SIVSHM_TOKEN_VERSION
#endif

static int failures;
static uint8_t key[SIVSHM_KEY_SIZE];
static unsigned int vm_id;
static uint64_t serial, revoke_serial;

static int report(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints the check's line; returns @ok so a check can stop at a failed precondition. */
static int report(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("@@ ok %s\n", name);
	} else {
		failures++;
		printf("@@ not ok %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	return ok;
}

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

/* A signed grant of channel @chan, role @role, for the window at @off, bound to @fd's nonce. */
static int grant(int fd, uint64_t chan, int role, uint64_t off, uint32_t *verdict)
{
	struct sivshm_grant_req req;
	struct sivshm_nonce kn;
	struct timespec now;

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
	req.token.window_length = WIN_LEN;
	memcpy(req.token.kn, kn.kn, sizeof(kn.kn));
	/* an hour ahead: the guest clock under TCG may drift */
	req.token.not_after = (uint64_t)(now.tv_sec + 3600) * 1000000000ULL;
	req.token.mode = SIVSHM_MODE_PLAIN;
#ifdef SIVSHM_DB_NO_PEER
	req.token.db_peer = SIVSHM_DB_NO_PEER;
#endif
	hmac_sha256(key, SIVSHM_GRANT_LABEL, sizeof(SIVSHM_GRANT_LABEL), &req.token,
		    sizeof(req.token), req.tag);
	if (ioctl(fd, SIVSHM_IOC_GRANT, &req)) {
		*verdict = req.verdict;
		return -errno;
	}
	*verdict = req.verdict;
	return 0;
}

static int revoke_channel(int fd, uint64_t chan, uint32_t *verdict)
{
	struct sivshm_revoke_req req;

	memset(&req, 0, sizeof(req));
	req.token.magic = SIVSHM_REVOKE_MAGIC;
	req.token.version = SIVSHM_TOKEN_VERSION;
	req.token.epoch = EPOCH;
	req.token.revoke_serial = ++revoke_serial;
	req.token.vm_id = vm_id;
	req.token.channel_id = chan;
	hmac_sha256(key, SIVSHM_REVOKE_LABEL, sizeof(SIVSHM_REVOKE_LABEL), &req.token,
		    sizeof(req.token), req.tag);
	if (ioctl(fd, SIVSHM_IOC_REVOKE, &req)) {
		*verdict = req.verdict;
		return -errno;
	}
	*verdict = req.verdict;
	return 0;
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

static void check_info(int fd, unsigned long data_off)
{
	struct sivshm_info info;
	int r = ioctl(fd, SIVSHM_IOC_INFO, &info);

	report("arm64-16k-info-sane",
	       !r && info.region_size == 4UL << 20 && info.epoch == EPOCH &&
		       info.data_offset == data_off &&
		       info.data_size == info.region_size - data_off && info.vectors == 0 &&
		       info.vm_id == vm_id &&
		       info.flags == (SIVSHM_INFO_KEY_SET | SIVSHM_INFO_HEADER_OK),
	       "ioctl %d, region %llu, epoch %llu, data %llu+%llu, vectors %u, vm %u, flags %#x", r,
	       (unsigned long long)info.region_size, (unsigned long long)info.epoch,
	       (unsigned long long)info.data_offset, (unsigned long long)info.data_size,
	       info.vectors, info.vm_id, info.flags);
}

/* The consumer's window: which 16 KiB pages it may write, which fault. */
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
	r = try_write(p + 1 * KPAGE, OWN_MARK);
	report("arm64-16k-own-subpage-writable", r == 0 && !memcmp((char *)p + KPAGE, OWN_MARK, 8),
	       "write to the page of D0[8K,24K): %s", fault_name(r));
	r = try_write(p + SUB, "peer-c0!");
	report("arm64-16k-peer-subpage-read-only", r == SIGBUS && has_marker(p + SUB, w + SUB),
	       "write to the peer's consumer page (4 KiB into the window, sharing a 16 KiB page with our producer page): %s",
	       fault_name(r));
	r = try_write(p + DIR_SIZE, "peer-p1!");
	report("arm64-16k-peer-producer-subpage-write-faults",
	       r == SIGBUS && has_marker(p + DIR_SIZE, w + DIR_SIZE),
	       "write to P1 (shares a 16 KiB page with D0 and C1, ours): %s", fault_name(r));
	r = try_write(p + 3 * KPAGE, "peer-d1!");
	report("arm64-16k-peer-data-write-faults", r == SIGBUS && has_marker(p + 3 * KPAGE, w + 3 * KPAGE),
	       "write to D1: %s", fault_name(r));
	/* the MMU protects 16 KiB at once: our P0 shares its page with the peer's C0 */
	r = try_write(p, "own-p0!!");
	report("arm64-16k-shared-page-read-only-for-own-subpage", r == SIGBUS && has_marker(p, w),
	       "write to our own P0 in the page it shares with the peer's C0: %s", fault_name(r));
	local = (struct iovec){ &byte, 1 };
	remote = (struct iovec){ (void *)(p + SUB), 1 };
	r = process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == 1;
	report("arm64-16k-process-vm-writev-to-peer-subpage-fails", !r && has_marker(p + SUB, w + SUB),
	       "process_vm_writev wrote %d (%s)", r, strerror(errno));

	/* a mapping of only the peer's pages can never become writable */
	ro = mmap(NULL, 2 * KPAGE, PROT_READ, MAP_SHARED, fd, w + 3 * KPAGE);
	r = ro == MAP_FAILED ? -1 : mprotect(ro, 2 * KPAGE, PROT_READ | PROT_WRITE);
	report("arm64-16k-peer-only-mapping-never-writable",
	       ro != MAP_FAILED && r && errno == EACCES &&
		       mmap(NULL, KPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w + 3 * KPAGE) ==
			       MAP_FAILED && errno == EACCES,
	       "read-only map %s, mprotect %d (%s)", ro == MAP_FAILED ? "failed" : "ok", r,
	       strerror(errno));

	r = revoke_channel(fd, 1, &verdict);
	report("arm64-16k-access-after-revoke-faults",
	       !r && verdict == SIVSHM_OK && try_read(p + KPAGE) != 0 &&
		       (ro == MAP_FAILED || try_read(ro) != 0),
	       "revoke %d verdict %u", r, verdict);
}

/* The provider owns direction 1: its D1 pages are writable, the consumer's D0 page is not. */
static void check_provider(int fd, unsigned long w)
{
	uint32_t verdict;
	int g = grant(fd, 2, SIVSHM_ROLE_PROVIDER, w, &verdict);
	volatile char *p = MAP_FAILED;
	int own, peer, shared;

	if (!g)
		p = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, w);
	if (p == MAP_FAILED) {
		report("arm64-16k-provider-role-subpages", 0, "grant %d verdict %u, mmap %s", g,
		       verdict, strerror(errno));
		return;
	}
	own = try_write(p + 4 * KPAGE, OWN_MARK);
	peer = try_write(p + KPAGE, "peer-d0!");
	shared = try_write(p + SUB, "own-c0!!");
	report("arm64-16k-provider-role-subpages",
	       own == 0 && peer == SIGBUS && shared == SIGBUS && has_marker(p + KPAGE, w + KPAGE) &&
		       has_marker(p + SUB, w + SUB),
	       "own D1 page: %s, the consumer's D0 page: %s, own C0 beside the consumer's P0: %s",
	       fault_name(own), fault_name(peer), fault_name(shared));
	munmap((void *)p, WIN_LEN);
}

/*
 * A window 4 KiB-aligned but not 16 KiB-aligned: either the grant is refused with a verdict
 * that names the window, or no mapping reaches past its edges (the 16 KiB pages it only
 * partly covers hold a neighbour's bytes) while the pages wholly inside it map.
 */
static void check_unaligned(int fd, unsigned long w)
{
	uint32_t verdict;
	int g = grant(fd, 3, SIVSHM_ROLE_CONSUMER, w, &verdict);
	unsigned long first = (w + KPAGE - 1) & ~(KPAGE - 1);
	unsigned long end = w + WIN_LEN;
	void *head, *inner, *tail;
	int inner_ok;

	if (g) {
		report("arm64-16k-unaligned-window-confined",
		       g == -EACCES && (verdict == SIVSHM_REJ_WINDOW || verdict == SIVSHM_REJ_LAYOUT),
		       "grant refused with %d verdict %u, want -EACCES with window or layout", g,
		       verdict);
		return;
	}
	printf("@@ note the window at %#lx (4 KiB-aligned only) was granted: its edge pages must not map\n",
	       w);
	head = mmap(NULL, KPAGE, PROT_READ, MAP_SHARED, fd, first - KPAGE);
	tail = mmap(NULL, KPAGE, PROT_READ, MAP_SHARED, fd, end & ~(KPAGE - 1));
	inner = mmap(NULL, KPAGE, PROT_READ, MAP_SHARED, fd, first);
	inner_ok = inner != MAP_FAILED && markers_ok(inner, first, KPAGE);
	report("arm64-16k-unaligned-window-confined",
	       head == MAP_FAILED && tail == MAP_FAILED && inner_ok,
	       "window at %#lx: the page before its start %s, the page over its end %s, a page inside %s",
	       w, head == MAP_FAILED ? "refused" : "MAPPED", tail == MAP_FAILED ? "refused" : "MAPPED",
	       inner_ok ? "maps" : "does not map");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_fault };
	unsigned long data_off;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: pagesize-checks <fw_cfg dir> <data offset> <vm id>\n");
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
	check_page_size();
	check_info(fd, data_off);
	check_consumer(fd, data_off);
	check_provider(fd, data_off + 128 * 1024);
	check_unaligned(fd, data_off + 256 * 1024 + SUB);
	printf("@@ pagesize-checks done, %d failed\n", failures);
	return failures ? 1 : 0;
}
