/* User-space stand-ins for the few kernel types sivshm_grant.c uses (host test build only). */
#ifndef SIVSHM_SHIM_TYPES_H
#define SIVSHM_SHIM_TYPES_H
#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#define __force
#endif
