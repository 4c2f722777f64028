// AES-256-GCM for small records through OpenSSL's own GCM128 code and AES-NI block functions,
// skipping the EVP layer: for a 64-byte record EVP's per-call bookkeeping (provider dispatch,
// parameter marshalling for the tag) costs several times the cipher itself, and a protected
// round trip pays it four times. Same algorithm, same bytes (the record vectors check both
// paths). The AES-NI entry points are internal to OpenSSL, so they are looked up at run time:
// a Node built without them, or a CPU without AES-NI and PCLMULQDQ, keeps using EVP.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "small_gcm.h"

#include <dlfcn.h>
#include <openssl/aes.h>
#include <openssl/crypto.h>
#include <openssl/modes.h>

namespace sivshm {

namespace {

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
  bool ok = false;
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
#endif
  return a;
}

const Api& TheApi() {
  static const Api api = Load();
  return api;
}

}  // namespace

struct SmallGcm {
  AES_KEY key;  // GCM128 keeps a pointer to it: it lives as long as the context
  GCM128_CONTEXT* gcm = nullptr;
};

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
  return g;
}

void SmallGcmFree(SmallGcm* g) {
  if (g == nullptr) return;
  TheApi().gcmRelease(g->gcm);  // cleanses the context
  OPENSSL_cleanse(&g->key, sizeof g->key);
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
  api.setiv(g->gcm, nonce, 12);
  // GCM128 carries a partial block from one AAD call to the next: two calls hash a ‖ b.
  if (api.aad(g->gcm, a, aLen) != 0 || (bLen > 0 && api.aad(g->gcm, b, bLen) != 0)) return false;
  api.tag(g->gcm, tag, 16);
  return true;
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
