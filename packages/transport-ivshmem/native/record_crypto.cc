// Record protection of mac/aead channels (src/protect/native-record-crypto.ts): AES-256-GCM
// and HMAC-SHA256 through the OpenSSL that Node itself is linked with, with the key schedule
// set up once per channel direction. Per record nothing is allocated on the JS heap and the
// cipher writes straight into the caller's buffers (a ring slot, a private plaintext buffer),
// which is what node:crypto cannot do (a cipher object and a result Buffer per record).
// The SHA-256 block API is deprecated in OpenSSL 3 in favour of EVP_MAC, whose per-record
// context copy allocates and costs more than the 64 B record it protects; HMAC is built here
// from two precomputed SHA256_CTX states (RFC 2104), copied by value per record.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string.h>

#include "common.h"
#include "small_gcm.h"

namespace sivshm {

using v8::Context;
using v8::External;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::ObjectTemplate;
using v8::Value;
using v8::WeakCallbackInfo;
using v8::WeakCallbackType;

namespace {

constexpr size_t kKey = 32;
constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;
// Bodies up to this size take the GCM128 path when it exists (small_gcm.cc); larger ones go
// through EVP, whose stitched AES-GCM is the faster one once the cipher work dominates.
constexpr size_t kSmallBody = 1024;

// One direction key, in one of two modes. Freed by recordCipherDispose or, if the JS handle is
// dropped without it, by the GC's weak callback.
struct RecordCipher {
  int mode = 0;  // 0 mac, 1 aead
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  SmallGcm* small = nullptr;  // AES-GCM only, when available
  // HMAC-SHA256 after absorbing key ^ ipad and key ^ opad (one block each).
  SHA256_CTX inner;
  SHA256_CTX outer;
  Global<Object> handle;

  ~RecordCipher() {
    EVP_CIPHER_CTX_free(enc);  // also cleanses the key schedule
    EVP_CIPHER_CTX_free(dec);
    SmallGcmFree(small);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
  }
};

void OnCollected(const WeakCallbackInfo<RecordCipher>& info) {
  RecordCipher* c = info.GetParameter();
  c->handle.Reset();
  delete c;
}

// The cipher behind a handle, or nullptr (after throwing) when it is not one or is disposed.
RecordCipher* Unwrap(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  if (!a[0]->IsObject() || a[0].As<Object>()->InternalFieldCount() != 1) {
    ThrowBadArg(iso, "handle must come from recordCipherCreate");
    return nullptr;
  }
  auto* c = static_cast<RecordCipher*>(a[0].As<Object>()->GetAlignedPointerFromInternalField(0));
  if (c == nullptr) ThrowBadArg(iso, "the record cipher was disposed");
  return c;
}

bool Exact(const FunctionCallbackInfo<Value>& a, int i, const char* name, size_t want,
           uint8_t** p) {
  size_t len;
  if (!ArgBytes(a, i, name, p, &len)) return false;
  if (len != want) {
    ThrowBadArg(a.GetIsolate(), std::string(name) + " must be " + std::to_string(want) + " bytes", 1);
    return false;
  }
  return true;
}

void ThrowCrypto(Isolate* iso, const char* what) {
  ThrowBadArg(iso, std::string("OpenSSL failed: ") + what, 0);
}

// recordCipherCreate(mode: 0 mac | 1 aead | 2 ChaCha20-Poly1305, key: 32 bytes) -> handle.
// aead is AES-256-GCM; mode 2 exists so the benchmark can compare the two AEADs on equal terms.
void Create(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int64_t mode;
  if (!ArgInt(a, 0, "mode", 0, 2, &mode)) return;
  uint8_t* key;
  size_t keyLen;
  if (!ArgBytes(a, 1, "key", &key, &keyLen)) return;
  if (keyLen != kKey) return ThrowBadArg(iso, "key must be 32 bytes", 1);
  auto* c = new RecordCipher();
  c->mode = mode == 0 ? 0 : 1;
  bool ok;
  if (mode != 0) {
    const EVP_CIPHER* aead = mode == 1 ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    ok = c->enc != nullptr && c->dec != nullptr &&
         EVP_EncryptInit_ex(c->enc, aead, nullptr, key, nullptr) == 1 &&
         EVP_DecryptInit_ex(c->dec, aead, nullptr, key, nullptr) == 1;
    if (ok && mode == 1) c->small = SmallGcmNew(key);
  } else {
    // A 32-byte key is shorter than the 64-byte block: it is zero-padded, never hashed.
    uint8_t ipad[64], opad[64];
    memset(ipad, 0x36, sizeof ipad);
    memset(opad, 0x5c, sizeof opad);
    for (size_t i = 0; i < kKey; i++) {
      ipad[i] ^= key[i];
      opad[i] ^= key[i];
    }
    ok = SHA256_Init(&c->inner) == 1 && SHA256_Update(&c->inner, ipad, sizeof ipad) == 1 &&
         SHA256_Init(&c->outer) == 1 && SHA256_Update(&c->outer, opad, sizeof opad) == 1;
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
  }
  if (!ok) {
    delete c;
    return ThrowCrypto(iso, "cannot set up the record cipher");
  }
  Local<ObjectTemplate> t = ObjectTemplate::New(iso);
  t->SetInternalFieldCount(1);
  Local<Object> handle;
  if (!t->NewInstance(ctx).ToLocal(&handle)) {
    delete c;
    return;
  }
  handle->SetAlignedPointerInInternalField(0, c);
  c->handle.Reset(iso, handle);
  c->handle.SetWeak(c, OnCollected, WeakCallbackType::kParameter);
  a.GetReturnValue().Set(handle);
}

// recordCipherDispose(handle): frees the contexts (and with them the key) now.
void Dispose(const FunctionCallbackInfo<Value>& a) {
  if (!a[0]->IsObject() || a[0].As<Object>()->InternalFieldCount() != 1) return;
  Local<Object> h = a[0].As<Object>();
  auto* c = static_cast<RecordCipher*>(h->GetAlignedPointerFromInternalField(0));
  if (c == nullptr) return;
  h->SetAlignedPointerInInternalField(0, nullptr);
  c->handle.Reset();
  delete c;
}

// A record is body ‖ sequence (8 bytes, written by the caller) ‖ tag (16 bytes).
constexpr size_t kTrailer = 8 + kTag;

// recordSeal(handle, nonce, aad, plain, record): AES-256-GCM of plain into record's body, tag
// after the sequence bytes. record is plain's length + 24.
void Seal(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return;
  if (c->mode != 1) return ThrowBadArg(iso, "recordSeal needs an aead cipher");
  uint8_t *nonce, *aad, *plain, *record;
  size_t aadLen, plainLen, recordLen;
  if (!Exact(a, 1, "nonce", kNonce, &nonce)) return;
  if (!ArgBytes(a, 2, "aad", &aad, &aadLen)) return;
  if (!ArgBytes(a, 3, "plain", &plain, &plainLen)) return;
  if (!ArgBytes(a, 4, "record", &record, &recordLen)) return;
  if (recordLen != plainLen + kTrailer) return ThrowBadArg(iso, "record must be plain + 24 bytes", 1);
  if (plainLen > INT32_MAX || aadLen > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  if (c->small != nullptr && plainLen <= kSmallBody) {
    if (!SmallGcmSeal(c->small, nonce, aad, aadLen, plain, record, plainLen,
                      record + plainLen + 8)) {
      return ThrowCrypto(iso, "AES-256-GCM seal");
    }
    return;
  }
  int n;
  if (EVP_EncryptInit_ex(c->enc, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(c->enc, nullptr, &n, aad, static_cast<int>(aadLen)) != 1 ||
      (plainLen > 0 &&
       EVP_EncryptUpdate(c->enc, record, &n, plain, static_cast<int>(plainLen)) != 1) ||
      EVP_EncryptFinal_ex(c->enc, record + plainLen, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_AEAD_GET_TAG, kTag, record + plainLen + 8) != 1) {
    return ThrowCrypto(iso, "AES-256-GCM seal");
  }
}

// recordOpen(handle, nonce, aad, record, scratch, out) -> true when the tag verifies. record
// (in the ring, which the peer may be rewriting) is first copied into scratch with one memcpy;
// only the copy is decrypted and checked. out (at least the body's length) then holds the
// plaintext, else it is zeroed.
void Open(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return;
  if (c->mode != 1) return ThrowBadArg(iso, "recordOpen needs an aead cipher");
  uint8_t *nonce, *aad, *ring, *record, *out;
  size_t aadLen, recordLen, scratchLen, outLen;
  if (!Exact(a, 1, "nonce", kNonce, &nonce)) return;
  if (!ArgBytes(a, 2, "aad", &aad, &aadLen)) return;
  if (!ArgBytes(a, 3, "record", &ring, &recordLen)) return;
  if (!ArgBytes(a, 4, "scratch", &record, &scratchLen)) return;
  if (!ArgBytes(a, 5, "out", &out, &outLen)) return;
  if (recordLen < kTrailer) return ThrowBadArg(iso, "record is shorter than 24 bytes", 1);
  if (scratchLen < recordLen) return ThrowBadArg(iso, "scratch is shorter than the record", 1);
  size_t bodyLen = recordLen - kTrailer;
  if (outLen < bodyLen) return ThrowBadArg(iso, "out is shorter than the record's body", 1);
  if (bodyLen > INT32_MAX || aadLen > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  memcpy(record, ring, recordLen);
  if (c->small != nullptr && bodyLen <= kSmallBody) {
    bool ok = SmallGcmOpen(c->small, nonce, aad, aadLen, record, out, bodyLen,
                           record + bodyLen + 8);
    if (!ok && bodyLen > 0) OPENSSL_cleanse(out, bodyLen);
    a.GetReturnValue().Set(ok);
    return;
  }
  int n;
  uint8_t tag[kTag];
  memcpy(tag, record + bodyLen + 8, kTag);
  if (EVP_DecryptInit_ex(c->dec, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_DecryptUpdate(c->dec, nullptr, &n, aad, static_cast<int>(aadLen)) != 1 ||
      (bodyLen > 0 &&
       EVP_DecryptUpdate(c->dec, out, &n, record, static_cast<int>(bodyLen)) != 1) ||
      EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_AEAD_SET_TAG, kTag, tag) != 1) {
    return ThrowCrypto(iso, "AES-256-GCM open");
  }
  bool ok = EVP_DecryptFinal_ex(c->dec, out + bodyLen, &n) == 1;
  if (!ok && bodyLen > 0) OPENSSL_cleanse(out, bodyLen);
  a.GetReturnValue().Set(ok);
}

// HMAC-SHA256(key, aad ‖ body) into full (32 bytes).
bool HmacInto(RecordCipher* c, const uint8_t* aad, size_t aadLen, const uint8_t* body,
              size_t bodyLen, uint8_t* full) {
  SHA256_CTX h = c->inner;
  uint8_t inner[SHA256_DIGEST_LENGTH];
  bool ok = SHA256_Update(&h, aad, aadLen) == 1 &&
            (bodyLen == 0 || SHA256_Update(&h, body, bodyLen) == 1) &&
            SHA256_Final(inner, &h) == 1;
  h = c->outer;
  ok = ok && SHA256_Update(&h, inner, sizeof inner) == 1 && SHA256_Final(full, &h) == 1;
  OPENSSL_cleanse(&h, sizeof h);
  OPENSSL_cleanse(inner, sizeof inner);
  return ok;
}

// Reads handle, aad and record of a mac call; the record's length is checked against `plus`.
RecordCipher* MacArgs(const FunctionCallbackInfo<Value>& a, uint8_t** aad, size_t* aadLen) {
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return nullptr;
  if (c->mode != 0) {
    ThrowBadArg(a.GetIsolate(), "a mac call needs a mac cipher");
    return nullptr;
  }
  if (!ArgBytes(a, 1, "aad", aad, aadLen)) return nullptr;
  return c;
}

// recordMacSeal(handle, aad, plain, record): copies plain into record's body and writes the
// tag (the first 16 bytes of the HMAC over aad ‖ plain) after the sequence bytes.
void MacSeal(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  uint8_t *aad, *plain, *record;
  size_t aadLen, plainLen, recordLen;
  RecordCipher* c = MacArgs(a, &aad, &aadLen);
  if (c == nullptr) return;
  if (!ArgBytes(a, 2, "plain", &plain, &plainLen)) return;
  if (!ArgBytes(a, 3, "record", &record, &recordLen)) return;
  if (recordLen != plainLen + kTrailer) return ThrowBadArg(iso, "record must be plain + 24 bytes", 1);
  uint8_t full[SHA256_DIGEST_LENGTH];
  // Over the private plaintext, before it is in shared memory where a peer could change it.
  if (!HmacInto(c, aad, aadLen, plain, plainLen, full)) return ThrowCrypto(iso, "HMAC-SHA256");
  if (plainLen > 0) memcpy(record, plain, plainLen);
  memcpy(record + plainLen + 8, full, kTag);
  OPENSSL_cleanse(full, sizeof full);
}

// recordMacCheck(handle, aad, record, scratch) -> true when the tag matches (CRYPTO_memcmp). Like
// recordOpen, it copies record into scratch first and checks only the copy, whose body the
// caller then delivers.
void MacCheck(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  uint8_t *aad, *ring, *record;
  size_t aadLen, recordLen, scratchLen;
  RecordCipher* c = MacArgs(a, &aad, &aadLen);
  if (c == nullptr) return;
  if (!ArgBytes(a, 2, "record", &ring, &recordLen)) return;
  if (!ArgBytes(a, 3, "scratch", &record, &scratchLen)) return;
  if (recordLen < kTrailer) return ThrowBadArg(iso, "record is shorter than 24 bytes", 1);
  if (scratchLen < recordLen) return ThrowBadArg(iso, "scratch is shorter than the record", 1);
  memcpy(record, ring, recordLen);
  size_t bodyLen = recordLen - kTrailer;
  uint8_t full[SHA256_DIGEST_LENGTH];
  if (!HmacInto(c, aad, aadLen, record, bodyLen, full)) return ThrowCrypto(iso, "HMAC-SHA256");
  bool ok = CRYPTO_memcmp(full, record + bodyLen + 8, kTag) == 0;
  OPENSSL_cleanse(full, sizeof full);
  a.GetReturnValue().Set(ok);
}

}  // namespace

void InitRecordCrypto(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "recordCipherCreate", Create, none);
  SetMethod(ctx, exports, "recordCipherDispose", Dispose, none);
  SetMethod(ctx, exports, "recordSeal", Seal, none);
  SetMethod(ctx, exports, "recordOpen", Open, none);
  SetMethod(ctx, exports, "recordMacSeal", MacSeal, none);
  SetMethod(ctx, exports, "recordMacCheck", MacCheck, none);
}

}  // namespace sivshm
