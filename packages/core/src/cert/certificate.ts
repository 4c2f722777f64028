import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { CoreError } from '../errors/core-error.js';
import { decodeProto, encodeProto, type ProtoObject } from '../wire/proto-codec.js';
import {
  assertCanonicalRights,
  type OfferRight,
  type RequestRight,
  type Rights,
} from './rights.js';

/** Who a certificate identifies: an app endpoint, or hostd's broker (signs M2/M4/M6). */
export type CertificateKind = 'endpoint' | 'broker';
const KIND_CODE: Record<CertificateKind, number> = { endpoint: 1, broker: 2 };

/** The decoded, signed part of a certificate (docs/protocol.md §6.1). */
export interface CertificateBody {
  readonly version: 1;
  readonly serial: bigint;
  readonly epoch: bigint;
  readonly vmId: number;
  readonly subject: string;
  readonly publicKey: Uint8Array;
  readonly rights: Rights;
  readonly notBeforeMs: bigint;
  readonly notAfterMs: bigint;
  /** First 8 bytes of SHA-256 of the CA public key. */
  readonly issuerKeyId: Uint8Array;
  readonly kind: CertificateKind;
}

/** A certificate as carried on the wire: the exact signed bytes and the CA signature. */
export interface Certificate {
  readonly tbs: Uint8Array;
  readonly sig: Uint8Array;
}

export const CERT_VERSION = 1;
export const MAX_SUBJECT_BYTES = 64;
/**
 * Room for `MAX_RIGHTS_PER_LIST` offer and request rights with every number at its widest
 * (about 16.5 KiB), the longest subject and the fixed fields.
 */
export const MAX_CERT_BYTES = 18 * 1024;
const CERT_LABEL = new TextEncoder().encode('sivshm v1 cert\0');
const u8 = new TextEncoder();

export function toProtoRights(r: Rights): { offers: ProtoObject[]; requests: ProtoObject[] } {
  return {
    offers: r.offers.map((o) => ({
      service: o.service,
      instanceLo: o.instanceLo,
      instanceHi: o.instanceHi,
    })),
    requests: r.requests.map((q) => ({
      service: q.service,
      instanceLo: q.instanceLo,
      instanceHi: q.instanceHi,
      methodLo: q.methodLo,
      methodHi: q.methodHi,
    })),
  };
}

export function fromProtoRights(o: ProtoObject): Rights {
  const offers = (o['offers'] as ProtoObject[]).map((e): OfferRight => ({
    service: e['service'] as number,
    instanceLo: e['instanceLo'] as number,
    instanceHi: e['instanceHi'] as number,
  }));
  const requests = (o['requests'] as ProtoObject[]).map((e): RequestRight => ({
    service: e['service'] as number,
    instanceLo: e['instanceLo'] as number,
    instanceHi: e['instanceHi'] as number,
    methodLo: e['methodLo'] as number,
    methodHi: e['methodHi'] as number,
  }));
  return { offers, requests };
}

/** Encodes a certificate body canonically (rights must already be canonical). */
export function encodeCertificateBody(b: CertificateBody): Uint8Array {
  assertCanonicalRights(b.rights);
  if (u8.encode(b.subject).length > MAX_SUBJECT_BYTES) {
    throw new CoreError('ERR_CERT_INVALID', `subject is longer than ${MAX_SUBJECT_BYTES} bytes`);
  }
  return encodeProto('CertificateBody', {
    version: b.version,
    serial: b.serial.toString(),
    epoch: b.epoch.toString(),
    vmId: b.vmId,
    subject: b.subject,
    publicKey: b.publicKey,
    ...toProtoRights(b.rights),
    notBeforeMs: b.notBeforeMs.toString(),
    notAfterMs: b.notAfterMs.toString(),
    issuerKeyId: b.issuerKeyId,
    kind: KIND_CODE[b.kind],
  });
}

/**
 * Decodes certificate body bytes, enforcing canonical encoding, caps and field shapes.
 * Signature and validity are checked by `verifyCertificate`.
 */
export function decodeCertificateBody(tbs: Uint8Array): CertificateBody {
  const o = decodeProto('CertificateBody', tbs, MAX_CERT_BYTES);
  if (o['version'] !== CERT_VERSION) {
    throw new CoreError(
      'ERR_CERT_INVALID',
      `certificate version ${String(o['version'])} is not ${CERT_VERSION}`,
    );
  }
  const publicKey = o['publicKey'] as Uint8Array;
  const issuerKeyId = o['issuerKeyId'] as Uint8Array;
  if (publicKey.length !== 32)
    throw new CoreError('ERR_CERT_INVALID', 'certificate public key is not 32 bytes');
  if (issuerKeyId.length !== 8)
    throw new CoreError('ERR_CERT_INVALID', 'certificate issuer key id is not 8 bytes');
  const kind = (Object.keys(KIND_CODE) as CertificateKind[]).find(
    (k) => KIND_CODE[k] === o['kind'],
  );
  if (kind === undefined)
    throw new CoreError('ERR_CERT_INVALID', `certificate kind ${String(o['kind'])} is unknown`);
  const subject = o['subject'] as string;
  if (u8.encode(subject).length > MAX_SUBJECT_BYTES) {
    throw new CoreError('ERR_CERT_INVALID', `subject is longer than ${MAX_SUBJECT_BYTES} bytes`);
  }
  const rights = fromProtoRights(o);
  assertCanonicalRights(rights);
  return {
    version: CERT_VERSION,
    serial: BigInt(o['serial'] as string),
    epoch: BigInt(o['epoch'] as string),
    vmId: o['vmId'] as number,
    subject,
    publicKey: new Uint8Array(publicKey),
    rights,
    notBeforeMs: BigInt(o['notBeforeMs'] as string),
    notAfterMs: BigInt(o['notAfterMs'] as string),
    issuerKeyId: new Uint8Array(issuerKeyId),
    kind,
  };
}

/** The bytes the CA signs: "sivshm v1 cert\0" || tbs. */
export function certificateSigningInput(tbs: Uint8Array): Uint8Array {
  const out = new Uint8Array(CERT_LABEL.length + tbs.length);
  out.set(CERT_LABEL, 0);
  out.set(tbs, CERT_LABEL.length);
  return out;
}

/** Encodes a certificate (tbs + sig) as the protobuf `Certificate` message. */
export function encodeCertificate(c: Certificate): Uint8Array {
  // Written by hand, not through protobufjs: it runs for every certificate hash of every
  // handshake, and two length-delimited fields have one canonical form (the codec's output).
  const tbs = lengthDelimited(1, c.tbs);
  const sig = lengthDelimited(2, c.sig);
  const out = new Uint8Array(tbs.length + sig.length);
  out.set(tbs, 0);
  out.set(sig, tbs.length);
  return out;
}

/** Field `field` of wire type 2 holding `bytes`; nothing for empty bytes (proto3 default). */
function lengthDelimited(field: number, bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return bytes.subarray(0, 0);
  const head: number[] = [(field << 3) | 2];
  for (let n = bytes.length; ; n >>>= 7) {
    if (n < 0x80) {
      head.push(n);
      break;
    }
    head.push((n & 0x7f) | 0x80);
  }
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head, 0);
  out.set(bytes, head.length);
  return out;
}

/** Decodes a protobuf `Certificate` (without verifying it). */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  const o = decodeProto('Certificate', bytes, MAX_CERT_BYTES + 128);
  const sig = o['sig'] as Uint8Array;
  if (sig.length !== 64)
    throw new CoreError('ERR_CERT_INVALID', 'certificate signature is not 64 bytes');
  return { tbs: new Uint8Array(o['tbs'] as Uint8Array), sig: new Uint8Array(sig) };
}

/** SHA-256 over the encoded certificate: the certificate's identity in handshake messages. */
export function certificateHash(crypto: CryptoBackend, c: Certificate): Uint8Array {
  return crypto.sha256(encodeCertificate(c));
}

/** The 8-byte key id of a CA public key (first 8 bytes of its SHA-256). */
export function keyId(crypto: CryptoBackend, publicKey: Uint8Array): Uint8Array {
  const hex = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString(
    'hex',
  );
  let id = keyIds.get(hex);
  if (id === undefined) {
    id = crypto.sha256(publicKey).slice(0, 8);
    if (keyIds.size >= MAX_KEY_IDS) keyIds.clear();
    keyIds.set(hex, id);
  }
  return id.slice();
}

// Every certificate check compares the issuer with the CA key's id: the few CA keys a process
// knows are hashed once, not at each check.
const keyIds = new Map<string, Uint8Array>();
const MAX_KEY_IDS = 64;

/**
 * Certificates already verified and decoded, keyed by the exact bytes (CA key, tbs, signature):
 * a certificate is checked at every handshake by three parties, and neither its signature nor
 * its body can change while its bytes do not. Only the signature check and the decoding are
 * cached; issuer, kind, epoch, time and revocation are checked on every call. Bounded; the
 * oldest entries go first. Bodies are kept frozen and handed out with fresh byte arrays.
 */
const verifiedBodies = new Map<string, CertificateBody>();
const MAX_VERIFIED_CERTIFICATES = 1024;

function verifiedCacheKey(caPublicKey: Uint8Array, cert: Certificate): string {
  const b64 = (b: Uint8Array) =>
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  return `${b64(caPublicKey)}.${b64(cert.tbs)}.${b64(cert.sig)}`;
}

function rememberVerified(key: string, body: CertificateBody): void {
  if (verifiedBodies.size >= MAX_VERIFIED_CERTIFICATES) {
    const oldest = verifiedBodies.keys().next().value;
    if (oldest !== undefined) verifiedBodies.delete(oldest);
  }
  const rights = Object.freeze({
    offers: Object.freeze(body.rights.offers.map((o) => Object.freeze({ ...o }))),
    requests: Object.freeze(body.rights.requests.map((q) => Object.freeze({ ...q }))),
  });
  verifiedBodies.set(key, Object.freeze({ ...body, rights }));
}

/** The body of a certificate verified before, with byte arrays the caller owns. */
function verifiedBody(key: string): CertificateBody | undefined {
  const kept = verifiedBodies.get(key);
  if (kept === undefined) return undefined;
  return { ...kept, publicKey: kept.publicKey.slice(), issuerKeyId: kept.issuerKeyId.slice() };
}

/** Signature over the received `tbs` bytes first, then decoding (protocol.md §6.1 order). */
function verifySignatureAndDecode(
  crypto: CryptoBackend,
  cert: Certificate,
  caPublicKey: Uint8Array,
): CertificateBody {
  const cacheKey = verifiedCacheKey(caPublicKey, cert);
  const hit = verifiedBody(cacheKey);
  if (hit !== undefined) return hit;
  if (!crypto.ed25519Verify(cert.sig, certificateSigningInput(cert.tbs), caPublicKey)) {
    throw new CoreError(
      'ERR_CERT_INVALID',
      'certificate signature does not verify under the CA key',
    );
  }
  const body = decodeCertificateBody(cert.tbs);
  rememberVerified(cacheKey, body);
  return body;
}

/** What a verifier must know to accept a certificate. */
export interface CertificateCheck {
  readonly caPublicKey: Uint8Array;
  readonly epoch: bigint;
  readonly nowMs: bigint;
  /** Serial revocation list (hostd's is authoritative). */
  readonly isRevoked?: (serial: bigint) => boolean;
  /** Refuse any other kind (an endpoint certificate must never act as the broker's). */
  readonly kind: CertificateKind;
}

/**
 * Verifies a certificate in the order docs/protocol.md §6.1 prescribes: signature over the
 * received `tbs` bytes first, then decoding (canonical form, caps), then issuer, kind, epoch,
 * time and revocation. Returns the body; throws `CoreError` with the specific code otherwise.
 */
export function verifyCertificate(
  crypto: CryptoBackend,
  cert: Certificate,
  check: CertificateCheck,
): CertificateBody {
  if (cert.tbs.length > MAX_CERT_BYTES) {
    throw new CoreError('ERR_CERT_INVALID', `certificate is over ${MAX_CERT_BYTES} bytes`);
  }
  const body = verifySignatureAndDecode(crypto, cert, check.caPublicKey);
  const expectedKeyId = keyId(crypto, check.caPublicKey);
  if (!body.issuerKeyId.every((b, i) => b === expectedKeyId[i])) {
    throw new CoreError('ERR_CERT_INVALID', 'certificate issuer key id does not match the CA');
  }
  if (body.kind !== check.kind) {
    throw new CoreError(
      'ERR_CERT_INVALID',
      `certificate is a ${body.kind} certificate, expected ${check.kind}`,
    );
  }
  if (body.epoch !== check.epoch) {
    throw new CoreError(
      'ERR_CERT_EPOCH',
      `certificate epoch ${body.epoch} is not the current epoch ${check.epoch}`,
    );
  }
  if (check.nowMs < body.notBeforeMs) {
    throw new CoreError(
      'ERR_CERT_EXPIRED',
      `certificate is not valid before ${body.notBeforeMs} ms`,
    );
  }
  if (check.nowMs >= body.notAfterMs) {
    throw new CoreError('ERR_CERT_EXPIRED', `certificate expired at ${body.notAfterMs} ms`);
  }
  if (check.isRevoked?.(body.serial) === true) {
    throw new CoreError('ERR_CERT_REVOKED', `certificate serial ${body.serial} is revoked`);
  }
  return body;
}
