// `npm run bench -- modes`: what `mac` and `aead` cost against `plain`, measured in the same run
// on the same machine: a 64 B protobuf method round trip between two OS processes (spin, the
// modes in turn block by block, each block measured once its fresh channel is warm: see
// warmUntilSteady), and a one-way stream of 64 KiB records (spin). Issue 11 targets: round
// trip mac ≤ 1.2× plain, aead ≤ 1.5× plain; 64 KiB one-way aead ≥ 2 GB/s.
import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { loadavg } from 'node:os';
import protobuf from 'protobufjs';
import { Channel, dispatchKey } from '../src/channel/channel.js';
import { ServiceConsumer } from '../src/channel/service-endpoints.js';
import { dupFd } from '../src/native/fd.js';
import { EventfdWaker } from '../src/notify/eventfd-waker.js';
import type { NotifyMode } from '../src/notify/ring-waiter.js';
import { loadAddon } from '../src/native/addon.js';
import { nativeRecordCrypto } from '../src/protect/native-record-crypto.js';
import { RecordSealer } from '../src/protect/record-sealer.js';
import { attachWindow } from '../test/channel/attach-window.js';
import { createShmChannel } from '../test/helpers/shm-channel.js';
import { SCHEMA } from './fullpath-schema.js';

type Mode = 'plain' | 'mac' | 'aead';
const MODES: readonly Mode[] = ['plain', 'mac', 'aead'];

export interface ModesRow {
  mode: Mode;
  /** `round trip` (64 B method call) or `one-way` (stream of records). */
  kind: 'round trip' | 'one-way';
  payloadBytes: number;
  /** Round trip: median of the blocks' p50, and p99 of all calls. One-way: per record (median and slowest batch). */
  p50Us: number;
  p99Us: number;
  /**
   * Round trip: the median over blocks of this mode's p50 / plain's p50 in the same block.
   * One-way: time per record / plain's (≥ 1 is slower).
   */
  ratioToPlain: number;
  /** One-way only: payload bytes per second / 1e9 (median run); null for round trips. */
  gbPerSec: number | null;
  /** The issue's target for this row, if it has one, and whether this run met it. */
  target?: string;
  met?: boolean;
}

/** Sealing one record in-process with each candidate AEAD (how aead's cipher was chosen) and mac's GMAC. */
export interface CipherRow {
  cipher: string;
  /** `node:crypto` (a cipher object per record, as JS must) or the addon's preinitialised one. */
  via: 'node:crypto' | 'addon';
  payloadBytes: number;
  usPerRecord: number;
  gbPerSec: number;
}

export interface ModesResult {
  rows: ModesRow[];
  ciphers: CipherRow[];
  /**
   * The machine's load average (1, 5, 15 min) when the run started and ended: other jobs on a
   * 2-vCPU machine move every figure, the ratios least (docs/performance.md §3).
   */
  load: { before: number[]; after: number[] };
  /** Warm-up calls per round-trip block (`WARM_UP`): fewest, median, most. */
  warmUpCalls: { min: number; median: number; max: number };
}

/** Median µs to seal one record of `bytes` with `seal`, over `n` records after a warm-up. */
function timeSeal(seal: (i: number) => void, n: number): number {
  for (let i = 0; i < Math.min(n, 1000); i++) seal(i);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) seal(i);
    runs.push(((performance.now() - t0) * 1000) / n);
  }
  return median(runs);
}

const BENCH_HEADER = {
  service: 1,
  method: 0x8001,
  client: 0,
  session: 0,
  interfaceVersion: 1,
  messageType: 2,
  returnCode: 0,
};

/**
 * AES-256-GCM against ChaCha20-Poly1305 through node:crypto and in the addon, and the addon's
 * record step of both modes.
 */
function cipherChoice(quick: boolean): CipherRow[] {
  const key = randomBytes(32);
  const aad = randomBytes(33);
  const rows: CipherRow[] = [];
  for (const bytes of [64, ONE_WAY]) {
    const plain = randomBytes(bytes);
    const n = (quick ? 2000 : 20_000) / (bytes === 64 ? 1 : 20);
    for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      const nonce = Buffer.alloc(12);
      const us = timeSeal((i) => {
        nonce.writeUInt32LE(i, 4);
        const c = createCipheriv(cipher as CipherGCMTypes, key, nonce, { authTagLength: 16 });
        c.setAAD(aad);
        c.update(plain);
        c.final();
        c.getAuthTag();
      }, n);
      rows.push({
        cipher,
        via: 'node:crypto',
        payloadBytes: bytes,
        usPerRecord: us,
        gbPerSec: bytes / (us * 1000),
      });
    }
    // The addon with each AEAD set up once, as channels use it (mode 2: ChaCha20-Poly1305).
    const addon = loadAddon();
    const chacha = addon.recordCipherCreate(2, key, 1n, 1);
    const sealed = new Uint8Array(bytes + 24);
    const chachaUs = timeSeal((i) => addon.recordSeal(chacha, i + 1, 1, 2, 3, plain, sealed), n);
    addon.recordCipherDispose(chacha);
    rows.push({
      cipher: 'chacha20-poly1305',
      via: 'addon',
      payloadBytes: bytes,
      usPerRecord: chachaUs,
      gbPerSec: bytes / (chachaUs * 1000),
    });
    // The addon's record step as channels use it (by offset into a bound ring, from a bound
    // private buffer): aead's AES-256-GCM and mac's GMAC.
    for (const [mode, cipher] of [
      ['aead', 'aes-256-gcm'],
      ['mac', 'gmac (mac mode)'],
    ] as const) {
      const sealer = new RecordSealer({
        mode,
        key,
        channelId: 1n,
        direction: 'c2p',
        crypto: nativeRecordCrypto,
      });
      sealer.bind('private', plain);
      sealer.bind('ring', new Uint8Array(bytes + 24));
      const us = timeSeal(() => sealer.sealAt(BENCH_HEADER, 0, bytes, 0), n);
      sealer.dispose();
      rows.push({
        cipher,
        via: 'addon',
        payloadBytes: bytes,
        usPerRecord: us,
        gbPerSec: bytes / (us * 1000),
      });
    }
  }
  return rows;
}

const Echo = protobuf.parse(SCHEMA).root.lookupType('b.Echo');
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const PEER = new URL(`./modes-peer${ext}`, import.meta.url).pathname;
/**
 * How long either end of a bench channel waits for the other's heartbeat: on a machine loaded
 * far beyond its two vCPUs a spinning peer can be off the CPU for over a second, and a bench
 * that gives up then measures nothing; the figures say how loaded the run was.
 */
export const PEER_TIMEOUT_MS = 30_000;
/** A call's bound in the bench, for the same reason (the default is 1 s). */
const CALL = { timeoutMs: PEER_TIMEOUT_MS } as const;
/** A 1 MiB data area per direction: a 64 KiB record is far below its half. */
const DATA_SIZE = 1024 * 1024;
const ONE_WAY = 64 * 1024;

const q = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const median = (xs: number[]): number =>
  q(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

function startPeer(job: object, fds: number[]): Promise<ChildProcess> {
  const args =
    ext === '.ts' ? ['--import', 'tsx', PEER, JSON.stringify(job)] : [PEER, JSON.stringify(job)];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit', ...fds],
    env: {
      ...process.env,
      NODE_OPTIONS: ext === '.ts' ? '--conditions=source' : (process.env.NODE_OPTIONS ?? ''),
    },
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('benchmark peer did not start')), 20_000);
    child.stdout!.once('data', () => {
      clearTimeout(t);
      resolve(child);
    });
    child.once('exit', (c) => reject(new Error(`benchmark peer exited (${c})`)));
  });
}

/** A channel in `mode` between this process (consumer) and a peer process (provider). */
interface Pair {
  readonly consumer: ServiceConsumer;
  readonly channel: Channel;
  close(): Promise<void>;
}

async function openPair(mode: Mode, notify: NotifyMode): Promise<Pair> {
  const host = createShmChannel(DATA_SIZE);
  const keys = { c2p: randomBytes(32), p2c: randomBytes(32) };
  const child = await startPeer(
    {
      path: host.spec.path,
      channelId: host.spec.channelId,
      mode,
      notify,
      keys: { c2p: keys.c2p.toString('hex'), p2c: keys.p2c.toString('hex') },
    },
    [host.spec.efdC2p, host.spec.efdP2c],
  );
  const attached = attachWindow(host.spec.path, host.spec.channelId);
  const channel = new Channel({
    window: attached.window,
    role: 'consumer',
    notify,
    peerWaker: new EventfdWaker(dupFd(host.spec.efdC2p)),
    ownWaker: new EventfdWaker(dupFd(host.spec.efdP2c)),
    peerTimeoutMs: PEER_TIMEOUT_MS,
    ...(mode === 'plain'
      ? {}
      : { protection: { mode, channelId: BigInt(host.spec.channelId), keys } }),
  });
  const consumer = new ServiceConsumer(channel, { service: 0x1234, major: 1, client: 1 });
  return {
    consumer,
    channel,
    close: async () => {
      consumer.close();
      await channel.close();
      child.kill('SIGKILL');
      attached.unmap();
      host.close();
    },
  };
}

/** One channel in `mode` (spin) for the duration of `body`. */
async function withChannel<T>(
  mode: Mode,
  body: (consumer: ServiceConsumer, channel: Channel) => Promise<T>,
): Promise<T> {
  const pair = await openPair(mode, 'spin');
  try {
    return await body(pair.consumer, pair.channel);
  } finally {
    await pair.close();
  }
}

/** Per-mode figures of the interleaved round trips. */
interface RoundTrips {
  /** p50 of each block, per mode. */
  readonly blockP50: Record<Mode, number[]>;
  /** Every call's µs, per mode. */
  readonly all: Record<Mode, number[]>;
  /** Warm-up calls each block made before it was measured. */
  readonly warmUp: number[];
}

/** Warm-up calls every block makes at least, then more in windows until p50 stops falling. */
export const WARM_UP = { minCalls: 5000, window: 1000, maxCalls: 20_000, settled: 0.95 } as const;

/**
 * Warms a fresh channel (and its fresh peer process) up until its round trip is steady: at
 * least `WARM_UP.minCalls` calls, then windows of `WARM_UP.window` calls until a window's p50
 * is no more than 5 % below the one before (or `maxCalls`). A block measured while the code
 * was still warming mixes two speeds, and `plain` and `mac` do not warm alike. Returns the
 * calls made. `t` is scratch of at least one window.
 */
async function warmUntilSteady(
  consumer: ServiceConsumer,
  data: Uint8Array,
  t: Float64Array,
): Promise<number> {
  const { minCalls, window, maxCalls, settled } = WARM_UP;
  let calls = 0;
  let before = Infinity;
  for (;;) {
    for (let i = 0; i < window; i++) {
      const t0 = performance.now();
      await consumer.call(1, Echo, Echo, { seq: i, data }, CALL);
      t[i] = (performance.now() - t0) * 1000;
    }
    calls += window;
    const p50 = q(
      Array.from(t.subarray(0, window)).sort((x, y) => x - y),
      0.5,
    );
    if (calls >= maxCalls || (calls >= minCalls && p50 >= before * settled)) return calls;
    before = p50;
  }
}

/**
 * 64 B calls in blocks of `perBlock`, each block on a fresh spin channel, rotating through the
 * modes, so a change of machine load hits every mode alike; ratios are taken block by block.
 * (Spin, one channel at a time: with all three open, the idle ones would spin too, or park
 * under load and turn round trips into wake-ups.)
 */
async function roundTrips(blocks: number, perBlock: number): Promise<RoundTrips> {
  const data = new Uint8Array(56).fill(7); // 64 B with seq and framing
  const blockP50: Record<Mode, number[]> = { plain: [], mac: [], aead: [] };
  const all: Record<Mode, number[]> = { plain: [], mac: [], aead: [] };
  const warmUp: number[] = [];
  const t = new Float64Array(Math.max(perBlock, WARM_UP.window));
  for (let b = 0; b < blocks; b++) {
    for (let k = 0; k < MODES.length; k++) {
      const mode = MODES[(b + k) % MODES.length]!;
      await withChannel(mode, async (consumer) => {
        warmUp.push(await warmUntilSteady(consumer, data, t));
        for (let i = 0; i < perBlock; i++) {
          const t0 = performance.now();
          await consumer.call(1, Echo, Echo, { seq: i, data }, CALL);
          t[i] = (performance.now() - t0) * 1000;
        }
      });
      const measured = t.subarray(0, perBlock);
      blockP50[mode].push(
        q(
          Array.from(measured).sort((x, y) => x - y),
          0.5,
        ),
      );
      for (const v of measured) all[mode].push(v);
    }
  }
  return { blockP50, all, warmUp };
}

/** µs per 64 KiB record of a one-way stream, one figure per batch of `n` records. */
async function oneWay(mode: Mode, n: number, batches: number): Promise<number[]> {
  return withChannel(mode, async (consumer, channel) => {
    let count = 0;
    let wanted = 0;
    let done: (() => void) | undefined;
    channel.on(dispatchKey(0x02, 0x8001), () => {
      if (++count === wanted) done?.();
    });
    const data = new Uint8Array(ONE_WAY);
    const batch = async (records: number): Promise<number> => {
      count = 0;
      wanted = records;
      const arrived = new Promise<void>((resolve) => (done = resolve));
      const t0 = performance.now();
      await consumer.call(2, Echo, Echo, { seq: records, data }, { timeoutMs: 60_000 });
      await arrived;
      return ((performance.now() - t0) * 1000) / records;
    };
    await batch(Math.min(200, n)); // warm-up
    const perRecord: number[] = [];
    for (let b = 0; b < batches; b++) perRecord.push(await batch(n));
    return perRecord;
  });
}

/** Runs every mode in turn, `runs` times, so drift of the machine hits all modes alike. */
export async function run(
  opts: { quick?: boolean; log?: (s: string) => void } = {},
): Promise<ModesResult> {
  const log = opts.log ?? (() => {});
  const loadBefore = loadavg();
  const blocks = opts.quick === true ? 2 : 9;
  const perBlock = opts.quick === true ? 2000 : 5000;
  const runs = opts.quick === true ? 1 : 3;
  const records = opts.quick === true ? 500 : 4000;
  log(
    `  round trips: ${blocks} blocks of ${perBlock} calls per mode, modes in turn, each after ≥ ${WARM_UP.minCalls} warm-up calls until p50 stops falling`,
  );
  const rt = await roundTrips(blocks, perBlock);
  const ow: Record<Mode, number[]> = { plain: [], mac: [], aead: [] };
  for (let r = 0; r < runs; r++) {
    for (const mode of MODES) {
      log(`  ${mode}: 64 KiB one-way (run ${r + 1}/${runs})`);
      ow[mode].push(...(await oneWay(mode, records, 3)));
    }
  }
  const rows: ModesRow[] = [];
  for (const mode of MODES) {
    const p50 = median(rt.blockP50[mode]);
    // The median of the blocks' own ratios: each pairs a mode with plain measured moments apart.
    const ratio = median(rt.blockP50[mode].map((v, b) => v / rt.blockP50.plain[b]!));
    const sortedAll = [...rt.all[mode]].sort((a, b) => a - b);
    const limit = mode === 'mac' ? 1.2 : mode === 'aead' ? 1.5 : undefined;
    rows.push({
      mode,
      kind: 'round trip',
      payloadBytes: 64,
      p50Us: p50,
      p99Us: q(sortedAll, 0.99),
      ratioToPlain: ratio,
      gbPerSec: null,
      ...(limit === undefined ? {} : { target: `≤ ${limit}× plain`, met: ratio <= limit }),
    });
  }
  const owPlain = median(ow.plain);
  for (const mode of MODES) {
    const sorted = [...ow[mode]].sort((a, b) => a - b);
    const p50 = q(sorted, 0.5);
    const gb = ONE_WAY / (p50 * 1000);
    rows.push({
      mode,
      kind: 'one-way',
      payloadBytes: ONE_WAY,
      p50Us: p50,
      p99Us: q(sorted, 0.99),
      ratioToPlain: p50 / owPlain,
      gbPerSec: gb,
      ...(mode === 'aead' ? { target: '≥ 2 GB/s', met: gb >= 2 } : {}),
    });
  }
  log('  sealing one record per cipher, in process');
  const ciphers = cipherChoice(opts.quick === true);
  const warm = [...rt.warmUp].sort((a, b) => a - b);
  return {
    rows,
    ciphers,
    load: { before: loadBefore, after: loadavg() },
    warmUpCalls: { min: warm[0] ?? 0, median: median(warm), max: warm[warm.length - 1] ?? 0 },
  };
}

/** The table `npm run bench` prints. */
export function format(r: ModesResult): string {
  const f = (x: number): string => x.toFixed(2).padStart(8);
  return [
    'record protection: mac and aead against plain, same run (64 B round trip: two OS processes, spin, modes in turn; one-way: 64 KiB records, spin)',
    `machine load (1/5/15 min): ${r.load.before.map((x) => x.toFixed(1)).join('/')} at the start, ${r.load.after.map((x) => x.toFixed(1)).join('/')} at the end`,
    `round-trip blocks measured in steady state: ${r.warmUpCalls.min}–${r.warmUpCalls.max} warm-up calls each (median ${r.warmUpCalls.median})`,
    'mode   kind        payload   p50 µs   p99 µs  × plain   GB/s  target',
    ...r.rows.map(
      (x) =>
        `${x.mode.padEnd(6)} ${x.kind.padEnd(10)} ${String(x.payloadBytes).padStart(8)} ${f(x.p50Us)} ${f(x.p99Us)} ${x.ratioToPlain.toFixed(2).padStart(7)} ${x.gbPerSec === null ? '     -' : x.gbPerSec.toFixed(2).padStart(6)}  ${x.target === undefined ? '' : `${x.target}: ${x.met === true ? 'met' : 'MISS'}`}`,
    ),
    '',
    'cipher choice: sealing one record in process (median µs, GB/s)',
    ...r.ciphers.map(
      (c) =>
        `${c.cipher.padEnd(18)} ${c.via.padEnd(11)} ${String(c.payloadBytes).padStart(6)} B ${f(c.usPerRecord)} µs ${c.gbPerSec.toFixed(2).padStart(6)} GB/s`,
    ),
  ].join('\n');
}
