/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest check programs' side of the control line to the host's stand-in
 * for hostd (selftest.c, chandev-checks.c): one request line out, one line
 * of hex back; grant and revoke tokens asked for by spec and presented to
 * /dev/sivshm; and touching memory that may fault. Each program includes
 * it once, after guest-report.h and sivshm.h, and sets @ctl and @role.
 */
#ifndef GUEST_CONTROL_H
#define GUEST_CONTROL_H

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DEV "/dev/sivshm"
#define WAIT_MS 90000

static int ctl = -1;
static const char *role;

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
	if (strlen(reply) != 2 * (sizeof(req->token) + 32) ||
	    unhex(reply, &req->token, sizeof(req->token)) ||
	    unhex(reply + 2 * sizeof(req->token), req->tag, 32)) {
		errno = EPROTO;
		die(spec);
	}
}

static int present(int fd, struct sivshm_grant_req *req)
{
	req->verdict = 0;
	return ioctl(fd, SIVSHM_IOC_GRANT, req) ? -errno : 0;
}

/* A revoke token for @spec ("valid", "forged", "chan:<id>") into @rv. */
static void get_revoke(const char *spec, struct sivshm_revoke_req *rv)
{
	char reply[512];

	ask(reply, sizeof(reply), "REVOKE %s", spec);
	memset(rv, 0, sizeof(*rv));
	if (strlen(reply) != 2 * (40 + 32) || unhex(reply, &rv->token, 40) ||
	    unhex(reply + 80, rv->tag, 32)) {
		errno = EPROTO;
		die("REVOKE reply");
	}
}

static int present_revoke(int fd, struct sivshm_revoke_req *rv)
{
	rv->verdict = 0;
	return ioctl(fd, SIVSHM_IOC_REVOKE, rv) ? -errno : 0;
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

#endif
