// `npm run bench -- ring`: the ring benchmarks (raw ring latency per notification mode against
// the eventfd floor and a Node Unix-socket baseline, throughput at 64 B / 4 KiB / 1 MiB with the
// machine's copy rate alongside). The runnable entry with every option is main.ts.
import { runRingBench, type RingBenchResult } from './ring-bench.js';

/** Runs every section; `quick` divides iteration counts by 10 and takes 2 runs. */
export async function run(
  opts: { readonly quick?: boolean; readonly log?: (l: string) => void } = {},
): Promise<RingBenchResult> {
  return runRingBench({
    runs: opts.quick === true ? 2 : 5,
    quick: opts.quick === true,
    ...(opts.log === undefined ? {} : { log: opts.log }),
  });
}

/** The tables `npm run bench` prints. */
export function format(result: RingBenchResult): string {
  const out: string[] = [];
  const f = (x: number, d = 2): string => x.toFixed(d);
  out.push(
    `machine: ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}, load ${result.machine.loadAvgStart.map((x) => f(x)).join('/')} → ${result.machine.loadAvgEnd.map((x) => f(x)).join('/')}`,
  );
  out.push('\n64 B round trip, two OS processes (median of per-run values)');
  const uds = result.latency.find((l) => /unix/i.test(l.path));
  out.push(
    'path                              p50 µs   p99 µs  mean µs  foreign  unix p50 / this  per-run p50',
  );
  for (const l of result.latency) {
    const ratio = uds === undefined ? '' : `${(uds.p50Us / l.p50Us).toFixed(1)}×`;
    out.push(
      `${l.path.padEnd(32)} ${f(l.p50Us).padStart(8)} ${f(l.p99Us).padStart(8)} ${f(l.meanUs).padStart(8)} ${f(l.foreignCpuPct, 0).padStart(7)}%  ${ratio.padStart(13)}  ${l.runP50Us.map((x) => f(x)).join(' ')}`,
    );
  }
  out.push(
    '\nOne-way throughput, two OS processes (producer writes in place, consumer reads in place)',
  );
  out.push('payload    batch      msg/s      GB/s  foreign   per-run GB/s');
  for (const t of result.throughput) {
    out.push(
      `${String(t.payload).padEnd(10)} ${String(t.batch).padStart(5)} ${(t.msgPerSec / 1e6).toFixed(2).padStart(9)} M ${f(t.gbPerSec).padStart(8)} ${f(t.foreignCpuPct, 0).padStart(7)}%   ${t.runGbPerSec.map((x) => f(x)).join(' ')}`,
    );
  }
  out.push('\nUint8Array.set rate in the same run (GB/s)');
  out.push(
    '"foreign" = CPU used by other processes meanwhile, % of all CPUs; high values void a figure.',
  );
  for (const m of result.memcpy) {
    out.push(
      `${String(m.size).padEnd(10)} heap→heap ${f(m.heapToHeapGBps).padStart(7)}   heap→mapped alias ${f(m.heapToMappedGBps).padStart(7)}`,
    );
  }
  return out.join('\n');
}
