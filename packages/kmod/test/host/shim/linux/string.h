#ifndef SIVSHM_SHIM_STRING_H
#define SIVSHM_SHIM_STRING_H
#include <string.h>
#define memzero_explicit(p, n) explicit_bzero(p, n)
#endif
