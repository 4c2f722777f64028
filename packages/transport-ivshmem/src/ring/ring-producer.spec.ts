import { expect } from 'chai';
import { maxPayloadFor, RingPageLayout, WindowLayout } from '@sivshm/abi';
import { TransportError } from '../errors/transport-error.js';
import { LocalWaker } from '../notify/local-waker.js';
import { RingConsumer } from './ring-consumer.js';
import { RingProducer } from './ring-producer.js';
import { ringViews } from './ring-views.js';
import type { RingViews } from './ring-views.js';
import type { SomeIpHeader } from './someip-header.js';

const CAP = 4096;
const HDR: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 1,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

function heapRing(cap = CAP): { views: RingViews; producer: RingProducer; consumer: RingConsumer } {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(cap));
  const views = ringViews({ shared: new Uint8Array(sab) }, 'p2c', cap);
  return { views, producer: new RingProducer(views), consumer: new RingConsumer(views) };
}

function pattern(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (seed * 31 + i * 7) & 0xff;
  return a;
}

async function rejection(p: Promise<unknown>): Promise<TransportError> {
  try {
    await p;
  } catch (e) {
    if (TransportError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('RingProducer', () => {
  describe('.loan / .send', () => {
    it('should send a record written in place (zero-copy lane)', () => {
      const { producer, consumer } = heapRing();
      const slot = producer.loan(5)!;
      expect(slot.payload.length).to.equal(5);
      slot.payload.set([5, 4, 3, 2, 1]);
      Object.assign(slot.header, HDR, { session: 99 });
      expect(consumer.receive()).to.equal(undefined); // nothing visible before send
      producer.send(slot);
      const r = consumer.receive()!;
      expect(r.header.session).to.equal(99);
      expect([...r.payload]).to.deep.equal([5, 4, 3, 2, 1]);
    });

    it('should refuse a second loan before send, a payload above the maximum, and a bad header', () => {
      const { producer } = heapRing();
      expect(producer.maxPayload).to.equal(maxPayloadFor(CAP));
      expect(() => producer.loan(producer.maxPayload + 1)).to.throw(TransportError, /out of range/);
      const slot = producer.loan(producer.maxPayload)!;
      expect(() => producer.loan(1)).to.throw(TransportError, /already on loan/);
      Object.assign(slot.header, HDR, { service: 0x1_0000 });
      expect(() => producer.send(slot)).to.throw(TransportError, /service/);
      Object.assign(slot.header, HDR, { messageType: 0x55 });
      expect(() => producer.send(slot)).to.throw(TransportError, /messageType/);
    });

    it('should send nothing for an abandoned loan and allow the next loan', () => {
      const { producer, consumer } = heapRing();
      const slot = producer.loan(16)!;
      slot.payload.fill(0xaa);
      producer.abandon(slot);
      expect(() => producer.abandon(slot)).to.throw(TransportError, /last loan/);
      producer.sendStaged();
      expect(consumer.receive()).to.equal(undefined);
      expect(producer.sendCopy(HDR, new Uint8Array([1]))).to.equal(true);
      expect([...consumer.receive()!.payload]).to.deep.equal([1]);
    });

    it('should batch: stage several records and send them with one sendStaged', () => {
      const { producer, consumer } = heapRing();
      for (let i = 0; i < 3; i++) {
        const s = producer.loan(4)!;
        Object.assign(s.header, HDR, { session: i });
        producer.stage(s);
      }
      expect(consumer.receive()).to.equal(undefined);
      producer.sendStaged();
      const got: number[] = [];
      for (let r = consumer.receive(); r; r = consumer.receive()) {
        got.push(r.header.session);
        consumer.release();
      }
      expect(got).to.deep.equal([0, 1, 2]);
    });
  });

  describe('wrap-around', () => {
    it('should carry 10 000 records of mixed sizes through a 4 KiB ring in order and intact, using wrap markers', () => {
      const { producer, consumer, views } = heapRing();
      let sent = 0;
      let received = 0;
      let markers = 0;
      const sizes = [0, 1, 7, 8, 100, 333, 1000, producer.maxPayload];
      while (received < 10_000) {
        const n = sizes[sent % sizes.length]!;
        const prodBefore = Atomics.load(views.producerPage, 0);
        if (
          sent < 10_000 &&
          producer.sendCopy({ ...HDR, session: sent & 0xffff }, pattern(n, sent))
        ) {
          const pos = prodBefore & (CAP - 1);
          if (views.dataShared.getUint32(pos) === 0xffff_ffff && pos + 16 + n > CAP) markers++;
          sent++;
          continue;
        }
        const r = consumer.receiveCopy();
        expect(r, `record ${received}`).to.not.equal(undefined);
        expect(r!.header.session).to.equal(received & 0xffff);
        expect(r!.payload).to.deep.equal(pattern(sizes[received % sizes.length]!, received));
        received++;
      }
      expect(consumer.failure).to.equal(undefined);
      expect(markers).to.be.greaterThan(50);
    });
  });

  describe('full ring (backpressure, fail policy)', () => {
    it('should return false / undefined when full, write nothing, and recover after release', () => {
      const { producer, consumer } = heapRing();
      let n = 0;
      while (producer.sendCopy(HDR, new Uint8Array(56))) n++;
      expect(n).to.equal((CAP / 72) | 0);
      expect(producer.loan(56)).to.equal(undefined);
      consumer.receive();
      consumer.release();
      expect(producer.sendCopy(HDR, new Uint8Array(56))).to.equal(true);
      // Everything sent arrives; the refused ones were never half-written.
      let got = 0;
      while (consumer.receiveCopy()) got++;
      expect(got).to.equal(n);
    });
  });

  describe('.loanWait / .sendCopyWait (backpressure, wait policy)', () => {
    it('should wait until the consumer makes room', async () => {
      const { producer, consumer } = heapRing();
      while (producer.sendCopy(HDR, new Uint8Array(56)));
      setTimeout(() => {
        consumer.receive();
        consumer.release();
      }, 20);
      const slot = await producer.loanWait(56, { timeoutMs: 5000 });
      Object.assign(slot.header, HDR);
      producer.send(slot);
      expect(consumer.failure).to.equal(undefined);
    });

    it('should fail with ERR_TIMEOUT when the consumer stopped (case 38), with memory bounded', async () => {
      const { producer } = heapRing();
      while (producer.sendCopy(HDR, new Uint8Array(56)));
      while (producer.sendCopy(HDR, new Uint8Array(0)));
      const heapBefore = process.memoryUsage().heapUsed;
      for (let i = 0; i < 100_000; i++)
        expect(producer.sendCopy(HDR, new Uint8Array(0))).to.equal(false);
      const e = await rejection(producer.sendCopyWait(HDR, new Uint8Array(56), { timeoutMs: 50 }));
      expect(e.code).to.equal('ERR_TIMEOUT');
      expect(e.message).to.match(/stayed full/);
      // Refused sends queue nothing outside the ring: the heap grows by far less than 100 000 records.
      expect(process.memoryUsage().heapUsed - heapBefore).to.be.below(16 * 1024 * 1024);
      expect((await rejection(producer.loanWait(8, { timeoutMs: 10 }))).code).to.equal(
        'ERR_TIMEOUT',
      );
    });

    it('should fail with ERR_PEER_GONE when the consumer closes while the producer waits', async () => {
      const { producer, consumer } = heapRing();
      while (producer.sendCopy(HDR, new Uint8Array(56)));
      setTimeout(() => consumer.close(), 10);
      expect((await rejection(producer.loanWait(56, { timeoutMs: 5000 }))).code).to.equal(
        'ERR_PEER_GONE',
      );
    });

    it('should honour an abort signal', async () => {
      const { producer } = heapRing();
      while (producer.sendCopy(HDR, new Uint8Array(56)));
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('stop')), 10);
      let err: unknown;
      await producer
        .loanWait(56, { timeoutMs: 5000, signal: ac.signal })
        .catch((e: unknown) => (err = e));
      expect((err as Error).message).to.equal('stop');
    });
  });

  describe('consumer index validation', () => {
    it('should fail with ERR_RING_VIOLATION when the consumer index jumps past the producer', () => {
      const { producer, views } = heapRing();
      while (producer.sendCopy(HDR, new Uint8Array(56)));
      Atomics.store(views.consumerPage, RingPageLayout.consumer.index / 4, 1 << 20);
      expect(() => producer.sendCopy(HDR, new Uint8Array(56))).to.throw(
        TransportError,
        /consumer index/,
      );
      expect(producer.failure?.code).to.equal('ERR_RING_VIOLATION');
    });
  });

  describe('.sendStaged (parked-flag protocol)', () => {
    it('should ring the waker only while the consumer is parked, once per sleep', async () => {
      const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
      const views = ringViews({ shared: new Uint8Array(sab) }, 'c2p', CAP);
      let rings = 0;
      const inner = new LocalWaker();
      const waker = {
        wake: () => (rings++, inner.wake()),
        wait: inner.wait.bind(inner),
        close: () => inner.close(),
      };
      const producer = new RingProducer(views, { waker });
      const consumer = new RingConsumer(views);
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(rings).to.equal(0);
      consumer.setParked(true);
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(rings).to.equal(1);
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(rings, 'one ring per sleep, not per record').to.equal(1);
      expect(await inner.wait(0)).to.equal(true);
      consumer.setParked(false);
      consumer.setParked(true); // the next sleep gets its own ring
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(rings).to.equal(2);
    });
  });

  describe('.close', () => {
    it('should let the consumer drain what was sent, then report ERR_CLOSED', async () => {
      const { producer, consumer } = heapRing();
      producer.sendCopy(HDR, new Uint8Array(3));
      producer.close();
      expect(() => producer.sendCopy(HDR, new Uint8Array(3))).to.throw(TransportError, /closed/);
      expect(consumer.receiveCopy()).to.not.equal(undefined);
      expect(consumer.receive()).to.equal(undefined);
      expect(consumer.failure?.code).to.equal('ERR_CLOSED');
    });
  });

  describe('.beat', () => {
    it('should bump the heartbeat word the consumer reads', () => {
      const { producer, consumer } = heapRing();
      const before = consumer.peerHeartbeat();
      producer.beat();
      producer.beat();
      expect(consumer.peerHeartbeat()).to.equal(before + 2);
      const progress = consumer.peerProgress();
      producer.sendCopy(HDR, new Uint8Array(1));
      expect(consumer.peerProgress(), 'publishing counts as a sign of life').to.not.equal(progress);
    });
  });
});
