/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The result lines of the guest check programs (selftest.c, arm64/pagesize-checks.c): one
 * "@@ ok <name>" or "@@ not ok <name>: <why>" line per check, which the host's tier reads
 * from the console. Each program includes it once and exits non-zero when @failures is set.
 */
#ifndef GUEST_REPORT_H
#define GUEST_REPORT_H

#include <stdarg.h>
#include <stdio.h>

static int failures;

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
	/* flushed at once: a check that crashes the guest must not lose the lines before it */
	fflush(stdout);
	return ok;
}

#endif
