import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import os from 'node:os';
import { unlinkSync } from 'node:fs';
import { RingWaiter } from '../src/notify/ring-waiter.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import type { SomeIpHeader } from '../src/ring/someip-header.js';
import { createRegionFile, mapFile, unmap } from '../src/native/map-file.js';
import { closeFd } from '../src/native/fd.js';
import { eventfdCreate, eventfdRead, eventfdWrite } from '../src/native/eventfd.js';
import { watchReadable } from '../src/native/fd-watcher.js';
import { attachChannel, createShmChannel } from '../test/helpers/shm-channel.js';
import type { HostChannel } from '../test/helpers/shm-channel.js';
import { collect, spawnNode } from '../test/helpers/spawn-node.js';
import { CpuGuard } from './cpu-guard.js';
import type { BenchPeerJob } from './ring-bench-peer.js';

/** Options of {@link runRingBench}. */
export interface RingBenchOptions {
  /** Measured runs per figure (after one warm-up run); medians are taken across them. Default 5. */
  readonly runs?: number;
  /** Divide every iteration count by 10 (smoke test of the benchmark itself). */
  readonly quick?: boolean;
  /** Which parts to run (default all). */
  readonly sections?: readonly ('latency' | 'throughput' | 'memcpy')[];
  /** Ring notification modes for the latency part, in this order (default spin, adaptive, event). */
  readonly modes?: readonly NotifyMode[];
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** Round-trip latency of one path, 64-byte payload, two OS processes. */
export interface LatencyFigure {
  readonly path: string;
  readonly iterationsPerRun: number;
  /** Median across runs of each run's p50 / p99 / mean, in microseconds. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly meanUs: number;
  /** Per-run p50 values, to judge the spread. */
  readonly runP50Us: number[];
  /** CPU used by other processes on the machine meanwhile, % of all CPUs (see `CpuGuard`). */
  readonly foreignCpuPct: number;
}

/** One-way throughput of the ring between two OS processes. */
export interface ThroughputFigure {
  readonly payload: number;
  /** Records published per index store (1 = every record published on its own). */
  readonly batch: number;
  readonly recordsPerRun: number;
  /** Median across runs. */
  readonly msgPerSec: number;
  readonly gbPerSec: number;
  readonly runGbPerSec: number[];
  /** CPU used by other processes on the machine meanwhile, % of all CPUs. */
  readonly foreignCpuPct: number;
}

/** `Uint8Array.set` copy rate measured in the same run, GB/s (median across runs). */
export interface MemcpyFigure {
  readonly size: number;
  readonly heapToHeapGBps: number;
  readonly heapToMappedGBps: number;
}

/** Everything {@link runRingBench} measured. */
export interface RingBenchResult {
  readonly machine: {
    cpus: number;
    model: string;
    node: string;
    loadAvgStart: number[];
    loadAvgEnd: number[];
  };
  readonly latency: LatencyFigure[];
  readonly throughput: ThroughputFigure[];
  readonly memcpy: MemcpyFigure[];
}

const PEER = new URL(
  `./ring-bench-peer${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);
const HDR: SomeIpHeader = {
  service: 0x1234,
  method: 0x0001,
  client: 1,
  session: 0,
  interfaceVersion: 1,
  messageType: 0x00,
  returnCode: 0,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function startPeer(job: BenchPeerJob, host?: HostChannel) {
  const child = spawnNode(
    PEER,
    [JSON.stringify(job)],
    host ? [host.spec.efdC2p, host.spec.efdP2c] : [],
  );
  return { child, done: collect(child) };
}

function summarise(path: string, runs: Float64Array[], guard: CpuGuard): LatencyFigure {
  const p50: number[] = [];
  const p99: number[] = [];
  const mean: number[] = [];
  for (const r of runs) {
    const s = r.slice().sort();
    p50.push(percentile(s, 0.5) * 1000);
    p99.push(percentile(s, 0.99) * 1000);
    mean.push((r.reduce((a, b) => a + b, 0) / r.length) * 1000);
  }
  return {
    path,
    iterationsPerRun: runs[0]?.length ?? 0,
    p50Us: median(p50),
    p99Us: median(p99),
    meanUs: median(mean),
    runP50Us: p50,
    foreignCpuPct: guard.foreignPercent(),
  };
}

/** 64-byte round trips over a ring pair in `mode`, against an echoing peer process. */
async function ringLatency(
  mode: NotifyMode,
  runs: number,
  iterations: number,
): Promise<LatencyFigure> {
  const host = createShmChannel(64 * 1024);
  const me = attachChannel(host.spec, 'consumer');
  const peer = startPeer(
    { kind: 'echo', spec: { path: host.spec.path, channelId: host.spec.channelId }, mode },
    host,
  );
  try {
    const waiter = new RingWaiter(me.consumer, { mode, waker: me.consumerWaker });
    const guard = new CpuGuard([peer.child.pid]);
    const payload = new Uint8Array(64).fill(7);
    const results: Float64Array[] = [];
    for (let run = 0; run <= runs; run++) {
      const samples = new Float64Array(iterations);
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        const slot = me.producer.loan(64)!;
        slot.payload.set(payload);
        const h = slot.header;
        h.service = HDR.service;
        h.method = HDR.method;
        h.interfaceVersion = HDR.interfaceVersion;
        h.messageType = HDR.messageType;
        h.session = i & 0xffff;
        me.producer.send(slot);
        for (;;) {
          const ready = waiter.trySpin() || (await waiter.wait(10_000, { afterSpin: true }));
          if (!ready) throw new Error(`${mode}: no echo in 10 s`);
          const r = me.consumer.receive();
          if (r !== undefined) break;
          if (me.consumer.failure !== undefined) throw me.consumer.failure;
        }
        me.consumer.release();
        samples[i] = performance.now() - t0;
      }
      if (run > 0) results.push(samples); // run 0 warms up JIT, caches and the peer
    }
    const figure = summarise(`sivshm ring, ${mode}`, results, guard);
    me.producer.close();
    await peer.done;
    return figure;
  } finally {
    peer.child.kill('SIGKILL');
    me.close();
    host.close();
  }
}

/** The floor on this machine: a bare Atomics ping-pong over one mapped page between two processes. */
async function rawLatency(runs: number, iterations: number): Promise<LatencyFigure> {
  const path = `/dev/shm/sivshm-bench-raw-${process.pid}`;
  closeFd(createRegionFile(path, 4096, { exclusive: true }));
  const m = mapFile(path, 0, 4096, { writable: true });
  const peer = startPeer({ kind: 'raw-pong', path });
  try {
    const w = new Int32Array(m.shared);
    const guard = new CpuGuard([peer.child.pid]);
    const results: Float64Array[] = [];
    let v = 0;
    for (let run = 0; run <= runs; run++) {
      const samples = new Float64Array(iterations);
      for (let i = 0; i < iterations; i++) {
        v++;
        const t0 = performance.now();
        Atomics.store(w, 0, v);
        for (let spins = 0; Atomics.load(w, 16) !== v; spins++) {
          if ((spins & 0xfffff) === 0xfffff && performance.now() - t0 > 10_000)
            throw new Error('raw pong stalled');
        }
        samples[i] = performance.now() - t0;
      }
      if (run > 0) results.push(samples);
    }
    const figure = summarise('raw Atomics ping-pong (floor)', results, guard);
    Atomics.store(w, 0, -1);
    await peer.done;
    return figure;
  } finally {
    peer.child.kill('SIGKILL');
    unmap(m.handle);
    unlinkSync(path);
  }
}

/** The event floor: a bare eventfd + uv_poll ping-pong between two processes, no ring. */
async function rawEventLatency(runs: number, iterations: number): Promise<LatencyFigure> {
  const ping = eventfdCreate();
  const pong = eventfdCreate();
  const child = spawnNode(PEER, [JSON.stringify({ kind: 'raw-efd-pong' })], [ping, pong]);
  const done = collect(child);
  let wake: (() => void) | undefined;
  const w = watchReadable(pong, () => {
    if (eventfdRead(pong) > 0n && wake) {
      const r = wake;
      wake = undefined;
      r();
    }
  });
  try {
    const guard = new CpuGuard([child.pid]);
    const results: Float64Array[] = [];
    for (let run = 0; run <= runs; run++) {
      const samples = new Float64Array(iterations);
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        const got = new Promise<void>((r) => (wake = r));
        eventfdWrite(ping, 1);
        await got;
        samples[i] = performance.now() - t0;
      }
      if (run > 0) results.push(samples);
    }
    const figure = summarise('raw eventfd + uv_poll (floor)', results, guard);
    eventfdWrite(ping, 1_000_000);
    await done;
    return figure;
  } finally {
    w.stop();
    child.kill('SIGKILL');
    closeFd(ping);
    closeFd(pong);
  }
}

/** The baseline a user would pick instead: a Node Unix-domain stream socket (`net`). */
async function udsLatency(runs: number, iterations: number): Promise<LatencyFigure> {
  const socketPath = `${os.tmpdir()}/sivshm-bench-${process.pid}.sock`;
  const peer = startPeer({ kind: 'uds-echo', socketPath });
  let sock: Socket | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      peer.child.stdout?.once('data', () => resolve());
      peer.child.once('exit', () => reject(new Error('uds peer exited')));
    });
    sock = connect(socketPath);
    sock.setNoDelay(true);
    await once(sock, 'connect');
    const s = sock;
    const payload = Buffer.alloc(64, 7);
    const guard = new CpuGuard([peer.child.pid]);
    let have = 0;
    let wake: (() => void) | undefined;
    s.on('data', (d: Buffer) => {
      have += d.length;
      if (have >= 64 && wake) {
        have -= 64;
        const w = wake;
        wake = undefined;
        w();
      }
    });
    const results: Float64Array[] = [];
    for (let run = 0; run <= runs; run++) {
      const samples = new Float64Array(iterations);
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        const got = new Promise<void>((r) => (wake = r));
        s.write(payload);
        await got;
        samples[i] = performance.now() - t0;
      }
      if (run > 0) results.push(samples);
    }
    const figure = summarise('Node Unix domain socket (net)', results, guard);
    s.end();
    await peer.done;
    return figure;
  } finally {
    sock?.destroy();
    peer.child.kill('SIGKILL');
    try {
      unlinkSync(socketPath);
    } catch {
      // the peer's server removes it on close
    }
  }
}

/** One-way throughput: the peer loans, fills and sends; this process receives and reads in place. */
async function ringThroughput(
  payload: number,
  batch: number,
  runs: number,
  perRun: number,
): Promise<ThroughputFigure> {
  const dataSize = payload >= 1 << 20 ? 8 << 20 : 1 << 20;
  const host = createShmChannel(dataSize);
  const me = attachChannel(host.spec, 'consumer');
  const total = (runs + 1) * perRun;
  const peer = startPeer(
    {
      kind: 'produce',
      spec: { path: host.spec.path, channelId: host.spec.channelId },
      payload,
      count: total,
      batch,
    },
    host,
  );
  try {
    const waiter = new RingWaiter(me.consumer, { mode: 'adaptive', waker: me.consumerWaker });
    const guard = new CpuGuard([peer.child.pid]);
    const marks: number[] = [];
    let got = 0;
    let touch = 0;
    while (got < total) {
      if (!waiter.trySpin() && !(await waiter.wait(30_000, { afterSpin: true }))) {
        throw new Error('producer stalled');
      }
      for (let r = me.consumer.receive(); r !== undefined; r = me.consumer.receive()) {
        // Read in place: the header (parsed by receive) and the payload's first and last byte.
        const p = r.payload;
        touch += p.length === 0 ? 0 : p[0]! + p[p.length - 1]!;
        me.consumer.release();
        if (got % perRun === 0) marks.push(performance.now());
        got++;
      }
      if (me.consumer.failure !== undefined && got < total) throw me.consumer.failure;
    }
    marks.push(performance.now());
    const foreignCpuPct = guard.foreignPercent();
    await peer.done;
    const gb: number[] = [];
    const msg: number[] = [];
    for (let run = 1; run <= runs; run++) {
      const secs = (marks[run + 1]! - marks[run]!) / 1000;
      msg.push(perRun / secs);
      gb.push((perRun * payload) / secs / 1e9);
    }
    if (touch < 0) throw new Error('unreachable'); // keeps the reads observable
    return {
      payload,
      batch,
      recordsPerRun: perRun,
      msgPerSec: median(msg),
      gbPerSec: median(gb),
      runGbPerSec: gb,
      foreignCpuPct,
    };
  } finally {
    peer.child.kill('SIGKILL');
    me.close();
    host.close();
  }
}

/** `Uint8Array.set` from the heap into the heap and into a mapped non-shared alias. */
function memcpyRates(runs: number): MemcpyFigure[] {
  const size = 16 << 20;
  const path = `/dev/shm/sivshm-bench-memcpy-${process.pid}`;
  closeFd(createRegionFile(path, size, { exclusive: true }));
  const m = mapFile(path, 0, size, { writable: true });
  try {
    const mapped = new Uint8Array(m.bulk);
    const heap = new Uint8Array(size);
    const figures: MemcpyFigure[] = [];
    for (const n of [64, 4096, 1 << 20]) {
      const src = new Uint8Array(n).fill(1);
      const rate = (dst: Uint8Array): number => {
        const per: number[] = [];
        const slots = Math.max(1, Math.min(64, size / n)); // rotate destinations like a ring does
        for (let run = 0; run <= runs; run++) {
          let bytes = 0;
          const t0 = performance.now();
          let t = t0;
          for (let i = 0; t - t0 < 100; i++) {
            for (let k = 0; k < 256; k++) dst.set(src, ((i * 256 + k) % slots) * n);
            bytes += 256 * n;
            t = performance.now();
          }
          if (run > 0) per.push(bytes / ((t - t0) / 1000) / 1e9);
        }
        return median(per);
      };
      figures.push({ size: n, heapToHeapGBps: rate(heap), heapToMappedGBps: rate(mapped) });
    }
    return figures;
  } finally {
    unmap(m.handle);
    unlinkSync(path);
  }
}

/** Throughput cases: payload bytes, records per index store, records per run. */
const THROUGHPUT_CASES = [
  [64, 1, 1_000_000],
  [64, 32, 2_000_000],
  [4096, 1, 200_000],
  [4096, 32, 200_000],
  [1 << 20, 1, 1000],
] as const;

/**
 * Runs the ring benchmarks and returns the figures: 64 B round-trip p50/p99 in spin, event and
 * adaptive modes and over a Unix-domain socket, one-way throughput at 64 B, 4 KiB and 1 MiB,
 * and the memcpy rate measured alongside. Every figure is the median over `runs` runs.
 *
 * @example
 * ```ts
 * const result = await runRingBench({ runs: 5, log: console.error });
 * console.log(result.latency[0]?.p50Us);
 * ```
 */
export async function runRingBench(options: RingBenchOptions = {}): Promise<RingBenchResult> {
  const runs = options.runs ?? 5;
  const scale = options.quick ? 10 : 1;
  const log = options.log ?? (() => undefined);
  const loadAvgStart = os.loadavg();
  const sections = options.sections ?? ['latency', 'throughput', 'memcpy'];
  const latency: LatencyFigure[] = [];
  if (sections.includes('latency')) {
    log('latency: raw floor');
    latency.push(await rawLatency(runs, Math.ceil(20_000 / scale)));
    for (const mode of options.modes ?? ['spin', 'adaptive', 'event']) {
      log(`latency: ring ${mode}`);
      latency.push(
        await ringLatency(mode, runs, Math.ceil((mode === 'event' ? 5_000 : 20_000) / scale)),
      );
    }
    log('latency: raw eventfd floor');
    latency.push(await rawEventLatency(runs, Math.ceil(5_000 / scale)));
    log('latency: unix domain socket');
    latency.push(await udsLatency(runs, Math.ceil(5_000 / scale)));
  }
  const throughput: ThroughputFigure[] = [];
  for (const [payload, batch, perRun] of sections.includes('throughput') ? THROUGHPUT_CASES : []) {
    log(`throughput: ${payload} B, batch ${batch}`);
    throughput.push(await ringThroughput(payload, batch, runs, Math.ceil(perRun / scale)));
  }
  log('memcpy');
  const memcpy = sections.includes('memcpy') ? memcpyRates(runs) : [];
  const cpu = os.cpus();
  return {
    machine: {
      cpus: cpu.length,
      model: cpu[0]?.model ?? 'unknown',
      node: process.version,
      loadAvgStart,
      loadAvgEnd: os.loadavg(),
    },
    latency,
    throughput,
    memcpy,
  };
}
