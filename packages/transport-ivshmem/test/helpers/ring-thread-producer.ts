// Worker-thread producer for the lost-wake-up test: sends `count` records in bursts separated
// by random pauses, ringing a LocalWaker only when the consumer is parked.
import { workerData, parentPort } from 'node:worker_threads';
import { LocalWaker } from '../../src/notify/local-waker.js';
import { RingProducer } from '../../src/ring/ring-producer.js';
import { ringViews } from '../../src/ring/ring-views.js';

const { window, wakerBuffer, dataSize, count } = workerData as {
  window: SharedArrayBuffer;
  wakerBuffer: SharedArrayBuffer;
  dataSize: number;
  count: number;
};
const producer = new RingProducer(ringViews({ shared: new Uint8Array(window) }, 'c2p', dataSize), {
  waker: new LocalWaker(wakerBuffer),
});
const payload = new Uint8Array(4);
const view = new DataView(payload.buffer);
let seed = 12345;
for (let seq = 0; seq < count;) {
  const burst = 1 + (seed % 17);
  for (let i = 0; i < burst && seq < count; i++, seq++) {
    view.setUint32(0, seq);
    await producer.sendCopyWait(
      {
        service: 1,
        method: 1,
        client: 1,
        session: seq & 0xffff,
        interfaceVersion: 1,
        messageType: 2,
        returnCode: 0,
      },
      payload,
      { timeoutMs: 30_000 },
    );
  }
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  // Pauses from none to a few hundred microseconds: the consumer parks in between, so sends
  // race with parking in every possible order.
  const pause = seed % 4;
  if (pause === 1) await new Promise((r) => setImmediate(r));
  else if (pause === 2) await new Promise((r) => setTimeout(r, 0));
  else if (pause === 3)
    for (const until = performance.now() + (seed % 300) / 1000; performance.now() < until;);
}
parentPort?.postMessage('done');
