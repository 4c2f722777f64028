import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { RingPageLayout, WindowLayout } from '@sivshm/abi';
import { LocalWaker } from '../src/notify/local-waker.js';
import { RingWaiter } from '../src/notify/ring-waiter.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import { RingConsumer } from '../src/ring/ring-consumer.js';
import { ringViews } from '../src/ring/ring-views.js';
import { drainNumbered } from './helpers/drain-numbered.js';
import { helperUrl, startWorker } from './helpers/spawn-node.js';

const CAP = 4096;

describe('Ring across threads (heap SharedArrayBuffer)', () => {
  describe('double fetch (docs/security.md#t37)', () => {
    it('should act only on one validated read of each header while another thread flips length, header and payload bytes', async function () {
      this.timeout(30_000);
      const sab = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
      const views = ringViews({ shared: new Uint8Array(sab) }, 'c2p', CAP);
      const dv = views.dataShared;
      // One valid 16-byte-payload record (32 bytes) is published; only its bytes are attacked.
      dv.setUint32(0, 0x12340001);
      dv.setUint32(4, 8 + 16);
      dv.setUint32(8, 0x00010001);
      dv.setUint32(12, 0x01010200);
      Atomics.store(views.producerPage, RingPageLayout.producer.index / 4, 32);
      const stop = new Int32Array(new SharedArrayBuffer(8));
      const flipper = new Worker(
        `const { workerData: { sab, dataOff, stop } } = require('node:worker_threads');
         const dv = new DataView(sab, dataOff, 64); const s = new Int32Array(stop);
         const lengths = [24, 0, 0xffffffff, 8 + 4000, 8 + 16, 7, 8, 8 + 24];
         let i = 0;
         for (; i < 5e9 && Atomics.load(s, 0) === 0; i++) { // stopped by the main thread within 3 s
           dv.setUint32(4, lengths[i & 7]);
           dv.setUint8(12, (i & 16) ? 1 : 2);            // protocol version valid / invalid
           dv.setUint32(16 + ((i & 3) << 2), i);          // payload bytes
           if ((i & 1023) === 0) Atomics.store(s, 1, i);
         }
         Atomics.store(s, 1, i);`,
        {
          eval: true,
          workerData: { sab, dataOff: views.dataShared.byteOffset, stop: stop.buffer },
        },
      );
      let accepted = 0;
      let violations = 0;
      let iterations = 0;
      const lo = views.dataBulk.byteOffset;
      const hi = lo + CAP;
      const deadline = performance.now() + 3000;
      try {
        while (Atomics.load(stop, 1) === 0 && performance.now() < deadline)
          await new Promise((r) => setTimeout(r, 1));
        while (iterations < 1_000_000 && performance.now() < deadline) {
          iterations++;
          Atomics.store(views.consumerPage, RingPageLayout.consumer.index / 4, 0);
          const c = new RingConsumer(views);
          const copy = c.receiveCopy();
          if (copy !== undefined) {
            // Whatever the flipper did, the record acted on fits the 32 published bytes.
            if (copy.payload.length > 16)
              throw new Error(`accepted ${copy.payload.length} payload bytes from 32 published`);
            accepted++;
            continue;
          }
          if (c.failure?.code !== 'ERR_RING_VIOLATION')
            throw new Error(`unexpected state ${String(c.failure?.code)}`);
          violations++;
          // The zero-copy lane: the payload view is bounded by the same single read.
          Atomics.store(views.consumerPage, RingPageLayout.consumer.index / 4, 0);
          const z = new RingConsumer(views).receive();
          if (z !== undefined) {
            const p = z.payload;
            if (
              p.length !== z.payloadLength ||
              p.byteOffset < lo ||
              p.byteOffset + p.length > hi ||
              p.length > 16
            ) {
              throw new Error('payload view outside the validated record');
            }
          }
        }
      } finally {
        Atomics.store(stop, 0, 1);
        await flipper.terminate();
      }
      console.log(
        `      ${iterations} reads under attack: ${accepted} accepted (≤ 16 B each), ${violations} violations`,
      );
      expect(accepted + violations).to.equal(iterations);
      expect(accepted).to.be.greaterThan(0);
      expect(violations).to.be.greaterThan(0);
    });
  });

  describe('parked-flag protocol', () => {
    for (const mode of ['event', 'adaptive'] as NotifyMode[]) {
      it(`should never lose a wake-up (${mode} mode; a lost one would sleep 60 s and time the test out)`, async function () {
        this.timeout(60_000);
        const COUNT = 30_000;
        const window = new SharedArrayBuffer(WindowLayout.windowLength(CAP));
        const waker = new LocalWaker();
        const consumer = new RingConsumer(
          ringViews({ shared: new Uint8Array(window) }, 'c2p', CAP),
        );
        const waiter = new RingWaiter(consumer, {
          mode,
          waker,
          parkSliceMs: 60_000,
          spinBudgetUs: 2,
        });
        const worker = startWorker(helperUrl('ring-thread-producer'), {
          window,
          wakerBuffer: waker.buffer,
          dataSize: CAP,
          count: COUNT,
        });
        const failed = new Promise<never>((_, reject) => worker.once('error', reject));
        try {
          expect(await drainNumbered(consumer, waiter, COUNT, failed)).to.equal(COUNT);
        } finally {
          await worker.terminate();
        }
      });
    }
  });
});
