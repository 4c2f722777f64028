// `npm run bench -- fullpath`: the full data path an app uses — protobuf encode, SOME/IP
// record in the ring, peer decode, handler, response, decode, promise — as a 64 B round trip
// between two OS processes, per notification mode, against the baseline a user would pick
// instead (length-prefixed protobuf over a Node Unix socket) in the same run.
// Issue 3 target: full path spin p50 ≤ 2 µs.
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import protobuf from 'protobufjs';
import { PAGE_SIZE, WindowLayout } from '@sivshm/abi';
import { eventfdCreate } from '../src/native/eventfd.js';
import { Channel } from '../src/channel/channel.js';
import { ServiceConsumer } from '../src/channel/service-endpoints.js';
import { closeFd, dupFd } from '../src/native/fd.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import { attachWindow } from '../test/channel/attach-window.js';
import { createShmChannel } from '../test/helpers/shm-channel.js';
import { FanoutDoorbell } from './fanout-doorbell.js';
import { monoUs, TRACE_FLUSH, TraceWaker } from './trace-waker.js';
import { BENCH_PEER_TIMEOUT_MS, SCHEMA } from './fullpath-schema.js';
import { startPeer } from './fullpath-spawn.js';
import { parkedFloorP50Us } from './fullpath-floor.js';

export interface FullPathRow {
  path: string;
  roundTrips: number;
  p50Us: number;
  p99Us: number;
  /** Baseline p50 divided by this p50 (how many times faster than the Unix socket). */
  vsUnixSocket?: number;
  targetP50Us?: number;
  runP50Us: number[];
}

export interface FullPathResult {
  suite: 'fullpath';
  payloadBytes: number;
  rows: FullPathRow[];
  /** JS heap held by one idle channel (rings, loop, heartbeat, liveness, two eventfd wakers). */
  idleChannelHeapBytes: number;
  /** Issue 3 target for it. */
  idleChannelHeapTargetBytes: number;
  /** Where a parked round trip's time goes, per stage (median µs). */
  parkedTrace: ParkedTrace;
  /**
   * The worst parked ring row's p50 ÷ the parked Unix socket's p50, same run (issue 17:
   * ≤ 0.8 in every mode).
   */
  parkedRatioToUnixSocket: number;
  parkedRatioTarget: number;
  /**
   * The parked floor, same run: p50 of a bare doorbell round trip between two sleeping
   * processes (fullpath-floor.ts), which any parked round trip pays whatever carries it.
   */
  parkedFloorUs: number;
  /** What the target leaves for everything else: 0.8 × the parked Unix socket p50 − the floor. */
  parkedBudgetUs: number;
}

/** Heap growth per idle channel, measured over `n` channels after forced GCs. */
async function idleChannelHeap(n: number): Promise<number> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const settle = async (): Promise<void> => {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
  };
  const len = WindowLayout.windowLength(PAGE_SIZE);
  const memory = new SharedArrayBuffer(len * n);
  const open = async (count: number): Promise<Channel[]> => {
    const channels: Channel[] = [];
    for (let i = 0; i < count; i++) {
      channels.push(
        new Channel({
          window: { shared: new Uint8Array(memory, i * len, len) },
          role: 'consumer',
          notify: 'event',
          ownWaker: new EventfdWaker(eventfdCreate()),
          peerWaker: new EventfdWaker(eventfdCreate()),
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 300)); // let every loop reach its parked state
    return channels;
  };
  // A first batch opened and closed: compiled code and type feedback are a one-off cost of the
  // process, not of each channel (unwarmed, a small batch counted them as several KiB each).
  for (const c of await open(Math.min(n, 50))) await c.close();
  await settle();
  const before = process.memoryUsage().heapUsed;
  const channels = await open(n);
  await settle();
  const perChannel = (process.memoryUsage().heapUsed - before) / n;
  for (const c of channels) await c.close();
  return Math.round(perChannel);
}

const Echo = protobuf.parse(SCHEMA).root.lookupType('b.Echo');
const DATA = new Uint8Array(56).fill(7); // 64 B with seq and framing
// A stall on a loaded machine shows in p99, not as ERR_TIMEOUT ending the run.
const CALL_OPTIONS = { timeoutMs: BENCH_PEER_TIMEOUT_MS } as const;

const q = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const median = (xs: number[]): number =>
  q(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/** How calls are paced: back to back, or one every `intervalMs` (both sides park between). */
interface Pace {
  readonly intervalMs?: number;
}

const paceLabel = (pace: Pace): string =>
  pace.intervalMs === undefined ? '' : `, 1 per ${pace.intervalMs} ms`;

/** Gap between calls in the parked case: far longer than any spin budget, so both sides park. */
const PARKED_INTERVAL_MS = 10;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measure(
  n: number,
  once: (i: number) => Promise<void>,
  pace: Pace = {},
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(2000, n); i++) await once(i); // warm-up
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (pace.intervalMs !== undefined) await sleep(pace.intervalMs);
    const t0 = performance.now();
    await once(i);
    t[i] = (performance.now() - t0) * 1000;
  }
  const s = Array.from(t).sort((a, b) => a - b);
  return { p50: q(s, 0.5), p99: q(s, 0.99) };
}

/** Variants of the ring path: what the handler sends, and whether channels share doorbells. */
interface RingCase {
  /** The handler publishes an event before it answers (two records per call). */
  readonly eventFirst?: boolean;
  /**
   * A second channel shares each side's doorbell (one vector per VM, like EmulatedDoorbells)
   * and carries an event at 100 Hz: every ring wakes both channels of a side.
   */
  readonly sharedDoorbell?: boolean;
}

const caseLabel = (c: RingCase): string =>
  (c.eventFirst === true ? ' +event' : '') + (c.sharedDoorbell === true ? ' +shared bell' : '');

async function ringPath(
  mode: NotifyMode,
  n: number,
  runs: number,
  pace: Pace = {},
  variant: RingCase = {},
): Promise<FullPathRow> {
  const host = createShmChannel(64 * 1024);
  const host2 = variant.sharedDoorbell === true ? createShmChannel(64 * 1024) : undefined;
  const child = await startPeer(
    {
      kind: 'ring',
      path: host.spec.path,
      channelId: host.spec.channelId,
      mode,
      eventFirst: variant.eventFirst === true,
      ...(host2 === undefined
        ? {}
        : { second: { path: host2.spec.path, channelId: host2.spec.channelId } }),
    },
    [host.spec.efdC2p, host.spec.efdP2c],
  );
  const shared = host2 === undefined ? undefined : new FanoutDoorbell(dupFd(host.spec.efdP2c));
  const ringFd = shared === undefined ? -1 : dupFd(host.spec.efdC2p);
  const attached = attachWindow(host.spec.path, host.spec.channelId);
  const channel = new Channel({
    window: attached.window,
    role: 'consumer',
    notify: mode,
    peerTimeoutMs: BENCH_PEER_TIMEOUT_MS,
    peerWaker: shared?.waker(ringFd) ?? new EventfdWaker(dupFd(host.spec.efdC2p)),
    ownWaker: shared?.waker(ringFd) ?? new EventfdWaker(dupFd(host.spec.efdP2c)),
  });
  const attached2 =
    host2 === undefined ? undefined : attachWindow(host2.spec.path, host2.spec.channelId);
  const channel2 =
    attached2 === undefined || shared === undefined
      ? undefined
      : new Channel({
          window: attached2.window,
          role: 'consumer',
          notify: mode,
          peerTimeoutMs: BENCH_PEER_TIMEOUT_MS,
          peerWaker: shared.waker(ringFd),
          ownWaker: shared.waker(ringFd),
        });
  const ticks =
    channel2 === undefined
      ? undefined
      : new ServiceConsumer(channel2, { service: 0x1235, major: 1, client: 1 })
          .event(0x8002, Echo)
          .subscribe();
  const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 1 });
  const events = consumer.event(0x8001, Echo).subscribe();
  try {
    const p50s: number[] = [];
    const p99s: number[] = [];
    for (let r = 0; r < runs; r++) {
      const x = await measure(
        n,
        async (i) => {
          await consumer.call(1, Echo, Echo, { seq: i, data: DATA }, CALL_OPTIONS);
        },
        pace,
      );
      p50s.push(x.p50);
      p99s.push(x.p99);
    }
    return {
      path: `sivshm full path, ${mode}${caseLabel(variant)}${paceLabel(pace)}`,
      roundTrips: n * runs,
      p50Us: median(p50s),
      p99Us: median(p99s),
      runP50Us: p50s,
      ...(mode === 'spin' && pace.intervalMs === undefined ? { targetP50Us: 2 } : {}),
    };
  } finally {
    events.unsubscribe();
    ticks?.unsubscribe();
    consumer.close();
    await channel.close();
    await channel2?.close();
    child.kill('SIGKILL');
    shared?.close();
    if (ringFd >= 0) closeFd(ringFd);
    attached.unmap();
    attached2?.unmap();
    host.close();
    host2?.close();
  }
}

/** Median µs of each stage of a parked method round trip (see {@link traceParked}). */
export interface ParkedTrace {
  mode: NotifyMode;
  calls: number;
  /** Calls whose request found the provider parked (the others were caught by its spin). */
  providerParked: number;
  stagesUs: Record<string, number>;
}

/**
 * Where a parked round trip's time goes: `n` calls, one every `intervalMs`, with both
 * doorbells of both sides and the provider's handler timestamped (CLOCK_MONOTONIC, shared by
 * the two processes). Stages: call → rang the provider, → provider woken (the doorbell's
 * eventfd and uv_poll), → handler ran (waiter, dispatch, decode), → rang the caller (encode,
 * ring), → caller woken, → call resolved (dispatch, decode, promise).
 */
export async function traceParked(
  mode: NotifyMode,
  n: number,
  intervalMs = PARKED_INTERVAL_MS,
): Promise<ParkedTrace> {
  const host = createShmChannel(64 * 1024);
  const child = await startPeer(
    { kind: 'ring', path: host.spec.path, channelId: host.spec.channelId, mode, trace: true },
    [host.spec.efdC2p, host.spec.efdP2c],
  );
  const fromPeer = new Map<number, { woke: number; handled: number; rang: number }>();
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const x = JSON.parse(l) as { seq: number; woke: number; handled: number; rang: number };
      fromPeer.set(x.seq, x);
    }
  });
  let rang = 0;
  let woke = 0;
  const attached = attachWindow(host.spec.path, host.spec.channelId);
  const channel = new Channel({
    window: attached.window,
    role: 'consumer',
    notify: mode,
    peerTimeoutMs: BENCH_PEER_TIMEOUT_MS,
    peerWaker: new TraceWaker(new EventfdWaker(dupFd(host.spec.efdC2p)), {
      onWake: (us) => (rang = us),
    }),
    ownWaker: new TraceWaker(new EventfdWaker(dupFd(host.spec.efdP2c)), {
      onWoken: (us) => (woke = us),
    }),
  });
  const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 1 });
  const mine: { seq: number; start: number; rang: number; woke: number; done: number }[] = [];
  try {
    for (let i = 0; i < 2000; i++)
      await consumer.call(1, Echo, Echo, { seq: i, data: DATA }, CALL_OPTIONS);
    for (let i = 0; i < n; i++) {
      await sleep(intervalMs);
      const seq = 1_000_000 + i;
      rang = woke = 0;
      const start = monoUs();
      await consumer.call(1, Echo, Echo, { seq, data: DATA }, CALL_OPTIONS);
      mine.push({ seq, start, rang, woke, done: monoUs() });
    }
    await consumer.call(1, Echo, Echo, { seq: TRACE_FLUSH, data: DATA }, CALL_OPTIONS);
    await sleep(200); // the peer's lines
  } finally {
    consumer.close();
    await channel.close();
    child.kill('SIGKILL');
    attached.unmap();
    host.close();
  }
  const stages: Record<string, number[]> = {
    'call → rang provider': [],
    'rang → provider woken': [],
    'provider woken → handler': [],
    'handler → rang caller': [],
    'rang caller → caller woken': [],
    'caller woken → resolved': [],
    'round trip': [],
  };
  let providerParked = 0;
  for (const m of mine) {
    const p = fromPeer.get(m.seq);
    // Only fully parked calls: both sides slept and were rung by the other.
    if (p === undefined || m.rang === 0 || m.woke === 0 || p.woke < m.start) continue;
    providerParked++;
    stages['call → rang provider']!.push(m.rang - m.start);
    stages['rang → provider woken']!.push(p.woke - m.rang);
    stages['provider woken → handler']!.push(p.handled - p.woke);
    stages['handler → rang caller']!.push(p.rang - p.handled);
    stages['rang caller → caller woken']!.push(m.woke - p.rang);
    stages['caller woken → resolved']!.push(m.done - m.woke);
    stages['round trip']!.push(m.done - m.start);
  }
  return {
    mode,
    calls: n,
    providerParked,
    stagesUs: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, median(v)])),
  };
}

async function udsPath(n: number, runs: number, pace: Pace = {}): Promise<FullPathRow> {
  const socket = path.join(os.tmpdir(), `sivshm-bench-${process.pid}.sock`);
  rmSync(socket, { force: true });
  const child = await startPeer({ kind: 'uds', socket });
  const s = net.connect(socket);
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.setNoDelay(true);
  let pending: ((b: Buffer) => void) | undefined;
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
      const n2 = buf.readUInt32LE(0);
      const body = buf.subarray(4, 4 + n2);
      buf = buf.subarray(4 + n2);
      pending?.(body);
    }
  });
  try {
    const p50s: number[] = [];
    const p99s: number[] = [];
    for (let r = 0; r < runs; r++) {
      const x = await measure(
        n,
        async (i) => {
          const out = Echo.encode({ seq: i, data: DATA }).finish();
          const head = Buffer.alloc(4);
          head.writeUInt32LE(out.length, 0);
          const reply = new Promise<Buffer>((res) => (pending = res));
          s.write(Buffer.concat([head, out]));
          Echo.decode(await reply);
        },
        pace,
      );
      p50s.push(x.p50);
      p99s.push(x.p99);
    }
    return {
      path: `Unix socket + protobuf${paceLabel(pace)}`,
      roundTrips: n * runs,
      p50Us: median(p50s),
      p99Us: median(p99s),
      runP50Us: p50s,
    };
  } finally {
    s.destroy();
    child.kill('SIGKILL');
    rmSync(socket, { force: true });
  }
}

/**
 * The parked case alone: `n` calls, one every `intervalMs` (default {@link PARKED_INTERVAL_MS}), in `adaptive` and
 * `event` mode, in `adaptive` with a handler that publishes an event before it answers (alone,
 * and with a second channel sharing each side's doorbell), and over the Unix socket (its ratio column is against that idle socket).
 */
export async function parkedRows(
  n: number,
  intervalMs = PARKED_INTERVAL_MS,
): Promise<FullPathRow[]> {
  const pace: Pace = { intervalMs };
  const base = await udsPath(n, 1, pace);
  const rows: FullPathRow[] = [];
  for (const mode of ['adaptive', 'event'] as NotifyMode[]) {
    rows.push(await ringPath(mode, n, 1, pace));
  }
  // The handler publishes an event before it answers: two records for one call.
  rows.push(await ringPath('adaptive', n, 1, pace, { eventFirst: true }));
  // ... and a second channel shares each side's doorbell, as in the runtime (the demo's shape).
  rows.push(await ringPath('adaptive', n, 1, pace, { eventFirst: true, sharedDoorbell: true }));
  rows.push(base);
  for (const r of rows) r.vsUnixSocket = base.p50Us / r.p50Us;
  return rows;
}

/**
 * Runs the baseline and the three modes back to back, then the parked case: one call every
 * `PARKED_INTERVAL_MS`, so both sides sleep between calls (the cost an app sees at a low call
 * rate), against a Unix socket whose peer is idle between calls in the same way.
 */
export async function run(
  opts: { readonly quick?: boolean; readonly log?: (l: string) => void } = {},
): Promise<FullPathResult> {
  const n = opts.quick === true ? 2000 : 20_000;
  const runs = opts.quick === true ? 2 : 5;
  const rows: FullPathRow[] = [];
  opts.log?.('fullpath: unix socket baseline');
  const base = await udsPath(n, runs);
  for (const mode of ['spin', 'adaptive', 'event'] as NotifyMode[]) {
    opts.log?.(`fullpath: ${mode}`);
    rows.push(await ringPath(mode, n, runs));
  }
  rows.push(base);
  for (const r of rows) r.vsUnixSocket = base.p50Us / r.p50Us;
  opts.log?.(`fullpath: parked, one call every ${PARKED_INTERVAL_MS} ms`);
  const parked = await parkedRows(opts.quick === true ? 50 : 300);
  rows.push(...parked);
  opts.log?.('fullpath: parked floor, a bare doorbell round trip');
  const parkedFloorUs = await parkedFloorP50Us(opts.quick === true ? 50 : 300, PARKED_INTERVAL_MS);
  const socketParked = parked.find((r) => !r.path.startsWith('sivshm'))!.p50Us;
  const parkedRatioToUnixSocket = Math.max(
    ...parked.filter((r) => r.path.startsWith('sivshm')).map((r) => 1 / (r.vsUnixSocket ?? NaN)),
  );
  opts.log?.('fullpath: parked round trip, traced stage by stage');
  const parkedTrace = await traceParked('adaptive', opts.quick === true ? 50 : 200);
  opts.log?.('fullpath: idle channel footprint');
  const idleChannelHeapBytes = await idleChannelHeap(opts.quick === true ? 100 : 500);
  return {
    suite: 'fullpath',
    payloadBytes: 64,
    rows,
    idleChannelHeapBytes,
    idleChannelHeapTargetBytes: 4096,
    parkedTrace,
    parkedRatioToUnixSocket: Math.round(parkedRatioToUnixSocket * 1000) / 1000,
    parkedRatioTarget: 0.8,
    parkedFloorUs: Math.round(parkedFloorUs * 10) / 10,
    parkedBudgetUs: Math.round((0.8 * socketParked - parkedFloorUs) * 10) / 10,
  };
}

/** The table `npm run bench` prints. */
export function format(r: FullPathResult): string {
  const f = (x: number): string => x.toFixed(2).padStart(8);
  return [
    'full path, 64 B protobuf method round trip, two OS processes (median of runs)',
    'path                                             p50 µs   p99 µs  unix p50 / this  target p50',
    ...r.rows.map(
      (x) =>
        `${x.path.padEnd(47)} ${f(x.p50Us)} ${f(x.p99Us)}  ${`${(x.vsUnixSocket ?? 1).toFixed(1)}×`.padStart(15)}  ${x.targetP50Us === undefined ? '' : `≤ ${x.targetP50Us} ${x.p50Us <= x.targetP50Us ? 'met' : 'MISS'}`}`,
    ),
    `parked, worst ring mode ÷ Unix socket p50: ${r.parkedRatioToUnixSocket.toFixed(2)} (target ≤ ${r.parkedRatioTarget}: ${r.parkedRatioToUnixSocket <= r.parkedRatioTarget ? 'met' : 'MISS'})`,
    `parked floor (a bare doorbell round trip, two sleeping processes, same run): ${r.parkedFloorUs.toFixed(1)} µs; left for all other work by the target (0.8 × Unix socket − floor): ${r.parkedBudgetUs.toFixed(1)} µs`,
    `JS heap per idle channel: ${r.idleChannelHeapBytes} B (target ≤ ${r.idleChannelHeapTargetBytes} B: ${r.idleChannelHeapBytes <= r.idleChannelHeapTargetBytes ? 'met' : 'MISS'})`,
    `parked round trip (${r.parkedTrace.mode}, one call every ${PARKED_INTERVAL_MS} ms, ${r.parkedTrace.providerParked} of ${r.parkedTrace.calls} calls fully parked), median µs per stage:`,
    ...Object.entries(r.parkedTrace.stagesUs).map(
      ([k, v]) => `  ${k.padEnd(30)} ${v.toFixed(0).padStart(6)}`,
    ),
  ].join('\n');
}
