// Marble tests of the stream logic behind ConsumedService.event()/samples(): one subscriber
// over successive channels. `channels$` marbles: a, b = a channel is current; u = none.
import { expect } from 'chai';
import { Subject } from 'rxjs';
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
});
