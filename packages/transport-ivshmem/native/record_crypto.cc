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

// One direction key, in one of two modes. Freed by recordCipherDispose or, if the JS handle is
// dropped without it, by the GC's weak callback.
struct RecordCipher {
  int mode = 0;  // 0 mac, 1 aead
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  // HMAC-SHA256 after absorbing key ^ ipad and key ^ opad (one block each).
  SHA256_CTX inner;
  SHA256_CTX outer;
  Global<Object> handle;

  ~RecordCipher() {
    EVP_CIPHER_CTX_free(enc);  // also cleanses the key schedule
    EVP_CIPHER_CTX_free(dec);
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

// recordCipherCreate(mode: 0 mac | 1 aead, key: 32 bytes) -> handle
void Create(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int64_t mode;
  if (!ArgInt(a, 0, "mode", 0, 1, &mode)) return;
  uint8_t* key;
  size_t keyLen;
  if (!ArgBytes(a, 1, "key", &key, &keyLen)) return;
  if (keyLen != kKey) return ThrowBadArg(iso, "key must be 32 bytes", 1);
  auto* c = new RecordCipher();
  c->mode = static_cast<int>(mode);
  bool ok;
  if (mode == 1) {
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    ok = c->enc != nullptr && c->dec != nullptr &&
         EVP_EncryptInit_ex(c->enc, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1 &&
         EVP_DecryptInit_ex(c->dec, EVP_aes_256_gcm(), nullptr, key, nullptr) == 1;
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

// recordSeal(handle, nonce, aad, plain, out, tag): AES-256-GCM; out has plain's length.
void Seal(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return;
  if (c->mode != 1) return ThrowBadArg(iso, "recordSeal needs an aead cipher");
  uint8_t *nonce, *aad, *plain, *out, *tag;
  size_t aadLen, plainLen, outLen;
  if (!Exact(a, 1, "nonce", kNonce, &nonce)) return;
  if (!ArgBytes(a, 2, "aad", &aad, &aadLen)) return;
  if (!ArgBytes(a, 3, "plain", &plain, &plainLen)) return;
  if (!ArgBytes(a, 4, "out", &out, &outLen)) return;
  if (!Exact(a, 5, "tag", kTag, &tag)) return;
  if (outLen != plainLen) return ThrowBadArg(iso, "out must be as long as plain", 1);
  if (plainLen > INT32_MAX || aadLen > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  int n;
  if (EVP_EncryptInit_ex(c->enc, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(c->enc, nullptr, &n, aad, static_cast<int>(aadLen)) != 1 ||
      (plainLen > 0 &&
       EVP_EncryptUpdate(c->enc, out, &n, plain, static_cast<int>(plainLen)) != 1) ||
      EVP_EncryptFinal_ex(c->enc, out + plainLen, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, kTag, tag) != 1) {
    return ThrowCrypto(iso, "AES-256-GCM seal");
  }
}

// recordOpen(handle, nonce, aad, body, tag, out) -> true when the tag verifies. out (body's
// length) is zeroed when it does not.
void Open(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return;
  if (c->mode != 1) return ThrowBadArg(iso, "recordOpen needs an aead cipher");
  uint8_t *nonce, *aad, *body, *tag, *out;
  size_t aadLen, bodyLen, outLen;
  if (!Exact(a, 1, "nonce", kNonce, &nonce)) return;
  if (!ArgBytes(a, 2, "aad", &aad, &aadLen)) return;
  if (!ArgBytes(a, 3, "body", &body, &bodyLen)) return;
  if (!Exact(a, 4, "tag", kTag, &tag)) return;
  if (!ArgBytes(a, 5, "out", &out, &outLen)) return;
  if (outLen != bodyLen) return ThrowBadArg(iso, "out must be as long as body", 1);
  if (bodyLen > INT32_MAX || aadLen > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  int n;
  uint8_t tagCopy[kTag];
  memcpy(tagCopy, tag, kTag);
  if (EVP_DecryptInit_ex(c->dec, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_DecryptUpdate(c->dec, nullptr, &n, aad, static_cast<int>(aadLen)) != 1 ||
      (bodyLen > 0 && EVP_DecryptUpdate(c->dec, out, &n, body, static_cast<int>(bodyLen)) != 1) ||
      EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_GCM_SET_TAG, kTag, tagCopy) != 1) {
    return ThrowCrypto(iso, "AES-256-GCM open");
  }
  bool ok = EVP_DecryptFinal_ex(c->dec, out + bodyLen, &n) == 1;
  if (!ok && bodyLen > 0) OPENSSL_cleanse(out, bodyLen);
  a.GetReturnValue().Set(ok);
}

// recordMac(handle, aad, body, tag): HMAC-SHA256(key, aad ‖ body), first 16 bytes into tag.
void Mac(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = Unwrap(a);
  if (c == nullptr) return;
  if (c->mode != 0) return ThrowBadArg(iso, "recordMac needs a mac cipher");
  uint8_t *aad, *body, *tag;
  size_t aadLen, bodyLen;
  if (!ArgBytes(a, 1, "aad", &aad, &aadLen)) return;
  if (!ArgBytes(a, 2, "body", &body, &bodyLen)) return;
  if (!Exact(a, 3, "tag", kTag, &tag)) return;
  SHA256_CTX h = c->inner;
  uint8_t inner[SHA256_DIGEST_LENGTH], full[SHA256_DIGEST_LENGTH];
  bool ok = SHA256_Update(&h, aad, aadLen) == 1 &&
            (bodyLen == 0 || SHA256_Update(&h, body, bodyLen) == 1) &&
            SHA256_Final(inner, &h) == 1;
  h = c->outer;
  ok = ok && SHA256_Update(&h, inner, sizeof inner) == 1 && SHA256_Final(full, &h) == 1;
  OPENSSL_cleanse(&h, sizeof h);
  if (!ok) return ThrowCrypto(iso, "HMAC-SHA256");
  memcpy(tag, full, kTag);
  OPENSSL_cleanse(inner, sizeof inner);
  OPENSSL_cleanse(full, sizeof full);
}

}  // namespace

void InitRecordCrypto(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "recordCipherCreate", Create, none);
  SetMethod(ctx, exports, "recordCipherDispose", Dispose, none);
  SetMethod(ctx, exports, "recordSeal", Seal, none);
  SetMethod(ctx, exports, "recordOpen", Open, none);
  SetMethod(ctx, exports, "recordMac", Mac, none);
}

}  // namespace sivshm
