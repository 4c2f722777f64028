import { expect } from 'chai';
import { RingPageLayout, WindowLayout } from '@sivshm/abi';
import type { TransportError } from '../errors/transport-error.js';
import { RingConsumer } from './ring-consumer.js';
import { RingProducer } from './ring-producer.js';
import { ringViews } from './ring-views.js';
import type { RingViews } from './ring-views.js';
import type { SomeIpHeader } from './someip-header.js';

const CAP = 4096;
const HDR: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 0x0042,
  session: 7,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

function heapRing(): { views: RingViews; producer: RingProducer; consumer: RingConsumer } {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
  const views = ringViews({ shared: new Uint8Array(sab) }, 'c2p', CAP);
  return { views, producer: new RingProducer(views), consumer: new RingConsumer(views) };
}

/** Lets the failure listeners (run in a microtask) fire. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function expectViolation(consumer: RingConsumer, pattern: RegExp): Promise<void> {
  const seen: TransportError[] = [];
  consumer.onFailure((e) => seen.push(e));
  expect(consumer.receive()).to.equal(undefined);
  await tick();
  expect(consumer.failure?.code).to.equal('ERR_RING_VIOLATION');
  expect(consumer.failure?.message).to.match(pattern);
  expect(seen.map((e) => e.code)).to.deep.equal(['ERR_RING_VIOLATION']);
  // Stays failed, never throws, and tells the producer through its closed flag.
  expect(consumer.receive()).to.equal(undefined);
  expect(consumer.hasPending()).to.equal(true);
}

function setProd(views: RingViews, value: number): void {
  Atomics.store(views.producerPage, RingPageLayout.producer.index / 4, value >>> 0);
}

describe('RingConsumer', () => {
  describe('.receive', () => {
    it('should return undefined on an empty ring', () => {
      const { consumer } = heapRing();
      expect(consumer.receive()).to.equal(undefined);
      expect(consumer.failure).to.equal(undefined);
    });

    it('should read back header fields and payload of a record, and the frame should be SOME/IP big-endian', () => {
      const { producer, consumer, views } = heapRing();
      expect(producer.sendCopy(HDR, new Uint8Array([1, 2, 3]))).to.equal(true);
      const raw = new Uint8Array(views.dataShared.buffer, views.dataShared.byteOffset, 24);
      expect([...raw.subarray(0, 16)]).to.deep.equal([
        0x12, 0x34, 0x80, 0x01, 0, 0, 0, 11, 0x00, 0x42, 0, 7, 1, 1, 0x02, 0,
      ]);
      const r = consumer.receive()!;
      expect(r.header).to.deep.equal(HDR);
      expect([...r.payload]).to.deep.equal([1, 2, 3]);
      consumer.release();
      expect(consumer.receive()).to.equal(undefined);
    });

    it('should refuse a second receive before release', () => {
      const { producer, consumer } = heapRing();
      producer.sendCopy(HDR, new Uint8Array(1));
      producer.sendCopy(HDR, new Uint8Array(1));
      consumer.receive();
      expect(() => consumer.receive()).to.throw(/before release/);
    });

    it('should hand out a payload view that lies inside the data area of the window', () => {
      const { producer, consumer, views } = heapRing();
      producer.sendCopy(HDR, new Uint8Array(100));
      const p = consumer.receive()!.payload;
      expect(p.buffer).to.equal(views.dataBulk.buffer);
      expect(p.byteOffset).to.be.at.least(views.dataBulk.byteOffset);
      expect(p.byteOffset + p.byteLength).to.be.at.most(views.dataBulk.byteOffset + CAP);
    });
  });

  describe('.receiveCopy', () => {
    it('should return a private copy and release the record at once', () => {
      const { producer, consumer } = heapRing();
      producer.sendCopy(HDR, new Uint8Array([9, 8]));
      const c = consumer.receiveCopy()!;
      expect(c.payload.buffer).to.not.be.instanceOf(SharedArrayBuffer);
      expect([...c.payload]).to.deep.equal([9, 8]);
      expect(producer.freeBytes).to.be.at.most(CAP); // released: the producer can reuse the bytes
      expect(consumer.receive()).to.equal(undefined);
    });
  });

  describe('violations (docs/security.md §8 E)', () => {
    it('should flag case 34: producer index = consumer index + capacity + 1', async () => {
      const { views, consumer } = heapRing();
      setProd(views, CAP + 1);
      await expectViolation(consumer, /ahead of consumer index/);
    });

    it('should flag a producer index one full capacity ahead plus one aligned record', async () => {
      const { views, consumer } = heapRing();
      setProd(views, CAP + 8);
      await expectViolation(consumer, /ahead/);
    });

    it('should flag case 35: producer index moving backwards', async () => {
      const { views, producer, consumer } = heapRing();
      producer.sendCopy(HDR, new Uint8Array(8));
      producer.sendCopy(HDR, new Uint8Array(8));
      consumer.receive();
      consumer.release();
      consumer.receive();
      consumer.release(); // consumer index is now 64
      setProd(views, 32);
      await expectViolation(consumer, /backwards/);
    });

    for (const [name, length, pattern] of [
      ['length 0', 0, /below the SOME\/IP minimum/],
      ['length 7', 7, /below the SOME\/IP minimum/],
      ['length 0xFFFFFFFF', 0xffff_ffff, /exceeds/],
      ['length above capacity', CAP + 8, /exceeds/],
      ['length beyond the published bytes', 200, /longer than the/],
    ] as const) {
      it(`should flag case 36: record ${name}`, async () => {
        const { views, producer, consumer } = heapRing();
        producer.sendCopy(HDR, new Uint8Array(16));
        views.dataShared.setUint32(4, length);
        await expectViolation(consumer, pattern);
      });
    }

    it('should flag case 36: a record straddling the end of the data area', async () => {
      const { views, consumer } = heapRing();
      // Forge indices so the record starts 16 bytes before the end and claims 64 bytes.
      const start = CAP - 16;
      Atomics.store(views.consumerPage, 0, start);
      const forged = new RingConsumer(views);
      views.dataShared.setUint32(start, 0x12348001);
      views.dataShared.setUint32(start + 4, 8 + 48);
      views.dataShared.setUint32(start + 12, 0x01010200);
      setProd(views, start + 64);
      await expectViolation(forged, /crosses the end/);
      expect(consumer.failure).to.equal(undefined);
    });

    it('should flag a wrap marker at offset 0 and one that skips more than was published', async () => {
      const a = heapRing();
      a.views.dataShared.setUint32(0, 0xffff_ffff);
      a.views.dataShared.setUint32(4, 0);
      setProd(a.views, 64);
      await expectViolation(a.consumer, /wrap marker at offset 0/);

      const b = heapRing();
      Atomics.store(b.views.consumerPage, 0, 64);
      const c = new RingConsumer(b.views);
      b.views.dataShared.setUint32(64, 0xffff_ffff);
      b.views.dataShared.setUint32(68, 0);
      setProd(b.views, 64 + 16); // marker claims CAP − 64 bytes, only 16 published
      await expectViolation(c, /skips/);
    });

    it('should flag a wrong protocol version, an unknown message type and the reserved service', async () => {
      for (const [word, value, pattern] of [
        [12, 0x02010200, /protocol version 2/],
        [12, 0x01010700, /message type 0x7/],
        [0, 0xffff8100, /reserved service/],
      ] as const) {
        const { views, producer, consumer } = heapRing();
        producer.sendCopy(HDR, new Uint8Array(4));
        views.dataShared.setUint32(word, value);
        await expectViolation(consumer, pattern);
      }
    });

    it('should flag a misaligned producer index', async () => {
      const { views, consumer } = heapRing();
      setProd(views, 20);
      await expectViolation(consumer, /aligned/);
    });

    it('should set its closed flag on a violation so the producer learns of it', async () => {
      const { views, producer, consumer } = heapRing();
      setProd(views, CAP + 1);
      consumer.receive();
      await tick();
      expect(producer.consumerClosed).to.equal(true);
    });
  });

  describe('.fail', () => {
    it('should report ERR_PEER_GONE from a watchdog or hostd to listeners once', async () => {
      const { consumer } = heapRing();
      const seen: string[] = [];
      consumer.onFailure((e) => seen.push(e.code));
      const { TransportError: TE } = await import('../errors/transport-error.js');
      consumer.fail(new TE('ERR_PEER_GONE', 'hostd says the provider VM died'));
      consumer.fail(new TE('ERR_RING_VIOLATION', 'later, ignored'));
      await tick();
      expect(seen).to.deep.equal(['ERR_PEER_GONE']);
      expect(consumer.receive()).to.equal(undefined);
    });
  });
});
