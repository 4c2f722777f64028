// The far side of the ring benchmarks, run as its own OS process. argv[2]: JSON BenchPeerJob;
// fds 3 and 4: the c2p and p2c eventfds. Prints one JSON line when done.
import { createServer } from 'node:net';
import { eventfdRead, eventfdWrite } from '../src/native/eventfd.js';
import { watchReadable } from '../src/native/fd-watcher.js';
import { mapFile, unmap } from '../src/native/map-file.js';
import { RingWaiter } from '../src/notify/ring-waiter.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import type { SomeIpHeader } from '../src/ring/someip-header.js';
import { attachChannel } from '../test/helpers/shm-channel.js';
import type { ShmChannelSpec } from '../test/helpers/shm-channel.js';

/** What the benchmark peer does. */
export type BenchPeerJob =
  | { kind: 'echo'; spec: Pick<ShmChannelSpec, 'path' | 'channelId'>; mode: NotifyMode }
  | {
      kind: 'produce';
      spec: Pick<ShmChannelSpec, 'path' | 'channelId'>;
      payload: number;
      count: number;
      batch: number;
    }
  | { kind: 'uds-echo'; socketPath: string }
  | { kind: 'raw-pong'; path: string }
  | { kind: 'raw-efd-pong' };

const job = JSON.parse(process.argv[2] ?? '{}') as BenchPeerJob;

async function echo(j: Extract<BenchPeerJob, { kind: 'echo' }>): Promise<object> {
  const end = attachChannel({ ...j.spec, efdC2p: 3, efdP2c: 4 }, 'provider');
  const waiter = new RingWaiter(end.consumer, { mode: j.mode, waker: end.consumerWaker });
  let n = 0;
  for (;;) {
    if (!waiter.trySpin()) await waiter.wait(60_000, { afterSpin: true });
    const r = end.consumer.receive();
    if (r === undefined) {
      if (end.consumer.failure !== undefined) break;
      continue;
    }
    // Echo through the zero-copy lane: loan, copy the 64 bytes in place, send.
    const slot =
      end.producer.loan(r.payloadLength) ??
      (await end.producer.loanWait(r.payloadLength, { timeoutMs: 10_000 }));
    slot.payload.set(r.payload);
    const h = slot.header;
    h.service = r.header.service;
    h.method = r.header.method;
    h.client = r.header.client;
    h.session = r.header.session;
    h.interfaceVersion = r.header.interfaceVersion;
    h.messageType = 0x80;
    end.consumer.release();
    end.producer.send(slot);
    n++;
  }
  end.close();
  return { echoed: n };
}

async function produce(j: Extract<BenchPeerJob, { kind: 'produce' }>): Promise<object> {
  const end = attachChannel({ ...j.spec, efdC2p: 3, efdP2c: 4 }, 'provider');
  const p = end.producer;
  const src = new Uint8Array(j.payload);
  for (let i = 0; i < src.length; i++) src[i] = i & 0xff;
  const h: SomeIpHeader = {
    service: 0x1234,
    method: 0x8001,
    client: 0,
    session: 0,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
  };
  let pending = 0;
  for (let seq = 0; seq < j.count; seq++) {
    let slot = p.loan(j.payload);
    if (slot === undefined) {
      // Send what is staged before waiting, then spin briefly: the consumer is usually
      // only a few records behind.
      if (pending > 0) p.sendStaged();
      pending = 0;
      for (const until = performance.now() + 1; slot === undefined && performance.now() < until;) {
        for (let k = 0; k < 64 && slot === undefined; k++) slot = p.loan(j.payload);
      }
      slot ??= await p.loanWait(j.payload, { timeoutMs: 30_000 });
    }
    slot.payload.set(src); // the producer writes its message in place
    slot.header.session = seq & 0xffff;
    Object.assign(slot.header, {
      service: h.service,
      method: h.method,
      messageType: h.messageType,
      interfaceVersion: 1,
    });
    p.stage(slot);
    if (++pending >= j.batch) {
      p.sendStaged();
      pending = 0;
    }
  }
  // Closing sends the rest; the records stay in the shared file for the consumer to drain.
  p.close();
  end.close();
  return { produced: j.count };
}

function udsEcho(j: Extract<BenchPeerJob, { kind: 'uds-echo' }>): Promise<object> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d) => s.write(d));
      s.on('close', () => server.close(() => resolve({ uds: 'closed' })));
    });
    server.listen(j.socketPath, () => process.stdout.write('listening\n'));
  });
}

/** The floor: two words of a mapped page and nothing else (no ring, no records, no checks). */
function rawPong(j: Extract<BenchPeerJob, { kind: 'raw-pong' }>): object {
  const m = mapFile(j.path, 0, 4096, { writable: true });
  const w = new Int32Array(m.shared);
  let last = 0;
  let n = 0;
  try {
    for (const until = Date.now() + 120_000; Date.now() < until;) {
      for (let k = 0; k < 100_000; k++) {
        const v = Atomics.load(w, 0);
        if (v === last) continue;
        if (v === -1) return { ponged: n };
        last = v;
        Atomics.store(w, 16, v);
        n++;
      }
    }
    return { ponged: n, error: 'timeout' };
  } finally {
    unmap(m.handle);
  }
}

/** The event floor: eventfd in (fd 3) watched by uv_poll, eventfd out (fd 4); no ring. */
function rawEfdPong(): Promise<object> {
  return new Promise((resolve) => {
    let n = 0;
    const w = watchReadable(3, () => {
      const v = eventfdRead(3);
      if (v === 0n) return;
      if (v >= 1_000_000n) {
        w.stop();
        resolve({ ponged: n });
        return;
      }
      n++;
      eventfdWrite(4, 1);
    });
  });
}

const result =
  job.kind === 'raw-efd-pong'
    ? await rawEfdPong()
    : job.kind === 'echo'
      ? await echo(job)
      : job.kind === 'produce'
        ? await produce(job)
        : job.kind === 'raw-pong'
          ? rawPong(job)
          : await udsEcho(job);
process.stdout.write(JSON.stringify(result) + '\n');
