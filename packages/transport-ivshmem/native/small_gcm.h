// AES-256-GCM for small records without the EVP layer (see small_gcm.cc).
#ifndef SIVSHM_NATIVE_SMALL_GCM_H
#define SIVSHM_NATIVE_SMALL_GCM_H

#include <stddef.h>
#include <stdint.h>

namespace sivshm {

struct SmallGcm;

// A context for one 32-byte key, or nullptr when this build or CPU has no fast path (the
// caller then stays on EVP).
SmallGcm* SmallGcmNew(const uint8_t* key);
void SmallGcmFree(SmallGcm* g);

// Encrypts len bytes of in into out and writes the 16-byte tag. 12-byte nonce.
bool SmallGcmSeal(SmallGcm* g, const uint8_t* nonce, const uint8_t* aad, size_t aadLen,
                  const uint8_t* in, uint8_t* out, size_t len, uint8_t* tag);

// GMAC: the tag of AES-GCM with no plaintext and a ‖ b as associated data (any length). Small
// inputs are hashed in one pass, with E(K, J0) computed ahead for the following nonces of the
// same 4-byte prefix (nonce = prefix ‖ u64 LE counter, as record nonces are).
bool SmallGcmMac(SmallGcm* g, const uint8_t* nonce, const uint8_t* a, size_t aLen,
                 const uint8_t* b, size_t bLen, uint8_t* tag);

// Decrypts into out (in == out is allowed); true only when the tag matches (out is then the plaintext).
bool SmallGcmOpen(SmallGcm* g, const uint8_t* nonce, const uint8_t* aad, size_t aadLen,
                  const uint8_t* in, uint8_t* out, size_t len, const uint8_t* tag);

}  // namespace sivshm

#endif
