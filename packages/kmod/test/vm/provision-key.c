// SPDX-License-Identifier: GPL-2.0
/*
 * provision-key: the guest init step of qemu mode (docs/protocol.md §9). Reads this VM's grant key
 * and VM id from QEMU's fw_cfg (hostd's launcher passes
 * `-fw_cfg name=opt/sivshm/key,file=K -fw_cfg name=opt/sivshm/vm-id,string=N`), writes them
 * once into sivshm.ko with the root-only SIVSHM_IOC_SET_KEY and wipes its copy. Apps never
 * see the key: the fw_cfg files are root-only and the module never gives it back.
 *
 *   provision-key [fw_cfg dir]   (default /sys/firmware/qemu_fw_cfg/by_name/opt/sivshm)
 *
 * Prints "@@ ok provision-key vm N" or "@@ not ok provision-key: <why>" and exits 0/1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sivshm.h"

#define FW_CFG_DIR "/sys/firmware/qemu_fw_cfg/by_name/opt/sivshm"

static int fail(const char *what, const char *path)
{
	printf("@@ not ok provision-key: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Reads up to @max bytes of fw_cfg item @name under @dir; returns the count or -1. */
static ssize_t read_item(const char *dir, const char *name, void *buf, size_t max, char *path,
			 size_t path_len)
{
	ssize_t n, got = 0;
	int fd;

	snprintf(path, path_len, "%s/%s/raw", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	while ((size_t)got < max) {
		n = read(fd, (char *)buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	return got;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : FW_CFG_DIR;
	struct sivshm_set_key k;
	unsigned char key[SIVSHM_KEY_SIZE + 1];
	char path[512], id[16] = { 0 };
	ssize_t n;
	char *end;
	unsigned long vm;
	int fd, ret;

	memset(&k, 0, sizeof(k));
	/* one byte more than a key, to tell a longer file from a key */
	n = read_item(dir, "key", key, sizeof(key), path, sizeof(path));
	if (n < 0)
		return fail("cannot read", path);
	if (n != (ssize_t)sizeof(k.key)) {
		printf("@@ not ok provision-key: %s holds %zd bytes, the key is %zu\n", path, n,
		       sizeof(k.key));
		return 1;
	}
	memcpy(k.key, key, sizeof(k.key));
	memset(key, 0, sizeof(key));
	n = read_item(dir, "vm-id", id, sizeof(id) - 1, path, sizeof(path));
	if (n <= 0)
		return fail("cannot read", path);
	errno = 0;
	vm = strtoul(id, &end, 10);
	if (errno || end == id || vm == 0 || vm > 0xffffffffUL) {
		printf("@@ not ok provision-key: %s is not a VM id: '%s'\n", path, id);
		return 1;
	}
	k.vm_id = (__u32)vm;
	fd = open("/dev/sivshm", O_RDWR);
	if (fd < 0)
		return fail("cannot open", "/dev/sivshm");
	ret = ioctl(fd, SIVSHM_IOC_SET_KEY, &k);
	/* the key stays in the module only */
	memset(&k, 0, sizeof(k));
	__asm__ __volatile__("" : : "r"(&k) : "memory");
	close(fd);
	if (ret)
		return fail("SIVSHM_IOC_SET_KEY on", "/dev/sivshm");
	printf("@@ ok provision-key vm %lu\n", vm);
	return 0;
}
