// Runnable entry of the ring benchmarks:
//   node --import tsx packages/transport-ivshmem/bench/main.ts [--json] [--runs N] [--quick]
//     [--only latency,throughput,memcpy] [--modes spin,adaptive,event]
// (or the compiled dist-test/bench/main.js). Prints a table, or the JSON of RingBenchResult.
import { runRingBench } from './ring-bench.js';
import { format } from './ring.bench.js';

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
  console.log(format(result));
}
