import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews, windowOf } from '../ring/ring-views.js';
import { FollowingTap, type TapPlacement } from './following-tap.js';
import { RingTap } from './ring-tap.js';

/** One window's c2p ring in memory: its producer, its bytes as a tap placement, `release`. */
function ring(dataSize: number): {
  producer: RingProducer;
  placement: TapPlacement;
  release(): void;
} {
  const len = WindowLayout.windowLength(dataSize);
  const shared = new Uint8Array(new SharedArrayBuffer(len));
  const views = ringViews(windowOf({ shared }, 0, len), 'c2p', dataSize);
  return {
    producer: new RingProducer(views),
    placement: { direction: shared.subarray(0, WindowLayout.directionSize(dataSize)), dataSize },
    release: () =>
      Atomics.store(views.words, views.consumerWord, Atomics.load(views.words, views.producerWord)),
  };
}

const send = (p: RingProducer, n: number): void => {
  const header = {
    service: 0x1234,
    method: 0x8001,
    client: 0,
    session: n,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  expect(p.sendCopy(header, new Uint8Array([n]))).to.equal(true);
};

const ns = (records: readonly { frame: Uint8Array }[]): number[] =>
  records.map((r) => r.frame[16]!);

describe('RingTap and FollowingTap at a move marker (protocol §11.3)', () => {
  it('should stop a RingTap at the marker, name the successor, and never return the marker', () => {
    const w0 = ring(PAGE_SIZE);
    const tap = new RingTap(w0.placement.direction, PAGE_SIZE, PAGE_SIZE, 0);
    send(w0.producer, 1);
    w0.producer.sendMoveMarker(0xabcdn);
    send(w0.producer, 2); // a hostile write after the marker: not the channel's
    expect(ns(tap.poll())).to.deep.equal([1]);
    expect(tap.movedTo).to.equal(0xabcdn);
    expect(tap.poll()).to.deep.equal([]);
  });

  it('should go on in the successor window from its first record, once and in order', () => {
    const w0 = ring(PAGE_SIZE);
    const w1 = ring(4 * PAGE_SIZE);
    let known = false;
    const tap = new FollowingTap(0x10n, w0.placement, (id) =>
      id === 0x11n && known ? w1.placement : undefined,
    );
    send(w0.producer, 1);
    send(w1.producer, 3); // the producer already writes W1 while W0 is full
    w0.producer.sendMoveMarker(0x11n);
    send(w0.producer, 99); // after the marker: never read
    send(w1.producer, 4);
    expect(ns(tap.poll()), 'successor not in the table yet').to.deep.equal([1]);
    expect(tap.waitingFor).to.equal(0x11n);
    known = true;
    const next = tap.poll();
    expect(ns(next)).to.deep.equal([3, 4]);
    expect(next.map((r) => r.channelId)).to.deep.equal([0x11n, 0x11n]);
    expect([tap.channelId, tap.moves, tap.lost, tap.malformed]).to.deep.equal([0x11n, 1, 0, 0]);
    w1.release();
    w0.release();
  });
});
