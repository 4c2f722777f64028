import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { WindowLayout } from '@sivshm/abi';
import { TransportError } from '../src/errors/transport-error.js';
import { decodeFrom } from '../src/protobuf/decode-from.js';
import { encodeInto, encodedLength } from '../src/protobuf/encode-into.js';
import { signalNumber } from '../src/protobuf/fixtures/ring-signals.js';
import { schemas } from '../src/protobuf/fixtures/test-schemas.js';
import { receiveSample } from '../src/protobuf/receive-sample.js';
import { SampleLedger } from '../src/protobuf/sample-ledger.js';
import { toOwned } from '../src/protobuf/to-owned.js';
import { RingConsumer } from '../src/ring/ring-consumer.js';
import { RingProducer } from '../src/ring/ring-producer.js';
import { ringViews } from '../src/ring/ring-views.js';
import type { RingViews } from '../src/ring/ring-views.js';
import type { SomeIpHeader } from '../src/ring/someip-header.js';
import { startWorker } from './helpers/spawn-node.js';

const { VehicleSignal } = schemas;
const CAP = 4096;
const HEADER: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 1,
  session: 0,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};

interface Signal {
  id: Uint8Array;
  payload: Uint8Array;
  rpm: number;
  gear: number;
}

function heapRing(): {
  sab: SharedArrayBuffer;
  views: RingViews;
  producer: RingProducer;
  consumer: RingConsumer;
} {
  const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
  const views = ringViews({ shared: new Uint8Array(sab) }, 'p2c', CAP);
  return { sab, views, producer: new RingProducer(views), consumer: new RingConsumer(views) };
}

/** Zero-copy send: size, loan exactly that, encode into the slot, send. */
function sendSignal(producer: RingProducer, message: object, session: number): boolean {
  const length = encodedLength(VehicleSignal, message);
  const slot = producer.loan(length);
  if (slot === undefined) return false;
  expect(encodeInto(VehicleSignal, message, slot.payload, { length })).to.equal(length);
  Object.assign(slot.header, HEADER, { session });
  producer.send(slot);
  return true;
}

function expectSignal(actual: object, i: number): void {
  const expected = VehicleSignal.encode(signalNumber(i)).finish();
  const again = VehicleSignal.encode(actual).finish();
  expect(Buffer.compare(again, expected), `message ${i}`).to.equal(0);
}

/** The ring's data area as [start, end) byte offsets into the window buffer. */
function dataArea(views: RingViews): [number, number] {
  const start = views.dataBulk.byteOffset;
  return [start, start + views.dataSize];
}

describe('zero-copy protobuf over a ring (heap SharedArrayBuffer window)', () => {
  describe('encodeInto a loaned slot → decodeFrom the record', () => {
    it('should carry 3000 messages of 0..600-byte payloads through wrap-arounds, decoded in place', () => {
      const { sab, views, producer, consumer } = heapRing();
      const [lo, hi] = dataArea(views);
      const total = 3000;
      let sent = 0;
      let received = 0;
      for (let rounds = 0; received < total && rounds < 100_000; rounds++) {
        while (sent < total && sendSignal(producer, signalNumber(sent), sent & 0xffff)) sent++;
        for (let r = consumer.receive(); r !== undefined; r = consumer.receive()) {
          expect(r.header.session).to.equal(received & 0xffff);
          const m = decodeFrom<Signal>(VehicleSignal, r.payload);
          // Zero-copy: bytes fields are views into the ring's data area, not copies (an
          // absent field is protobufjs's shared empty default instead).
          for (const b of [m.id, m.payload].filter((v) => v.length > 0)) {
            expect(b.buffer).to.equal(sab);
            expect(b.byteOffset).to.be.within(lo, hi - b.length);
          }
          expectSignal(m, received);
          consumer.release();
          received++;
        }
      }
      expect(received).to.equal(total);
      expect(consumer.failure).to.equal(undefined);
    });

    it('should refuse a slot too small for the message without writing into the ring', () => {
      const { views, producer } = heapRing();
      const message = signalNumber(5);
      const length = encodedLength(VehicleSignal, message);
      const slot = producer.loan(length - 1)!;
      const before = Uint8Array.from(views.dataBulk);
      expect(() => encodeInto(VehicleSignal, message, slot.payload))
        .to.throw(TransportError, `target of ${length - 1} bytes is too small`)
        .with.property('code', 'ERR_BAD_ARGUMENT');
      expect(Buffer.compare(views.dataBulk, before)).to.equal(0);
    });
  });

  describe('receiveSample', () => {
    it('should deliver a Sample aliasing the slot until release(), then give the record back', () => {
      const { sab, producer, consumer } = heapRing();
      const ledger = new SampleLedger();
      expect(sendSignal(producer, signalNumber(1), 7)).to.equal(true);
      const sample = receiveSample<Signal>(consumer, VehicleSignal, { ledger })!;
      expect(sample.header?.session).to.equal(7);
      const raw = sample.raw(sample.message.payload);
      expect(raw.buffer).to.equal(sab);
      raw.fill(0); // the slot's memory, seen through the sample
      expect(sample.message.payload[0]).to.equal(0);
      const kept = sample.toOwned();
      const payload = sample.message.payload;
      expect(() => consumer.receive()).to.throw(TransportError, /before release/);
      sample.release();
      expect(ledger.live).to.equal(0);
      expect(() => payload[0]).to.throw(TransportError, 'sample used after release()');
      // The producer may now reuse the space; the owned copy is unaffected.
      for (let i = 0; i < 20; i++) {
        expect(sendSignal(producer, signalNumber(100 + i), i)).to.equal(true);
        receiveSample(consumer, VehicleSignal)!.release();
      }
      expect(kept.payload.every((b) => b === 0)).to.equal(true);
      expect(kept.id[0]).to.equal(16);
      expect(toOwned(kept)).to.deep.equal(kept);
    });

    it('should release a record that does not decode, throw ERR_DECODE, and go on with the next', () => {
      const { producer, consumer } = heapRing();
      expect(producer.sendCopy(HEADER, new Uint8Array([0x12, 0x7f, 0x01]))).to.equal(true);
      expect(sendSignal(producer, signalNumber(2), 2)).to.equal(true);
      expect(() => receiveSample(consumer, VehicleSignal))
        .to.throw(TransportError)
        .with.property('code', 'ERR_DECODE');
      const next = receiveSample<Signal>(consumer, VehicleSignal)!;
      expectSignal(next.toOwned(), 2);
      next.release();
      expect(receiveSample(consumer, VehicleSignal)).to.equal(undefined);
      expect(consumer.failure).to.equal(undefined);
    });
  });

  describe('across threads', () => {
    it('should only decode or throw ERR_DECODE while another thread rewrites the bytes being decoded', async function () {
      this.timeout(60_000);
      const encoded = VehicleSignal.encode({
        ...signalNumber(3),
        payload: new Uint8Array(200).fill(7),
      }).finish();
      const sab = new SharedArrayBuffer(encoded.length + 64);
      const view = new Uint8Array(sab, 32, encoded.length);
      view.set(encoded);
      const stop = new Int32Array(new SharedArrayBuffer(8));
      // A hostile producer: flips lengths, tags and payload bytes of the record as fast as it can.
      const flipper = new Worker(
        `const { workerData: { sab, off, len, stop } } = require('node:worker_threads');
         const v = new Uint8Array(sab, off, len); const s = new Int32Array(stop);
         let x = 12345;
         for (let i = 0; i < 1e9 && Atomics.load(s, 0) === 0; i++) {
           x = (x * 1103515245 + 12345) & 0x7fffffff;
           v[x % len] = (x >>> 8) & 0xff;
           if ((i & 1023) === 0) Atomics.store(s, 1, i);
         }`,
        { eval: true, workerData: { sab, off: 32, len: encoded.length, stop: stop.buffer } },
      );
      try {
        const started = performance.now();
        while (Atomics.load(stop, 1) === 0 && performance.now() - started < 10_000) {
          await new Promise((r) => setTimeout(r, 5));
        }
        const outcomes = { decoded: 0, ERR_DECODE: 0 };
        for (let i = 0; i < 20_000; i++) {
          try {
            const m = decodeFrom<Signal>(VehicleSignal, view);
            for (const b of [m.id, m.payload].filter((v) => v.length > 0)) {
              expect(b.buffer).to.equal(sab);
              expect(b.byteOffset + b.length).to.be.at.most(view.byteOffset + view.length);
            }
            outcomes.decoded++;
          } catch (e) {
            if (!(TransportError.is(e) && e.code === 'ERR_DECODE')) throw e;
            outcomes.ERR_DECODE++;
          }
        }
        expect(outcomes.decoded + outcomes.ERR_DECODE).to.equal(20_000);
        expect(Atomics.load(stop, 1), 'the flipper ran').to.be.greaterThan(0);
      } finally {
        Atomics.store(stop, 0, 1);
        await flipper.terminate();
      }
    });

    it('should decode in place what a worker thread encoded into loaned slots', async function () {
      this.timeout(60_000);
      const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
      const views = ringViews({ shared: new Uint8Array(sab) }, 'p2c', CAP);
      const consumer = new RingConsumer(views);
      const count = 2000;
      const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
      const worker = startWorker(
        new URL(`../src/protobuf/fixtures/ring-encode-worker${ext}`, import.meta.url),
        { window: sab, dataSize: CAP, count },
      );
      const failed = new Promise<never>((_, reject) => {
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`producer worker exited with ${code}`));
        });
      });
      let received = 0;
      const deadline = performance.now() + 50_000;
      try {
        while (received < count) {
          if (performance.now() > deadline) throw new Error(`only ${received} of ${count} arrived`);
          const sample = receiveSample<Signal>(consumer, VehicleSignal);
          if (sample === undefined) {
            await Promise.race([new Promise((r) => setImmediate(r)), failed]);
            continue;
          }
          try {
            expect(sample.header?.session).to.equal(received & 0xffff);
            expect(sample.raw(sample.message.id).buffer).to.equal(sab);
            expectSignal(sample.toOwned(), received);
          } finally {
            sample.release();
          }
          received++;
        }
      } finally {
        await worker.terminate();
      }
      expect(received).to.equal(count);
    });
  });
});
