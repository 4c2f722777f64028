// `npm run bench -- scale [--json] [--quick]`: how discovery and channel set-up grow with the
// system, every figure from real processes (hostd, provider VMs, a consumer VM; emulated mode).
//   issue 20 series: one provider VM with 1, 16, 64, 128 (64 services × 2) and 256 instances and
//     a consumer of all of them, offered one after another, and 64 offered at once: time until
//     every channel is up, SD drops, offers that expired, calls answered, handshakes, start-up
//     CPU/RSS of a VM process. The 1-instance run is the same-run baseline.
//   issue 17 rows: N VMs × M services through one hostd (vms, channels, allConnectedMs,
//     handshakeP99Ms, hostdRssPerChannelBytes: hostd's RSS growth per channel over the
//     1-channel row of the same run, eventsPerSec: 64-byte events with every channel active).
// Medians over runs; the whole suite is bounded in time (a run that would start past the budget
// is skipped and the row says how many runs it got).
import { runScale, type ScaleRunResult, type ScaleScenario } from './scale/scale-run.js';

/** Targets of issue 20 (one provider VM, one consumer) and issue 17 (rows). */
export const TARGETS = {
  instances256Ms: 5000,
  atOnce64Ms: 2000,
  rows256Over8VmsMs: 3000,
  hostdRssPerChannelBytes: 16 * 1024,
  handshakeP99GrowthAt1024: 2,
};

export interface ScaleSeriesRow {
  readonly label: string;
  readonly instances: number;
  readonly atOnce: boolean;
  readonly runs: number;
  /** Runs that did not get every channel up, with what failed (first 400 characters). */
  readonly failures: readonly string[];
  /** Median of the runs' figures. */
  readonly median: ScaleRunResult | undefined;
  /** Worst of the runs (sums that must be 0, calls that must all be answered). */
  readonly worst:
    | {
        sdDropped: number;
        ttlExpiredClosings: number;
        churnedChannels: number;
        callsUnanswered: number;
      }
    | undefined;
}

export interface ScaleRow {
  readonly vms: number;
  readonly channels: number;
  readonly allConnectedMs: number | null;
  readonly handshakeP99Ms: number | null;
  /**
   * hostd's RSS growth per channel: (its RSS with every channel up − the 1-channel row's) /
   * (channels − 1), both medians of this run, each read just after a full garbage collection in
   * hostd. What hostd keeps per channel, without its fixed start-up and heap sizing (null for
   * the 1-channel row itself).
   */
  readonly hostdRssPerChannelBytes: number | null;
  /** hostd's RSS with every channel up, after a collection (median run). */
  readonly hostdRssBytes: number | null;
  /** The same growth per channel of hostd's live JavaScript heap (after a collection). */
  readonly hostdHeapPerChannelBytes: number | null;
  /** The same growth per channel of hostd's external memory (buffers; after a collection). */
  readonly hostdExternalPerChannelBytes: number | null;
  /**
   * The RSS growth split: hostd's private memory (RssAnon: heap, code, malloc) and the region's
   * shared pages it touched (RssShmem: the windows it zeroes when it hands them out, which are
   * the channels' own memory).
   */
  readonly hostdPrivateRssPerChannelBytes: number | null;
  readonly hostdSharedRssPerChannelBytes: number | null;
  /**
   * Events (64-byte payloads) the consumer received per second, counted for 1 s after a
   * warm-up, while every provider published on all its channels (the consumer's `event()`
   * streams, one per channel).
   */
  readonly eventsPerSec: number | null;
  /** Those events per second of the consumer's CPU time (median run by `eventsPerSec`). */
  readonly eventsPerConsumerCpuSec: number | null;
  readonly runs: number;
  /** Runs that did not get every channel up, with what failed (first 400 characters). */
  readonly failures: readonly string[];
}

export interface ScaleResult {
  readonly suite: 'scale';
  readonly budgetMs: number;
  readonly elapsedMs: number;
  readonly series: readonly ScaleSeriesRow[];
  /** Same-run baseline: the 1-instance run's time until connected, ms. */
  readonly baselineMs: number | null;
  readonly rows: readonly ScaleRow[];
  readonly targets: typeof TARGETS;
}

const SERIES: readonly { label: string; scenario: ScaleScenario }[] = [
  { label: '1', scenario: { providers: 1, servicesPerProvider: 1, instancesPerService: 1 } },
  { label: '16', scenario: { providers: 1, servicesPerProvider: 1, instancesPerService: 16 } },
  { label: '64', scenario: { providers: 1, servicesPerProvider: 1, instancesPerService: 64 } },
  {
    label: '128 (64 × 2)',
    scenario: { providers: 1, servicesPerProvider: 64, instancesPerService: 2 },
  },
  { label: '256', scenario: { providers: 1, servicesPerProvider: 1, instancesPerService: 256 } },
  {
    label: '64, at once',
    scenario: { providers: 1, servicesPerProvider: 1, instancesPerService: 64, atOnce: true },
  },
];

/**
 * Most telling first, so a short budget still gets them: 256 channels with one publishing
 * process (the events target), across 8 provider VMs (the time target), and 1 024 channels.
 */
const ROWS: readonly ScaleScenario[] = [
  { providers: 1, servicesPerProvider: 1, instancesPerService: 1 },
  { providers: 1, servicesPerProvider: 1, instancesPerService: 16 },
  { providers: 1, servicesPerProvider: 1, instancesPerService: 256 },
  { providers: 8, servicesPerProvider: 1, instancesPerService: 32 },
  { providers: 1, servicesPerProvider: 4, instancesPerService: 256 },
  { providers: 32, servicesPerProvider: 1, instancesPerService: 8 },
];

function median<T>(xs: readonly T[], key: (x: T) => number): T | undefined {
  const s = [...xs].sort((a, b) => key(a) - key(b));
  return s[Math.floor(s.length / 2)];
}

/** Runs `scenario` up to `runs` times while the budget lasts; one progress line per run. */
async function repeat(
  what: string,
  scenario: ScaleScenario,
  runs: number,
  deadline: number,
  log: (l: string) => void,
): Promise<{ results: ScaleRunResult[]; failures: string[] }> {
  const results: ScaleRunResult[] = [];
  const failures: string[] = [];
  for (let i = 0; i < runs && Date.now() < deadline; i++) {
    let r: ScaleRunResult;
    try {
      r = await runScale({ watchMs: 3500, timeoutMs: 180_000, ...scenario });
    } catch (e) {
      // A run that did not connect is a figure too (what failed, and how often): the suite
      // goes on with the next run instead of losing every other figure.
      failures.push((e as Error).message.slice(0, 400));
      log(`  scale ${what} run ${i + 1}/${runs} FAILED: ${failures.at(-1)}`);
      continue;
    }
    results.push(r);
    log(
      `  scale ${what} run ${i + 1}/${runs}: ${r.channels} channels in ${r.allConnectedMs} ms, ${r.sdDropped} SD dropped, ${r.ttlExpiredClosings} expired, ${r.callsAnswered}/${r.calls} answered`,
    );
  }
  return { results, failures };
}

export async function run(
  opts: { readonly quick?: boolean; readonly log?: (l: string) => void } = {},
): Promise<ScaleResult> {
  const log = opts.log ?? (() => undefined);
  const quick = opts.quick === true;
  const runs = quick ? 1 : 3;
  const budgetMs = quick ? 4 * 60_000 : 15 * 60_000;
  const start = Date.now();
  const deadline = start + budgetMs;
  const series: ScaleSeriesRow[] = [];
  for (const s of SERIES) {
    const { results, failures } = await repeat(
      `${s.label} instances`,
      s.scenario,
      runs,
      deadline,
      log,
    );
    series.push({
      label: s.label,
      instances: s.scenario.servicesPerProvider * s.scenario.instancesPerService,
      atOnce: s.scenario.atOnce === true,
      runs: results.length,
      failures,
      median: median(results, (r) => r.allConnectedMs),
      worst:
        results.length === 0
          ? undefined
          : {
              sdDropped: Math.max(...results.map((r) => r.sdDropped)),
              ttlExpiredClosings: Math.max(...results.map((r) => r.ttlExpiredClosings)),
              churnedChannels: Math.max(...results.map((r) => r.churnedChannels)),
              callsUnanswered: Math.max(...results.map((r) => r.calls - r.callsAnswered)),
            },
    });
  }
  const rows: ScaleRow[] = [];
  let at1: ScaleRunResult | undefined;
  for (const scenario of quick ? ROWS.slice(0, 3) : ROWS) {
    const channels =
      scenario.providers * scenario.servicesPerProvider * scenario.instancesPerService;
    const { results, failures } = await repeat(
      `${scenario.providers + 1} VMs × ${channels} channels`,
      { ...scenario, eventsMs: 1000, watchMs: 0 },
      runs,
      deadline,
      log,
    );
    const m = median(results, (r) => r.allConnectedMs);
    if (channels === 1) at1 = median(results, (r) => r.hostdRssBytes);
    const perChannel = (key: (r: ScaleRunResult) => number): number | null => {
      const x = median(results, key);
      return x === undefined || at1 === undefined || channels === 1
        ? null
        : (key(x) - key(at1)) / (channels - 1);
    };
    const rss = median(results, (r) => r.hostdRssBytes)?.hostdRssBytes;
    rows.push({
      vms: scenario.providers + 1,
      channels,
      allConnectedMs: m?.allConnectedMs ?? null,
      handshakeP99Ms: m?.handshakeP99Ms ?? null,
      hostdRssPerChannelBytes: perChannel((r) => r.hostdRssBytes),
      hostdRssBytes: rss ?? null,
      hostdHeapPerChannelBytes: perChannel((r) => r.hostdHeapBytes),
      hostdExternalPerChannelBytes: perChannel((r) => r.hostdExternalBytes),
      hostdPrivateRssPerChannelBytes: perChannel((r) => r.hostdRssAnonBytes),
      hostdSharedRssPerChannelBytes: perChannel((r) => r.hostdRssShmemBytes),
      eventsPerSec: median(results, (r) => r.eventsPerSec ?? NaN)?.eventsPerSec ?? null,
      eventsPerConsumerCpuSec:
        median(results, (r) => r.eventsPerSec ?? NaN)?.eventsPerConsumerCpuSec ?? null,
      runs: results.length,
      failures,
    });
  }
  return {
    suite: 'scale',
    budgetMs,
    elapsedMs: Date.now() - start,
    series,
    baselineMs: series[0]?.median?.allConnectedMs ?? null,
    rows,
    targets: TARGETS,
  };
}

function failedNote(failures: readonly string[]): string {
  return `FAILED ${failures.length} run(s): ${failures[0]!.slice(0, 200)}`;
}

/** How a row's figures grew from the row before: channels, time, p99. */
function growth(a: ScaleRow, b: ScaleRow): string {
  const x = (p: number | null, q: number | null): string =>
    p === null || q === null || p === 0 ? '-' : `${(q / p).toFixed(1)}×`;
  return `channels ${x(a.channels, b.channels)}, connected ${x(a.allConnectedMs, b.allConnectedMs)}, p99 ${x(a.handshakeP99Ms, b.handshakeP99Ms)}`;
}

const ms = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0);

function targetNote(row: ScaleSeriesRow): string {
  const m = row.median;
  if (m === undefined) return 'not run (budget)';
  if (row.instances === 256 && !row.atOnce)
    return `target ≤ ${TARGETS.instances256Ms} ms, 0 drops/expiries, all answered: ${m.allConnectedMs <= TARGETS.instances256Ms && row.worst?.sdDropped === 0 && row.worst.ttlExpiredClosings === 0 && row.worst.callsUnanswered === 0 ? 'met' : 'MISS'}`;
  if (row.atOnce)
    return `target ≤ ${TARGETS.atOnce64Ms} ms: ${m.allConnectedMs <= TARGETS.atOnce64Ms ? 'met' : 'MISS'}`;
  return '';
}

export function format(r: ScaleResult): string {
  const base = r.baselineMs;
  const lines = [
    `scale: one provider VM and one consumer VM (emulated mode; medians of up to 3 runs; ${(r.elapsedMs / 1000).toFixed(0)} s of a ${(r.budgetMs / 1000).toFixed(0)} s budget)`,
    'instances        runs  connected ms  × 1-inst.  SD drops  expired  churned  answered     handshakes  hs p50/p99 ms  VM start CPU ms / RSS MiB',
  ];
  for (const row of r.series) {
    const m = row.median;
    const w = row.worst;
    if (m === undefined || w === undefined) {
      lines.push(
        `${row.label.padEnd(16)} ${String(row.runs).padStart(4)}  ${row.failures.length > 0 ? failedNote(row.failures) : targetNote(row)}`,
      );
      continue;
    }
    lines.push(
      [
        row.label.padEnd(16),
        String(row.runs).padStart(4),
        ms(m.allConnectedMs).padStart(13),
        (base === null ? '-' : (m.allConnectedMs / base).toFixed(1)).padStart(10),
        String(w.sdDropped).padStart(9),
        String(w.ttlExpiredClosings).padStart(8),
        String(w.churnedChannels).padStart(8),
        `${m.callsAnswered}/${m.calls}`.padStart(9),
        `${m.handshakesEstablished} for ${m.channels}`.padStart(14),
        `${m.handshakeP50Ms.toFixed(0)}/${m.handshakeP99Ms.toFixed(0)}`.padStart(14),
        `${m.providerStartup.cpuMs.toFixed(0)} / ${(m.providerStartup.rssBytes / 2 ** 20).toFixed(0)}`.padStart(
          12,
        ),
        ` ${targetNote(row)}${row.failures.length > 0 ? `; ${failedNote(row.failures)}` : ''}`,
      ].join(' '),
    );
  }
  lines.push(
    `baseline: the 1-instance run, ${ms(base)} ms in this run. "connected ms": the consumer's Node.open → every channel up (the provider starts at the same moment).`,
    '',
    'scale rows (N VMs × M services through one hostd)',
    'vms  channels  runs  allConnectedMs  handshakeP99Ms  hostdRssPerChannelBytes  private/shared/heap B/ch  eventsPerSec  (each × the row before)',
  );
  const p99At1 = r.rows.find((x) => x.channels === 1)?.handshakeP99Ms ?? null;
  r.rows.forEach((row, i) => {
    const notes: string[] = [];
    const before = r.rows[i - 1];
    if (before !== undefined) notes.push(`(${growth(before, row)})`);
    if (row.failures.length > 0) notes.push(failedNote(row.failures));
    if (row.vms === 9 && row.channels === 256 && row.allConnectedMs !== null)
      notes.push(
        `target ≤ ${TARGETS.rows256Over8VmsMs} ms: ${row.allConnectedMs <= TARGETS.rows256Over8VmsMs ? 'met' : 'MISS'}`,
      );
    if (row.hostdRssPerChannelBytes !== null && row.channels >= 256)
      notes.push(
        `RSS target ≤ ${TARGETS.hostdRssPerChannelBytes} B: ${row.hostdRssPerChannelBytes <= TARGETS.hostdRssPerChannelBytes ? 'met' : 'MISS'}`,
      );
    if (row.channels === 256 && row.eventsPerSec !== null)
      notes.push(
        `events target ≥ 1 M/s of 64 B: ${row.eventsPerSec >= 1e6 ? 'met' : 'MISS'} (${row.vms - 1} publishing processes; ${ms(row.eventsPerConsumerCpuSec)} per consumer CPU second)`,
      );
    if (row.channels === 1024 && row.handshakeP99Ms !== null && p99At1 !== null)
      notes.push(
        `p99 ${(row.handshakeP99Ms / p99At1).toFixed(1)}× the 1-channel row (target ≤ ${TARGETS.handshakeP99GrowthAt1024}×)`,
      );
    lines.push(
      `${String(row.vms).padStart(3)}  ${String(row.channels).padStart(8)}  ${String(row.runs).padStart(4)}  ${ms(row.allConnectedMs).padStart(14)}  ${ms(row.handshakeP99Ms).padStart(14)}  ${ms(row.hostdRssPerChannelBytes).padStart(23)}  ${`${ms(row.hostdPrivateRssPerChannelBytes)}/${ms(row.hostdSharedRssPerChannelBytes)}/${ms(row.hostdHeapPerChannelBytes)}`.padStart(24)}  ${ms(row.eventsPerSec).padStart(12)}  ${notes.join('; ')}`,
    );
  });
  lines.push(
    "hostdRssPerChannelBytes: hostd's RSS with every channel up, less the 1-channel row's, per added channel (same run), both read just after a full garbage collection in hostd (bench/scale/hostd-memory-probe.ts); private/shared/heap: the same growth split into hostd's private RSS (RssAnon) and the region's shared pages it touched (RssShmem: the windows it zeroes, the channels' own memory), and the growth of its live JavaScript heap.",
    'eventsPerSec: 64-byte events the consumer received per second through its event() streams, counted for 1 s after a 300 ms warm-up, while every provider VM published on all its channels (a publisher sleeps 1 ms when every ring is full); issue 17 asks ≥ 1 M/s with 256 channels.',
  );
  return lines.join('\n');
}
