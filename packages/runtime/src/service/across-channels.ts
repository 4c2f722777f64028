import { Observable, Subscription } from 'rxjs';
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
 *
 * `endOf(channel)`, when given, is a second stream of the channel that carries no values, only
 * its end: the channel's part ends once both have completed, or as soon as either errors (what
 * `merge(streamOf(c), endOf(c))` would do, without a merge on every event's path).
 *
 * Written by hand rather than as `distinctUntilChanged` + `switchMap` + `catchError` (+ `merge`):
 * those put four operator subscribers between the channel's stream and the subscriber, each
 * passed by every event; here an event goes from the channel's stream straight to the
 * subscriber (the scale bench's consumer spends its time in these hops at 256 channels).
 */
export function acrossChannels<C, T>(
  channels$: Observable<C | undefined>,
  streamOf: (channel: C) => Observable<T>,
  endOf?: (channel: C) => Observable<never>,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let seen = false;
    let current: C | undefined;
    /** The current channel's subscriptions, undefined while none is followed. */
    let inner: Subscription | undefined;
    let channelsDone = false;
    const stop = (): void => {
      const s = inner;
      inner = undefined;
      s?.unsubscribe();
    };
    const follow = (c: C): void => {
      const own = new Subscription();
      inner = own;
      let open = endOf === undefined ? 1 : 2;
      const failed = (e: unknown): void => {
        if (inner !== own) return;
        stop();
        if (!isChannelEnd(e)) subscriber.error(e);
        else if (channelsDone) subscriber.complete();
      };
      const completed = (): void => {
        if (inner !== own || --open > 0) return;
        stop();
        if (channelsDone) subscriber.complete();
      };
      own.add(
        streamOf(c).subscribe({
          next: (v) => {
            if (inner === own) subscriber.next(v);
          },
          error: failed,
          complete: completed,
        }),
      );
      if (endOf !== undefined && inner === own)
        own.add(endOf(c).subscribe({ error: failed, complete: completed }));
    };
    const channels = channels$.subscribe({
      next: (c) => {
        if (seen && c === current) return;
        seen = true;
        current = c;
        stop();
        if (c !== undefined) follow(c);
      },
      error: (e: unknown) => {
        stop();
        subscriber.error(e);
      },
      complete: () => {
        channelsDone = true;
        if (inner === undefined) subscriber.complete();
      },
    });
    return () => {
      stop();
      channels.unsubscribe();
    };
  });
}
