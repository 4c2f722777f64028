/* Host test build: the kernel helpers sivshm_grant.c uses (little-endian host assumed). */
#ifndef SIVSHM_SHIM_KERNEL_H
#define SIVSHM_SHIM_KERNEL_H
#include <endian.h>
#include <linux/types.h>
#define le16_to_cpu(x) le16toh(x)
#define le32_to_cpu(x) le32toh(x)
#define le64_to_cpu(x) le64toh(x)
static inline bool is_power_of_2(u64 n)
{
	return n && !(n & (n - 1));
}
#endif
