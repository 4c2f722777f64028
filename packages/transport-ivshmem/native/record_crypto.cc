// Record protection of mac/aead channels (src/protect/native-record-crypto.ts): the whole
// record step in one call per record. The cipher is created for one channel direction (key,
// channel id, direction), so a call passes only the sequence number, three SOME/IP header words
// and two buffers; the associated data A and the nonce are built here, the sequence bytes are
// written (seal) or checked (open) here, and nothing is allocated on the JS heap. aead is
// AES-256-GCM, mac is GMAC (AES-256-GCM with A ‖ body as associated data and no plaintext;
// docs/protocol.md §4.1). Both go through OpenSSL's GCM128 code with AES-NI (small_gcm.cc)
// when it is available, and through EVP, set up once per direction, otherwise and for the
// bulk of large aead records, where EVP's stitched AES-GCM is the faster one.
//
// A channel's hot path uses the offset forms (recordSealAt, recordOpenAt): the cipher is bound
// once to its ring's data area and to its private buffer (recordBind), and each record call
// passes integers only. Unwrapping two typed arrays per call (their buffer, offset and length)
// cost more than the GMAC of a 64-byte record (docs/performance.md §5).
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

// Memory a cipher was bound to (recordBind). The cipher holds the backing store (boundStore),
// so the bytes stay allocated as long as it may use them. A window's mapping is the one
// exception to "valid for as long as held": unmapped under a live channel, it becomes an
// inaccessible reservation (mapping.cc), and an access faults exactly as the ring's own
// SharedArrayBuffer views do.
struct BoundBytes {
  uint8_t* base = nullptr;
  size_t len = 0;
};

enum Binding { kRing = 0, kPrivate = 1, kCallBlock = 2 };

// The call block: the arguments of recordSealAt / recordOpenAt, written by JS into a bound
// Uint32Array instead of passed one by one (each passed argument costs a type check and an
// unwrap through the V8 API, several times the work of reading a word).
enum CallWord {
  kSequenceLow = 0,  // sequence (seal) or expected sequence (open), low 32 bits
  kSequenceHigh,     // its high 21 bits
  kWord0,            // SOME/IP message id
  kWord2,            // request id
  kWord3,            // protocol version, interface version, message type, return code
  kOffset,           // seal: plaintext offset in the private buffer; open: record offset in the ring
  kLength,           // seal: plaintext length; open: record length
  kRecordOffset,     // seal: record offset in the ring
  kCallWords
};

// One direction key of one channel. Freed by recordCipherDispose or, if the JS handle is dropped
// without it, by the GC's weak callback. What a small mac record reads comes first, in one
// cache line: between two records of a round trip the process runs JavaScript that evicts it,
// and fields spread over several lines each cost a miss.
struct alignas(64) RecordCipher {
  SmallGcm* small = nullptr;  // AES-256-GCM and GMAC, when available
  BoundBytes bound[3];        // kRing: the data area records are sealed into or opened from;
                              // kPrivate: the plaintext side (sealed from, opened into);
                              // kCallBlock: the offset forms' arguments
  int mode = kMac;
  uint8_t direction = 0;
  uint64_t channelId = 0;
  uint8_t nonce[kNonce] = {};            // direction set once, sequence per record
  uint8_t associated[kAssociated] = {};  // channel id and direction set once, the rest per record
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;
  std::shared_ptr<v8::BackingStore> boundStore[3];  // what keeps each bound[i] allocated
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

// Byte orders spelled with the compiler's byte-order macros: one store each, not a byte loop.
void PutLe64(uint8_t* p, uint64_t v) {
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
}

uint64_t GetLe64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

void PutBe32(uint8_t* p, uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  memcpy(p, &v, 4);
}

// The crypto library failed where it should not (no input of ours makes it fail): its own
// code, so the caller can tell it from a refused argument.
void ThrowCrypto(Isolate* iso, const char* what) {
  Local<Context> ctx = iso->GetCurrentContext();
  std::string msg = std::string("OpenSSL failed: ") + what;
  Local<Object> e = v8::Exception::Error(Str(iso, msg.c_str())).As<Object>();
  e->Set(ctx, Str(iso, "code"), Str(iso, "ERR_CRYPTO")).Check();
  iso->ThrowException(e);
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
  c->channelId = channelId;
  c->direction = static_cast<uint8_t>(direction);
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
  // The handle, from the constructor recordCipherCreate was registered with.
  Local<Object> handle;
  if (!a.Data().As<v8::Function>()->NewInstance(ctx).ToLocal(&handle)) {
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

// What every record call starts with: (handle, sequence, w0, w2, w3, ...), where w0, w2 and w3
// are the SOME/IP header's message id, request id and version/type/code words.
struct RecordCall {
  RecordCipher* cipher;
  uint64_t sequence;
  uint32_t words[3];
};

RecordCipher* CipherOf(Isolate* iso, Local<Value> v) {
  if (!v->IsObject() || v.As<Object>()->InternalFieldCount() != 1) {
    ThrowBadArg(iso, "handle must come from recordCipherCreate");
    return nullptr;
  }
  auto* c = static_cast<RecordCipher*>(v.As<Object>()->GetAlignedPointerFromInternalField(0));
  if (c == nullptr) ThrowBadArg(iso, "the record cipher was disposed");
  return c;
}

bool ReadHead(const FunctionCallbackInfo<Value>& a, RecordCall* call) {
  Isolate* iso = a.GetIsolate();
  call->cipher = CipherOf(iso, a[0]);
  if (call->cipher == nullptr) return false;
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
  return true;
}

// The bound range [at, at + len) of `which`, or nullptr (thrown) when nothing is bound or the
// range is not inside the bound bytes.
uint8_t* BoundRange(Isolate* iso, RecordCipher* c, Binding which, size_t at, size_t len) {
  const BoundBytes& b = c->bound[which];
  // An empty range needs no memory (an empty message before any buffer was bound).
  static uint8_t none;
  if (len == 0 && at <= b.len) return b.base != nullptr ? b.base + at : &none;
  if (b.base == nullptr || at > b.len || len > b.len - at) {
    ThrowBadArg(iso, std::string(which == kRing ? "ring" : "private buffer") +
                         " range is outside the bound bytes", 1);
    return nullptr;
  }
  return b.base + at;
}

// recordBind(handle, which: 0 ring | 1 private | 2 call block, bytes): the memory the offset
// forms address from now on (a private buffer is bound again when it grows). The call block is
// a Uint32Array of kCallWords words.
void Bind(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCipher* c = CipherOf(iso, a[0]);
  if (c == nullptr) return;
  int64_t which;
  if (!ArgInt(a, 1, "which", kRing, kCallBlock, &which)) return;
  if (!a[2]->IsArrayBufferView()) return ThrowBadArg(iso, "bytes must be a Uint8Array");
  Local<v8::ArrayBufferView> view = a[2].As<v8::ArrayBufferView>();
  size_t len = view->ByteLength();
  if (which == kCallBlock &&
      (!view->IsUint32Array() || len != kCallWords * sizeof(uint32_t))) {
    return ThrowBadArg(iso, "the call block must be a Uint32Array of 8 words");
  }
  std::shared_ptr<v8::BackingStore> store = view->Buffer()->GetBackingStore();
  if (store->Data() == nullptr && len > 0) {
    return ThrowBadArg(iso, "bytes are detached");
  }
  BoundBytes& b = c->bound[which];
  b.base = static_cast<uint8_t*>(store->Data()) + view->ByteOffset();
  b.len = len;
  c->boundStore[which] = std::move(store);
}

// The head of the call block of cipher `c`; false (thrown) when no block is bound or the
// sequence is not 1..2^53-1.
bool ReadBlock(Isolate* iso, RecordCipher* c, RecordCall* call, uint32_t w[kCallWords]) {
  call->cipher = c;
  const BoundBytes& block = c->bound[kCallBlock];
  if (block.base == nullptr) {
    ThrowBadArg(iso, "no call block is bound to the record cipher");
    return false;
  }
  // Word by word, as JS just wrote them: one wide copy of words still in the store buffer cannot
  // be forwarded from it and waits for them to reach the cache (a store-forwarding stall).
  const volatile uint32_t* words = reinterpret_cast<const volatile uint32_t*>(block.base);
  for (int i = 0; i < kCallWords; i++) w[i] = words[i];
  // From the words as loaded, not from w: one 8-byte load of the two 4-byte stores just made to
  // w would stall the same way.
  uint64_t s = (static_cast<uint64_t>(words[kSequenceHigh]) << 32) | words[kSequenceLow];
  if (s < 1 || s > static_cast<uint64_t>(kMaxSequence)) {
    ThrowBadArg(iso, "sequence must be an integer 1..2^53-1", 1);
    return false;
  }
  call->sequence = s;
  call->words[0] = w[kWord0];
  call->words[1] = w[kWord2];
  call->words[2] = w[kWord3];
  return true;
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

// A of the record `call` describes (payload of `recordLen` bytes), as SmallGcmMacRecord takes it.
RecordHead HeadOf(const RecordCipher* c, const RecordCall& call, size_t recordLen) {
  return RecordHead{c->channelId,
                    c->direction,
                    call.sequence,
                    {call.words[0], static_cast<uint32_t>(8 + recordLen), call.words[1],
                     call.words[2]}};
}

// GMAC of A ‖ body into tag.
bool Gmac(RecordCipher* c, const uint8_t* body, size_t bodyLen, uint8_t* tag) {
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

// Seals plain[0, n) into record[0, n + 24) = body ‖ sequence ‖ tag. mac: the tag is computed
// over the private plain before anything is in shared memory; aead: the body is the ciphertext.
void SealRecord(Isolate* iso, const RecordCall& call, const uint8_t* plain, size_t n,
                uint8_t* record) {
  if (n > INT32_MAX) return ThrowBadArg(iso, "record too long", 1);
  RecordCipher* c = call.cipher;
  if (c->mode == kMac) {
    uint8_t tag[kTag];
    if (c->small != nullptr && SmallGcmMacsRecord(c->small, n)) {
      // One pass: each plaintext byte is loaded once, hashed and stored into the record. A is
      // built in registers from the call (HeadOf): only the nonce's sequence is stored.
      PutLe64(c->nonce + 4, call.sequence);
      SmallGcmMacRecord(c->small, c->nonce, HeadOf(c, call, n + kTrailer), plain, record, n, tag);
    } else {
      SetRecord(c, call, n + kTrailer);
      if (!Gmac(c, plain, n, tag)) return ThrowCrypto(iso, "GMAC");
      if (n > 0) memcpy(record, plain, n);
    }
    memcpy(record + n + kSequence, tag, kTag);
  } else {
    SetRecord(c, call, n + kTrailer);
    if (!AeadSeal(c, plain, n, record)) return ThrowCrypto(iso, "AEAD seal");
  }
  PutLe64(record + n, call.sequence);
}

// recordSeal(handle, sequence, w0, w2, w3, plain, record): SealRecord with record exactly
// plain + 24 bytes (the ring slot).
void Seal(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  uint8_t *plain, *record;
  size_t n, recordLen;
  if (!ReadHead(a, &call) || !ArgBytes(a, 5, "plain", &plain, &n) ||
      !ArgBytes(a, 6, "record", &record, &recordLen)) {
    return;
  }
  if (recordLen != n + kTrailer) return ThrowBadArg(iso, "record must be plain + 24 bytes", 1);
  SealRecord(iso, call, plain, n, record);
}

// SealRecord from the bound private buffer into the bound ring, with the sequence, header words,
// plaintext offset and length and record offset in the call block.
void SealAtWith(const FunctionCallbackInfo<Value>& a, RecordCipher* c) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  uint32_t block[kCallWords];
  if (!ReadBlock(iso, c, &call, block)) return;
  size_t n = block[kLength];
  uint8_t* plain = BoundRange(iso, c, kPrivate, block[kOffset], n);
  if (plain == nullptr) return;
  uint8_t* record = BoundRange(iso, c, kRing, block[kRecordOffset], n + kTrailer);
  if (record == nullptr) return;
  SealRecord(iso, call, plain, n, record);
}

// recordSealAt(handle): SealAtWith the handle's cipher.
void SealAt(const FunctionCallbackInfo<Value>& a) {
  RecordCipher* c = CipherOf(a.GetIsolate(), a[0]);
  if (c != nullptr) SealAtWith(a, c);
}

// The cipher of a handle method's receiver. V8 has already checked that the receiver is a
// handle (the methods' signature), so only a disposed one is left to refuse: the record path
// makes no calls into V8 to type-check an argument (IsObject, InternalFieldCount).
RecordCipher* CipherOfThis(const FunctionCallbackInfo<Value>& a) {
  auto* c = static_cast<RecordCipher*>(a.This()->GetAlignedPointerFromInternalField(0));
  if (c == nullptr) ThrowBadArg(a.GetIsolate(), "the record cipher was disposed");
  return c;
}

// handle.sealAt(): recordSealAt(handle) as a method of the handle.
void SealAtMethod(const FunctionCallbackInfo<Value>& a) {
  RecordCipher* c = CipherOfThis(a);
  if (c != nullptr) SealAtWith(a, c);
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

// Opens the `length`-byte record at `ring` (shared memory the peer may be rewriting) into
// `out` (at least as long): every byte of it is read once, into out, and only that private
// copy is checked. Its sequence field first; then the tag over the expected sequence. Returns
// 0 opened (out holds the plaintext body followed by sequence and tag), 1 the sequence is not
// the expected one (the one found is in out after the body), 2 the tag does not verify (the
// body in out is zeroed).
int OpenRecord(const RecordCall& call, const uint8_t* ring, size_t length, uint8_t* out) {
  size_t n = length - kTrailer;
  RecordCipher* c = call.cipher;
  // Through a local copy: the checks then load what was just stored whole, not a field of
  // memcpy's overlapping stores into out (which cannot be forwarded and stalls).
  uint8_t trailer[kTrailer];
  memcpy(trailer, ring + n, kTrailer);
  memcpy(out + n, trailer, kTrailer);
  if (GetLe64(trailer) != call.sequence) return kWrongSequence;
  bool ok;
  if (c->mode == kMac) {
    uint8_t tag[kTag];
    if (c->small != nullptr && SmallGcmMacsRecord(c->small, n)) {
      // One pass: each body byte is loaded from the ring once, stored into out and hashed
      // (A from the call, in registers, as when sealing).
      PutLe64(c->nonce + 4, call.sequence);
      SmallGcmMacRecord(c->small, c->nonce, HeadOf(c, call, length), ring, out, n, tag);
      ok = true;
    } else {
      SetRecord(c, call, length);
      if (n > 0) memcpy(out, ring, n);
      ok = Gmac(c, out, n, tag);
    }
    ok = ok && CRYPTO_memcmp(tag, trailer + kSequence, kTag) == 0;
    OPENSSL_cleanse(tag, kTag);
    return ok ? kOpened : kBadTag;
  }
  SetRecord(c, call, length);
  if (c->small != nullptr && n <= kSmallBody) {
    if (n > 0) memcpy(out, ring, n);
    ok = SmallGcmOpen(c->small, c->nonce, c->associated, kAssociated, out, out, n,
                      trailer + kSequence);
  } else {
    ok = AeadOpenLarge(c, ring, out, n);
  }
  if (!ok && n > 0) OPENSSL_cleanse(out, n);
  return ok ? kOpened : kBadTag;
}

bool CheckOpenLength(Isolate* iso, size_t length) {
  if (length < kTrailer) {
    ThrowBadArg(iso, "record is shorter than 24 bytes", 1);
    return false;
  }
  if (length - kTrailer > INT32_MAX) {
    ThrowBadArg(iso, "record too long", 1);
    return false;
  }
  return true;
}

// recordOpen(handle, expected, w0, w2, w3, record, out) -> OpenRecord's result.
void Open(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  uint8_t *record, *out;
  size_t length, outLen;
  if (!ReadHead(a, &call) || !ArgBytes(a, 5, "record", &record, &length) ||
      !ArgBytes(a, 6, "out", &out, &outLen) || !CheckOpenLength(iso, length)) {
    return;
  }
  if (outLen < length) return ThrowBadArg(iso, "out is shorter than the record", 1);
  a.GetReturnValue().Set(OpenRecord(call, record, length, out));
}

// OpenRecord from the bound ring into the start of the bound private buffer, with the expected
// sequence, header words, record offset and length in the call block.
void OpenAtWith(const FunctionCallbackInfo<Value>& a, RecordCipher* c) {
  Isolate* iso = a.GetIsolate();
  RecordCall call;
  uint32_t block[kCallWords];
  if (!ReadBlock(iso, c, &call, block)) return;
  size_t length = block[kLength];
  if (!CheckOpenLength(iso, length)) return;
  const uint8_t* record = BoundRange(iso, c, kRing, block[kOffset], length);
  if (record == nullptr) return;
  uint8_t* out = BoundRange(iso, c, kPrivate, 0, length);
  if (out == nullptr) return;
  a.GetReturnValue().Set(OpenRecord(call, record, length, out));
}

// recordOpenAt(handle) -> OpenAtWith the handle's cipher.
void OpenAt(const FunctionCallbackInfo<Value>& a) {
  RecordCipher* c = CipherOf(a.GetIsolate(), a[0]);
  if (c != nullptr) OpenAtWith(a, c);
}

// handle.openAt(): recordOpenAt(handle) as a method of the handle.
void OpenAtMethod(const FunctionCallbackInfo<Value>& a) {
  RecordCipher* c = CipherOfThis(a);
  if (c != nullptr) OpenAtWith(a, c);
}

// The constructor of record cipher handles: objects with one internal field (the cipher) whose
// prototype has sealAt and openAt. Every handle has the same shape, so a channel's call site
// of handle.sealAt() sees one map and one target whatever the channel.
Local<v8::Function> HandleConstructor(Local<Context> ctx) {
  Isolate* iso = ctx->GetIsolate();
  Local<v8::FunctionTemplate> t = v8::FunctionTemplate::New(iso);
  t->SetClassName(Str(iso, "RecordCipherHandle"));
  t->InstanceTemplate()->SetInternalFieldCount(1);
  Local<v8::Signature> only = v8::Signature::New(iso, t);
  Local<ObjectTemplate> proto = t->PrototypeTemplate();
  proto->Set(Str(iso, "sealAt"),
             v8::FunctionTemplate::New(iso, SealAtMethod, Local<Value>(), only));
  proto->Set(Str(iso, "openAt"),
             v8::FunctionTemplate::New(iso, OpenAtMethod, Local<Value>(), only));
  return t->GetFunction(ctx).ToLocalChecked();
}

}  // namespace

void InitRecordCrypto(Local<Context> ctx, Local<Object> exports) {
  Local<Value> none;
  SetMethod(ctx, exports, "recordCipherCreate", Create, HandleConstructor(ctx));
  SetMethod(ctx, exports, "recordCipherDispose", Dispose, none);
  SetMethod(ctx, exports, "recordSeal", Seal, none);
  SetMethod(ctx, exports, "recordOpen", Open, none);
  SetMethod(ctx, exports, "recordBind", Bind, none);
  SetMethod(ctx, exports, "recordSealAt", SealAt, none);
  SetMethod(ctx, exports, "recordOpenAt", OpenAt, none);
}

}  // namespace sivshm
