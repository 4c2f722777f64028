import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { checkFd } from './fd.js';
import { callNative, syscallError } from './native-call.js';

/** Readiness bits reported to an {@link FdWatcher} callback. */
export const FdEvents = {
  readable: 1,
  writable: 2,
  /** The peer hung up (UV_DISCONNECT); readable is usually set too. */
  disconnect: 4,
} as const;

/** Called on the event loop when the fd is ready; `error` is set when polling failed. */
export type FdReadyCallback = (events: number, error?: TransportError) => void;

/**
 * One `uv_poll_t` watching an fd on the libuv event loop; the JS thread never blocks.
 *
 * Readiness is level-triggered: the callback repeats on every loop turn while the fd stays
 * ready, so it must read (drain) what it is told about. Create with {@link watchReadable} or
 * {@link watchFd}; `stop()` releases it, and a stopped or `unref()`ed watcher does not keep the
 * process alive. The watcher does not own the fd: stop it before closing the fd. One watcher
 * per fd and thread: libuv misbehaves with two, so a second one is refused (ERR_BAD_ARGUMENT).
 *
 * @example
 * ```ts
 * const efd = eventfdCreate();
 * const w = watchReadable(efd, () => console.log('rung', eventfdRead(efd)));
 * eventfdWrite(efd);
 * // later
 * w.stop(); closeFd(efd);
 * ```
 */
export class FdWatcher {
  #id: number | undefined;
  readonly fd: number;

  /** @internal use {@link watchFd} */
  constructor(fd: number, events: number, callback: FdReadyCallback) {
    checkFd(fd);
    if (typeof callback !== 'function') {
      throw new TransportError('ERR_BAD_ARGUMENT', 'callback must be a function');
    }
    this.fd = fd;
    const addon = loadAddon();
    this.#id = callNative(() =>
      addon.pollStart(fd, checkEvents(events), (errno, ready) => {
        if (errno !== 0) {
          callback(0, syscallError('poll', errno, `fd ${fd}`));
        } else {
          callback(ready);
        }
      }),
    );
  }

  /** True until {@link stop}. */
  get active(): boolean {
    return this.#id !== undefined;
  }

  /** Changes which readiness bits ({@link FdEvents}) are watched. */
  setEvents(events: number): void {
    const id = this.#requireActive();
    const addon = loadAddon();
    callNative(() => addon.pollSetEvents(id, checkEvents(events)));
  }

  /** Stops watching; idempotent. Safe inside the callback. */
  stop(): void {
    if (this.#id === undefined) return;
    const id = this.#id;
    this.#id = undefined;
    loadAddon().pollStop(id);
  }

  /** Lets the process exit while this watcher is active. */
  unref(): this {
    if (this.#id !== undefined) loadAddon().pollRef(this.#id, false);
    return this;
  }

  /** Undoes {@link unref}: an active watcher keeps the process alive (the default). */
  ref(): this {
    if (this.#id !== undefined) loadAddon().pollRef(this.#id, true);
    return this;
  }

  #requireActive(): number {
    if (this.#id === undefined) {
      throw new TransportError('ERR_CLOSED', `the watcher of fd ${this.fd} was stopped`);
    }
    return this.#id;
  }
}

function checkEvents(events: number): number {
  if (!Number.isInteger(events) || events < 1 || events > 7) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `events must be a non-empty combination of FdEvents (1..7), got ${events}`,
    );
  }
  return events;
}

/** Watches `fd` for the given {@link FdEvents} bits. */
export function watchFd(fd: number, events: number, callback: FdReadyCallback): FdWatcher {
  return new FdWatcher(fd, events, callback);
}

/**
 * Calls `callback` on the event loop whenever `fd` is readable (an eventfd was written, a
 * socket has data or hung up).
 *
 * Use it to wait for a doorbell without spinning and without blocking the JS thread.
 */
export function watchReadable(fd: number, callback: FdReadyCallback): FdWatcher {
  return new FdWatcher(fd, FdEvents.readable, callback);
}
