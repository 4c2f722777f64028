import {
  EMPTY,
  catchError,
  distinctUntilChanged,
  switchMap,
  throwError,
  type Observable,
} from 'rxjs';
import { TransportError } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/**
 * True for the errors a channel's own streams end with when the channel ends (the runtime's
 * `ERR_PEER_GONE`, the transport's `ERR_PEER_GONE` or `ERR_CLOSED`): the end of one channel,
 * not a fault of the stream a subscriber should see.
 */
export function isChannelEnd(e: unknown): boolean {
  if (RuntimeError.is(e)) return e.code === 'ERR_PEER_GONE';
  return TransportError.is(e) && (e.code === 'ERR_PEER_GONE' || e.code === 'ERR_CLOSED');
}

/**
 * One stream over a service's successive channels: `channels$` gives the current channel
 * whenever it changes (undefined while there is none, completing when the service closes), and
 * the result follows it — `streamOf(channel)` while a channel lives, nothing in between, the
 * next channel's stream once there is one. The end of a channel (its stream completing, or
 * erroring with {@link isChannelEnd}) is a gap, not an end; any other error reaches the
 * subscriber. Completes when `channels$` completes and the last channel's stream ended.
 */
export function acrossChannels<C, T>(
  channels$: Observable<C | undefined>,
  streamOf: (channel: C) => Observable<T>,
): Observable<T> {
  return channels$.pipe(
    distinctUntilChanged(),
    switchMap((c) =>
      c === undefined
        ? EMPTY
        : streamOf(c).pipe(
            catchError((e: unknown) => (isChannelEnd(e) ? EMPTY : throwError(() => e))),
          ),
    ),
  );
}
