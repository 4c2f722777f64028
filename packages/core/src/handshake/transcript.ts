import type { CryptoBackend } from '../crypto/crypto-backend.js';

const enc = new TextEncoder();

// TH0 is a constant: hashed once per backend, not once per party and handshake.
const th0ByBackend = new WeakMap<CryptoBackend, Uint8Array>();

/** TH0 = SHA-256("sivshm v1 handshake"). */
export function initialTranscript(crypto: CryptoBackend): Uint8Array {
  let th0 = th0ByBackend.get(crypto);
  if (th0 === undefined) {
    th0 = crypto.sha256(enc.encode('sivshm v1 handshake'));
    th0ByBackend.set(crypto, th0);
  }
  return th0.slice();
}

/**
 * TH_n = SHA-256(TH_prev || type u8 || len u32 LE || body): the running transcript over each
 * message body exactly as sent (docs/protocol.md §6). The type byte is a refinement of the spec's
 * `len || bytes` so that a body can never be read as another message's body.
 */
export function extendTranscript(
  crypto: CryptoBackend,
  previous: Uint8Array,
  type: number,
  body: Uint8Array,
): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = type;
  new DataView(head.buffer).setUint32(1, body.length, true);
  return crypto.sha256(previous, head, body);
}

/** Signature labels, one per role and message (TLS 1.3 / SPDM style domain separation). */
export const SignatureLabel = {
  m1: 'C-request',
  m2: 'H-offer',
  m3: 'P-accept',
  m4: 'H-grant-C',
  m5: 'C-finish',
  m6: 'H-grant-P',
} as const;
export type SignatureLabelName = (typeof SignatureLabel)[keyof typeof SignatureLabel];

/** The bytes an Ed25519 handshake signature covers: "sivshm v1 " || label || "\0" || TH. */
export function signatureInput(label: SignatureLabelName, th: Uint8Array): Uint8Array {
  const prefix = enc.encode(`sivshm v1 ${label}\0`);
  const out = new Uint8Array(prefix.length + th.length);
  out.set(prefix, 0);
  out.set(th, prefix.length);
  return out;
}
