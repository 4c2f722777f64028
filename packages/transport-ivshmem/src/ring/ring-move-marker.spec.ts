// The move marker (docs/protocol.md §11.3): the last thing a producer puts in a ring before its
// channel goes on in a successor window. The consumer reads every record before it, takes the
// successor id from it, releases its bytes (the producer sees it passed) and reads nothing after.
import { expect } from 'chai';
import { RingPageLayout, WindowLayout } from '@sivshm/abi';
import { RingConsumer } from './ring-consumer.js';
import { MoveMarkerLayout } from './ring-move-marker.js';
import { RingProducer } from './ring-producer.js';
import { ringViews, windowOf, type RingViews } from './ring-views.js';

const DATA = 4096;

function views(): RingViews {
  const len = WindowLayout.windowLength(DATA);
  return ringViews(
    windowOf({ shared: new Uint8Array(new SharedArrayBuffer(len)) }, 0, len),
    'p2c',
    DATA,
  );
}

const header = {
  service: 0x1234,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

describe('ring move marker', () => {
  it('should deliver every record before the marker, then name the successor and read nothing after it', () => {
    const v = views();
    const p = new RingProducer(v);
    const c = new RingConsumer(v);
    for (let i = 0; i < 3; i++) expect(p.sendCopy(header, new Uint8Array([i]))).to.equal(true);
    const end = p.sendMoveMarker(0x1234_5678_9abc_def0n);
    expect(end).to.equal(3 * 24 + MoveMarkerLayout.size);
    // A hostile producer keeps writing after its marker: never read.
    expect(p.sendCopy(header, new Uint8Array([9]))).to.equal(true);
    const got: number[] = [];
    for (let r = c.receive(); r !== undefined; r = c.receive()) {
      got.push(r.payload[0]!);
      c.release();
    }
    expect(got).to.deep.equal([0, 1, 2]);
    expect(c.movedTo).to.equal(0x1234_5678_9abc_def0n);
    expect(c.failure).to.equal(undefined);
    expect(c.receive()).to.equal(undefined);
    expect(c.hasPending(), 'the waiter wakes to follow').to.equal(true);
    expect(p.peerConsumed(), 'the producer sees its marker passed').to.equal(end);
    const records = Atomics.load(v.words, v.producerWord + RingPageLayout.producer.records / 4);
    expect(records, 'the marker is not counted as a record').to.equal(4);
  });

  it('should wait for room for the marker in a full ring', () => {
    const v = views();
    const p = new RingProducer(v);
    const c = new RingConsumer(v);
    while (p.sendCopy(header, new Uint8Array(100)));
    expect(p.sendMoveMarker(7n)).to.equal(-1);
    expect(c.receive()).not.to.equal(undefined);
    c.release();
    expect(p.sendMoveMarker(7n)).to.be.greaterThan(0);
  });

  it('should refuse a marker of another length as a ring violation', () => {
    const v = views();
    const p = new RingProducer(v);
    const c = new RingConsumer(v);
    p.sendMoveMarker(7n);
    v.windowView.setUint32(v.dataOffset + 4, 8); // the length field, big-endian
    expect(c.receive()).to.equal(undefined);
    expect(c.movedTo).to.equal(undefined);
    expect(c.failure?.code).to.equal('ERR_RING_VIOLATION');
    expect(c.failure?.message).to.match(/move marker length 8 /);
  });
});
