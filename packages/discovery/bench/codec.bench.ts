// Encode/decode rates of the SOME/IP-SD codec, in entries per second (median of several
// runs). Run: `node packages/discovery/dist-test/bench/codec.bench.js [--json] [--runs N]
// [--ms MS]` after `npx tsc -b packages/discovery`, or with tsx from the source.
import { pathToFileURL } from 'node:url';
import {
  decodeSdMessage,
  encodeSdMessage,
  encodeSdMessageUnchecked,
} from '../src/wire/sd-message.js';
import type { SdMessage } from '../src/wire/sd-message.js';
import { packSdMessage, type PackEntry } from '../src/wire/sd-packer.js';
import { endpointOption } from '../src/wire/endpoint-option.js';

/** One measured operation on one workload. */
export interface CodecBenchRow {
  readonly workload: string;
  readonly operation: 'encode' | 'encodeUnchecked' | 'decode';
  readonly entriesPerMessage: number;
  readonly bytesPerMessage: number;
  /** Median over the runs. */
  readonly entriesPerSecond: number;
  readonly messagesPerSecond: number;
  /** Every run's entries per second, for spread. */
  readonly runs: readonly number[];
}

/** What `runCodecBench` measures and how long. */
export interface CodecBenchOptions {
  /** Runs per operation (the median is reported); default 7. */
  readonly runs?: number;
  /** Milliseconds per run; default 200. */
  readonly msPerRun?: number;
}

const flags = { reboot: true, unicast: true, explicitInitialDataControl: false };

/** The workloads: a vsomeip-like single Offer, and a full message of mixed entries. */
function workloads(): Array<{ name: string; msg: SdMessage }> {
  const single = packSdMessage({
    sessionId: 1,
    flags,
    entries: [
      {
        entry: {
          type: 'offer',
          serviceId: 0x1234,
          instanceId: 0x5678,
          majorVersion: 0,
          ttl: 3,
          minorVersion: 0,
        },
        options: [endpointOption('192.168.1.10', 'udp', 30509)],
      },
    ],
  });
  const entries: PackEntry[] = [];
  for (let i = 0; i < 16; i++) {
    entries.push(
      i % 2 === 0
        ? {
            entry: {
              type: 'offer',
              serviceId: 0x1000 + i,
              instanceId: 1,
              majorVersion: 1,
              ttl: 3,
              minorVersion: i,
            },
            options: [
              endpointOption('192.168.1.10', 'udp', 30500 + i),
              endpointOption('192.168.1.10', 'tcp', 30500 + i),
            ],
          }
        : {
            entry: {
              type: 'subscribe',
              serviceId: 0x2000 + i,
              instanceId: 1,
              majorVersion: 1,
              ttl: 3,
              counter: 0,
              eventgroupId: i,
              initialDataRequested: false,
            },
            options: [endpointOption('192.168.1.10', 'udp', 40000)],
          },
    );
  }
  const busy = packSdMessage({ sessionId: 1, flags, entries });
  return [
    { name: 'single offer (56 B)', msg: single },
    { name: '16 mixed entries', msg: busy },
  ];
}

/** Calls `fn` in batches until `ms` elapsed; returns calls per second. */
function rate(fn: () => void, ms: number): number {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 200; i++) fn();
    calls += 200;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Measures encode (checked and unchecked) and decode of each workload and returns one row
 * per (workload, operation) with the median rate. Pure computation, single thread.
 *
 * @example
 * ```ts
 * const rows = runCodecBench({ runs: 5 });
 * console.table(rows);
 * ```
 */
export function runCodecBench(options: CodecBenchOptions = {}): CodecBenchRow[] {
  const runs = Math.max(1, options.runs ?? 7);
  const ms = Math.max(10, options.msPerRun ?? 200);
  const rows: CodecBenchRow[] = [];
  let sink = 0;
  for (const { name, msg } of workloads()) {
    const bytes = encodeSdMessage(msg);
    const ops: Array<[CodecBenchRow['operation'], () => void]> = [
      ['encode', () => void (sink += encodeSdMessage(msg).length)],
      ['encodeUnchecked', () => void (sink += encodeSdMessageUnchecked(msg).length)],
      ['decode', () => void (sink += decodeSdMessage(bytes).entries.length)],
    ];
    for (const [operation, fn] of ops) {
      rate(fn, ms / 2); // warm-up
      const perRun: number[] = [];
      for (let r = 0; r < runs; r++) perRun.push(rate(fn, ms) * msg.entries.length);
      const entriesPerSecond = median(perRun);
      rows.push({
        workload: name,
        operation,
        entriesPerMessage: msg.entries.length,
        bytesPerMessage: bytes.length,
        entriesPerSecond: Math.round(entriesPerSecond),
        messagesPerSecond: Math.round(entriesPerSecond / msg.entries.length),
        runs: perRun.map(Math.round),
      });
    }
  }
  if (sink === -1) console.log('unreachable');
  return rows;
}

/** The `npm run bench -- sd` entry: the codec rates, fewer runs with `quick`. */
export async function run(
  opts: { readonly quick?: boolean } = {},
): Promise<{ suite: 'sd'; rows: CodecBenchRow[] }> {
  return { suite: 'sd', rows: runCodecBench(opts.quick ? { runs: 3, msPerRun: 100 } : {}) };
}

/** The table `npm run bench` prints. */
export function format(r: { rows: readonly CodecBenchRow[] }): string {
  return [
    'SOME/IP-SD codec (median of runs)',
    ...r.rows.map(
      (x) =>
        `${x.workload.padEnd(22)} ${x.operation.padEnd(16)} ${String(x.entriesPerSecond).padStart(11)} entries/s ${String(x.messagesPerSecond).padStart(10)} msg/s  (${x.bytesPerMessage} B, ${x.entriesPerMessage} entries)`,
    ),
  ].join('\n');
}

function main(argv: string[]): void {
  const arg = (name: string): number | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : undefined;
  };
  const runs = arg('--runs');
  const ms = arg('--ms');
  const rows = runCodecBench({
    ...(runs === undefined ? {} : { runs }),
    ...(ms === undefined ? {} : { msPerRun: ms }),
  });
  if (argv.includes('--json')) {
    console.log(
      JSON.stringify({ benchmark: 'discovery.codec', node: process.version, rows }, null, 2),
    );
    return;
  }
  console.log('SOME/IP-SD codec (median of runs, entries/s)');
  for (const r of rows)
    console.log(
      `${r.workload.padEnd(22)} ${r.operation.padEnd(16)} ${String(r.entriesPerSecond).padStart(11)} entries/s ${String(r.messagesPerSecond).padStart(10)} msg/s  (${r.bytesPerMessage} B, ${r.entriesPerMessage} entries)`,
    );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  main(process.argv.slice(2));
