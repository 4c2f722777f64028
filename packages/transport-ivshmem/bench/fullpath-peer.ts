// Peer process of the full-path benchmark. argv[2]: JSON { kind: 'ring', path, channelId, mode,
// trace?, eventFirst? } with fds 3/4 the c2p/p2c eventfds, { kind: 'uds', socket }, or
// { kind: 'bell' } (rings fd 4 back for every ring of fd 3: the parked floor). Echoes a protobuf
// message through the same layers an app uses (ServiceProvider, or a Node net server). With
// `trace`, records per answered call when its doorbell woke it, when the handler ran and when it
// rang the caller (µs, CLOCK_MONOTONIC), and prints them as JSON lines when a request carries
// seq TRACE_FLUSH. With `eventFirst`, the
// handler publishes event 0x8001 (the request echoed) before it answers, like a service that
// reports its new state to subscribers. With `second`, a second channel shares the doorbells
// (fd 3 wakes both, fd 4 rings the caller for both, as one ivshmem vector per VM does) and
// publishes event 0x8002 on it every 10 ms.
import net from 'node:net';
import protobuf from 'protobufjs';
import { Channel } from '../src/channel/channel.js';
import { ServiceProvider } from '../src/channel/service-endpoints.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import type { Waker } from '../src/notify/waker.js';
import { attachWindow } from '../test/channel/attach-window.js';
import { FanoutDoorbell } from './fanout-doorbell.js';
import { BENCH_PEER_TIMEOUT_MS, SCHEMA } from './fullpath-schema.js';
import { monoUs, TRACE_FLUSH, TraceWaker } from './trace-waker.js';

type Job =
  | {
      kind: 'ring';
      path: string;
      channelId: string;
      mode: NotifyMode;
      trace?: boolean;
      eventFirst?: boolean;
      /** A second channel sharing this side's doorbell, with an event at 100 Hz on it. */
      second?: { path: string; channelId: string };
    }
  | { kind: 'uds'; socket: string }
  /** The parked floor: answers every ring of fd 3 with a ring of fd 4, nothing else. */
  | { kind: 'bell' };

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const Echo = protobuf.parse(SCHEMA).root.lookupType('b.Echo');

if (job.kind === 'bell') {
  const own = new EventfdWaker(3);
  const peer = new EventfdWaker(4);
  const answer = async (): Promise<void> => {
    for (;;) if (await own.wait(60_000)) peer.wake();
  };
  void answer();
  process.stdout.write('ready\n');
} else if (job.kind === 'uds') {
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
  // Trace of the call being answered: woken → handler → rang the caller.
  let woke = 0;
  let handled = 0;
  let seq = 0;
  const lines: string[] = [];
  const traced = (w: Waker, which: 'own' | 'peer'): Waker =>
    job.trace !== true
      ? w
      : new TraceWaker(
          w,
          which === 'own'
            ? { onWoken: (us) => (woke = us) }
            : {
                // Kept until asked (TRACE_FLUSH): a write per call would wake the caller
                // through the stdout pipe and disturb what is measured.
                onWake: (us) => void lines.push(JSON.stringify({ seq, woke, handled, rang: us })),
              },
        );
  const shared = job.second === undefined ? undefined : new FanoutDoorbell(3);
  const channel = new Channel({
    window: attachWindow(job.path, job.channelId).window,
    role: 'provider',
    notify: job.mode,
    peerTimeoutMs: BENCH_PEER_TIMEOUT_MS,
    peerWaker: traced(shared?.waker(4) ?? new EventfdWaker(4), 'peer'),
    ownWaker: traced(shared?.waker(4) ?? new EventfdWaker(3), 'own'),
  });
  if (shared !== undefined && job.second !== undefined) {
    const other = new Channel({
      window: attachWindow(job.second.path, job.second.channelId).window,
      role: 'provider',
      notify: job.mode,
      peerTimeoutMs: BENCH_PEER_TIMEOUT_MS,
      peerWaker: shared.waker(4),
      ownWaker: shared.waker(4),
    });
    const ticks = new ServiceProvider(other, {
      service: 0x1235,
      major: 1,
      client: 0,
    }).publisher<object>(0x8002, Echo);
    let n = 0;
    setInterval(() => ticks.publish({ seq: n++ }), 10);
  }
  const provider = new ServiceProvider(channel, { service: 0x1234, major: 1, client: 0 });
  const state = provider.publisher<object>(0x8001, Echo);
  provider.serve(1, Echo, Echo, (req: { seq?: number }) => {
    if (job.trace === true) {
      handled = monoUs();
      seq = req.seq ?? 0;
    }
    if (job.eventFirst === true) state.publish(req);
    if (req.seq === TRACE_FLUSH) process.stdout.write(lines.splice(0).join('\n') + '\n');
    return req;
  });
  channel.state$.subscribe((s) => {
    if (s !== 'open') process.exit(0);
  });
  process.stdout.write('ready\n');
}
