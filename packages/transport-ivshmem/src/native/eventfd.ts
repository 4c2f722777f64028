import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { checkFd } from './fd.js';
import { callNative } from './native-call.js';

/** Options of {@link eventfdCreate}. */
export interface EventfdOptions {
  /** EFD_SEMAPHORE: each read takes 1 instead of the whole count; default false. */
  readonly semaphore?: boolean;
  /** EFD_NONBLOCK; default true (a blocking eventfd could stall a writer when it overflows). */
  readonly nonblock?: boolean;
}

/**
 * Creates an eventfd (close-on-exec) and returns its fd.
 *
 * Use it as an emulated-mode doorbell: the producer {@link eventfdWrite}s, the consumer waits
 * with `watchReadable` and drains with {@link eventfdRead}.
 */
export function eventfdCreate(options: EventfdOptions = {}): number {
  const semaphore = options.semaphore ?? false;
  const nonblock = options.nonblock ?? true;
  if (typeof semaphore !== 'boolean' || typeof nonblock !== 'boolean') {
    throw new TransportError('ERR_BAD_ARGUMENT', 'semaphore and nonblock must be booleans');
  }
  const addon = loadAddon();
  return callNative(() => addon.eventfdCreate({ semaphore, nonblock }));
}

/** Adds `n` (default 1) to the eventfd's counter, waking its watchers. */
export function eventfdWrite(fd: number, n: number | bigint = 1): void {
  checkFd(fd);
  const ok =
    typeof n === 'bigint'
      ? n >= 1n && n <= 0xffff_ffff_ffff_fffen
      : Number.isSafeInteger(n) && n >= 1;
  if (!ok) {
    throw new TransportError('ERR_BAD_ARGUMENT', `n must be an integer in 1..2^64-2, got ${n}`);
  }
  const addon = loadAddon();
  callNative(() => addon.eventfdWrite(fd, n));
}

/**
 * Reads and resets the counter (or takes 1 in semaphore mode); `0n` when nothing is pending.
 * Never blocks.
 */
export function eventfdRead(fd: number): bigint {
  checkFd(fd);
  const addon = loadAddon();
  return callNative(() => addon.eventfdRead(fd));
}
