// Worker-thread producer for the shared-doorbell lost-wake-up test: sends `count` records into
// each of two rings, picking the ring at random, in bursts separated by random pauses. Both
// rings ring the SAME doorbell (one LocalWaker word, as one ivshmem vector serves every channel
// of a VM), and only when their consumer is parked; so most doorbells are the other ring's.
import { workerData, parentPort } from 'node:worker_threads';
import { LocalWaker } from '../../src/notify/local-waker.js';
import { RingProducer } from '../../src/ring/ring-producer.js';
import { ringViews } from '../../src/ring/ring-views.js';

const { windows, doorbell, dataSize, count } = workerData as {
  windows: SharedArrayBuffer[];
  doorbell: SharedArrayBuffer;
  dataSize: number;
  count: number;
};
const producers = windows.map(
  (w) =>
    new RingProducer(ringViews({ shared: new Uint8Array(w) }, 'c2p', dataSize), {
      waker: new LocalWaker(doorbell),
    }),
);
const sent = producers.map(() => 0);
const payload = new Uint8Array(4);
const view = new DataView(payload.buffer);
let seed = 4242;
const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
while (sent.some((n) => n < count)) {
  const burst = 1 + (next() % 9);
  for (let i = 0; i < burst; i++) {
    let k = next() % producers.length;
    if (sent[k]! >= count) k = sent.findIndex((n) => n < count);
    if (k < 0) break;
    view.setUint32(0, sent[k]!);
    await producers[k]!.sendCopyWait(
      {
        service: 1,
        method: 1,
        client: 1,
        session: sent[k]! & 0xffff,
        interfaceVersion: 1,
        messageType: 2,
        returnCode: 0,
      },
      payload,
      { timeoutMs: 30_000 },
    );
    sent[k]!++;
  }
  // Pauses from none to a few hundred microseconds: the consumers park in between, so sends
  // race with parking in every order, on either ring.
  const pause = next() % 4;
  if (pause === 1) await new Promise((r) => setImmediate(r));
  else if (pause === 2) await new Promise((r) => setTimeout(r, 0));
  else if (pause === 3)
    for (const until = performance.now() + (seed % 300) / 1000; performance.now() < until;);
}
parentPort?.postMessage('done');
