// Record protection of mac/aead channels (src/protect/native-record-crypto.ts): the whole
// record step in one call per record. The cipher is created for one channel direction (key,
// channel id, direction), so a call passes only the sequence number, three SOME/IP header words
// and two buffers; the associated data A and the nonce are built here, the sequence bytes are
// written (seal) or checked (open) here, and nothing is allocated on the JS heap. aead is
// AES-256-GCM, mac is GMAC (AES-256-GCM with A ‖ body as associated data and no plaintext;
// docs/protocol.md §4.1). Both go through OpenSSL's GCM128 code with AES-NI (small_gcm.cc)
// when it is available, and through EVP, set up once per direction, otherwise and for the
// bulk of large aead records, where EVP's stitched AES-GCM is the faster one.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <string.h>

#include "common.h"
#include "small_gcm.h"

namespace sivshm {

using v8::BigInt;
using v8::Context;
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
constexpr size_t kSequence = 8;
// A record is body ‖ sequence (u64 LE) ‖ tag.
constexpr size_t kTrailer = kSequence + kTag;
// A = channel id (u64 LE) ‖ direction (u8) ‖ sequence (u64 LE) ‖ the 16 SOME/IP header bytes.
constexpr size_t kAssociated = 33;
// aead bodies up to this size take the GCM128 path when it exists; larger ones go through EVP.
constexpr size_t kSmallBody = 1024;
// A large aead record is copied out of the ring and decrypted this many bytes at a time, so
// the private copy is still in cache when it is decrypted in place.
constexpr size_t kOpenChunk = 16 * 1024;
// Sequence numbers are JS numbers: exact integers up to 2^53 - 1.
constexpr double kMaxSequence = 9007199254740991.0;

enum Mode { kMac = 0, kAesGcm = 1, kChaCha = 2 };
enum OpenResult { kOpened = 0, kWrongSequence = 1, kBadTag = 2 };

// One direction key of one channel. Freed by recordCipherDispose or, if the JS handle is dropped
// without it, by the GC's weak callback.
struct RecordCipher {
  int mode = kMac;
  uint8_t associated[kAssociated] = {};  // channel id and direction set once, the rest per record
  uint8_t nonce[kNonce] = {};            // direction set once, sequence per record
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  SmallGcm* small = nullptr;  // AES-256-GCM and GMAC, when available
  Global<Object> handle;

  ~RecordCipher() {
    EVP_CIPHER_CTX_free(enc);  // also cleanses the key schedule
    EVP_CIPHER_CTX_free(dec);
    SmallGcmFree(small);
  }
};

void OnCollected(const WeakCallbackInfo<RecordCipher>& info) {
  RecordCipher* c = info.GetParameter();
  c->handle.Reset();
  delete c;
}

void PutLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void ThrowCrypto(Isolate* iso, const char* what) {
  ThrowBadArg(iso, std::string("OpenSSL failed: ") + what, 0);
}

// recordCipherCreate(mode: 0 mac | 1 aead | 2 ChaCha20-Poly1305, key: 32 bytes, channelId:
// bigint, direction: 1 c2p | 2 p2c) -> handle. Mode 2 exists so the benchmark can compare the
// two AEADs on equal terms.
void Create(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  int64_t mode, direction;
  if (!ArgInt(a, 0, "mode", 0, 2, &mode)) return;
  uint8_t* key;
  size_t keyLen;
  if (!ArgBytes(a, 1, "key", &key, &keyLen)) return;
  if (keyLen != kKey) return ThrowBadArg(iso, "key must be 32 bytes", 1);
  bool lossless = false;
  uint64_t channelId = a[2]->IsBigInt() ? a[2].As<BigInt>()->Uint64Value(&lossless) : 0;
  if (!lossless) return ThrowBadArg(iso, "channelId must be a bigint of 64 bits", 1);
  if (!ArgInt(a, 3, "direction", 1, 2, &direction)) return;
  auto* c = new RecordCipher();
  c->mode = static_cast<int>(mode);
  PutLe64(c->associated, channelId);
  c->associated[8] = static_cast<uint8_t>(direction);
  c->nonce[0] = static_cast<uint8_t>(direction);
  const EVP_CIPHER* cipher = mode == kChaCha ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
  c->enc = EVP_CIPHER_CTX_new();
  c->dec = EVP_CIPHER_CTX_new();
  bool ok = c->enc != nullptr && c->dec != nullptr &&
            EVP_EncryptInit_ex(c->enc, cipher, nullptr, key, nullptr) == 1 &&
            EVP_DecryptInit_ex(c->dec, cipher, nullptr, key, nullptr) == 1;
  if (ok && mode != kChaCha) c->small = SmallGcmNew(key);
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

// The arguments every record call has: (handle, sequence, w0, w2, w3, in, out), where w0, w2
// and w3 are the SOME/IP header's message id, request id and version/type/code words.
struct RecordCall {
  RecordCipher* cipher;
  uint64_t sequence;
  uint32_t words[3];
  uint8_t* in;
  size_t inLen;
  uint8_t* out;
  size_t outLen;
};

bool ReadCall(const FunctionCallbackInfo<Value>& a, const char* in, const char* out,
              RecordCall* call) {
  Isolate* iso = a.GetIsolate();
  if (!a[0]->IsObject() || a[0].As<Object>()->InternalFieldCount() != 1) {
    ThrowBadArg(iso, "handle must come from recordCipherCreate");
    return false;
  }
  call->cipher =
      static_cast<RecordCipher*>(a[0].As<Object>()->GetAlignedPointerFromInternalField(0));
  if (call->cipher == nullptr) {
    ThrowBadArg(iso, "the record cipher was disposed");
    return false;
  }
  double s = a[1]->IsNumber() ? a[1].As<v8::Number>()->Value() : -1;
  if (!(s >= 1 && s <= kMaxSequence) || s != static_cast<double>(static_cast<uint64_t>(s))) {
    ThrowBadArg(iso, "sequence must be an integer 1..2^53-1", 1);
    return false;
  }
  call->sequence = static_cast<uint64_t>(s);
  // As int32 (JS `| 0`), which stays a small integer in V8 whatever the top bit.
  for (int i = 0; i < 3; i++) {
    if (!a[2 + i]->IsInt32()) {
      ThrowBadArg(iso, "header words must be 32-bit integers", 1);
      return false;
    }
    call->words[i] = static_cast<uint32_t>(a[2 + i].As<v8::Int32>()->Value());
  }
  return ArgBytes(a, 5, in, &call->in, &call->inLen) &&
         ArgBytes(a, 6, out, &call->out, &call->outLen);
}

// Writes the per-record part of A (sequence, header with the length of a `recordLen` payload)
// and of the nonce.
void SetRecord(RecordCipher* c, const RecordCall& call, size_t recordLen) {
  PutLe64(c->associated + 9, call.sequence);
  PutBe32(c->associated + 17, call.words[0]);
  PutBe32(c->associated + 21, static_cast<uint32_t>(8 + recordLen));
  PutBe32(c->associated + 25, call.words[1]);
  PutBe32(c->associated + 29, call.words[2]);
  PutLe64(c->nonce + 4, call.sequence);
}

// GMAC of A ‖ body into tag.
bool Gmac(RecordCipher* c, const uint8_t* body, size_t bodyLen, uint8_t* tag) {
  if (c->small != nullptr && bodyLen <= kSmallBody) {
    // A small record's A ‖ body is hashed from one contiguous copy: GHASH then runs over
    // whole blocks instead of stopping at A's odd 33rd byte and again at the body's end.
    uint8_t joined[kAssociated + kSmallBody];
    memcpy(joined, c->associated, kAssociated);
    if (bodyLen > 0) memcpy(joined + kAssociated, body, bodyLen);
    // (Not cleansed afterwards: a mac body is in clear in the ring anyway.)
    return SmallGcmMac(c->small, c->nonce, joined, kAssociated + bodyLen, nullptr, 0, tag);
  }
  if (c->small != nullptr) {
    return SmallGcmMac(c->small, c->nonce, c->associated, kAssociated, body, bodyLen, tag);
  }
  int n;
  return EVP_EncryptInit_ex(c->enc, nullptr, nullptr, nullptr, c->nonce) == 1 &&
         EVP_EncryptUpdate(c->enc, nullptr, &n, c->associated, kAssociated) == 1 &&
         (bodyLen == 0 ||
          EVP_EncryptUpdate(c->enc, nullptr, &n, body, static_cast<int>(bodyLen)) == 1) &&
         EVP_EncryptFinal_ex(c->enc, tag, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_AEAD_GET_TAG, kTag, tag) == 1;
}

bool AeadSeal(RecordCipher* c, const uint8_t* plain, size_t n, uint8_t* record) {
  if (c->small != nullptr && n <= kSmallBody) {
    return SmallGcmSeal(c->small, c->nonce, c->associated, kAssociated, plain, record, n,
                        record + n + kSequence);
  }
  int len;
  return EVP_EncryptInit_ex(c->enc, nullptr, nullptr, nullptr, c->nonce) == 1 &&
         EVP_EncryptUpdate(c->enc, nullptr, &len, c->associated, kAssociated) == 1 &&
         (n == 0 || EVP_EncryptUpdate(c->enc, record, &len, plain, static_cast<int>(n)) == 1) &&
         EVP_EncryptFinal_ex(c->enc, record + n, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_AEAD_GET_TAG, kTag, record + n + kSequence) == 1;
}

// recordSeal(handle, sequence, w0, w2, w3, plain, record): writes record = body ‖ sequence ‖
// tag, with record exactly plain + 24 bytes (the ring slot). mac: the body is plain, the tag is
// computed over the private plain before anything is in shared memory; aead: the body is the
// ciphertext.
void Seal(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  if (!ReadCall(a, "plain", "record", &call)) return;
  size_t n = call.inLen;
  if (call.outLen != n + kTrailer) return ThrowBadArg(iso, "record must be plain + 24 bytes", 1);
  if (n > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  RecordCipher* c = call.cipher;
  SetRecord(c, call, call.outLen);
  if (c->mode == kMac) {
    uint8_t tag[kTag];
    if (!Gmac(c, call.in, n, tag)) return ThrowCrypto(iso, "GMAC");
    if (n > 0) memcpy(call.out, call.in, n);
    memcpy(call.out + n + kSequence, tag, kTag);
  } else if (!AeadSeal(c, call.in, n, call.out)) {
    return ThrowCrypto(iso, "AEAD seal");
  }
  PutLe64(call.out + n, call.sequence);
}

// Decrypts the private copy's body in place, copying it out of the ring a chunk at a time.
bool AeadOpenLarge(RecordCipher* c, const uint8_t* ring, uint8_t* out, size_t n) {
  int len;
  if (EVP_DecryptInit_ex(c->dec, nullptr, nullptr, nullptr, c->nonce) != 1 ||
      EVP_DecryptUpdate(c->dec, nullptr, &len, c->associated, kAssociated) != 1) {
    return false;
  }
  for (size_t at = 0; at < n; at += kOpenChunk) {
    size_t chunk = n - at < kOpenChunk ? n - at : kOpenChunk;
    memcpy(out + at, ring + at, chunk);
    if (EVP_DecryptUpdate(c->dec, out + at, &len, out + at, static_cast<int>(chunk)) != 1) {
      return false;
    }
  }
  uint8_t tag[kTag];
  memcpy(tag, out + n + kSequence, kTag);
  return EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_AEAD_SET_TAG, kTag, tag) == 1 &&
         EVP_DecryptFinal_ex(c->dec, out + n, &len) == 1;
}

// recordOpen(handle, expected, w0, w2, w3, record, out) -> 0 opened | 1 the record's sequence is
// not `expected` | 2 the tag does not verify. record is in the ring, which the peer may be
// rewriting: every byte of it is read once, into out (at least as long), and only that private
// copy is checked. Its sequence field first; then the tag over the expected sequence. On 0, out
// holds the plaintext body followed by sequence and tag; on 1 the sequence found is in out after
// the body; on 2 the body in out is zeroed.
void Open(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  if (!ReadCall(a, "record", "out", &call)) return;
  size_t length = call.inLen;
  if (length < kTrailer) return ThrowBadArg(iso, "record is shorter than 24 bytes", 1);
  if (call.outLen < length) return ThrowBadArg(iso, "out is shorter than the record", 1);
  size_t n = length - kTrailer;
  if (n > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  RecordCipher* c = call.cipher;
  uint8_t* out = call.out;
  memcpy(out + n, call.in + n, kTrailer);
  if (GetLe64(out + n) != call.sequence) return a.GetReturnValue().Set(kWrongSequence);
  SetRecord(c, call, length);
  bool ok;
  if (c->mode == kMac) {
    if (n > 0) memcpy(out, call.in, n);
    uint8_t tag[kTag];
    ok = Gmac(c, out, n, tag) && CRYPTO_memcmp(tag, out + n + kSequence, kTag) == 0;
    OPENSSL_cleanse(tag, kTag);
    return a.GetReturnValue().Set(ok ? kOpened : kBadTag);
  }
  if (c->small != nullptr && n <= kSmallBody) {
    if (n > 0) memcpy(out, call.in, n);
    ok = SmallGcmOpen(c->small, c->nonce, c->associated, kAssociated, out, out, n,
                      out + n + kSequence);
  } else {
    ok = AeadOpenLarge(c, call.in, out, n);
  }
  if (!ok && n > 0) OPENSSL_cleanse(out, n);
  a.GetReturnValue().Set(ok ? kOpened : kBadTag);
}

}  // namespace

void InitRecordCrypto(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "recordCipherCreate", Create, none);
  SetMethod(ctx, exports, "recordCipherDispose", Dispose, none);
  SetMethod(ctx, exports, "recordSeal", Seal, none);
  SetMethod(ctx, exports, "recordOpen", Open, none);
}

}  // namespace sivshm
