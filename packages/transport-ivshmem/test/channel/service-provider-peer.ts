// The provider process of the service test. argv[2]: JSON { path, channelId, mode }; fds 3 and
// 4: the c2p and p2c eventfds. Serves the methods and, on START, publishes TICKS events.
import { Channel } from '../../src/channel/channel.js';
import { ServiceProvider } from '../../src/channel/service-endpoints.js';
import { EventfdWaker } from '../../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../../src/notify/ring-waiter.js';
import { attachWindow } from './attach-window.js';
import {
  Add,
  blobFor,
  Count,
  Empty,
  EVENT_TICK,
  EVENT_TICK_IN_PLACE,
  METHOD_ADD,
  METHOD_BUMP,
  METHOD_COUNT,
  METHOD_FAIL,
  METHOD_START,
  METHOD_START_IN_PLACE,
  METHOD_SLOW,
  Sum,
  Tick,
  TICKS,
} from './service-schema.js';

const job = JSON.parse(process.argv[2] ?? '{}') as {
  path: string;
  channelId: string;
  mode: NotifyMode;
};
const { window } = attachWindow(job.path, job.channelId);
const channel = new Channel({
  window,
  role: 'provider',
  notify: job.mode,
  peerWaker: new EventfdWaker(4), // p2c: rings the consumer
  ownWaker: new EventfdWaker(3),
});
const provider = new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 });
const ticks = provider.publisher<{ seq: number; blob: Uint8Array; note: string }>(EVENT_TICK, Tick);
const inPlace = provider.publisher<{ seq: number; blob: Uint8Array; note: string }>(
  EVENT_TICK_IN_PLACE,
  Tick,
  { inPlace: true },
);
let bumps = 0;
provider.serve<{ a: number; b: number }, { sum: number }>(METHOD_ADD, Add, Sum, (r) => ({
  sum: r.a + r.b,
}));
provider.serve(METHOD_FAIL, Empty, Empty, () => {
  throw new Error('this method always fails');
});
provider.serve(METHOD_BUMP, Empty, Empty, () => {
  bumps++;
  return {};
});
provider.serve(
  METHOD_SLOW,
  Empty,
  Empty,
  () => new Promise<object>((resolve) => setTimeout(() => resolve({}), 300)),
);
provider.serve(METHOD_COUNT, Empty, Count, () => ({ n: bumps }));
provider.serve(METHOD_START, Empty, Empty, () => {
  void (async () => {
    for (let seq = 0; seq < TICKS; seq++) {
      const msg = { seq, blob: blobFor(seq), note: `tick ${seq}` };
      if (!ticks.publish(msg)) await ticks.publishWait(msg, 10_000);
    }
  })();
  return {};
});
provider.serve(METHOD_START_IN_PLACE, Empty, Empty, () => {
  void (async () => {
    for (let seq = 0; seq < TICKS; seq++) {
      const msg = { seq, blob: blobFor(seq), note: `tick ${seq}` };
      while (!inPlace.publish(msg)) await new Promise((r) => setImmediate(r));
    }
  })();
  return {};
});
channel.state$.subscribe((s) => {
  if (s !== 'open') {
    process.stdout.write(JSON.stringify({ ended: s, failure: channel.failure?.code }) + '\n');
    void channel.close().then(() => process.exit(0));
  }
});
process.stdout.write('ready\n');
