import type { Duplex } from 'node:stream';
import { CoreError } from '../errors/core-error.js';
import { handshakeTraceOn, traceStage } from '../handshake/handshake-trace.js';
import { ControlFrameDecoder, encodeControlFrame } from './control-frame.js';
import {
  decodeControlMessage,
  encodeControlMessage,
  type ControlMessage,
} from './control-message.js';

/**
 * Frames a link handles in one turn of the event loop. A peer that sends more waits: its stream
 * is paused and the rest handled on the next turns, so one flooding VM cannot hold hostd's
 * event loop (and every other VM's link) for the whole backlog the kernel has buffered.
 */
const FRAMES_PER_TURN = 32;

/** Callbacks of a {@link ControlConnection}. */
export interface ControlConnectionHandlers {
  /** One decoded message, in arrival order. */
  readonly onMessage: (message: ControlMessage) => void;
  /**
   * A frame arrived intact but is not a valid ControlMessage. The framing is still in step, so
   * the receiver may answer with an `error` and go on; without this handler the link closes.
   */
  readonly onInvalid?: (error: CoreError) => void;
  /** The link closed; `error` says why when it was not an orderly end. */
  readonly onClose?: (error: Error | undefined) => void;
}

/** Limits of a {@link ControlConnection}. */
export interface ControlConnectionOptions {
  /** Largest frame accepted; the decoder's default otherwise. */
  readonly maxFrameSize?: number;
  /**
   * Bytes written and not yet taken by the peer (the stream's `writableLength`) above which
   * the link is destroyed with `ERR_IO` instead of buffering more: a peer that does not read
   * must not grow this process's memory. Unlimited when not set.
   */
  readonly maxUnsentBytes?: number;
}

/**
 * One end of a control link over any byte stream (a Unix socket in emulated mode, a
 * virtio-serial port in qemu mode): frames outgoing messages, decodes incoming frames, and
 * closes the stream on a framing error (an over-long length), since the stream can no longer be
 * trusted to be in step.
 *
 * @example
 * ```ts
 * import net from 'node:net';
 * declare const path: string; // hostd's socket for this VM
 * const link = new ControlConnection(net.connect(path), { onMessage: (m) => console.log(m.kind) });
 * link.send({ kind: 'hello', version: 1, software: 'my-app' });
 * ```
 */
export class ControlConnection {
  readonly #stream: Duplex;
  readonly #decoder: ControlFrameDecoder;
  readonly #handlers: ControlConnectionHandlers;
  readonly #maxUnsent: number;
  #closed = false;
  #closeError: Error | undefined;
  #corked = false;
  /** Frames received and not yet handled, from `#head` on. */
  #queue: Uint8Array[] = [];
  #head = 0;
  #paused = false;
  #scheduled = false;
  /** The peer ended the stream in order: what it sent before is still handled. */
  #ended = false;

  constructor(
    stream: Duplex,
    handlers: ControlConnectionHandlers,
    options: ControlConnectionOptions = {},
  ) {
    this.#stream = stream;
    this.#handlers = handlers;
    this.#maxUnsent = options.maxUnsentBytes ?? Infinity;
    this.#decoder = new ControlFrameDecoder(options.maxFrameSize);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (e: Error) => {
      this.#closeError ??= e;
    });
    stream.on('end', () => {
      this.#ended = true;
    });
    stream.on('close', () => this.#finish());
  }

  /** True once the stream closed or `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one message; returns false (and drops it) when the link is closed, or when the peer
   * left more than `maxUnsentBytes` unread: the link is then destroyed with `ERR_IO`.
   */
  send(message: ControlMessage): boolean {
    if (this.#closed || this.#stream.destroyed) return false;
    if (this.#stream.writableLength > this.#maxUnsent) {
      this.destroy(
        new CoreError(
          'ERR_IO',
          `the peer left ${this.#stream.writableLength} bytes unread (at most ${this.#maxUnsent} are buffered for it)`,
        ),
      );
      return false;
    }
    // Frames sent in one turn of the event loop leave in one write: under a flood hostd answers
    // a whole chunk of a VM's frames at once, and a syscall per answer was most of its cost.
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#stream.uncork();
        if (handshakeTraceOn) traceStage('link:flushed');
      });
    }
    this.#stream.write(encodeControlFrame(encodeControlMessage(message)));
    if (handshakeTraceOn) traceStage(`link:queued ${traceLabel(message)}`);
    return true;
  }

  /** Flushes what was written and closes the link; idempotent. */
  close(): void {
    if (this.#stream.destroyed) return;
    this.#stream.end();
    // A peer that never reads must not keep the stream open forever.
    setTimeout(() => this.#stream.destroy(), 1000).unref();
  }

  /** Closes at once, discarding unsent data. */
  destroy(error?: Error): void {
    if (error !== undefined) this.#closeError ??= error;
    this.#stream.destroy();
  }

  #onData(chunk: Buffer): void {
    if (handshakeTraceOn) traceStage('link:data');
    if (this.#closed) return;
    let frames: Uint8Array[];
    try {
      frames = this.#decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    } catch (e) {
      this.destroy(e as Error);
      return;
    }
    for (const f of frames) this.#queue.push(f);
    this.#drain(FRAMES_PER_TURN);
  }

  /** Handles up to `budget` queued frames; pauses the stream and goes on next turn if more. */
  #drain(budget: number): void {
    let n = 0;
    while (this.#head < this.#queue.length && n < budget) {
      // A link destroyed (by a framing error, or by the receiver while handling a message)
      // handles nothing more: its remaining frames are dropped, as before it was destroyed.
      if (this.#stream.destroyed && !this.#ended) break;
      const f = this.#queue[this.#head++]!;
      n++;
      let m: ControlMessage;
      try {
        m = decodeControlMessage(f);
      } catch (e) {
        if (this.#handlers.onInvalid === undefined) this.destroy(e as Error);
        else this.#handlers.onInvalid(e as CoreError);
        continue;
      }
      if (handshakeTraceOn) traceStage(`link:decoded ${traceLabel(m)}`);
      this.#handlers.onMessage(m);
      if (handshakeTraceOn) traceStage(`link:handled ${traceLabel(m)}`);
    }
    if (this.#head >= this.#queue.length || (this.#stream.destroyed && !this.#ended)) {
      this.#queue = [];
      this.#head = 0;
      if (this.#paused && !this.#stream.destroyed) this.#stream.resume();
      this.#paused = false;
      return;
    }
    if (!this.#paused) {
      this.#paused = true;
      this.#stream.pause();
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (!this.#closed) this.#drain(FRAMES_PER_TURN);
      });
    }
  }

  #finish(): void {
    if (this.#closed) return;
    // What arrived before an orderly end is handled before the end is reported, in order.
    if (this.#ended && this.#closeError === undefined) this.#drain(Infinity);
    this.#queue = [];
    this.#head = 0;
    this.#closed = true;
    this.#handlers.onClose?.(this.#closeError);
  }
}

/** A message's kind, and a handshake message's type (M1..M7) for the stage trace. */
function traceLabel(m: ControlMessage): string {
  return m.kind === 'handshake' && m.message[0] === 0x08 ? `M${m.message[1]}` : m.kind;
}
