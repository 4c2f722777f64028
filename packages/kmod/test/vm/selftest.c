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
 * "REVOKE <spec>" and reads back one line of hex. A grant spec may end in
 * "@<peer|none>,<ring mask>,<observe mask>": the doorbell route the token
 * names (otherwise vector 0 of the peer for ring|wait, none for the rest).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guest-report.h"
#include "hmac-sha256.h"
#include "sivshm.h"
#include "guest-control.h"

#define PAGE 4096UL
#define DATA_SIZE PAGE			/* data area per direction in these tests */
#define DIR_SIZE (2 * PAGE + DATA_SIZE)
#define WIN_LEN (2 * DIR_SIZE)
static unsigned long win, other;
static uint8_t vm_key[SIVSHM_KEY_SIZE];	/* K_vm, to recompute revoke receipts */


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
	memcpy(vm_key, k.key, sizeof(vm_key));
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

/* ---- issue 12: revocation the revoked process cannot undo ---- */

#define SLOT 65536UL	/* channel N's window sits at win + N * SLOT */

static unsigned long chan_off(int id)
{
	return win + id * SLOT;
}

/* A grant of channel @id as @r ("consumer"/"provider") for @fd, presented. */
static int grant_chan(int fd, int id, const char *r, struct sivshm_grant_req *req)
{
	char spec[96];

	snprintf(spec, sizeof(spec), "chan:%d:%s:%lu", id, r, chan_off(id));
	get_token(spec, fd, req);
	return present(fd, req);
}


/* Is @rv's receipt HMAC(K_vm, "sivshm v1 revoke-receipt" || token)? */
static int receipt_verifies(const struct sivshm_revoke_req *rv)
{
	uint8_t want[32];

	hmac_sha256(vm_key, SIVSHM_RECEIPT_LABEL, strlen(SIVSHM_RECEIPT_LABEL), &rv->token,
		    sizeof(rv->token), want);
	return !memcmp(want, rv->receipt, sizeof(want));
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return 0;
	return 1;
}

/*
 * read() and poll() tell only a file holding a grant about doorbells: a
 * child without one is refused on its own file, and so is another file of
 * this process, which holds channel 1 on @granted_fd (the one it may read).
 */
static void check_read_poll_need_grant(int granted_fd)
{
	struct sivshm_event ev[8];
	ssize_t g, o;
	int fd, st, oe;
	pid_t pid;

	pid = fork();
	if (!pid) {
		struct pollfd p;
		ssize_t n;
		int cfd = open(DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);

		if (cfd < 0)
			_exit(3);
		n = read(cfd, ev, sizeof(ev));
		if (n >= 0 || errno != EPERM)
			_exit(1);
		p = (struct pollfd){ .fd = cfd, .events = POLLIN };
		_exit(poll(&p, 1, 0) == 0 ? 0 : 2);
	}
	st = child_status(pid);
	fd = open(DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("open " DEV);
	o = read(fd, ev, sizeof(ev));
	oe = errno;
	fcntl(granted_fd, F_SETFL, O_NONBLOCK);
	g = read(granted_fd, ev, sizeof(ev));
	report("read-poll-need-a-grant",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 && o < 0 && oe == EPERM && g < 0 &&
	       errno == EAGAIN,
	       "process without a grant: status %#x (exit 1: read not EPERM, 2: poll reported); "
	       "granted process: other file %zd (%s), granted file %zd (%s)", st, o,
	       strerror(oe), g, strerror(errno));
	fcntl(granted_fd, F_SETFL, 0);
	close(fd);
}

/* Another file may not take a window overlapping channel 1's for another channel. */
static void check_cross_file_overlap(int other_fd)
{
	struct sivshm_grant_req req;
	int r;

	char spec[96];

	snprintf(spec, sizeof(spec), "chan:5:consumer:%lu", win);	/* channel 1's window */
	get_token(spec, other_fd, &req);
	r = present(other_fd, &req);
	report("cross-file-overlap-refused", r == -EACCES && req.verdict == SIVSHM_REJ_OVERLAP,
	       "ioctl %d verdict %u", r, req.verdict);
}

/* As the provider of channel 6: p2c producer + data and c2p consumer page are ours. */
static volatile char *check_provider_role(int fd)
{
	struct sivshm_grant_req req;
	volatile char *m;
	int r, own, peer;

	r = grant_chan(fd, 6, "provider", &req);
	m = r ? MAP_FAILED : map(fd, chan_off(6), WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (m == MAP_FAILED) {
		report("provider-role-peer-pages-read-only", 0, "grant %d verdict %u, mmap %s", r,
		       req.verdict, strerror(errno));
		return m;
	}
	own = touch(m + DIR_SIZE, 1, 'p') | touch(m + DIR_SIZE + 2 * PAGE, 1, 'd') |
	      touch(m + PAGE, 1, 'c');
	peer = !touch(m, 1, 'X') + !touch(m + 2 * PAGE, 1, 'X') +
	       !touch(m + DIR_SIZE + PAGE, 1, 'X');
	report("provider-role-peer-pages-read-only", !own && !peer,
	       "own pages: signal %d; %d of 3 peer pages writable", own, peer);
	return m;
}

static void check_mremap_move(volatile char *m)
{
	void *dst = mmap(NULL, WIN_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *p;

	if (dst == MAP_FAILED)
		die("mmap anon");
	p = mremap((void *)m, WIN_LEN, WIN_LEN, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	report("mremap-move-refused", p == MAP_FAILED && !touch(m + 2 * PAGE, 0, 0),
	       "mremap moved the window to %p", p);
	munmap(dst, WIN_LEN);
}

/* The kernel's own writes on our behalf (GUP) may not reach the peer's page either. */
static void check_process_vm_writev(volatile char *m)
{
	char x = 'X';
	struct iovec local = { .iov_base = &x, .iov_len = 1 };
	struct iovec remote = { .iov_base = (void *)(m + DIR_SIZE + 2 * PAGE), .iov_len = 1 };
	ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
	int fd = open("/proc/self/mem", O_RDWR);
	ssize_t w = fd < 0 ? -1 : pwrite(fd, &x, 1, (off_t)(uintptr_t)remote.iov_base);

	if (fd >= 0)
		close(fd);
	report("process-vm-writev-to-peer-page-fails",
	       n < 0 && w < 0 && m[DIR_SIZE + 2 * PAGE] != 'X',
	       "process_vm_writev %zd, /proc/self/mem write %zd", n, w);
}

/* A granted fd sent to another process over SCM_RIGHTS maps nothing there. */
static void check_scm_rights(void)
{
	struct sivshm_grant_req req;
	char cbuf[CMSG_SPACE(sizeof(int))], byte = 0;
	struct iovec io = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &io, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int sv[2], fd, r, st;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		die("socketpair");
	pid = fork();
	if (!pid) {	/* forked before the file exists: it has it only from the message */
		struct sivshm_nonce kn;
		int got, bad = 0;

		close(sv[0]);
		if (recvmsg(sv[1], &msg, 0) != 1 || !(c = CMSG_FIRSTHDR(&msg)))
			_exit(3);
		memcpy(&got, CMSG_DATA(c), sizeof(got));
		if (mmap(NULL, WIN_LEN, PROT_READ, MAP_SHARED, got, chan_off(7)) != MAP_FAILED ||
		    errno != EPERM)
			bad |= 1;
		if (!ioctl(got, SIVSHM_IOC_NONCE, &kn) || errno != EPERM)
			bad |= 2;
		_exit(bad);
	}
	close(sv[1]);
	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	r = grant_chan(fd, 7, "consumer", &req);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	if (sendmsg(sv[0], &msg, 0) != 1)
		die("sendmsg");
	st = child_status(pid);
	report("fd-passed-by-scm-rights-cannot-map",
	       !r && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "grant %d; child status %#x (exit 1: mmap allowed, 2: ioctl allowed)", r, st);
	close(sv[0]);
	close(fd);
}

/* The ioctl gates: unknown numbers first, then write mode, then the opener. */
static void check_ioctl_gates(int fd)
{
	struct sivshm_grant_req g = {};
	struct sivshm_info info;
	int ro, r, st;
	pid_t pid;

	ro = open(DEV, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		die("open " DEV " read-only");
	r = ioctl(ro, SIVSHM_IOC_GRANT, &g) ? errno : 0;
	report("state-changing-ioctl-needs-write-mode",
	       r == EBADF && !ioctl(ro, SIVSHM_IOC_INFO, &info),
	       "GRANT on a read-only file: %s", strerror(r));
	close(ro);
	pid = fork();
	if (!pid)	/* not the opener: still ENOTTY for a number the device lacks */
		_exit(ioctl(fd, _IO(SIVSHM_IOCTL_MAGIC, 0x7f)) && errno == ENOTTY ? 0 : 1);
	st = child_status(pid);
	report("unknown-ioctl-enotty-before-opener-check", WIFEXITED(st) && !WEXITSTATUS(st),
	       "child status %#x", st);
}

/* The consumer's rules hold the same for a process without privileges. */
static void check_unprivileged_consumer(void)
{
	pid_t pid = fork();
	int st;

	if (!pid) {
		struct sivshm_set_key k = {};
		struct sivshm_grant_req req;
		volatile char *m;
		int fd, bad = 0;

		if (setgid(65534) || setuid(65534))
			_exit(64);
		fd = open(DEV, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(65);
		if (grant_chan(fd, 8, "consumer", &req))
			_exit(66);
		m = map(fd, chan_off(8), WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
		if (m == MAP_FAILED)
			_exit(67);
		if (touch(m, 1, 'u') || touch(m + 2 * PAGE, 1, 'u'))
			bad |= 1;	/* own producer page and data area */
		if (!touch(m + DIR_SIZE + 2 * PAGE, 1, 'X') || !touch(m + PAGE, 1, 'X'))
			bad |= 2;	/* peer's data area, peer's consumer page */
		if (map(fd, win, WIN_LEN, PROT_READ, MAP_SHARED) != MAP_FAILED)
			bad |= 4;	/* channel 1: not this file's */
		if (!ioctl(fd, SIVSHM_IOC_SET_KEY, &k) || errno != EPERM)
			bad |= 8;
		_exit(bad);
	}
	st = child_status(pid);
	report("unprivileged-consumer-confined", WIFEXITED(st) && !WEXITSTATUS(st),
	       "uid 65534: exit %d (64+: setup; 1 own pages, 2 peer pages writable, "
	       "4 other window maps, 8 SET_KEY allowed)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

struct race {
	pthread_barrier_t start;
	int fd, id;
	struct sivshm_grant_req g;
	struct sivshm_revoke_req r;
	int gret, rret;
	volatile int revoked;
	void *maps[64];
	int nmaps;
};

static void *race_grant(void *arg)
{
	struct race *x = arg;

	pthread_barrier_wait(&x->start);
	x->gret = present(x->fd, &x->g);
	return NULL;
}

static void *race_revoke(void *arg)
{
	struct race *x = arg;

	pthread_barrier_wait(&x->start);
	x->rret = present_revoke(x->fd, &x->r);
	x->revoked = 1;
	return NULL;
}

static void *race_map(void *arg)
{
	struct race *x = arg;
	int i;

	pthread_barrier_wait(&x->start);
	for (i = 0; i < 20000 && !x->revoked && x->nmaps < 64; i++) {
		void *p = mmap(NULL, WIN_LEN, PROT_READ, MAP_SHARED, x->fd, chan_off(x->id));

		if (p != MAP_FAILED)
			x->maps[x->nmaps++] = p;
	}
	return NULL;
}

/*
 * GRANT, REVOKE and mmap of one channel race from three threads, a fresh
 * channel each round. Whatever the order, once REVOKE has returned OK no
 * mapping made in the race reads, mmap is refused and no grant is taken.
 */
static void check_revoke_grant_race(void)
{
	char why[160] = "";
	int round, i, bad = 0;

	for (round = 0; round < 12 && !bad; round++) {
		struct race x = { .id = 20 + round };
		struct sivshm_grant_req again;
		pthread_t t[3];
		char spec[96];
		void *p;
		int r;

		x.fd = open(DEV, O_RDWR | O_CLOEXEC);
		if (x.fd < 0)
			die("open " DEV);
		snprintf(spec, sizeof(spec), "chan:%d:consumer:%lu", x.id, chan_off(x.id));
		get_token(spec, x.fd, &x.g);
		snprintf(spec, sizeof(spec), "chan:%d", x.id);
		get_revoke(spec, &x.r);
		pthread_barrier_init(&x.start, NULL, 3);
		pthread_create(&t[0], NULL, race_grant, &x);
		pthread_create(&t[1], NULL, race_revoke, &x);
		pthread_create(&t[2], NULL, race_map, &x);
		for (i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&x.start);
		for (i = 0; i < x.nmaps; i++) {
			r = touch(x.maps[i], 0, 0);
			if (r != SIGBUS && r != SIGSEGV)
				bad = snprintf(why, sizeof(why), "a racing mapping still reads");
			munmap(x.maps[i], WIN_LEN);
		}
		p = map(x.fd, chan_off(x.id), WIN_LEN, PROT_READ, MAP_SHARED);
		if (p != MAP_FAILED)
			bad = snprintf(why, sizeof(why), "mmap after the race succeeded");
		r = grant_chan(x.fd, x.id, "consumer", &again);
		if (x.rret || x.r.verdict != SIVSHM_OK || !receipt_verifies(&x.r))
			bad = snprintf(why, sizeof(why), "revoke %d verdict %u", x.rret,
				       x.r.verdict);
		else if (x.gret && x.g.verdict != SIVSHM_REJ_REVOKED)
			bad = snprintf(why, sizeof(why), "racing grant %d verdict %u", x.gret,
				       x.g.verdict);
		else if (r != -EACCES || again.verdict != SIVSHM_REJ_REVOKED)
			bad = snprintf(why, sizeof(why), "later grant %d verdict %u", r,
				       again.verdict);
		close(x.fd);
		if (bad)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (round %d)", round);
	}
	report("revoke-vs-grant-race", !bad, "%s", why);
}

struct stalled {
	int fd, ret;
	struct sivshm_revoke_req *rv;
};

static void *stalled_revoke(void *arg)
{
	struct stalled *s = arg;

	s->ret = ioctl(s->fd, SIVSHM_IOC_REVOKE, s->rv) ? -errno : 0;
	return NULL;
}

/* Did child @pid exit 0 within @ms? */
static int exited_within(pid_t pid, int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 1 : -1;
		usleep(10000);
	}
	return 0;
}

/*
 * A REVOKE whose out field sits on a write-protected page (userfaultfd)
 * stalls in the copy back; another process's open and ioctl must go on.
 */
static void check_revoke_user_copy_unlocked(int fd)
{
	const char *name = "revoke-does-not-hold-lock-across-user-copy";
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	struct stalled s = { .fd = fd };
	struct pollfd p;
	pthread_t t;
	int uffd, stalled, done = 0;
	char *page;
	pid_t pid;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (uffd < 0 || page == MAP_FAILED || ioctl(uffd, UFFDIO_API, &api)) {
		report(name, 0, "userfaultfd: %s", strerror(errno));
		return;
	}
	memset(page, 0, PAGE);	/* present, so only writes fault */
	s.rv = (struct sivshm_revoke_req *)page;
	memset(s.rv->tag, 0x55, sizeof(s.rv->tag));	/* garbage: anyone can send it */
	reg.range = (struct uffdio_range){ (uintptr_t)page, PAGE };
	wp.range = reg.range;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) || ioctl(uffd, UFFDIO_WRITEPROTECT, &wp)) {
		report(name, 0, "uffd write-protect: %s", strerror(errno));
		return;
	}
	pthread_create(&t, NULL, stalled_revoke, &s);
	p = (struct pollfd){ .fd = uffd, .events = POLLIN };
	stalled = poll(&p, 1, 10000) == 1;	/* the verdict write faulted */
	pid = fork();
	if (!pid) {
		struct sivshm_info info;
		int f = open(DEV, O_RDWR);

		_exit(f >= 0 && !ioctl(f, SIVSHM_IOC_INFO, &info) ? 0 : 1);
	}
	if (stalled)
		done = exited_within(pid, 5000);
	wp.mode = 0;	/* release the stalled copy */
	ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
	pthread_join(t, NULL);
	if (done == 0)
		child_status(pid);
	report(name, stalled && done == 1 && s.ret == -EACCES && s.rv->verdict == SIVSHM_REJ_TAG,
	       "stalled %d; other process's open+ioctl %s; revoke %d verdict %u", stalled,
	       done == 1 ? "went on" : done ? "failed" : "blocked for 5 s", s.ret,
	       s.rv->verdict);
	close(uffd);
	munmap(page, PAGE);
}

/*
 * hostd moves the region to a new epoch (a restart): a window granted in
 * the old one must die within a few seconds, though no grant or revoke came.
 */
static void check_stale_epoch(void)
{
	struct sivshm_grant_req req;
	struct sivshm_info info = {};
	char reply[64];
	volatile char *m;
	int fd, r = 0;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	r = grant_chan(fd, 9, "consumer", &req);
	m = r ? MAP_FAILED : map(fd, chan_off(9), WIN_LEN, PROT_READ, MAP_SHARED);
	if (m == MAP_FAILED || touch(m, 0, 0)) {
		report("stale-epoch-window-killed", 0, "grant %d verdict %u, mapping %s", r,
		       req.verdict, m == MAP_FAILED ? strerror(errno) : "does not read");
		return;
	}
	ask(reply, sizeof(reply), "EPOCH 8");
	for (int i = 0; i < 100 && !r; i++) {
		usleep(50000);
		r = touch(m, 0, 0);
	}
	ioctl(fd, SIVSHM_IOC_INFO, &info);
	report("stale-epoch-window-killed",
	       !strcmp(reply, "OK") && (r == SIGBUS || r == SIGSEGV) && info.epoch == 8,
	       "host %s; epoch %llu; old window: signal %d after 5 s", reply,
	       (unsigned long long)info.epoch, r);
	close(fd);
	ask(reply, sizeof(reply), "EPOCH 7");	/* the stand-in signs for epoch 7 */
}

static void *blocked_read(void *arg)
{
	struct sivshm_event ev[8];
	int *fd = arg;

	*fd = read(*fd, ev, sizeof(ev)) < 0 ? errno : 0;
	return NULL;
}

/* Unbinding the device with a live mapping: it faults, readers wake with ENODEV. */
static void check_unbind(void)
{
	struct sivshm_grant_req req;
	volatile char *m = MAP_FAILED;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	const char *drv = "/sys/bus/pci/drivers/sivshm";
	char addr[256] = "", path[128];
	int reader = fd, r, fo, w = -1, woke = 0;
	struct dirent *d;
	pthread_t t;
	DIR *dir;
	void *p;

	if (fd < 0)
		die("open " DEV);
	if (!grant_chan(fd, 10, "consumer", &req))
		m = map(fd, chan_off(10), WIN_LEN, PROT_READ, MAP_SHARED);
	dir = opendir(drv);
	while (dir && (d = readdir(dir)))
		if (d->d_name[0] == '0' && strchr(d->d_name, ':'))
			snprintf(addr, sizeof(addr), "%s", d->d_name);
	if (dir)
		closedir(dir);
	pthread_create(&t, NULL, blocked_read, &reader);
	usleep(200000);
	snprintf(path, sizeof(path), "%s/unbind", drv);
	fo = open(path, O_WRONLY);
	if (fo >= 0) {
		w = write(fo, addr, strlen(addr));
		close(fo);
	}
	for (int i = 0; i < 500 && reader == fd; i++)
		usleep(10000);
	woke = reader == ENODEV;
	if (reader == fd)	/* still blocked: do not hang the guest on it */
		pthread_cancel(t);
	pthread_join(t, NULL);
	r = m == MAP_FAILED ? 0 : touch(m + DIR_SIZE, 0, 0);
	p = map(fd, chan_off(10), WIN_LEN, PROT_READ, MAP_SHARED);
	fo = open(DEV, O_RDWR);
	report("unbind-with-live-mapping",
	       w > 0 && (r == SIGBUS || r == SIGSEGV) && p == MAP_FAILED && woke && fo < 0 &&
	       errno == ENODEV,
	       "unbind %s: %d; access signal %d; mmap %s; reader %s; open %d",
	       addr, w, r, p == MAP_FAILED ? "refused" : "worked",
	       woke ? "woke with ENODEV" : "not woken", fo);
}


static int run_consumer(void)
{
	struct sivshm_grant_req req, other_fd_req, late, fresh;
	struct sivshm_revoke_req rv;
	char reply[512];
	volatile char *m, *ro, *m6;
	int fd, fd2, fd4, fd5, r, st;
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

	check_read_poll_need_grant(fd);
	check_cross_file_overlap(fd2);
	fd4 = open(DEV, O_RDWR | O_CLOEXEC);
	fd5 = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd4 < 0 || fd5 < 0)
		die("open " DEV);
	m6 = check_provider_role(fd4);
	if (m6 != MAP_FAILED)
		check_mremap_move(m6);
	check_process_vm_writev(m);
	check_scm_rights();
	check_ioctl_gates(fd);
	check_unprivileged_consumer();
	check_revoke_user_copy_unlocked(fd);
	check_revoke_grant_race();
	/* a grant of channel 1 issued before its revoke, presented after it */
	get_token("consumer", fd5, &late);

	/* a revoke with a bad tag changes nothing */
	ask(reply, sizeof(reply), "REVOKE forged");
	memset(&rv, 0, sizeof(rv));
	if (strlen(reply) != 2 * (40 + 32) || unhex(reply, &rv.token, 40) ||
	    unhex(reply + 80, rv.tag, 32))
		die("REVOKE reply");
	memset(rv.receipt, 0xff, sizeof(rv.receipt));
	r = ioctl(fd, SIVSHM_IOC_REVOKE, &rv) ? -errno : 0;
	report("forged-revoke-refused",
	       r == -EACCES && rv.verdict == SIVSHM_REJ_TAG && !touch(m + 2 * PAGE, 0, 0),
	       "ioctl %d verdict %u", r, rv.verdict);
	report("refused-revoke-returns-no-receipt", all_zero(rv.receipt, sizeof(rv.receipt)),
	       "a refused revoke left receipt bytes");

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
	report("revoke-receipt-verifies", !r && receipt_verifies(&rv),
	       "receipt is not HMAC(K_vm, \"%s\" || token)", SIVSHM_RECEIPT_LABEL);
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

	r = present(fd5, &late);
	get_token("consumer", fd5, &fresh);
	st = present(fd5, &fresh);
	report("grant-after-revoke-refused",
	       r == -EACCES && late.verdict == SIVSHM_REJ_REVOKED && st == -EACCES &&
	       fresh.verdict == SIVSHM_REJ_REVOKED,
	       "grant issued before the revoke: %d verdict %u; after: %d verdict %u", r,
	       late.verdict, st, fresh.verdict);
	check_stale_epoch();
	check_unbind();
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

/* ---- doorbells routed per channel: a grant names what its file may ring and see ---- */

/* SIVSHM_IOC_DOORBELL on @fd to (@peer, @vector): 0 or the errno. */
static int ring_errno(int fd, unsigned int peer, unsigned int vector)
{
	struct sivshm_doorbell db = { .peer = (__u16)peer, .vector = (__u16)vector };

	return ioctl(fd, SIVSHM_IOC_DOORBELL, &db) ? errno : 0;
}

/* A new non-blocking file holding channel @id as @r with route @route ("@peer,ring,observe"). */
static int routed_file(int id, const char *r, const char *route)
{
	struct sivshm_grant_req req;
	char spec[128];
	int fd, ret;

	fd = open(DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("open " DEV);
	snprintf(spec, sizeof(spec), "chan:%d:%s:%lu%s", id, r, chan_off(id), route);
	get_token(spec, fd, &req);
	ret = present(fd, &req);
	if (ret) {
		fprintf(stderr, "grant %s: %d verdict %u\n", spec, ret, req.verdict);
		close(fd);
		return -1;
	}
	return fd;
}

/* Guest B: a file whose grant observes no vector, granted before the peer rings. */
static int blind_file(void)
{
	return routed_file(2, "provider", "@none,0,0");
}

/*
 * Guest B, after the peer's doorbell on vector 0: a file whose grant
 * observes nothing saw nothing (read EAGAIN, poll quiet), and a file
 * granted vector 0 only now sees none of the interrupts from before.
 */
static void check_read_sees_only_granted(int blind)
{
	struct sivshm_event ev[8];
	struct pollfd p = { .fd = blind, .events = POLLIN };
	ssize_t b = -2, late = -2;
	int be = 0, le = 0, pr = -2, fresh;

	if (blind >= 0) {
		pr = poll(&p, 1, 0);
		b = read(blind, ev, sizeof(ev));
		be = errno;
	}
	fresh = routed_file(3, "provider", "@0,1,1");
	if (fresh >= 0) {
		late = read(fresh, ev, sizeof(ev));
		le = errno;
	}
	report("read-sees-only-granted-vectors",
	       blind >= 0 && pr == 0 && b < 0 && be == EAGAIN && fresh >= 0 && late < 0 &&
	       le == EAGAIN,
	       "file observing no vector: poll %d, read %zd (%s); file granted vector 0 after "
	       "the doorbell: read %zd (%s)", pr, b, strerror(be), late, strerror(le));
	if (fresh >= 0)
		close(fresh);
	if (blind >= 0)
		close(blind);
}

/*
 * Guest A, holding channel 1 routed to vector 0 of @other on @fd: every
 * (peer, vector) that no live grant of the ringing file names is -EPERM.
 */
static void check_ungranted_routes(int fd)
{
	int quiet = routed_file(3, "consumer", "@none,0,1");	/* observes only */
	int wrong_vec = ring_errno(fd, other, 1);
	int wrong_peer = ring_errno(fd, other + 1, 0);
	int past_mask = ring_errno(fd, other, SIVSHM_DB_MAX_VECTORS);
	int no_route = quiet < 0 ? -1 : ring_errno(quiet, other, 0);
	int granted = ring_errno(fd, other, 0);

	report("doorbell-to-ungranted-route-refused",
	       wrong_vec == EPERM && wrong_peer == EPERM && past_mask == EPERM &&
	       no_route == EPERM && !granted,
	       "vector 1: %s; peer %lu: %s; vector %d: %s; grant without a route: %s; "
	       "the granted route: %s", strerror(wrong_vec), other + 1, strerror(wrong_peer),
	       SIVSHM_DB_MAX_VECTORS, strerror(past_mask), strerror(no_route), strerror(granted));
	if (quiet >= 0)
		close(quiet);
}

/* Guest A: a revoke ends the channel's route at once, for ring and read. */
static void check_route_gone_after_revoke(void)
{
	struct sivshm_revoke_req rv;
	struct sivshm_event ev[8];
	char route[32];
	int fd, before, after = -1, rr = -1, re = 0;
	ssize_t n = 0;

	snprintf(route, sizeof(route), "@%lu,1,1", other);
	fd = routed_file(4, "consumer", route);
	before = fd < 0 ? -1 : ring_errno(fd, other, 0);
	get_revoke("chan:4", &rv);
	if (fd >= 0) {
		rr = present_revoke(fd, &rv);
		after = ring_errno(fd, other, 0);
		n = read(fd, ev, sizeof(ev));
		re = errno;
	}
	report("doorbell-route-gone-after-revoke",
	       fd >= 0 && !before && !rr && after == EPERM && n < 0 && re == EPERM,
	       "ring before the revoke: %s; revoke %d verdict %u; ring after: %s; read after: "
	       "%zd (%s)", strerror(before), rr, rv.verdict, strerror(after), n, strerror(re));
	if (fd >= 0)
		close(fd);
}

/*
 * Guest B, after the peer rang vector 0 (which @v1 must not have seen) and
 * then vector 1: @v1, whose grant observes vector 1 only, wakes and reports
 * vector 1 only; @fd, observing vector 0 only, never reports vector 1.
 */
static void check_vectors_kept_apart(int fd, int v1)
{
	struct sivshm_event ev[8];
	struct pollfd p = { .fd = v1, .events = POLLIN };
	ssize_t n1 = -2, n0;
	int r = -2, i, v1_ok = 0, v1_other = 0, fd_v1 = 0;

	if (v1 >= 0) {
		r = poll(&p, 1, WAIT_MS);
		memset(ev, 0, sizeof(ev));
		n1 = read(v1, ev, sizeof(ev));
		for (i = 0; i < n1 / (ssize_t)sizeof(ev[0]); i++) {
			if (ev[i].vector == 1 && ev[i].count >= 1)
				v1_ok = 1;
			else
				v1_other++;
		}
	}
	/* vector 0 may have rung again meanwhile (the peer's route checks): that is fine */
	memset(ev, 0, sizeof(ev));
	n0 = read(fd, ev, sizeof(ev));
	for (i = 0; i < n0 / (ssize_t)sizeof(ev[0]); i++)
		fd_v1 += ev[i].vector != 0;
	report("doorbell-vectors-kept-apart",
	       v1 >= 0 && r == 1 && v1_ok && !v1_other && !fd_v1,
	       "file observing vector 1: poll %d, read %zd, vector-1 record %d, other records %d; "
	       "file observing vector 0: read %zd, records of another vector %d",
	       r, n1, v1_ok, v1_other, n0, fd_v1);
	if (v1 >= 0)
		close(v1);
}

/* Guest A, after the peer woke on vector 0: ring its vector 1 through a grant routing it. */
static void ring_vector_one(void)
{
	char route[32];
	int fd, r = -1;

	snprintf(route, sizeof(route), "@%lu,2,0", other);
	fd = routed_file(6, "consumer", route);
	if (fd >= 0) {
		r = ring_errno(fd, other, 1);
		close(fd);
	}
	report("doorbell-ring-vector-one", fd >= 0 && !r, "grant %d, ring vector 1: %s", fd,
	       strerror(r));
}

/* Doorbell receiver (guest B): poll() must wake on the peer's doorbell. */
static int run_wait(void)
{
	struct sivshm_event ev[8];
	struct sivshm_info info;
	struct pollfd p;
	volatile char *m;
	ssize_t n;
	int fd, r, blind, v1;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);
	set_key(fd, 2);
	if (ioctl(fd, SIVSHM_IOC_INFO, &info))
		die("SIVSHM_IOC_INFO");
	/* the tier gives the device 2 vectors, so vector 0 and vector 1 can be told apart */
	report("doorbell-device-has-msix", info.vectors == 2, "vectors %u", info.vectors);
	m = granted_map(fd, "provider");
	if (m == MAP_FAILED)
		die("mmap");
	/* read() needs a grant, so this comes after it, before the peer may ring */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n = read(fd, ev, sizeof(ev));
	report("no-event-before-doorbell", n < 0 && errno == EAGAIN, "read %zd", n);
	fcntl(fd, F_SETFL, 0);
	blind = blind_file();
	v1 = routed_file(5, "provider", "@none,0,2");	/* observes vector 1 only */
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
	check_read_sees_only_granted(blind);
	strcpy((char *)m + PAGE, "B-WOKE");	/* c2p consumer page: ours */
	check_vectors_kept_apart(fd, v1);
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
	ring_vector_one();
	check_ungranted_routes(fd);
	check_route_gone_after_revoke();
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
