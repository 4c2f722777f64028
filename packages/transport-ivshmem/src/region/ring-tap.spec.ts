import { expect } from 'chai';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { RingProducer } from '../ring/ring-producer.js';
import { ringViews, windowOf } from '../ring/ring-views.js';
import { RingTap } from './ring-tap.js';

const DATA = 4 * PAGE_SIZE;

/**
 * A window in memory with a producer on its c2p ring, the c2p direction's bytes, and `release`,
 * which plays the consumer (takes every record published so far).
 */
function ring(): { producer: RingProducer; direction: Uint8Array; release(): void } {
  const len = WindowLayout.windowLength(DATA);
  const shared = new Uint8Array(new SharedArrayBuffer(len));
  const views = ringViews(windowOf({ shared }, 0, len), 'c2p', DATA);
  const producer = new RingProducer(views);
  return {
    producer,
    direction: shared.subarray(0, WindowLayout.directionSize(DATA)),
    release: () =>
      Atomics.store(views.words, views.consumerWord, Atomics.load(views.words, views.producerWord)),
  };
}

const send = (p: RingProducer, session: number): void => {
  const header = {
    service: 0x1234,
    method: 0x8001,
    client: 0,
    session,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  expect(p.sendCopy(header, new Uint8Array([session]))).to.equal(true);
};

describe('RingTap', () => {
  it('should start at the producer index by default: records from now on', () => {
    const { producer, direction } = ring();
    send(producer, 1);
    const tap = new RingTap(direction, DATA);
    send(producer, 2);
    expect(tap.poll().map((r) => r.frame[16])).to.deep.equal([2]);
  });

  it('should read a new channel from its first record when started at index 0', () => {
    const { producer, direction } = ring();
    send(producer, 1);
    send(producer, 2);
    const tap = new RingTap(direction, DATA, PAGE_SIZE, 0);
    send(producer, 3);
    expect(tap.poll().map((r) => r.frame[16])).to.deep.equal([1, 2, 3]);
    expect(tap.lost).to.equal(0);
  });

  it('should resynchronise, counting a loss, when index 0 has already been lapped', () => {
    const { producer, direction, release } = ring();
    // Records of 16 + 1 bytes padded to 24; this many go round the data area once.
    for (let i = 0; i <= DATA / 24 + 1; i++) {
      send(producer, i + 1);
      release();
    }
    const tap = new RingTap(direction, DATA, PAGE_SIZE, 0);
    expect(tap.poll()).to.deep.equal([]);
    expect(tap.lost).to.equal(1);
    send(producer, 7);
    expect(tap.poll().map((r) => r.frame[16])).to.deep.equal([7]);
  });
});
