// Peer process of the full-path benchmark. argv[2]: JSON { kind: 'ring', path, channelId, mode }
// with fds 3/4 the c2p/p2c eventfds, or { kind: 'uds', socket }. Echoes a protobuf message
// through the same layers an app uses (ServiceProvider, or a Node net server).
import net from 'node:net';
import protobuf from 'protobufjs';
import { Channel } from '../src/channel/channel.js';
import { ServiceProvider } from '../src/channel/service-endpoints.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import { attachWindow } from '../test/channel/attach-window.js';
import { SCHEMA } from './fullpath-schema.js';

type Job =
  | { kind: 'ring'; path: string; channelId: string; mode: NotifyMode }
  | { kind: 'uds'; socket: string };

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const Echo = protobuf.parse(SCHEMA).root.lookupType('b.Echo');

if (job.kind === 'uds') {
  // Baseline: length-prefixed protobuf over a Unix socket, decoded and re-encoded like the ring.
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const n = buf.readUInt32LE(0);
        if (buf.length < 4 + n) break;
        const msg = Echo.decode(buf.subarray(4, 4 + n));
        buf = buf.subarray(4 + n);
        const out = Echo.encode(msg).finish();
        const head = Buffer.alloc(4);
        head.writeUInt32LE(out.length, 0);
        s.write(Buffer.concat([head, out]));
      }
    });
  });
  server.listen(job.socket, () => process.stdout.write('ready\n'));
} else {
  const channel = new Channel({
    window: attachWindow(job.path, job.channelId).window,
    role: 'provider',
    notify: job.mode,
    peerWaker: new EventfdWaker(4),
    ownWaker: new EventfdWaker(3),
  });
  new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 }).serve(
    1,
    Echo,
    Echo,
    (req) => req,
  );
  channel.state$.subscribe((s) => {
    if (s !== 'open') process.exit(0);
  });
  process.stdout.write('ready\n');
}
