// Marble tests of the stream logic behind ConsumedService.event()/samples(): one subscriber
// over successive channels. `channels$` marbles: a, b = a channel is current; u = none.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  EMPTY,
  Subject,
  catchError,
  distinctUntilChanged,
  merge,
  switchMap,
  throwError,
  type Observable,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { TransportError } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';
import { acrossChannels, isChannelEnd } from './across-channels.js';

const peerGone = new RuntimeError('ERR_PEER_GONE', 'the channel ended (peer-gone)');

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => {
    expect(actual).to.deep.equal(expected);
  });
}

describe('acrossChannels (event and sample streams that outlive channels)', () => {
  it('keeps the subscriber across a channel end: values of a, a gap, values of b', () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-1-2-#', undefined, peerGone);
      const b = cold('-3-4-', undefined);
      const channels = hot('a-----u---b------', { a: 'a', b: 'b', u: undefined });
      const streams: Record<string, typeof a> = { a, b };
      const out = acrossChannels(channels, (c: string) => streams[c]!);
      expectObservable(out).toBe('-1-2-------3-4---');
      expectSubscriptions(a.subscriptions).toBe('^----!');
      expectSubscriptions(b.subscriptions).toBe('----------^');
    });
  });

  it("follows a new channel even when the old one's stream has not ended yet", () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-1-2-3-4');
      const b = cold('-5-6');
      const channels = hot('a----b-----', { a: 'a', b: 'b' });
      const out = acrossChannels(channels, (c: string) => (c === 'a' ? a : b));
      expectObservable(out).toBe('-1-2--5-6--');
      expectSubscriptions(a.subscriptions).toBe('^----!');
    });
  });

  it('treats a completed channel stream (closed for idleness) as a gap, not an end', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const a = cold('-1|');
      const b = cold('-2');
      const channels = hot('a---u--b---', { a: 'a', b: 'b', u: undefined });
      const out = acrossChannels(channels, (c: string) => (c === 'a' ? a : b));
      expectObservable(out).toBe('-1------2--');
    });
  });

  it('does not re-subscribe when the same channel is reported again (a status change)', () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-1--2--3');
      const channels = hot('a--a--a---', { a: 'a' });
      expectObservable(acrossChannels(channels, () => a)).toBe('-1--2--3--');
      expectSubscriptions(a.subscriptions).toBe('^');
    });
  });

  it('completes when the service closes and its last stream ended', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const a = cold('-1---|');
      const channels = hot('a--|', { a: 'a' });
      expectObservable(acrossChannels(channels, () => a)).toBe('-1---|');
    });
  });

  it('passes on an error that is no channel end (e.g. a second sample lane)', () => {
    const secondLane = new TransportError('ERR_BAD_ARGUMENT', 'event 0x8001 has a sample lane');
    scheduler().run(({ hot, cold, expectObservable }) => {
      const a = cold('-1-#', undefined, secondLane);
      const channels = hot('a-------', { a: 'a' });
      expectObservable(acrossChannels(channels, () => a)).toBe('-1-#', undefined, secondLane);
    });
  });

  it('unsubscribes from the channel stream and the channels when the subscriber leaves', () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-1-2-3-4');
      const channels = hot('a-------', { a: 'a' });
      expectObservable(
        acrossChannels(channels, () => a),
        '^--!',
      ).toBe('-1-');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(channels.subscriptions).toBe('^--!');
    });
  });

  it('knows the errors a channel end brings from the runtime and the transport', () => {
    expect(isChannelEnd(peerGone)).to.equal(true);
    expect(isChannelEnd(new TransportError('ERR_PEER_GONE', 'x'))).to.equal(true);
    expect(isChannelEnd(new TransportError('ERR_CLOSED', 'x'))).to.equal(true);
    expect(isChannelEnd(new RuntimeError('ERR_TIMEOUT', 'x'))).to.equal(false);
    expect(isChannelEnd(new Error('x'))).to.equal(false);
  });

  it('works with a live subject as the channel source (no scheduler)', () => {
    const channels = new Subject<string | undefined>();
    const got: number[] = [];
    const streams: Record<string, Subject<number>> = { a: new Subject(), b: new Subject() };
    acrossChannels(channels, (c) => streams[c]!).subscribe((v) => got.push(v));
    channels.next('a');
    streams.a!.next(1);
    streams.a!.error(peerGone);
    channels.next(undefined);
    streams.a!.next(99); // an ended channel delivers nothing more
    channels.next('b');
    streams.b!.next(2);
    expect(got).to.deep.equal([1, 2]);
  });

  it("ends a channel's part when its end stream errors, and waits for both to complete", () => {
    scheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const a = cold('-1-2-3-4-5');
      const aEnd = cold<never>('----#', undefined, peerGone);
      const b = cold('-6|');
      const bEnd = cold<never>('------|');
      const channels = hot('a-----b---|', { a: 'a', b: 'b' });
      const out = acrossChannels(
        channels,
        (c: string) => (c === 'a' ? a : b),
        (c: string) => (c === 'a' ? aEnd : bEnd),
      );
      // b's values end at 8 but its end stream only at 12: the result completes then.
      expectObservable(out).toBe('-1-2---6----|');
      expectSubscriptions(a.subscriptions).toBe('^---!');
      expectSubscriptions(bEnd.subscriptions).toBe('------^-----!');
    });
  });

  it('passes on an error of the end stream that is no channel end', () => {
    const broken = new RuntimeError('ERR_TIMEOUT', 'x');
    scheduler().run(({ hot, cold, expectObservable }) => {
      const a = cold('-1-2-3');
      const end = cold<never>('--#', undefined, broken);
      const channels = hot('a-----', { a: 'a' });
      expectObservable(
        acrossChannels(
          channels,
          () => a,
          () => end as Observable<never>,
        ),
      ).toBe('-1#', undefined, broken);
    });
  });

  it('behaves as distinctUntilChanged + switchMap + catchError over merge(stream, end) on random histories', () => {
    /** The operator chain acrossChannels replaced, as it was. */
    const byOperators = <C, T>(
      channels$: Observable<C | undefined>,
      streamOf: (c: C) => Observable<T>,
      endOf: (c: C) => Observable<never>,
    ): Observable<T> =>
      channels$.pipe(
        distinctUntilChanged(),
        switchMap((c) =>
          c === undefined
            ? EMPTY
            : merge(streamOf(c), endOf(c)).pipe(
                catchError((e: unknown) => (isChannelEnd(e) ? EMPTY : throwError(() => e))),
              ),
        ),
      );
    const names = ['a', 'b', 'c'] as const;
    const step = fc.oneof(
      fc.record({ k: fc.constant('channel' as const), c: fc.constantFrom(...names, undefined) }),
      fc.record({ k: fc.constant('value' as const), c: fc.constantFrom(...names), v: fc.nat(99) }),
      fc.record({
        k: fc.constantFrom('stream' as const, 'end' as const),
        c: fc.constantFrom(...names),
        how: fc.constantFrom('complete', 'gone', 'broken'),
      }),
      fc.record({ k: fc.constant('channelsDone' as const) }),
      fc.record({ k: fc.constant('leave' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 40, size: 'max' }), (steps) => {
        const run = (impl: typeof byOperators): string[] => {
          const channels = new Subject<string | undefined>();
          const streams = new Map<string, Subject<number>>(names.map((n) => [n, new Subject()]));
          const ends = new Map<string, Subject<never>>(names.map((n) => [n, new Subject()]));
          const log: string[] = [];
          const sub = impl(
            channels,
            (c) => streams.get(c)!,
            (c) => ends.get(c)!,
          ).subscribe({
            next: (v) => log.push(`v${v}`),
            error: (e: Error) => log.push(`error ${e.message}`),
            complete: () => log.push('complete'),
          });
          for (const s of steps) {
            if (s.k === 'channel') channels.next(s.c);
            else if (s.k === 'value') streams.get(s.c)!.next(s.v);
            else if (s.k === 'channelsDone') channels.complete();
            else if (s.k === 'leave') sub.unsubscribe();
            else {
              const target = s.k === 'stream' ? streams.get(s.c)! : ends.get(s.c)!;
              if (s.how === 'complete') target.complete();
              else target.error(s.how === 'gone' ? peerGone : new Error('broken'));
            }
            log.push(
              `observed ${[...streams.values(), ...ends.values()].map((x) => Number(x.observed)).join('')}`,
            );
          }
          return log;
        };
        expect(run(acrossChannels)).to.deep.equal(run(byOperators));
      }),
      { numRuns: 500 },
    );
  });
});
