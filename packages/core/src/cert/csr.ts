import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { CoreError } from '../errors/core-error.js';
import { decodeProto, encodeProto } from '../wire/proto-codec.js';
import { fromProtoRights, MAX_SUBJECT_BYTES, toProtoRights } from './certificate.js';
import { assertCanonicalRights, canonicalRights, type Rights } from './rights.js';

/** A certificate signing request: the key to certify, the rights asked for, hostd's nonce. */
export interface CsrBody {
  readonly publicKey: Uint8Array;
  readonly subject: string;
  readonly rights: Rights;
  /** The enrolment nonce hostd handed to this control link (proof of freshness). */
  readonly nonce: Uint8Array;
}

const CSR_LABEL = new TextEncoder().encode('sivshm v1 csr\0');
/** A CSR requests at most what a certificate holds (`MAX_CERT_BYTES`). */
export const MAX_CSR_BYTES = 18 * 1024;

function signingInput(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(CSR_LABEL.length + body.length);
  out.set(CSR_LABEL, 0);
  out.set(body, CSR_LABEL.length);
  return out;
}

/**
 * Builds a CSR signed with the subject's own secret key (proof of possession).
 *
 * @example
 * ```ts
 * declare const secretKey: Uint8Array, rights: Rights, nonce: Uint8Array; // nonce: from attach
 * const csr = createCsr(cryptoBackend(), secretKey, { subject: 'cluster', rights, nonce });
 * ```
 */
export function createCsr(
  crypto: CryptoBackend,
  secretKey: Uint8Array,
  req: { readonly subject: string; readonly rights: Rights; readonly nonce: Uint8Array },
): Uint8Array {
  const rights = canonicalRights(req.rights);
  const body = encodeProto('CsrBody', {
    version: 1,
    publicKey: crypto.ed25519PublicKey(secretKey),
    subject: req.subject,
    ...toProtoRights(rights),
    nonce: req.nonce,
  });
  return encodeProto('Csr', { body, sig: crypto.ed25519Sign(secretKey, signingInput(body)) });
}

/**
 * Decodes a CSR and checks its proof of possession (the signature by the key it carries).
 * Does not check the nonce or the rights: the CA does, against its own state and policy.
 */
export function verifyCsr(crypto: CryptoBackend, bytes: Uint8Array): CsrBody {
  const outer = decodeProto('Csr', bytes, MAX_CSR_BYTES);
  const body = outer['body'] as Uint8Array;
  const sig = outer['sig'] as Uint8Array;
  const o = decodeProto('CsrBody', body, MAX_CSR_BYTES);
  if (o['version'] !== 1)
    throw new CoreError('ERR_CSR_INVALID', `CSR version ${String(o['version'])} is not 1`);
  const publicKey = new Uint8Array(o['publicKey'] as Uint8Array);
  if (publicKey.length !== 32)
    throw new CoreError('ERR_CSR_INVALID', 'CSR public key is not 32 bytes');
  const subject = o['subject'] as string;
  if (new TextEncoder().encode(subject).length > MAX_SUBJECT_BYTES) {
    throw new CoreError('ERR_CSR_INVALID', `CSR subject is longer than ${MAX_SUBJECT_BYTES} bytes`);
  }
  const rights = fromProtoRights(o);
  assertCanonicalRights(rights);
  if (!crypto.ed25519Verify(sig, signingInput(body), publicKey)) {
    throw new CoreError('ERR_CSR_INVALID', 'CSR proof of possession does not verify');
  }
  return { publicKey, subject, rights, nonce: new Uint8Array(o['nonce'] as Uint8Array) };
}
