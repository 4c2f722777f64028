// One-off measurement: eventfd + uv_poll wake-up latency between two Node processes.
// Run (after npm ci / npx tsc -b packages/transport-ivshmem):
//   node packages/transport-ivshmem/native/bench/wakeup-latency.mjs [pings=10000]
// The pinger stores process.hrtime.bigint() (CLOCK_MONOTONIC, shared by all processes) in a
// shared mapping and writes the ping eventfd; the ponger's uv_poll callback takes its own
// timestamp (one-way latency) and rings the pong eventfd back (the pinger records the RTT).
// One ping is in flight at a time, so eventfd counts never coalesce.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
// eventfd and memfd plumbing is internal to the package: taken from its own modules.
import { closeFd } from '../../dist/src/native/fd.js';
import { eventfdCreate, eventfdRead, eventfdWrite } from '../../dist/src/native/eventfd.js';
import { watchReadable } from '../../dist/src/native/fd-watcher.js';
import { mapFile, memfdCreate, unmap } from '../../dist/src/native/map-file.js';

const N = Number(process.argv[2] ?? 10_000);
const WARMUP = 500;

function stats(ns) {
  const s = [...ns].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))] / 1000;
  const mean = s.reduce((a, b) => a + b, 0) / s.length / 1000;
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), mean };
}
const fmt = (o) =>
  `p50 ${o.p50.toFixed(1)} µs, p90 ${o.p90.toFixed(1)}, p99 ${o.p99.toFixed(1)}, mean ${o.mean.toFixed(1)} (n=${o.n})`;

if (process.env.SIVSHM_BENCH_CHILD === 'ponger') {
  // fds 4, 5, 6 = ping eventfd, pong eventfd, memfd (see stdio below).
  const [ping, pong, shm] = [4, 5, 6];
  const m = mapFile(shm, 0, 4096, { writable: true });
  const stamp = new BigInt64Array(m.shared);
  const oneway = [];
  const w = watchReadable(ping, () => {
    const now = process.hrtime.bigint();
    if (eventfdRead(ping) === 0n) return;
    oneway.push(Number(now - Atomics.load(stamp, 0)));
    eventfdWrite(pong, 1);
    if (oneway.length === N + WARMUP) {
      w.stop();
      unmap(m.handle);
      process.send({ oneway: oneway.slice(WARMUP) }, () => process.exit(0));
    }
  });
} else {
  const ping = eventfdCreate();
  const pong = eventfdCreate();
  const shm = memfdCreate('sivshm-bench', 4096);
  const m = mapFile(shm, 0, 4096, { writable: true });
  const stamp = new BigInt64Array(m.shared);
  const child = fork(fileURLToPath(import.meta.url), [String(N)], {
    env: { ...process.env, SIVSHM_BENCH_CHILD: 'ponger' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ping, pong, shm],
  });
  const result = new Promise((resolve) => child.once('message', resolve));
  const rtt = [];
  let sent = 0n;
  let pending;
  const w = watchReadable(pong, () => {
    const now = process.hrtime.bigint();
    if (eventfdRead(pong) === 0n) return;
    rtt.push(Number(now - sent));
    pending();
  });
  await new Promise((r) => setTimeout(r, 300)); // let the child map and start watching
  for (let i = 0; i < N + WARMUP; i++) {
    const done = new Promise((r) => (pending = r));
    sent = process.hrtime.bigint();
    Atomics.store(stamp, 0, sent);
    eventfdWrite(ping, 1);
    await done;
  }
  const { oneway } = await result;
  w.stop();
  unmap(m.handle);
  for (const fd of [ping, pong, shm]) closeFd(fd);
  console.log(`eventfd + uv_poll, two processes, ${N} pings after ${WARMUP} warm-up:`);
  console.log(`  one-way wake-up: ${fmt(stats(oneway))}`);
  console.log(`  round trip:      ${fmt(stats(rtt.slice(WARMUP)))}`);
}
