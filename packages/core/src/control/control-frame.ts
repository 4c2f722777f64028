import { CoreError } from '../errors/core-error.js';

/** Bytes of the length prefix in front of every control-link frame. */
export const CONTROL_FRAME_HEADER_SIZE = 4;

/**
 * Largest frame body a control link carries (64 KiB): a handshake M4 with two certificates is
 * well under 2 KiB and an SD message is bounded by its UDP origin, so anything bigger is an
 * attack or a bug and is refused before a byte of it is buffered (docs/security.md#t45).
 */
export const MAX_CONTROL_FRAME_SIZE = 64 * 1024;

/**
 * Prefixes `body` with its u32 little-endian length: one control-link frame.
 *
 * Use it for every write to a control link (Unix socket or virtio-serial port).
 *
 * @example
 * ```ts
 * import type { Socket } from 'node:net';
 * declare const socket: Socket;
 * declare function encodeControlMessage(m: ControlMessage): Uint8Array; // control-message.ts
 * socket.write(encodeControlFrame(encodeControlMessage({ kind: 'hello', version: 1, software: '' })));
 * ```
 */
export function encodeControlFrame(
  body: Uint8Array,
  maxFrameSize = MAX_CONTROL_FRAME_SIZE,
): Uint8Array {
  if (body.length > maxFrameSize) {
    throw new CoreError(
      'ERR_FRAME',
      `control frame of ${body.length} bytes is over the limit of ${maxFrameSize}`,
    );
  }
  const out = new Uint8Array(CONTROL_FRAME_HEADER_SIZE + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, CONTROL_FRAME_HEADER_SIZE);
  return out;
}

/**
 * Streaming decoder of control-link frames: feed it whatever chunks the link delivers (partial
 * frames, several frames per chunk) and it returns every complete frame body, in order.
 *
 * A length over the limit throws `ERR_FRAME` as soon as its 4 bytes are in, before any body is
 * allocated; the decoder is then poisoned (every later `push` throws), because the byte stream
 * has lost its framing and the link must be closed.
 *
 * @example
 * ```ts
 * import type { Socket } from 'node:net';
 * declare const socket: Socket;
 * declare function handle(frame: Uint8Array): void;
 * const decoder = new ControlFrameDecoder();
 * socket.on('data', (chunk: Buffer) => {
 *   for (const f of decoder.push(chunk)) handle(f);
 * });
 * ```
 */
export class ControlFrameDecoder {
  readonly maxFrameSize: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #failed: CoreError | undefined;

  constructor(maxFrameSize = MAX_CONTROL_FRAME_SIZE) {
    if (!Number.isInteger(maxFrameSize) || maxFrameSize < 1 || maxFrameSize > 0xffff_ffff) {
      throw new CoreError(
        'ERR_FRAME',
        `maxFrameSize ${maxFrameSize} must be an integer in 1..${0xffff_ffff}`,
      );
    }
    this.maxFrameSize = maxFrameSize;
  }

  /** Bytes received and not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  /** Appends `chunk` and returns the frame bodies it completed (copies, safe to keep). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed !== undefined) throw this.#failed;
    if (chunk.length === 0) return [];
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.#pendingBytes < CONTROL_FRAME_HEADER_SIZE) break;
      const length = this.#peekLength();
      if (length > this.maxFrameSize) {
        this.#failed = new CoreError(
          'ERR_FRAME',
          `control frame announces ${length} bytes, over the limit of ${this.maxFrameSize}`,
        );
        this.#pending = [];
        this.#pendingBytes = 0;
        throw this.#failed;
      }
      if (this.#pendingBytes < CONTROL_FRAME_HEADER_SIZE + length) break;
      this.#take(CONTROL_FRAME_HEADER_SIZE);
      frames.push(this.#take(length));
    }
    return frames;
  }

  #peekLength(): number {
    const head = new Uint8Array(CONTROL_FRAME_HEADER_SIZE);
    let filled = 0;
    for (const c of this.#pending) {
      const n = Math.min(c.length, CONTROL_FRAME_HEADER_SIZE - filled);
      head.set(c.subarray(0, n), filled);
      filled += n;
      if (filled === CONTROL_FRAME_HEADER_SIZE) break;
    }
    return new DataView(head.buffer).getUint32(0, true);
  }

  /** Removes and returns the next `n` buffered bytes as a fresh array. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#pending[0]!;
      const k = Math.min(c.length, n - filled);
      out.set(c.subarray(0, k), filled);
      filled += k;
      if (k === c.length) this.#pending.shift();
      else this.#pending[0] = c.subarray(k);
    }
    this.#pendingBytes -= n;
    return out;
  }
}
