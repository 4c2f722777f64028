// Runnable entry of the ring benchmarks:
//   node --import tsx packages/transport-ivshmem/bench/main.ts [--json] [--runs N] [--quick]
//     [--only latency,throughput,memcpy] [--modes spin,adaptive,event]
// (or the compiled dist/bench/main.js). Prints a table, or the JSON of RingBenchResult.
import { runRingBench } from './ring-bench.js';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const runsAt = argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1 || runs > 100) {
  console.error(`--runs must be an integer 1..100, got ${argv[runsAt + 1]}`);
  process.exit(2);
}
const valueOf = (flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};
const sections = valueOf('--only')?.split(',') as
  ('latency' | 'throughput' | 'memcpy')[] | undefined;
const modes = valueOf('--modes')?.split(',') as ('spin' | 'event' | 'adaptive')[] | undefined;
const result = await runRingBench({
  ...(sections ? { sections } : {}),
  ...(modes ? { modes } : {}),
  runs,
  quick: argv.includes('--quick'),
  log: (l) => console.error(`[bench] ${l}`),
});
if (json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x: number, d = 2): string => x.toFixed(d);
  console.log(
    `machine: ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}, load ${result.machine.loadAvgStart.map((x) => f(x)).join('/')} → ${result.machine.loadAvgEnd.map((x) => f(x)).join('/')}`,
  );
  console.log('\n64 B round trip, two OS processes (median of per-run values)');
  console.log('path                              p50 µs   p99 µs  mean µs  foreign   per-run p50');
  for (const l of result.latency) {
    console.log(
      `${l.path.padEnd(32)} ${f(l.p50Us).padStart(8)} ${f(l.p99Us).padStart(8)} ${f(l.meanUs).padStart(8)} ${f(l.foreignCpuPct, 0).padStart(7)}%   ${l.runP50Us.map((x) => f(x)).join(' ')}`,
    );
  }
  console.log(
    '\nOne-way throughput, two OS processes (producer writes in place, consumer reads in place)',
  );
  console.log('payload    batch      msg/s      GB/s  foreign   per-run GB/s');
  for (const t of result.throughput) {
    console.log(
      `${String(t.payload).padEnd(10)} ${String(t.batch).padStart(5)} ${(t.msgPerSec / 1e6).toFixed(2).padStart(9)} M ${f(t.gbPerSec).padStart(8)} ${f(t.foreignCpuPct, 0).padStart(7)}%   ${t.runGbPerSec.map((x) => f(x)).join(' ')}`,
    );
  }
  console.log('\nUint8Array.set rate in the same run (GB/s)');
  console.log(
    '"foreign" = CPU used by other processes meanwhile, % of all CPUs; high values void a figure.',
  );
  for (const m of result.memcpy) {
    console.log(
      `${String(m.size).padEnd(10)} heap→heap ${f(m.heapToHeapGBps).padStart(7)}   heap→mapped alias ${f(m.heapToMappedGBps).padStart(7)}`,
    );
  }
}
