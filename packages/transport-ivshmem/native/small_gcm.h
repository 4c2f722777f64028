// AES-256-GCM for small records without the EVP layer (see small_gcm.cc).
#ifndef SIVSHM_NATIVE_SMALL_GCM_H
#define SIVSHM_NATIVE_SMALL_GCM_H

#include <stddef.h>
#include <stdint.h>

// The addon's own functions, called per record from record_crypto.cc: hidden, so each call is
// direct rather than through the shared object's procedure linkage table.
#pragma GCC visibility push(hidden)

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

// The associated data A of a record (docs/protocol.md §4.1) as numbers: channel id (u64 LE) ‖
// direction (u8) ‖ sequence (u64 LE) ‖ the SOME/IP header words (u32 BE each: message id,
// length, request id, protocol/interface version, message type, return code).
struct RecordHead {
  uint64_t channelId;
  uint8_t direction;
  uint64_t sequence;
  uint32_t words[4];
};

// Whether SmallGcmMacRecord takes an n-byte body on this CPU.
bool SmallGcmMacsRecord(const SmallGcm* g, size_t n);

// The GMAC of A ‖ body, A given by `head`, reading the n-byte body from `src` once and writing
// the same bytes to `dst` on the way (sealing: private plaintext to the ring record; opening:
// the ring record to its private copy). The tag is over the bytes written to dst.
void SmallGcmMacRecord(SmallGcm* g, const uint8_t* nonce, const RecordHead& head,
                       const uint8_t* src, uint8_t* dst, size_t n, uint8_t* tag);

// Decrypts into out (in == out is allowed); true only when the tag matches (out is then the plaintext).
bool SmallGcmOpen(SmallGcm* g, const uint8_t* nonce, const uint8_t* aad, size_t aadLen,
                  const uint8_t* in, uint8_t* out, size_t len, const uint8_t* tag);

}  // namespace sivshm

#pragma GCC visibility pop

#endif
