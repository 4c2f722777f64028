import * as ed from '@noble/ed25519';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { equalConstantTime } from './constant-time.js';

// Ed25519 for the noble backend with per-key work done once per key instead of once per
// operation: a handshake signs with three long-lived keys and verifies under three, again and
// again. Nothing about a verdict changes: the same strict rules as `ed.verify(…, { zip215:
// false })` (canonical R and A, S < L, no small-order A, the cofactored equation), and the same
// signatures as `ed.sign` (RFC 8032 is deterministic). Figures: docs/performance.md §5.

// @noble/ed25519's synchronous API needs a SHA-512; @noble/hashes provides the audited one.
ed.hashes.sha512 = sha512;

// RFC 8032 §5.1.7 with canonical A, R and S, plus refusal of small-order A: the library's
// strict branch. Its default (ZIP-215) accepts non-canonical R, e.g. Wycheproof tcId 151.
const STRICT = { zip215: false } as const;

const L = ed25519.Point.Fn.ORDER;
const Point = ed25519.Point;
/**
 * The wNAF window of a cached public key's table: 6 makes [k]A several times faster than the
 * library's table-less multiply at a table of about a hundred KiB.
 */
const WINDOW = 6;
/**
 * Building a table costs about as much as this many verifications, and a key earns one only
 * after verifying this many signatures: a peer that presents ever new keys (a CSR's proof of
 * possession, say) can make a verifier spend at most about twice the verifications themselves.
 */
const USES_BEFORE_TABLE = 16;
const MAX_TABLES = 32;
const MAX_COUNTED_KEYS = 256;

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function scalarBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface ExtendedSecret {
  readonly copy: Uint8Array;
  readonly prefix: Uint8Array;
  readonly scalar: bigint;
  readonly publicKey: Uint8Array;
}

/**
 * RFC 8032 §5.1.5 expanded secret keys, keyed by the caller's array object (as the node
 * backend's KeyObject cache): no secret outlives the caller's array or lands in a string, and
 * the kept copy is compared on each hit in case the caller overwrote the array in place.
 */
const expanded = new WeakMap<Uint8Array, ExtendedSecret>();

function expandedSecret(secretKey: Uint8Array): ExtendedSecret {
  const hit = expanded.get(secretKey);
  if (hit !== undefined && equalConstantTime(hit.copy, secretKey)) return hit;
  const e = ed.utils.getExtendedPublicKey(secretKey);
  const entry = {
    copy: secretKey.slice(),
    prefix: e.prefix,
    scalar: e.scalar,
    publicKey: e.pointBytes,
  };
  expanded.set(secretKey, entry);
  return entry;
}

/** The public key of a 32-byte secret key, from the cached expansion. */
export function noblePublicKey(secretKey: Uint8Array): Uint8Array {
  return expandedSecret(secretKey).publicKey.slice();
}

/**
 * RFC 8032 §5.1.6 with the expanded key cached: r = H(prefix ‖ M), R = [r]B with the library's
 * constant-time multiply, S = r + H(R ‖ A ‖ M)·s mod L. Byte for byte what `ed.sign` returns.
 */
export function nobleSign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const e = expandedSecret(secretKey);
  const m = message.slice();
  const r = littleEndian(sha512(concat(e.prefix, m))) % L;
  const R = ed.Point.BASE.multiply(r).toBytes();
  const k = littleEndian(sha512(concat(R, e.publicKey, m))) % L;
  return concat(R, scalarBytes((r + k * e.scalar) % L));
}

/** Verification counts and tables of public keys that verified before, oldest first out. */
const uses = new Map<string, number>();
const tables = new Map<string, InstanceType<typeof Point>>();

function keyString(publicKey: Uint8Array): string {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('hex');
}

function tableOf(key: string): InstanceType<typeof Point> | undefined {
  const A = tables.get(key);
  if (A !== undefined) {
    tables.delete(key);
    tables.set(key, A);
  }
  return A;
}

/**
 * A public key decoded strictly (`zip215: false`) with its multiples table, or undefined for a
 * key `ed.verify` refuses whatever the signature: non-canonical, not on the curve, small order.
 */
export function keyTable(publicKey: Uint8Array): InstanceType<typeof Point> | undefined {
  let A: InstanceType<typeof Point>;
  try {
    A = Point.fromBytes(publicKey, false);
  } catch {
    return undefined;
  }
  if (A.isSmallOrder()) return undefined;
  return A.precompute(WINDOW, false);
}

/** Counts a verified signature under `key` and gives the key a table once it has earned one. */
function countVerified(key: string, publicKey: Uint8Array): void {
  const n = (uses.get(key) ?? 0) + 1;
  uses.delete(key);
  uses.set(key, n);
  if (uses.size > MAX_COUNTED_KEYS) uses.delete(uses.keys().next().value!);
  if (n < USES_BEFORE_TABLE) return;
  const A = keyTable(publicKey);
  if (A === undefined) return;
  tables.set(key, A);
  if (tables.size > MAX_TABLES) tables.delete(tables.keys().next().value!);
}

/**
 * [8]([S]B − R − [k]A) = 0 with A's table (from {@link keyTable}): the equation `ed.verify`
 * checks, with the same strict decoding of R (`zip215: false`) and the same S < L rule. Inputs
 * are the caller's snapshots, 64 and 32 bytes.
 */
export function verifyWithTable(
  A: InstanceType<typeof Point>,
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  const s = littleEndian(signature.subarray(32, 64));
  if (s >= L) return false;
  const r = signature.subarray(0, 32);
  const k = littleEndian(sha512(concat(r, publicKey, message))) % L;
  // Q = [S]B − [k]A, and the equation is [8](R − Q) = 0. When Q encodes to R's bytes, those
  // bytes are canonical and decode to Q, so it holds: an honest signature's case, checked
  // without R's square root. Any other R is decoded and checked in full, as the library does.
  const Q = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  if (sameBytes(Q.toBytes(), r)) return true;
  let R: InstanceType<typeof Point>;
  try {
    R = Point.fromBytes(r, false);
  } catch {
    return false;
  }
  return R.subtract(Q).clearCofactor().is0();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Strict Ed25519 verification (`ed.verify` with `zip215: false`), faster for keys seen often. */
export function nobleVerify(
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  // One snapshot of each input: a peer rewriting shared memory cannot split the check.
  const pk = publicKey.slice();
  const key = keyString(pk);
  const A = tableOf(key);
  if (A !== undefined) return verifyWithTable(A, signature.slice(), message.slice(), pk);
  const ok = ed.verify(signature, message, pk, STRICT);
  if (ok) countVerified(key, pk);
  return ok;
}
