#ifndef SIVSHM_SHIM_ALGAPI_H
#define SIVSHM_SHIM_ALGAPI_H
#include <openssl/crypto.h>
#include <linux/types.h>
/* like the kernel's: non-zero when different, time independent of the contents */
static inline int crypto_memneq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) != 0;
}
#endif
