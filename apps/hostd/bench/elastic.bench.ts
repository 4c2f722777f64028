// Elastic windows benchmark (issue 19): a bursty event stream over one channel whose window
// follows its traffic (hostd's ElasticPlanner deciding from the ring words status reads, the
// transport's Channel.moveTo carrying the move out, docs/protocol.md §11), against the same
// workload on a fixed small and a fixed large window, in the same run. In one process: both
// ends, the policy and the moves; no control link and no device (the moves are what is measured,
// not hostd's messages). Figures: burst throughput, the window bytes held on average over the
// run (bursts, gaps and an idle tail), and how full the held rings were during bursts
// (utilisation; MemPipe reports up to 91 %).
// Run: npm run bench -- elastic
import { cpus, loadavg } from 'node:os';
import { PAGE_SIZE, RingPageLayout, windowLayout } from '@sivshm/abi';
import { ELASTIC_DEFAULTS, type ElasticWindow } from '@sivshm/core';
import {
  Channel,
  dispatchKey,
  ringViews,
  WindowAllocator,
  windowOf,
  type WindowMemory,
} from '@sivshm/transport-ivshmem';
import { LocalWaker } from '@sivshm/transport-ivshmem/testing';
import { ElasticPlanner } from '../src/resize/elastic-planner.js';

type Variant = 'elastic' | 'fixed-small' | 'fixed-large';
const SMALL = PAGE_SIZE;
const LARGE = 256 * 1024;
const REGION = 8 << 20;
const PAYLOAD = 1024;
const HEADER = {
  service: 0x1919,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};
const BOUNDS: ElasticWindow = {
  ...ELASTIC_DEFAULTS,
  minRingDataSize: SMALL,
  maxRingDataSize: LARGE,
  growAfterMs: 10,
  shrinkAfterMs: 250,
};
/** Idle between bursts (shorter than shrinkAfterMs: a stream of bursts keeps its window). */
const GAP_MS = 80;
/** Idle after the last burst (the stream stopped): the elastic window shrinks back. */
const TAIL_MS = 1000;
const SAMPLE_MS = 5;
const layout = windowLayout(PAGE_SIZE);

export interface ElasticBenchRow {
  variant: Variant;
  /** Median MB/s of payload over the bursts' own time (first send to last delivery). */
  burstMBps: number;
  /** Median time-average of the window bytes the channel held. */
  heldKiB: number;
  /** Median share of the held ring bytes in use, averaged over samples taken during bursts. */
  utilisationPct: number;
  /** Median moves per run (elastic only). */
  moves: number;
  runMBps: number[];
}

export interface ElasticBenchResult {
  suite: 'elastic';
  machine: { cpus: number; model: string; node: string; loadAvgStart: number[] };
  runs: number;
  bursts: number;
  eventsPerBurst: number;
  payloadBytes: number;
  rows: ElasticBenchRow[];
  /** Elastic burst throughput ÷ fixed small, and its held bytes ÷ fixed large. */
  ratios: { throughputVsSmall: number; heldVsLarge: number };
  reference: string;
}

interface RunFigures {
  mbps: number;
  heldBytes: number;
  utilisation: number;
  moves: number;
}

/** One channel's two ends over a window of the in-memory region. */
class BenchChannel {
  readonly region = new Uint8Array(new SharedArrayBuffer(REGION));
  readonly allocator = new WindowAllocator({ dataOffset: 0, dataSize: REGION });
  ring: number;
  offset: number;
  window: WindowMemory;
  provider: Channel;
  consumer: Channel;
  moves = 0;
  #nextId = 2n;

  constructor(ring: number) {
    this.ring = ring;
    this.offset = this.allocator.allocate(layout.windowLength(ring))!;
    this.window = this.#windowAt(this.offset, ring);
    // Adaptive waiting on in-process doorbells, as apps run by default: a consumer that finds
    // the ring empty parks and the producer wakes it, instead of spinning the one thread.
    const c2p = new LocalWaker();
    const p2c = new LocalWaker();
    this.provider = new Channel({
      window: this.window,
      role: 'provider',
      ownWaker: c2p,
      peerWaker: p2c,
    });
    this.consumer = new Channel({
      window: this.window,
      role: 'consumer',
      ownWaker: p2c,
      peerWaker: c2p,
    });
  }

  /** Bytes in use and drops of both directions, read as hostd reads them. */
  sample(): {
    c2p: { usedBytes: number; drops: number };
    p2c: { usedBytes: number; drops: number };
  } {
    const read = (dir: 'c2p' | 'p2c') => {
      const v = ringViews(this.window, dir, this.ring);
      const p = Atomics.load(v.words, v.producerWord + RingPageLayout.producer.index / 4);
      const c = Atomics.load(v.words, v.consumerWord + RingPageLayout.consumer.index / 4);
      const drops = Atomics.load(v.words, v.producerWord + RingPageLayout.producer.drops / 4);
      return { usedBytes: (p - c) >>> 0, drops };
    };
    return { c2p: read('c2p'), p2c: read('p2c') };
  }

  /** Moves both ends to a new window of `ring` bytes per direction, then frees the old one. */
  async move(ring: number): Promise<void> {
    const offset = this.allocator.allocate(layout.windowLength(ring));
    if (offset === undefined) return;
    const window = this.#windowAt(offset, ring);
    const id = this.#nextId++;
    await Promise.all([this.provider.moveTo(window, id), this.consumer.moveTo(window, id)]);
    const old = this.offset;
    this.region.fill(0, old, old + layout.windowLength(this.ring));
    this.allocator.free(old);
    this.offset = offset;
    this.window = window;
    this.ring = ring;
    this.moves++;
  }

  #windowAt(offset: number, ring: number): WindowMemory {
    const length = layout.windowLength(ring);
    this.region.fill(0, offset, offset + length);
    return windowOf({ shared: this.region }, offset, length);
  }
}

async function runOnce(variant: Variant, bursts: number, events: number): Promise<RunFigures> {
  const ch = new BenchChannel(variant === 'fixed-large' ? LARGE : SMALL);
  let delivered = 0;
  ch.consumer.on(dispatchKey(0x02, HEADER.method), () => {
    delivered++;
  });
  const planner = new ElasticPlanner<number>({ budgetBytes: REGION / 2, pageGranule: PAGE_SIZE });
  let moving: Promise<void> | undefined;
  let heldSum = 0;
  let samples = 0;
  let usedSum = 0;
  let busySamples = 0;
  let inBurst = false;
  const timer = setInterval(() => {
    const s = ch.sample();
    samples++;
    heldSum += layout.windowLength(ch.ring);
    if (inBurst) {
      busySamples++;
      usedSum += (s.c2p.usedBytes + s.p2c.usedBytes) / (2 * ch.ring);
    }
    if (variant !== 'elastic' || moving !== undefined) return;
    const [plan] = planner.plan([
      {
        key: 1,
        bounds: BOUNDS,
        sample: { nowMs: performance.now(), ringDataSize: ch.ring, ...s },
      },
    ]);
    const d = plan!.decision;
    if (d.kind === 'hold') return;
    moving = ch.move(d.toRingDataSize).finally(() => (moving = undefined));
  }, SAMPLE_MS);
  const payload = new Uint8Array(PAYLOAD);
  let busyMs = 0;
  try {
    for (let b = 0; b < bursts; b++) {
      inBurst = true;
      const t0 = performance.now();
      const target = delivered + events;
      for (let sent = 0; sent < events;) {
        if (ch.provider.sendCopy(HEADER, payload)) sent++;
        else {
          // As EventPublisher does when a full ring refuses an event: the drops word hostd reads.
          ch.provider.countDrop();
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      while (delivered < target) await new Promise<void>((r) => setImmediate(r));
      busyMs += performance.now() - t0;
      inBurst = false;
      await new Promise<void>((r) => setTimeout(r, GAP_MS));
    }
    await new Promise<void>((r) => setTimeout(r, TAIL_MS));
  } finally {
    clearInterval(timer);
    await moving;
    await ch.provider.close();
    await ch.consumer.close();
  }
  return {
    mbps: (bursts * events * PAYLOAD) / (busyMs * 1000),
    heldBytes: heldSum / Math.max(1, samples),
    utilisation: usedSum / Math.max(1, busySamples),
    moves: ch.moves,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function run(opts: { quick?: boolean }): Promise<ElasticBenchResult> {
  const runs = opts.quick === true ? 3 : 7;
  const bursts = opts.quick === true ? 6 : 12;
  const events = 20_000;
  const loadAvgStart = loadavg();
  const variants: Variant[] = ['elastic', 'fixed-small', 'fixed-large'];
  const figures = new Map<Variant, RunFigures[]>(variants.map((v) => [v, []]));
  // Interleaved, so a change in the machine's load falls on all three alike.
  for (let r = 0; r < runs; r++)
    for (const v of variants) figures.get(v)!.push(await runOnce(v, bursts, events));
  const rows = variants.map((variant): ElasticBenchRow => {
    const f = figures.get(variant)!;
    return {
      variant,
      burstMBps: median(f.map((x) => x.mbps)),
      heldKiB: median(f.map((x) => x.heldBytes)) / 1024,
      utilisationPct: 100 * median(f.map((x) => x.utilisation)),
      moves: median(f.map((x) => x.moves)),
      runMBps: f.map((x) => x.mbps).sort((a, b) => a - b),
    };
  });
  const row = (v: Variant): ElasticBenchRow => rows.find((x) => x.variant === v)!;
  return {
    suite: 'elastic',
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? '?',
      node: process.version,
      loadAvgStart,
    },
    runs,
    bursts,
    eventsPerBurst: events,
    payloadBytes: PAYLOAD,
    rows,
    ratios: {
      throughputVsSmall: row('elastic').burstMBps / row('fixed-small').burstMBps,
      heldVsLarge: row('elastic').heldKiB / row('fixed-large').heldKiB,
    },
    reference:
      'MemPipe (demand-driven shared-memory pipes) reports up to 91 % memory utilisation; no sivshm target is set yet',
  };
}

export function format(r: ElasticBenchResult): string {
  const lines = [
    `elastic windows: ${r.bursts} bursts of ${r.eventsPerBurst} × ${r.payloadBytes}-byte events, ${GAP_MS} ms gaps, then ${TAIL_MS} ms idle; medians of ${r.runs} runs (load ${r.machine.loadAvgStart.map((x) => x.toFixed(1)).join(' ')})`,
    'variant       burst MB/s   held KiB   utilisation %   moves',
    ...r.rows.map(
      (x) =>
        `${x.variant.padEnd(13)} ${x.burstMBps.toFixed(1).padStart(10)} ${x.heldKiB.toFixed(0).padStart(10)} ${x.utilisationPct.toFixed(1).padStart(15)} ${String(x.moves).padStart(7)}`,
    ),
    `elastic vs fixed small: ${r.ratios.throughputVsSmall.toFixed(2)}× throughput; vs fixed large: ${r.ratios.heldVsLarge.toFixed(2)}× the window bytes held`,
    `reference: ${r.reference}`,
  ];
  return lines.join('\n');
}
