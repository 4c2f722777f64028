// `hostd-bench --flood` (and a suite for scripts/bench.mjs): docs/security.md#t42 at its
// stated rate. hostd runs as its own process, the provider VM in another, a flooding VM in a
// third sending validly signed M1s at `rate`/s; the cluster VM (this process) handshakes back
// to back, first with nobody else sending, then during the flood — in the same run — and the
// two p50/p99 are compared with the end-to-end goal (≤ 50 ms p99, docs/performance.md §6).
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import {
  SERVICE,
  makeDeployment,
  readStatus,
  startFloodProcess,
  startHostd,
  waitFor,
  type FloodReport,
} from '../test/support/test-deployment.js';
import { speedPair } from './speed-pair.js';

/** The handshake goal under flood (docs/performance.md §6): p99 ≤ 50 ms. */
export const GOAL_P99_MS = 50;

export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
}

/** Event-loop lateness percentiles, ms. */
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface FloodResult {
  goalP99Ms: number;
  quietHandshakeMs: LatencyStats;
  floodHandshakeMs: LatencyStats;
  flood: {
    rate: number;
    seconds: number;
    sent: number;
    sendMs: number;
    answered: number;
    answers: Record<string, number>;
    /** Ed25519 verifications by the broker while the flood ran (all VMs). */
    brokerSignatureVerifications: number;
    /** hostd's CPU time over the flood's wall time (1 = one core), Linux only. */
    hostdCpuShare?: number;
    /** The flooding VM process's CPU time over its send time (1 = one core). */
    flooderCpuShare: number;
    /** hostd's event-loop lateness during the flood (from its status), ms. */
    hostdLoopDelayMs: LoopDelay;
  };
  /** hostd's event-loop lateness during the quiet handshakes, ms. */
  quietHostdLoopDelayMs: LoopDelay;
  withinGoal: boolean;
}

function stats(xs: number[]): LatencyStats {
  if (xs.length === 0) throw new Error('no handshakes were measured');
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50: at(0.5), p99: at(0.99), min: s[0]!, max: s.at(-1)! };
}

const cores = (): number => availableParallelism();

/** CPU time (user + system) a process has used, ms, from /proc (Linux; 100 ticks/s). */
function cpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after "pid (comm) ".
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Quiet vs flood in one run: `runs` handshakes (each channel closed again) with nobody else
 * sending, then handshakes back to back for as long as a VM process floods at `rate` M1/s.
 */
export async function runFlood(o: {
  rate: number;
  seconds: number;
  runs: number;
  log?: (s: string) => void;
}): Promise<FloodResult> {
  const d = makeDeployment();
  const hostd = await startHostd(d);
  const quiet: number[] = [];
  const flooded: number[] = [];
  let report: FloodReport;
  let hostdCpu: number | undefined;
  let verifications: number;
  let quietLoop: LoopDelay;
  let floodLoop: LoopDelay;
  try {
    const { consumer: c, provider } = await speedPair(d);
    const once = async (into: number[]): Promise<void> => {
      const out = await c.request(SERVICE.speed);
      if (out.kind !== 'granted') throw new Error(`handshake: ${out.reason} ${out.detail}`);
      into.push(out.ms);
      const revoked = c.revoked.length;
      c.send({ kind: 'close', channelId: out.grant.channelId });
      await waitFor(() => c.revoked.length === revoked + 1, 'the close');
    };
    o.log?.(`quiet: ${o.runs} handshakes`);
    await readStatus(d); // resets hostd's event-loop delay histogram
    for (let i = 0; i < o.runs; i++) await once(quiet);
    quietLoop = (await readStatus(d)).eventLoopDelayMs;
    o.log?.(`flood: signing ${o.rate * o.seconds} M1s in the flooding VM`);
    const f = await startFloodProcess(d, 'rogue', SERVICE.media, o.rate, o.seconds * 1000);
    const before = await readStatus(d); // also resets the event-loop delay histogram
    const cpu0 = cpuMs(hostd.child.pid!);
    const t0 = Date.now();
    f.start();
    let over = false;
    void f.done.then(
      () => (over = true),
      () => (over = true),
    );
    while (Date.now() - t0 < o.seconds * 1000 && !over) await once(flooded);
    const cpu1 = cpuMs(hostd.child.pid!);
    const wallMs = Date.now() - t0;
    report = await f.done;
    const after = await readStatus(d);
    floodLoop = after.eventLoopDelayMs;
    verifications =
      after.handshakes.signatureVerifications - before.handshakes.signatureVerifications;
    if (cpu0 !== undefined && cpu1 !== undefined) hostdCpu = (cpu1 - cpu0) / wallMs;
    await provider.stop();
    c.close();
  } finally {
    await hostd.stop();
    d.cleanup();
  }
  const fl = stats(flooded);
  return {
    goalP99Ms: GOAL_P99_MS,
    quietHandshakeMs: stats(quiet),
    floodHandshakeMs: fl,
    flood: {
      rate: o.rate,
      seconds: o.seconds,
      sent: report.sent,
      sendMs: Math.round(report.sendMs),
      answered: report.answered,
      answers: report.reasons,
      brokerSignatureVerifications: verifications,
      ...(hostdCpu === undefined ? {} : { hostdCpuShare: Math.round(hostdCpu * 100) / 100 }),
      flooderCpuShare: Math.round((report.cpuMs / report.sendMs) * 100) / 100,
      hostdLoopDelayMs: floodLoop,
    },
    quietHostdLoopDelayMs: quietLoop,
    withinGoal: fl.p99 <= GOAL_P99_MS,
  };
}

/** The result as a table. */
export function formatFlood(r: FloodResult): string {
  const row = (name: string, x: LatencyStats): string =>
    `${name.padEnd(44)} ${String(x.n).padStart(5)} ${x.p50.toFixed(2).padStart(8)} ${x.p99.toFixed(2).padStart(8)} ${x.min.toFixed(2).padStart(8)} ${x.max.toFixed(2).padStart(8)}`;
  const cpu = r.flood.hostdCpuShare;
  return [
    `${'handshake M1 → grant, other VM (ms)'.padEnd(44)} ${'n'.padStart(5)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`,
    row('quiet', r.quietHandshakeMs),
    row(`under flood (${r.flood.rate} signed M1/s from a VM)`, r.floodHandshakeMs),
    `flood: ${r.flood.sent} M1 sent in ${r.flood.sendMs} ms, ${r.flood.answered} answered ${JSON.stringify(r.flood.answers)}`,
    `broker Ed25519 verifications during the flood (all VMs): ${r.flood.brokerSignatureVerifications}; hostd CPU: ${cpu === undefined ? '-' : `${Math.round(cpu * 100)} %`}, flooding VM CPU: ${Math.round(r.flood.flooderCpuShare * 100)} % of a core (${cores()} cores, load ${loadavg()[0]!.toFixed(2)})`,
    `hostd event-loop delay p99 / max: quiet ${r.quietHostdLoopDelayMs.p99} / ${r.quietHostdLoopDelayMs.max} ms, under flood ${r.flood.hostdLoopDelayMs.p99} / ${r.flood.hostdLoopDelayMs.max} ms`,
    `goal p99 ≤ ${r.goalP99Ms} ms under flood: ${r.withinGoal ? 'met' : 'MISSED'}`,
  ].join('\n');
}

/** scripts/bench.mjs entry: `npm run bench -- flood` (`--quick`: 2 s of flood, 50 quiet runs). */
export function run(opts: { quick?: boolean; log?: (s: string) => void }): Promise<FloodResult> {
  return runFlood({
    rate: 10_000,
    seconds: opts.quick === true ? 2 : 5,
    runs: opts.quick === true ? 50 : 200,
    ...(opts.log === undefined ? {} : { log: opts.log }),
  });
}

/** scripts/bench.mjs entry. */
export function format(r: FloodResult): string {
  return formatFlood(r);
}
