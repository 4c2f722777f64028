import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { equalConstantTime } from '../crypto/constant-time.js';
import { CoreError } from '../errors/core-error.js';

/** Which way a frame travels in its channel; part of what the `mac` tag covers. */
export type Direction = 'c2p' | 'p2c';

/** Bytes a protected frame adds after the payload: FV (8) + tag (16) for both modes. */
export const FRAME_OVERHEAD = 24;
const TAG = 16;
const FV_MAX = (1n << 64n) - 1n;

/** Configuration shared by the sealing and the opening side of one direction. */
export interface FrameProtectionOptions {
  readonly crypto: CryptoBackend;
  readonly mode: 'mac' | 'aead';
  /** The direction key from `deriveChannelKeys`. */
  readonly key: Uint8Array;
  readonly channelId: bigint;
  readonly direction: Direction;
}

function fvBytes(fv: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, fv, true);
  return b;
}

function dataId(channelId: bigint, direction: Direction): Uint8Array {
  const b = new Uint8Array(9);
  new DataView(b.buffer).setBigUint64(0, channelId, true);
  b[8] = direction === 'c2p' ? 1 : 2;
  return b;
}

/** ChaCha20-Poly1305 nonce: 32 zero bits || FV (little-endian u64), RFC 8439 layout. */
function aeadNonce(fv: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(fv, 4);
  return n;
}

/**
 * Seals frames of one direction in `mac` mode (SecOC-like: payload || FV || HMAC-SHA256 tag
 * truncated to 16 bytes over channel id, direction, FV, SOME/IP header and payload) or `aead`
 * mode (ChaCha20-Poly1305 ciphertext || FV || tag, nonce 0^32 || FV, AAD = channel id || direction
 * || header || FV: the spec's AAD plus the data id, so a frame cannot cross channels or directions).
 * FV starts at 1 and never wraps: sealing refuses at 2^64 − 1 (docs/protocol.md §6).
 */
export class FrameSealer {
  private fv = 0n;
  private readonly id: Uint8Array;

  constructor(private readonly o: FrameProtectionOptions) {
    this.id = dataId(o.channelId, o.direction);
  }

  /** The FV of the last sealed frame. */
  get counter(): bigint {
    return this.fv;
  }

  /** Protects `payload` under `header` (the final 16-byte SOME/IP header). */
  seal(header: Uint8Array, payload: Uint8Array): Uint8Array {
    if (this.fv >= FV_MAX - 1n) {
      throw new CoreError(
        'ERR_FRAME',
        'freshness counter exhausted; the channel must be re-established',
      );
    }
    this.fv += 1n;
    const fv = fvBytes(this.fv);
    const out = new Uint8Array(payload.length + FRAME_OVERHEAD);
    if (this.o.mode === 'mac') {
      out.set(payload, 0);
      out.set(fv, payload.length);
      const tag = this.o.crypto.hmacSha256(this.o.key, this.id, fv, header, payload);
      out.set(tag.subarray(0, TAG), payload.length + 8);
    } else {
      const sealed = this.o.crypto.chacha20Poly1305Seal(
        this.o.key,
        aeadNonce(fv),
        payload,
        concat(concat(this.id, header), fv),
      );
      out.set(sealed.subarray(0, payload.length), 0);
      out.set(fv, payload.length);
      out.set(sealed.subarray(payload.length), payload.length + 8);
    }
    return out;
  }

  /** Test hook: continue from a given counter (e.g. to exercise exhaustion). */
  setCounterForTest(fv: bigint): void {
    this.fv = fv;
  }
}

/**
 * Opens frames of one direction: copies the frame out of shared memory first (no double
 * fetch), accepts only FV == last + 1 (single producer, in-order ring: an old frame copied back
 * or a gap are both refused), then checks the tag in constant time. Throws `ERR_FRAME`.
 */
export class FrameOpener {
  private last = 0n;
  private readonly id: Uint8Array;

  constructor(private readonly o: FrameProtectionOptions) {
    this.id = dataId(o.channelId, o.direction);
  }

  get counter(): bigint {
    return this.last;
  }

  /** Returns the payload (a private copy) of a protected frame. */
  open(header: Uint8Array, frame: Uint8Array): Uint8Array {
    const h = header.slice();
    const f = frame.slice();
    if (f.length < FRAME_OVERHEAD)
      throw new CoreError('ERR_FRAME', 'protected frame is shorter than FV + tag');
    const n = f.length - FRAME_OVERHEAD;
    const fvB = f.subarray(n, n + 8);
    const fv = new DataView(fvB.buffer, fvB.byteOffset, 8).getBigUint64(0, true);
    if (fv <= this.last)
      throw new CoreError('ERR_FRAME', `replayed frame: FV ${fv} is not above ${this.last}`);
    if (fv !== this.last + 1n)
      throw new CoreError('ERR_FRAME', `frame gap: FV ${fv} after ${this.last}`);
    const tag = f.subarray(n + 8);
    let payload: Uint8Array;
    if (this.o.mode === 'mac') {
      payload = f.subarray(0, n);
      const want = this.o.crypto.hmacSha256(this.o.key, this.id, fvB, h, payload).subarray(0, TAG);
      if (!equalConstantTime(want, tag))
        throw new CoreError('ERR_FRAME', 'frame MAC does not verify');
    } else {
      try {
        payload = this.o.crypto.chacha20Poly1305Open(
          this.o.key,
          aeadNonce(fvB),
          concat(f.subarray(0, n), tag),
          concat(concat(this.id, h), fvB),
        );
      } catch (e) {
        throw new CoreError('ERR_FRAME', 'frame AEAD tag does not verify', { cause: e });
      }
    }
    this.last = fv;
    return payload;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
