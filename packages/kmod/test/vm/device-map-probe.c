// SPDX-License-Identifier: GPL-2.0
/*
 * device-map-probe: tier 3's isolation check (issue 18) runs it from a guest app, handing it
 * the app's own open /dev/sivshm file as fd 3. It maps the first page of that file's device
 * window (SIVSHM_DEVMAP_BASE: only a file holding a live device grant can), reads it, and keeps
 * the mapping. When a line arrives on stdin (the app saw the channel device leave the guest's PCI
 * list after the revoke), it reads the same page again: a mapping sivshm.ko zapped must fault.
 *
 *   device-map-probe   (fd 3: /dev/sivshm with a device grant; stdin: "check\n" when to look)
 *
 * Prints one line per stage on stdout:
 *   "unmapped <errno name>"        the file holds no device grant (a region channel's file)
 *   "mapped"                       the window's page is mapped and was read
 *   "faulted SIGBUS|SIGSEGV"       the later read faulted (the mapping was zapped)
 *   "read <n>"                     the later read returned data: the mapping survived
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sivshm.h"

static sigjmp_buf faulted;

static void on_fault(int sig)
{
	siglongjmp(faulted, sig);
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile unsigned char *p;
	struct sigaction sa;
	char line[64];
	unsigned char seen;
	int sig;

	p = mmap(NULL, page, PROT_READ, MAP_SHARED, 3, (off_t)SIVSHM_DEVMAP_BASE);
	if (p == MAP_FAILED) {
		printf("unmapped %s\n", errno == EPERM ? "EPERM" : strerror(errno));
		return 0;
	}
	seen = p[0];
	printf("mapped\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sig = sigsetjmp(faulted, 1);
	if (sig == 0) {
		seen ^= p[0];
		printf("read %u\n", seen);
	} else {
		printf("faulted %s\n", sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
	}
	fflush(stdout);
	return 0;
}
