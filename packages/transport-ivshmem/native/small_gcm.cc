// AES-256-GCM for small records through OpenSSL's own GCM128 code and AES-NI block functions,
// skipping the EVP layer: for a 64-byte record EVP's per-call bookkeeping (provider dispatch,
// parameter marshalling for the tag) costs several times the cipher itself, and a protected
// round trip pays it four times. Same algorithm, same bytes (the record vectors check both
// paths). The AES-NI entry points are internal to OpenSSL, so they are looked up at run time:
// a Node built without them, or a CPU without AES-NI and PCLMULQDQ, keeps using EVP.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "small_gcm.h"

#include <cpuid.h>
#include <dlfcn.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <openssl/aes.h>
#include <openssl/crypto.h>
#include <openssl/modes.h>
#include <string.h>

namespace sivshm {

namespace {

// OpenSSL's GHASH table entry (u128 in crypto/modes).
struct U128 {
  uint64_t hi, lo;
};

// Nonces whose E(K, J0) one batch computes ahead (GMAC: see SmallGcmMac).
constexpr int kEk0Batch = 8;
// GMAC inputs up to this size are hashed in one pass from a padded stack copy.
constexpr size_t kDirectMac = 1088;

struct Api {
  int (*setKey)(const unsigned char*, int, AES_KEY*) = nullptr;
  block128_f encrypt = nullptr;
  ctr128_f ctr32 = nullptr;
  GCM128_CONTEXT* (*gcmNew)(void*, block128_f) = nullptr;
  void (*gcmRelease)(GCM128_CONTEXT*) = nullptr;
  void (*setiv)(GCM128_CONTEXT*, const unsigned char*, size_t) = nullptr;
  int (*aad)(GCM128_CONTEXT*, const unsigned char*, size_t) = nullptr;
  int (*encryptCtr32)(GCM128_CONTEXT*, const unsigned char*, unsigned char*, size_t,
                      ctr128_f) = nullptr;
  int (*decryptCtr32)(GCM128_CONTEXT*, const unsigned char*, unsigned char*, size_t,
                      ctr128_f) = nullptr;
  int (*finish)(GCM128_CONTEXT*, const unsigned char*, size_t) = nullptr;
  void (*tag)(GCM128_CONTEXT*, unsigned char*, size_t) = nullptr;
  // GHASH itself and many-block AES, for GMAC in one pass (SmallGcmMac): the PCLMULQDQ code
  // GCM128 picks on this CPU (its AVX flavour where the CPU has AVX and MOVBE, as GCM128 does).
  void (*ghashInit)(U128*, const uint64_t*) = nullptr;
  void (*ghash)(uint64_t*, const U128*, const uint8_t*, size_t) = nullptr;
  void (*ecb)(const unsigned char*, unsigned char*, size_t, const AES_KEY*, int) = nullptr;
  bool ok = false;
  bool directMac = false;
  // SmallGcmMacRecord's byte shifts (PALIGNR, PSHUFB).
  bool macRecord = false;
};

template <typename F>
void Find(F* out, const char* name) {
  *out = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

Api Load() {
  Api a;
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("aes") || !__builtin_cpu_supports("pclmul")) return a;
  Find(&a.setKey, "aesni_set_encrypt_key");
  Find(&a.encrypt, "aesni_encrypt");
  Find(&a.ctr32, "aesni_ctr32_encrypt_blocks");
  Find(&a.gcmNew, "CRYPTO_gcm128_new");
  Find(&a.gcmRelease, "CRYPTO_gcm128_release");
  Find(&a.setiv, "CRYPTO_gcm128_setiv");
  Find(&a.aad, "CRYPTO_gcm128_aad");
  Find(&a.encryptCtr32, "CRYPTO_gcm128_encrypt_ctr32");
  Find(&a.decryptCtr32, "CRYPTO_gcm128_decrypt_ctr32");
  Find(&a.finish, "CRYPTO_gcm128_finish");
  Find(&a.tag, "CRYPTO_gcm128_tag");
  a.ok = a.setKey && a.encrypt && a.ctr32 && a.gcmNew && a.gcmRelease && a.setiv && a.aad &&
         a.encryptCtr32 && a.decryptCtr32 && a.finish && a.tag;
  unsigned eax, ebx, ecx = 0, edx;
  bool avxMovbe = __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_AVX) != 0 &&
                  (ecx & bit_MOVBE) != 0;
  Find(&a.ghashInit, avxMovbe ? "gcm_init_avx" : "gcm_init_clmul");
  Find(&a.ghash, avxMovbe ? "gcm_ghash_avx" : "gcm_ghash_clmul");
  Find(&a.ecb, "aesni_ecb_encrypt");
  a.directMac = a.ok && a.ghashInit && a.ghash && a.ecb;
  a.macRecord = a.directMac && __builtin_cpu_supports("ssse3");
#endif
  return a;
}

const Api& TheApi() {
  static const Api api = Load();
  return api;
}

}  // namespace

// What a mac record reads comes first, on whole cache lines (GHASH's key table, the batch of
// E(K, J0), then the words that index it): the AES key schedule and GCM128's context are read
// by mac only once per batch.
struct alignas(64) SmallGcm {
  // For SmallGcmMac's one-pass path: the GHASH key table, and E(K, J0) of the nonces
  // prefix ‖ first .. prefix ‖ first + count - 1 (nonce = 4-byte prefix ‖ u64 LE counter).
  U128 htable[16];
  uint8_t ek0[kEk0Batch][16];
  uint64_t ek0First = 0;
  int ek0Count = 0;
  uint8_t ek0Prefix[4];
  // TheApi()'s GHASH and batch AES, copied here so a record does not go through its
  // initialisation guard; macRecord: SmallGcmMacRecord applies.
  void (*ghash)(uint64_t*, const U128*, const uint8_t*, size_t) = nullptr;
  void (*ecb)(const unsigned char*, unsigned char*, size_t, const AES_KEY*, int) = nullptr;
  bool macRecord = false;
  AES_KEY key;  // GCM128 keeps a pointer to it: it lives as long as the context
  GCM128_CONTEXT* gcm = nullptr;
};

namespace {

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;  // x86-64 only (Load() finds nothing elsewhere)
}

uint64_t LoadBe64(const uint8_t* p) { return __builtin_bswap64(LoadLe64(p)); }

void StoreBe64(uint8_t* p, uint64_t v) {
  v = __builtin_bswap64(v);
  memcpy(p, &v, 8);
}

// E(K, J0) for a 12-byte nonce, J0 = nonce ‖ 0x00000001. Nonces of one cipher direction differ
// only in their counter and come in order, so a miss computes the next kEk0Batch in one
// pipelined AES pass, which costs about what two single blocks do.
const uint8_t* Ek0For(SmallGcm* g, const uint8_t* nonce) {
  uint64_t counter = LoadLe64(nonce + 4);
  if (g->ek0Count > 0 && memcmp(g->ek0Prefix, nonce, 4) == 0 && counter >= g->ek0First &&
      counter - g->ek0First < static_cast<uint64_t>(g->ek0Count)) {
    return g->ek0[counter - g->ek0First];
  }
  alignas(16) uint8_t j0[kEk0Batch][16];
  for (int i = 0; i < kEk0Batch; i++) {
    memcpy(j0[i], nonce, 4);
    uint64_t c = counter + static_cast<uint64_t>(i);
    memcpy(j0[i] + 4, &c, 8);
    j0[i][12] = 0;
    j0[i][13] = 0;
    j0[i][14] = 0;
    j0[i][15] = 1;
  }
  g->ecb(&j0[0][0], &g->ek0[0][0], sizeof j0, &g->key, 1);
  memcpy(g->ek0Prefix, nonce, 4);
  g->ek0First = counter;
  g->ek0Count = kEk0Batch;
  return g->ek0[0];
}

}  // namespace

SmallGcm* SmallGcmNew(const uint8_t* key) {
  const Api& a = TheApi();
  if (!a.ok) return nullptr;
  auto* g = new SmallGcm();
  if (a.setKey(key, 256, &g->key) != 0 ||
      (g->gcm = a.gcmNew(&g->key, a.encrypt)) == nullptr) {
    OPENSSL_cleanse(&g->key, sizeof g->key);
    delete g;
    return nullptr;
  }
  g->ghash = a.ghash;
  g->ecb = a.ecb;
  g->macRecord = a.macRecord;
  if (a.directMac) {
    // H = E(K, 0^128), in host order as GCM128's own set-up passes it.
    alignas(16) uint8_t h[16] = {};
    a.encrypt(h, h, &g->key);
    uint64_t hw[2] = {LoadBe64(h), LoadBe64(h + 8)};
    a.ghashInit(g->htable, hw);
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(hw, sizeof hw);
  }
  return g;
}

void SmallGcmFree(SmallGcm* g) {
  if (g == nullptr) return;
  TheApi().gcmRelease(g->gcm);  // cleanses the context
  OPENSSL_cleanse(&g->key, sizeof g->key);
  OPENSSL_cleanse(g->htable, sizeof g->htable);
  OPENSSL_cleanse(g->ek0, sizeof g->ek0);
  delete g;
}

bool SmallGcmSeal(SmallGcm* g, const uint8_t* nonce, const uint8_t* aad, size_t aadLen,
                  const uint8_t* in, uint8_t* out, size_t len, uint8_t* tag) {
  const Api& a = TheApi();
  a.setiv(g->gcm, nonce, 12);
  if (a.aad(g->gcm, aad, aadLen) != 0) return false;
  if (len > 0 && a.encryptCtr32(g->gcm, in, out, len, a.ctr32) != 0) return false;
  a.tag(g->gcm, tag, 16);
  return true;
}

bool SmallGcmMac(SmallGcm* g, const uint8_t* nonce, const uint8_t* a, size_t aLen,
                 const uint8_t* b, size_t bLen, uint8_t* tag) {
  const Api& api = TheApi();
  size_t len = aLen + bLen;
  if (api.directMac && len + 15 + 16 <= kDirectMac) {
    // GMAC in one pass: GHASH over a ‖ b ‖ zero padding ‖ the length block (bits of associated
    // data, then of ciphertext: none), then tag = GHASH ^ E(K, J0). The same arithmetic GCM128
    // does in setiv, aad and tag, without their per-call partial-block steps.
    alignas(16) uint8_t buf[kDirectMac];
    memcpy(buf, a, aLen);
    if (bLen > 0) memcpy(buf + aLen, b, bLen);
    size_t padded = (len + 15) & ~static_cast<size_t>(15);
    memset(buf + len, 0, padded - len);
    StoreBe64(buf + padded, static_cast<uint64_t>(len) * 8);
    StoreBe64(buf + padded + 8, 0);
    alignas(16) uint64_t xi[2] = {0, 0};
    api.ghash(xi, g->htable, buf, padded + 16);
    const uint8_t* ek0 = Ek0For(g, nonce);
    uint8_t* x = reinterpret_cast<uint8_t*>(xi);
    for (int i = 0; i < 16; i++) tag[i] = x[i] ^ ek0[i];
    OPENSSL_cleanse(xi, sizeof xi);
    return true;
  }
  api.setiv(g->gcm, nonce, 12);
  // GCM128 carries a partial block from one AAD call to the next: two calls hash a ‖ b.
  if (api.aad(g->gcm, a, aLen) != 0 || (bLen > 0 && api.aad(g->gcm, b, bLen) != 0)) return false;
  api.tag(g->gcm, tag, 16);
  return true;
}

// Bytes of a record's associated data A (RecordHead).
constexpr size_t kRecordHead = 33;

#if defined(__x86_64__)
namespace {

// PSHUFB masks: kShiftDown + (16 - r) moves the last r bytes of a vector to its start and
// zeroes the rest.
alignas(16) const uint8_t kShiftDown[32] = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};

// The r (1..15) bytes at p as a vector, zero above them, without reading outside [p, p + r)
// when there are at least 16 bytes before p + r (`back`), so no byte past the body is read.
__attribute__((target("ssse3"))) __m128i LoadTail(const uint8_t* p, size_t r, bool back) {
  if (back) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + r - 16));
    __m128i mask = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kShiftDown + 16 - r));
    return _mm_shuffle_epi8(v, mask);
  }
  alignas(16) uint8_t t[16] = {};
  memcpy(t, p, r);
  return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}

// Why the GHASH input is built with whole 16-byte stores from registers: GHASH reads it in
// 16-byte loads right away, and a load that spans several smaller stores still in the store
// buffer (byte-wise header fields, memcpy's overlapping head and tail) cannot be forwarded
// from them and waits for them to reach the cache. A load of exactly one earlier store can.
__attribute__((target("ssse3"))) void MacRecordBlocks(const RecordHead& h, const uint8_t* src,
                                                      uint8_t* dst, size_t n, uint8_t* buf,
                                                      size_t* end) {
  uint64_t w0 = __builtin_bswap32(h.words[0]);
  uint64_t len = __builtin_bswap32(h.words[1]);
  uint64_t w2 = __builtin_bswap32(h.words[2]);
  uint64_t w3 = __builtin_bswap32(h.words[3]);
  // A[0, 16) = channel id ‖ direction ‖ sequence bytes 0..6; A[16, 32) = sequence byte 7 ‖
  // message id ‖ length ‖ request id ‖ the first 3 bytes of the last word; A[32] its last byte.
  auto* out = reinterpret_cast<__m128i*>(buf);
  uint64_t a0 = h.channelId;
  uint64_t a1 = h.direction | (h.sequence << 8);
  uint64_t a2 = (h.sequence >> 56) | (w0 << 8) | (len << 40);
  uint64_t a3 = (len >> 24) | (w2 << 8) | (w3 << 40);
  _mm_store_si128(out++, _mm_set_epi64x(static_cast<int64_t>(a1), static_cast<int64_t>(a0)));
  _mm_store_si128(out++, _mm_set_epi64x(static_cast<int64_t>(a3), static_cast<int64_t>(a2)));
  // Each later block is the last byte of the previous 16 ‖ the next 15 body bytes.
  __m128i prev = _mm_set_epi64x(static_cast<int64_t>((w3 >> 24) << 56), 0);
  size_t k = 0;
  for (; k + 16 <= n; k += 16) {
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k), c);
    _mm_store_si128(out++, _mm_alignr_epi8(c, prev, 15));
    prev = c;
  }
  size_t r = n - k;
  __m128i c = _mm_setzero_si128();
  if (r > 0) {
    c = LoadTail(src + k, r, n >= 16);
    alignas(16) uint8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), c);
    memcpy(dst + k, t, r);
  }
  _mm_store_si128(out++, _mm_alignr_epi8(c, prev, 15));
  // The length block: bits of associated data (all of A ‖ body), then of ciphertext (none).
  uint64_t bits = static_cast<uint64_t>(kRecordHead + n) * 8;
  _mm_store_si128(out++, _mm_set_epi64x(0, static_cast<int64_t>(__builtin_bswap64(bits))));
  *end = reinterpret_cast<uint8_t*>(out) - buf;
}

}  // namespace

#endif  // __x86_64__

bool SmallGcmMacsRecord(const SmallGcm* g, size_t n) {
  return g != nullptr && g->macRecord && kRecordHead + n + 15 + 16 <= kDirectMac;
}

void SmallGcmMacRecord(SmallGcm* g, const uint8_t* nonce, const RecordHead& head,
                       const uint8_t* src, uint8_t* dst, size_t n, uint8_t* tag) {
#if defined(__x86_64__)
  alignas(16) uint8_t buf[kDirectMac];
  size_t end;
  MacRecordBlocks(head, src, dst, n, buf, &end);
  alignas(16) uint64_t xi[2] = {0, 0};
  g->ghash(xi, g->htable, buf, end);
  const uint8_t* ek0 = Ek0For(g, nonce);
  // Whole 16-byte loads and one store: byte loads of what GHASH just stored would each wait.
  __m128i t = _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(xi)),
                            _mm_load_si128(reinterpret_cast<const __m128i*>(ek0)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(tag), t);
  OPENSSL_cleanse(xi, sizeof xi);
#endif  // elsewhere SmallGcmMacsRecord is false (no SmallGcm is made), so this is not called
}

bool SmallGcmOpen(SmallGcm* g, const uint8_t* nonce, const uint8_t* aad, size_t aadLen,
                  const uint8_t* in, uint8_t* out, size_t len, const uint8_t* tag) {
  const Api& a = TheApi();
  a.setiv(g->gcm, nonce, 12);
  if (a.aad(g->gcm, aad, aadLen) != 0) return false;
  if (len > 0 && a.decryptCtr32(g->gcm, in, out, len, a.ctr32) != 0) return false;
  return a.finish(g->gcm, tag, 16) == 0;  // constant-time compare inside
}

}  // namespace sivshm
