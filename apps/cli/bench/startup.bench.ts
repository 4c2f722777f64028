// `npm run bench -- cli-startup`: the CPU time one `sivshm` command costs to start, against the
// same command with the transport package's index loaded up front (what every command paid
// before the commands loaded their code lazily) and against Node starting with nothing.
// CPU time, not wall time: on a busy machine a command waits for its CPU time to be handed out,
// and wall time would measure the machine's load instead of the CLI.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { cliEntry } from '@sivshm/testing';

/** Writes the process's own CPU time (user + system, ms) to stderr as it exits. */
const REPORT_CPU =
  'data:text/javascript,process.on("exit",()=>{const u=process.cpuUsage();' +
  'process.stderr.write("\\nCPU_MS "+((u.user+u.system)/1000)+"\\n")})';

/** One row: a command line and the median CPU time of its runs. */
export interface StartupRow {
  readonly name: string;
  readonly runs: number;
  readonly medianCpuMs: number;
}

export interface StartupResult {
  readonly rows: StartupRow[];
  /** The eager baseline's median over the lazy command's, for `--help`. */
  readonly helpSpeedup: number;
  readonly load: number;
}

function cpuMsOf(nodeArgs: readonly string[]): number {
  const r = spawnSync(process.execPath, ['--import', REPORT_CPU, ...nodeArgs], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = r.stderr.split('\n').find((l) => l.startsWith('CPU_MS '));
  if (line === undefined) throw new Error(`no CPU report from node ${nodeArgs.join(' ')}`);
  return Number(line.slice('CPU_MS '.length));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

export function runStartup(runs: number): StartupResult {
  const { execArgv, script } = cliEntry();
  const cli = [...execArgv, script];
  const eager = [...execArgv, '--import', '@sivshm/transport-ivshmem', script];
  const cases: [string, string[]][] = [
    ['node -e 0 (Node alone)', ['-e', '0']],
    ['sivshm --help', [...cli, '--help']],
    ['sivshm --help, transport index preloaded', [...eager, '--help']],
    ['sivshm ca list --dir <missing>', [...cli, 'ca', 'list', '--dir', '/nonexistent/ca']],
    [
      'sivshm ca list --dir <missing>, transport preloaded',
      [...eager, 'ca', 'list', '--dir', '/nonexistent/ca'],
    ],
  ];
  const samples = cases.map((): number[] => []);
  // Interleaved, so that a change of load during the run falls on every row alike.
  for (let i = 0; i < runs; i++) {
    cases.forEach(([, args], k) => samples[k]!.push(cpuMsOf(args)));
  }
  const rows = cases.map(([name], k) => ({ name, runs, medianCpuMs: median(samples[k]!) }));
  return {
    rows,
    helpSpeedup: rows[2]!.medianCpuMs / rows[1]!.medianCpuMs,
    load: loadavg()[0]!,
  };
}

/** scripts/bench.mjs entry: `npm run bench -- cli-startup` (`--quick`: 3 runs per row). */
export function run(opts: { quick?: boolean }): StartupResult {
  return runStartup(opts.quick === true ? 3 : 11);
}

/** scripts/bench.mjs entry. */
export function format(r: StartupResult): string {
  return [
    `${'command (CPU time to start and run, ms)'.padEnd(56)} ${'runs'.padStart(5)} ${'median'.padStart(8)}`,
    ...r.rows.map(
      (x) =>
        `${x.name.padEnd(56)} ${String(x.runs).padStart(5)} ${x.medianCpuMs.toFixed(0).padStart(8)}`,
    ),
    `--help: the eager baseline costs ${r.helpSpeedup.toFixed(2)}x the lazy CLI (load ${r.load.toFixed(2)})`,
  ].join('\n');
}
