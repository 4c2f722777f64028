// Peer process of the modes benchmark. argv[2]: JSON { path, channelId, mode, notify?, keys? } with fds
// 3/4 the c2p/p2c eventfds. Plays the provider: method 1 echoes (the round trip), method 2
// { seq: n, data } sends n records of data's size on event 0x8001 as fast as the ring takes
// them (the one-way stream, spinning while the ring is full), then answers.
import protobuf from 'protobufjs';
import { Channel } from '../src/channel/channel.js';
import { ServiceProvider } from '../src/channel/service-endpoints.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import type { ProtectedMode } from '../src/protect/record-crypto.js';
import type { SomeIpHeader } from '../src/ring/someip-header.js';
import { attachWindow } from '../test/channel/attach-window.js';
import { SCHEMA } from './fullpath-schema.js';

interface Job {
  path: string;
  channelId: string;
  mode: 'plain' | ProtectedMode;
  notify?: NotifyMode;
  keys?: { c2p: string; p2c: string };
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const Echo = protobuf.parse(SCHEMA).root.lookupType('b.Echo');
const channelId = BigInt(job.channelId);
const channel = new Channel({
  window: attachWindow(job.path, job.channelId).window,
  role: 'provider',
  notify: job.notify ?? 'spin',
  peerWaker: new EventfdWaker(4),
  ownWaker: new EventfdWaker(3),
  // As the bench's own end (modes.bench.ts PEER_TIMEOUT_MS): a starved process is not a dead one.
  peerTimeoutMs: 30_000,
  ...(job.mode === 'plain' || job.keys === undefined
    ? {}
    : {
        protection: {
          mode: job.mode,
          channelId,
          keys: { c2p: Buffer.from(job.keys.c2p, 'hex'), p2c: Buffer.from(job.keys.p2c, 'hex') },
        },
      }),
});
const provider = new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 });
provider.serve(1, Echo, Echo, (req: object) => req);
const header: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 0,
  session: 0,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};
provider.serve(2, Echo, Echo, async (req: { seq?: number; data?: Uint8Array }) => {
  const n = req.seq ?? 0;
  const payload = new Uint8Array(req.data?.length ?? 0).fill(0x5a);
  // Spin on a full ring without yielding: sendCopyWait's back-off sleeps, and a yield would
  // hand the turn to this process's own receive loop, which spins for its budget. What is
  // measured is the data path; the deadline only keeps a dead reader from hanging the peer.
  const deadline = performance.now() + 30_000;
  for (let i = 0; i < n; i++) {
    while (!channel.sendCopy(header, payload)) {
      if (performance.now() > deadline) throw new Error('the reader stopped reading');
    }
  }
  await Promise.resolve();
  return { seq: n };
});
channel.state$.subscribe((s) => {
  if (s !== 'open') process.exit(0);
});
process.stdout.write('ready\n');
