import { expect } from 'chai';
import type { RingWaiter } from '../../src/notify/ring-waiter.js';
import type { RingConsumer } from '../../src/ring/ring-consumer.js';

/**
 * Waits on `waiter` and reads `consumer` until `count` records arrived, each payload starting
 * with its own sequence number (big-endian u32, as the thread producers write it): a record out
 * of order, a wait that ends without one (a lost wake-up within the 60 s slice) or `failed`
 * rejecting (the producer thread died) fails the test. Returns the count read.
 */
export async function drainNumbered(
  consumer: RingConsumer,
  waiter: RingWaiter,
  count: number,
  failed: Promise<never>,
): Promise<number> {
  let got = 0;
  while (got < count) {
    const ready = await Promise.race([waiter.wait(60_000), failed]);
    expect(ready, `stalled after ${got} records`).to.equal(true);
    for (let c = consumer.receiveCopy(); c !== undefined; c = consumer.receiveCopy()) {
      expect(new DataView(c.payload.buffer).getUint32(0)).to.equal(got);
      got++;
    }
  }
  expect(consumer.failure).to.equal(undefined);
  return got;
}
