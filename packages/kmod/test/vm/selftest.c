// SPDX-License-Identifier: GPL-2.0
/*
 * selftest: runs inside a QEMU guest against /dev/sivshm and prints one
 * "@@ ok <name>" or "@@ not ok <name>: <why>" line per assertion.
 *
 *   selftest consumer|provider <control tty> <channel window offset> <other window offset>
 *   selftest ring|wait <control tty> <channel window offset> <peer IVPosition>
 *
 * Tokens come from the host over a second serial port (the test's stand-in
 * for hostd): the guest sends "KEY", "GRANT <spec> <kn hex>" or
 * "REVOKE <spec>" and reads back one line of hex.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sivshm.h"

#define PAGE 4096UL
#define DATA_SIZE PAGE			/* data area per direction in these tests */
#define DIR_SIZE (2 * PAGE + DATA_SIZE)
#define WIN_LEN (2 * DIR_SIZE)
#define DEV "/dev/sivshm"
#define WAIT_MS 90000

static int ctl = -1;
static int failures;
static unsigned long win, other;
static const char *role;

static void report(const char *name, int ok, const char *fmt, ...)
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
}

static void die(const char *what)
{
	printf("@@ not ok %s-setup: %s: %s\n", role, what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int unhex(const char *s, void *out, size_t n)
{
	uint8_t *b = out;

	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		b[i] = hi << 4 | lo;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* One request line to the host, one reply line back (bounded wait). */
static void ask(char *reply, size_t cap, const char *fmt, ...)
{
	char line[256];
	size_t n = 0;
	uint64_t t0 = now_ms();
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[len++] = '\n';
	if (write(ctl, line, len) != len)
		die("write control tty");
	while (n + 1 < cap) {
		struct pollfd p = { .fd = ctl, .events = POLLIN };
		char c;

		if (now_ms() - t0 > WAIT_MS) {
			errno = ETIMEDOUT;
			die("host reply");
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (read(ctl, &c, 1) != 1)
			continue;
		if (c == '\r')
			continue;
		if (c == '\n')
			break;
		reply[n++] = c;
	}
	reply[n] = 0;
}

static void get_token(const char *spec, int fd, struct sivshm_grant_req *req)
{
	struct sivshm_nonce kn;
	char hexkn[33], reply[512];

	if (ioctl(fd, SIVSHM_IOC_NONCE, &kn))
		die("SIVSHM_IOC_NONCE");
	for (int i = 0; i < 16; i++)
		sprintf(hexkn + 2 * i, "%02x", kn.kn[i]);
	ask(reply, sizeof(reply), "GRANT %s %s", spec, hexkn);
	memset(req, 0, sizeof(*req));
	if (strlen(reply) != 2 * (88 + 32) || unhex(reply, &req->token, 88) ||
	    unhex(reply + 176, req->tag, 32)) {
		errno = EPROTO;
		die(spec);
	}
}

static int present(int fd, struct sivshm_grant_req *req)
{
	req->verdict = 0;
	return ioctl(fd, SIVSHM_IOC_GRANT, req) ? -errno : 0;
}

/* A grant of @spec must be refused with @want. */
static void expect_refused(const char *name, const char *spec, int fd,
			   enum sivshm_verdict want)
{
	struct sivshm_grant_req req;
	int r;

	get_token(spec, fd, &req);
	r = present(fd, &req);
	report(name, r == -EACCES && req.verdict == want,
	       "ioctl %d, verdict %u, want -EACCES and verdict %u", r,
	       req.verdict, want);
}

static sigjmp_buf jb;

static void on_fault(int sig)
{
	siglongjmp(jb, sig);
}

/* 0 if the access worked, else the signal it raised. */
static int touch(volatile char *p, int write_it, char v)
{
	int sig = sigsetjmp(jb, 1);

	if (sig)
		return sig;
	if (write_it)
		*p = v;
	else
		(void)*p;
	return 0;
}

static int wait_for(volatile char *p, const char *s)
{
	uint64_t t0 = now_ms();

	while (now_ms() - t0 < WAIT_MS) {
		if (!strncmp((const char *)p, s, strlen(s)))
			return 0;
		usleep(2000);
	}
	return -1;
}

static void *map(int fd, unsigned long off, size_t len, int prot, int flags)
{
	return mmap(NULL, len, prot, flags, fd, off);
}

static int child_status(pid_t pid)
{
	int st = -1;

	waitpid(pid, &st, 0);
	return st;
}

static void set_key(int fd, int vm)
{
	struct sivshm_set_key k = {};
	char reply[128];
	unsigned int vm_id;
	pid_t pid;
	int st;

	/* an unprivileged process may not provision the key */
	pid = fork();
	if (!pid) {
		if (setuid(65534))
			_exit(2);
		_exit(ioctl(fd, SIVSHM_IOC_SET_KEY, &k) && errno == EPERM ? 0 : 1);
	}
	st = child_status(pid);
	report("set-key-needs-root", WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "child status %d", st);

	ask(reply, sizeof(reply), "KEY");
	if (strlen(reply) < 66 || unhex(reply, k.key, 32) ||
	    sscanf(reply + 65, "%u", &vm_id) != 1) {
		errno = EPROTO;
		die("KEY reply");
	}
	k.vm_id = vm_id;
	report("set-key", !ioctl(fd, SIVSHM_IOC_SET_KEY, &k) && vm_id == (unsigned int)vm,
	       "%s", strerror(errno));
	report("set-key-only-once", ioctl(fd, SIVSHM_IOC_SET_KEY, &k) && errno == EEXIST,
	       "second SET_KEY: %s", strerror(errno));
	memset(&k, 0, sizeof(k));
}

static void check_info(int fd)
{
	struct sivshm_info info;

	if (ioctl(fd, SIVSHM_IOC_INFO, &info))
		die("SIVSHM_IOC_INFO");
	report("device-info",
	       info.region_size == 4 << 20 && info.epoch == 7 &&
	       (info.flags & SIVSHM_INFO_HEADER_OK) && (info.flags & SIVSHM_INFO_KEY_SET) &&
	       info.data_offset == 65536,
	       "size %llu epoch %llu flags %u data %llu",
	       (unsigned long long)info.region_size, (unsigned long long)info.epoch,
	       info.flags, (unsigned long long)info.data_offset);
}

/* The provider side (guest B): map, write its direction, read the consumer's. */
static int run_provider(void)
{
	struct sivshm_grant_req req;
	volatile char *m;
	int fd, r;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	set_key(fd, 2);
	get_token("provider", fd, &req);
	r = present(fd, &req);
	report("provider-grant", !r, "ioctl %d verdict %u", r, req.verdict);
	m = map(fd, win, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
	report("provider-maps-window", m != MAP_FAILED, "%s", strerror(errno));
	if (m == MAP_FAILED)
		return 1;
	/* provider produces p2c: its producer page and data area */
	strcpy((char *)m + DIR_SIZE + 2 * PAGE, "HELLO-FROM-B");
	strcpy((char *)m + DIR_SIZE, "B-PRODUCER");
	__sync_synchronize();
	report("provider-reads-consumer-data", !wait_for(m + 2 * PAGE, "HELLO-FROM-A"),
	       "no HELLO-FROM-A in the c2p data area within %d ms", WAIT_MS);
	/* stay until the consumer has read ours */
	report("provider-sees-consumer-done", !wait_for(m, "A-READ-B"),
	       "consumer never confirmed");
	return failures != 0;
}

/* One invalid input per ioctl (and read): each must fail with the documented errno. */
static void check_invalid_inputs(int fd)
{
	struct sivshm_set_key k = { .pad0 = 1 };
	struct sivshm_grant_req g = { .pad0 = 1 };
	struct sivshm_revoke_req rv = { .pad0 = 1 };
	struct sivshm_doorbell db = { .pad0 = 1 };
	char small[4];
	ssize_t n;

	report("unknown-ioctl-enotty", ioctl(fd, _IO(SIVSHM_IOCTL_MAGIC, 0x7f)) && errno == ENOTTY,
	       "%s", strerror(errno));
	report("info-bad-pointer-efault", ioctl(fd, SIVSHM_IOC_INFO, (void *)8) && errno == EFAULT,
	       "%s", strerror(errno));
	report("nonce-bad-pointer-efault", ioctl(fd, SIVSHM_IOC_NONCE, (void *)8) && errno == EFAULT,
	       "%s", strerror(errno));
	report("set-key-nonzero-pad-einval", ioctl(fd, SIVSHM_IOC_SET_KEY, &k) && errno == EINVAL,
	       "%s", strerror(errno));
	report("grant-nonzero-pad-einval", ioctl(fd, SIVSHM_IOC_GRANT, &g) && errno == EINVAL,
	       "%s", strerror(errno));
	g.pad0 = 0;
	g.verdict = 1;
	report("grant-nonzero-verdict-einval", ioctl(fd, SIVSHM_IOC_GRANT, &g) && errno == EINVAL,
	       "%s", strerror(errno));
	report("revoke-nonzero-pad-einval", ioctl(fd, SIVSHM_IOC_REVOKE, &rv) && errno == EINVAL,
	       "%s", strerror(errno));
	report("doorbell-nonzero-pad-einval",
	       ioctl(fd, SIVSHM_IOC_DOORBELL, &db) && errno == EINVAL, "%s", strerror(errno));
	n = read(fd, small, sizeof(small));
	report("read-short-buffer-einval", n < 0 && errno == EINVAL, "read %zd: %s", n,
	       strerror(errno));
}

static int run_consumer(void)
{
	struct sivshm_grant_req req, other_fd_req;
	struct sivshm_revoke_req rv;
	char reply[512];
	volatile char *m, *ro;
	int fd, fd2, r, st;
	void *p;
	pid_t pid;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	fd2 = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fd2 < 0)
		die("open " DEV);
	set_key(fd, 1);
	check_info(fd);
	check_invalid_inputs(fd);

	p = map(fd, win, WIN_LEN, PROT_READ, MAP_SHARED);
	report("ungranted-mmap-eperm", p == MAP_FAILED && errno == EPERM,
	       "mmap: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");

	expect_refused("forged-grant-refused", "forged", fd, SIVSHM_REJ_TAG);
	expect_refused("other-vm-key-grant-refused", "other-vm-key", fd, SIVSHM_REJ_TAG);
	expect_refused("other-vm-id-grant-refused", "other-vm-id", fd, SIVSHM_REJ_VM);
	expect_refused("old-epoch-grant-refused", "old-epoch", fd, SIVSHM_REJ_EPOCH);
	expect_refused("expired-grant-refused", "expired", fd, SIVSHM_REJ_EXPIRED);
	expect_refused("control-section-grant-refused", "control", fd, SIVSHM_REJ_WINDOW);
	expect_refused("header-grant-refused", "header", fd, SIVSHM_REJ_WINDOW);
	expect_refused("beyond-region-grant-refused", "beyond", fd, SIVSHM_REJ_WINDOW);
	expect_refused("unaligned-grant-refused", "unaligned", fd, SIVSHM_REJ_WINDOW);

	/* a grant bound to fd's nonce, shown on fd2, then (unburnt) on fd */
	get_token("consumer", fd, &req);
	other_fd_req = req;
	r = present(fd2, &other_fd_req);
	report("other-file-grant-refused", r == -EACCES && other_fd_req.verdict == SIVSHM_REJ_KN,
	       "ioctl %d verdict %u", r, other_fd_req.verdict);
	r = present(fd, &req);
	report("grant-accepted", !r && req.verdict == SIVSHM_OK, "ioctl %d verdict %u", r,
	       req.verdict);
	r = present(fd, &req);
	report("replayed-grant-refused", r == -EACCES && req.verdict == SIVSHM_REJ_REPLAY,
	       "ioctl %d verdict %u", r, req.verdict);
	p = map(fd2, win, WIN_LEN, PROT_READ, MAP_SHARED);
	report("grant-is-per-file", p == MAP_FAILED && errno == EPERM,
	       "mmap on the other file: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");

	p = map(fd, other, WIN_LEN, PROT_READ, MAP_SHARED);
	report("grant-does-not-reach-channel-b", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = map(fd, 0, PAGE, PROT_READ, MAP_SHARED);
	report("grant-does-not-reach-header", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = map(fd, PAGE, PAGE, PROT_READ, MAP_SHARED);
	report("grant-does-not-reach-control", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = map(fd, win - PAGE, WIN_LEN, PROT_READ, MAP_SHARED);
	report("mmap-page-before-window-refused", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = map(fd, win, WIN_LEN + PAGE, PROT_READ, MAP_SHARED);
	report("mmap-past-window-refused", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	p = map(fd, win, WIN_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	report("private-mmap-refused", p == MAP_FAILED, "MAP_PRIVATE mapping succeeded");
	p = map(fd, win, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED);
	report("exec-mmap-refused", p == MAP_FAILED, "PROT_EXEC mapping succeeded");

	m = map(fd, win, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
	report("granted-process-maps-window", m != MAP_FAILED, "mmap: %s", strerror(errno));
	if (m == MAP_FAILED)
		return 1;
	r = touch(m + 2 * PAGE, 1, 'H');
	if (!r) {
		strcpy((char *)m + 2 * PAGE, "HELLO-FROM-A");
		r = touch(m + DIR_SIZE + PAGE, 1, 'c');	/* p2c consumer page: ours */
	}
	report("own-pages-writable", !r, "signal %d", r);
	report("reads-what-peer-guest-wrote", !wait_for(m + DIR_SIZE + 2 * PAGE, "HELLO-FROM-B"),
	       "no HELLO-FROM-B in the p2c data area within %d ms", WAIT_MS);
	r = touch(m + DIR_SIZE + 2 * PAGE, 1, 'X');
	report("peer-data-write-faults", r == SIGBUS || r == SIGSEGV,
	       "write to the peer's data area: signal %d", r);
	r = touch(m + DIR_SIZE, 1, 'X');
	report("peer-producer-page-write-faults", r == SIGBUS || r == SIGSEGV,
	       "write to the peer's producer page: signal %d", r);
	r = touch(m + PAGE, 1, 'X');
	report("peer-consumer-page-write-faults", r == SIGBUS || r == SIGSEGV,
	       "write to the c2p consumer page: signal %d", r);
	report("peer-data-unchanged", !strncmp((char *)m + DIR_SIZE + 2 * PAGE, "HELLO-FROM-B", 12),
	       "peer data was modified");

	ro = map(fd, win + DIR_SIZE, PAGE, PROT_READ, MAP_SHARED);
	report("peer-page-maps-read-only", ro != MAP_FAILED, "mmap: %s", strerror(errno));
	if (ro != MAP_FAILED)
		report("mprotect-write-on-peer-page-fails",
		       mprotect((void *)ro, PAGE, PROT_READ | PROT_WRITE) != 0,
		       "mprotect(PROT_WRITE) succeeded");
	p = map(fd, win + DIR_SIZE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED);
	report("writable-mmap-of-peer-page-refused", p == MAP_FAILED && errno == EACCES,
	       "mmap: %s", p == MAP_FAILED ? strerror(errno) : "succeeded");
	report("madvise-dofork-refused", madvise((void *)m, WIN_LEN, MADV_DOFORK) != 0,
	       "MADV_DOFORK would let fork inherit the mapping");
	p = mremap((void *)m, WIN_LEN, WIN_LEN + PAGE, MREMAP_MAYMOVE);
	report("mremap-grow-refused", p == MAP_FAILED, "mremap grew the mapping");

	pid = fork();
	if (!pid) {
		struct sivshm_nonce kn;
		int bad = 0;

		if (ioctl(fd, SIVSHM_IOC_NONCE, &kn) == 0 || errno != EPERM)
			bad |= 1;
		if (mmap(NULL, WIN_LEN, PROT_READ, MAP_SHARED, fd, win) != MAP_FAILED ||
		    errno != EPERM)
			bad |= 2;
		if (bad)
			_exit(bad);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		(void)*(volatile char *)(m + 2 * PAGE);	/* not inherited: must fault */
		_exit(0);
	}
	st = child_status(pid);
	report("forked-child-cannot-use-mapping", WIFSIGNALED(st),
	       "child status %#x (exit 1: ioctl allowed, 2: mmap allowed, 0: read worked)", st);

	/* a revoke with a bad tag changes nothing */
	ask(reply, sizeof(reply), "REVOKE forged");
	memset(&rv, 0, sizeof(rv));
	if (strlen(reply) != 2 * (40 + 32) || unhex(reply, &rv.token, 40) ||
	    unhex(reply + 80, rv.tag, 32))
		die("REVOKE reply");
	r = ioctl(fd, SIVSHM_IOC_REVOKE, &rv) ? -errno : 0;
	report("forged-revoke-refused",
	       r == -EACCES && rv.verdict == SIVSHM_REJ_TAG && !touch(m + 2 * PAGE, 0, 0),
	       "ioctl %d verdict %u", r, rv.verdict);

	/* let the provider see that we read its data before we lose the window */
	strcpy((char *)m, "A-READ-B");
	__sync_synchronize();
	usleep(500000);

	ask(reply, sizeof(reply), "REVOKE valid");
	memset(&rv, 0, sizeof(rv));
	if (strlen(reply) != 2 * (40 + 32) || unhex(reply, &rv.token, 40) ||
	    unhex(reply + 80, rv.tag, 32))
		die("REVOKE reply");
	r = ioctl(fd, SIVSHM_IOC_REVOKE, &rv) ? -errno : 0;
	report("revoke-accepted", !r && rv.verdict == SIVSHM_OK, "ioctl %d verdict %u", r,
	       rv.verdict);
	r = touch(m + DIR_SIZE + 2 * PAGE, 0, 0);
	report("access-after-revoke-faults", r == SIGBUS || r == SIGSEGV,
	       "read after revoke: signal %d", r);
	p = map(fd, win, WIN_LEN, PROT_READ, MAP_SHARED);
	report("mmap-after-revoke-refused", p == MAP_FAILED && errno == EPERM, "mmap: %s",
	       p == MAP_FAILED ? strerror(errno) : "succeeded");
	rv.verdict = 0;
	r = ioctl(fd, SIVSHM_IOC_REVOKE, &rv) ? -errno : 0;
	report("replayed-revoke-refused", r == -EACCES && rv.verdict == SIVSHM_REJ_REPLAY,
	       "ioctl %d verdict %u", r, rv.verdict);
	return failures != 0;
}

/* Map the channel as @spec's role; returns the mapping or MAP_FAILED. */
static volatile char *granted_map(int fd, const char *spec)
{
	struct sivshm_grant_req req;
	int r;

	get_token(spec, fd, &req);
	r = present(fd, &req);
	report("doorbell-guest-grant", !r, "ioctl %d verdict %u", r, req.verdict);
	return map(fd, win, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
}

/* Doorbell receiver (guest B): poll() must wake on the peer's doorbell. */
static int run_wait(void)
{
	struct sivshm_event ev[8];
	struct sivshm_info info;
	struct pollfd p;
	volatile char *m;
	ssize_t n;
	int fd, r;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	set_key(fd, 2);
	if (ioctl(fd, SIVSHM_IOC_INFO, &info))
		die("SIVSHM_IOC_INFO");
	report("doorbell-device-has-msix", info.vectors >= 1, "vectors %u", info.vectors);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, ev, sizeof(ev));
	report("no-event-before-doorbell", n < 0 && errno == EAGAIN, "read %zd", n);
	fcntl(fd, F_SETFL, 0);
	m = granted_map(fd, "provider");
	if (m == MAP_FAILED)
		die("mmap");
	strcpy((char *)m + DIR_SIZE, "B-POLLING");	/* our producer page */
	__sync_synchronize();
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	r = poll(&p, 1, WAIT_MS);
	report("doorbell-wakes-poll", r == 1 && (p.revents & POLLIN),
	       "poll returned %d revents %#x", r, p.revents);
	fcntl(fd, F_SETFL, O_NONBLOCK);	/* bounded even if poll timed out */
	memset(ev, 0, sizeof(ev));
	n = read(fd, ev, sizeof(ev));
	report("doorbell-read-reports-vector", n >= (ssize_t)sizeof(ev[0]) &&
	       ev[0].vector == 0 && ev[0].count >= 1,
	       "read %zd vector %u count %u", n, ev[0].vector, ev[0].count);
	strcpy((char *)m + PAGE, "B-WOKE");	/* c2p consumer page: ours */
	return failures != 0;
}

/* Doorbell sender (guest A): ring the peer once it polls. */
static int run_ring(void)
{
	struct sivshm_doorbell db = { .peer = (__u16)other, .vector = 0 };
	volatile char *m;
	int fd, fd2, r;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	fd2 = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fd2 < 0)
		die("open " DEV);
	set_key(fd, 1);
	r = ioctl(fd2, SIVSHM_IOC_DOORBELL, &db) ? errno : 0;
	report("doorbell-needs-a-grant", r == EPERM, "doorbell without a grant: %s", strerror(r));
	m = granted_map(fd, "consumer");
	if (m == MAP_FAILED)
		die("mmap");
	report("doorbell-peer-ready", !wait_for(m + DIR_SIZE, "B-POLLING"), "peer never polled");
	usleep(300000);
	r = ioctl(fd, SIVSHM_IOC_DOORBELL, &db) ? errno : 0;
	report("doorbell-ring", !r, "%s", strerror(r));
	report("doorbell-peer-woke", !wait_for(m + PAGE, "B-WOKE"), "peer never woke");
	return failures != 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_fault };
	struct termios t;

	if (argc != 5) {
		fprintf(stderr, "usage: selftest consumer|provider|ring|wait <tty> <win> <other|peer>\n");
		return 2;
	}
	role = argv[1];
	win = strtoul(argv[3], NULL, 0);
	other = strtoul(argv[4], NULL, 0);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	ctl = open(argv[2], O_RDWR | O_NOCTTY);
	if (ctl < 0 || tcgetattr(ctl, &t))
		die(argv[2]);
	cfmakeraw(&t);
	cfsetspeed(&t, B115200);
	if (tcsetattr(ctl, TCSANOW, &t))
		die("tcsetattr");
	if (!strcmp(role, "consumer"))
		return run_consumer();
	if (!strcmp(role, "provider"))
		return run_provider();
	if (!strcmp(role, "wait"))
		return run_wait();
	if (!strcmp(role, "ring"))
		return run_ring();
	return 2;
}
