import { TransportError } from '../errors/transport-error.js';
import { eventfdRead, eventfdWrite } from '../native/eventfd.js';
import { closeFd } from '../native/fd.js';
import { watchReadable } from '../native/fd-watcher.js';
import type { FdWatcher } from '../native/fd-watcher.js';
import type { Waker } from './waker.js';

/** Options of {@link EventfdWaker}. */
export interface EventfdWakerOptions {
  /** Close the fd in {@link EventfdWaker.close}; default false (the caller owns it). */
  readonly ownsFd?: boolean;
}

/**
 * A {@link Waker} over an eventfd: `wake()` writes 1, `wait()` is woken by `uv_poll` on the event
 * loop, so the JS thread never blocks (emulated mode; its round trip is in docs/performance.md).
 *
 * Both processes of a channel hold the same eventfd (inherited at spawn or passed over the
 * control link with SCM_RIGHTS) and build one `EventfdWaker` each: the producer side only calls
 * `wake()`, the consumer side only `wait()`. The poll watcher starts with the first `wait()`,
 * stays armed (re-arming per wait would cost two `epoll_ctl` calls) and is `unref()`ed, so it
 * never keeps a process alive on its own.
 *
 * @example
 * ```ts
 * const efd = eventfdCreate();
 * const waker = new EventfdWaker(efd, { ownsFd: true });
 * ```
 */
export class EventfdWaker implements Waker {
  readonly #fd: number;
  readonly #ownsFd: boolean;
  #watcher: FdWatcher | undefined;
  #rung = false;
  /** The pending wait's own resolve function and its timer (no closure per park). */
  #pending: ((rung: boolean) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(fd: number, options: EventfdWakerOptions = {}) {
    if (!Number.isInteger(fd) || fd < 0) {
      throw new TransportError('ERR_BAD_ARGUMENT', `eventfd ${fd} is not a valid file descriptor`);
    }
    this.#fd = fd;
    this.#ownsFd = options.ownsFd ?? false;
  }

  wake(): void {
    if (this.#closed) return;
    eventfdWrite(this.#fd, 1);
  }

  wait(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.#pending !== undefined) {
      return Promise.reject(
        new TransportError('ERR_BAD_ARGUMENT', 'EventfdWaker.wait() is already pending'),
      );
    }
    if (this.#rung) {
      this.#rung = false;
      return Promise.resolve(true);
    }
    // No eventfd read here: the poll is level-triggered, so a ring that came before this wait
    // fires the watcher on the next loop turn; reading first would cost a syscall per park.
    this.#watcher ??= watchReadable(this.#fd, (_events, error) => this.#onReadable(error)).unref();
    return new Promise<boolean>((resolve) => {
      this.#pending = resolve;
      this.#timer = setTimeout(timedOut, timeoutMs, this);
    });
  }

  /** Settles the pending wait (rung, timed out or closed); a no-op when none is pending. */
  settle(rung: boolean): void {
    const resolve = this.#pending;
    if (resolve === undefined) return;
    clearTimeout(this.#timer);
    this.#pending = undefined;
    this.#timer = undefined;
    resolve(rung);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.stop();
    this.#watcher = undefined;
    this.settle(false);
    if (this.#ownsFd) closeFd(this.#fd);
  }

  #onReadable(error: TransportError | undefined): void {
    // Level-triggered: drain the counter every time, or the callback repeats each loop turn.
    const count = error === undefined ? eventfdRead(this.#fd) : 0n;
    if (error !== undefined) {
      // A broken fd cannot ring again: stop polling and let the bounded park slices carry on.
      this.#watcher?.stop();
      this.#watcher = undefined;
    }
    if (count === 0n && error === undefined) return;
    if (this.#pending !== undefined) this.settle(true);
    else this.#rung = true;
  }
}

// Module-level, with the waker as setTimeout's argument: a parked wait allocates no closure.
function timedOut(waker: EventfdWaker): void {
  waker.settle(false);
}
