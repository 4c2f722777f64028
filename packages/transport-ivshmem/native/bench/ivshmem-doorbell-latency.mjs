// One-off measurement: doorbell round trip through the ivshmem server's eventfds between two
// Node processes, using IvshmemClient end to end (ring() -> uv_poll -> notifications$).
// Run (after npm ci / npx tsc -b packages/transport-ivshmem):
//   node packages/transport-ivshmem/native/bench/ivshmem-doorbell-latency.mjs [pings=10000]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
// The client is internal to the package (the runtime uses it through its Doorbells), so it comes
// from its own module.
import { IvshmemServer } from '../../dist/src/index.js';
import { IvshmemClient } from '../../dist/src/ivshmem-server/ivshmem-client.js';

const N = Number(process.argv[2] ?? 10_000);
const WARMUP = 500;

if (process.env.SIVSHM_BENCH_CHILD === 'pong') {
  const client = await IvshmemClient.connect(process.argv[3]);
  let seen = 0;
  // The pinger joined first (id 0); answer each ring on our vector 0 with a ring on its.
  client.notifications$.subscribe(() => {
    client.ring(0, 0);
    if (++seen === N + WARMUP) setTimeout(() => client.close(), 50);
  });
  process.send({ ready: client.id });
} else {
  const socketPath = `/tmp/sivshm-bench-ivshmem-${process.pid}.sock`;
  const server = IvshmemServer.listen({ socketPath, shm: { memfdSize: 1 << 20 }, vectors: 1 });
  const me = await IvshmemClient.connect(socketPath);
  const child = fork(fileURLToPath(import.meta.url), [String(N), socketPath], {
    env: { ...process.env, SIVSHM_BENCH_CHILD: 'pong' },
  });
  const { ready: peer } = await new Promise((r) => child.once('message', r));
  const rtt = [];
  let t0 = 0n;
  let resolvePong;
  me.notifications$.subscribe(() => {
    rtt.push(Number(process.hrtime.bigint() - t0));
    resolvePong();
  });
  for (let i = 0; i < N + WARMUP; i++) {
    const pong = new Promise((r) => (resolvePong = r));
    t0 = process.hrtime.bigint();
    me.ring(peer, 0);
    await pong;
  }
  const s = rtt.slice(WARMUP).sort((a, b) => a - b);
  const q = (p) => (s[Math.floor(p * s.length)] / 1000).toFixed(1);
  console.log(
    `IvshmemClient ring -> notifications$ -> ring back, two processes, ${N} round trips:`,
  );
  console.log(`  round trip: p50 ${q(0.5)} µs, p90 ${q(0.9)}, p99 ${q(0.99)}`);
  await new Promise((r) => child.once('exit', r));
  me.close();
  server.close();
}
