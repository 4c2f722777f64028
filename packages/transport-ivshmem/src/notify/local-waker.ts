import type { Waker } from './waker.js';

type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;

/**
 * A {@link Waker} for the threads of one process: a counter word in a SharedArrayBuffer,
 * `Atomics.notify` to ring, `Atomics.waitAsync` to wait without blocking the event loop.
 *
 * Use it for tests and for channels between worker_threads. It does not work across processes
 * (V8 emulates `Atomics.wait/notify` in-process; docs/architecture.md §7); use `EventfdWaker`
 * there. Pass
 * {@link LocalWaker.buffer} to a worker and build a second `LocalWaker` on it there.
 *
 * @example
 * ```ts
 * import { Worker } from 'node:worker_threads';
 * declare const worker: Worker;
 * const waker = new LocalWaker();
 * worker.postMessage(waker.buffer);       // the worker: new LocalWaker(buffer)
 * ```
 */
export class LocalWaker implements Waker {
  /** The shared counter word; hand it to another thread to build the other end. */
  readonly buffer: SharedArrayBuffer;
  readonly #word: Int32Array;
  #seen: number;
  #closed = false;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer;
    this.#word = new Int32Array(buffer, 0, 1);
    this.#seen = Atomics.load(this.#word, 0);
  }

  wake(): void {
    Atomics.add(this.#word, 0, 1);
    Atomics.notify(this.#word, 0);
  }

  async wait(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false;
    const now = Atomics.load(this.#word, 0);
    if (now !== this.#seen) {
      this.#seen = now;
      return true;
    }
    const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
    const r = waitAsync(this.#word, 0, now, timeoutMs);
    const outcome = r.async ? await r.value : r.value;
    this.#seen = Atomics.load(this.#word, 0);
    return !this.#closed && outcome !== 'timed-out';
  }

  close(): void {
    this.#closed = true;
    // Wake our own pending waits so they resolve (false) instead of hanging until timeout.
    Atomics.add(this.#word, 0, 1);
    Atomics.notify(this.#word, 0);
  }
}
