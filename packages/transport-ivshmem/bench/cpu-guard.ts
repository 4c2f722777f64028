import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc (USER_HZ; 100 on every Linux this runs on). */
const HZ = 100;

function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

function processJiffies(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at ") ".
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime, stime
  } catch {
    return 0;
  }
}

/**
 * Measures how busy the machine was with *other* work while a benchmark figure was taken:
 * busy CPU time of the whole machine minus that of this process and the benchmark's peer
 * process, as a percentage of all CPUs. On a shared 2-vCPU machine a figure taken with high
 * foreign load says little; the report prints it next to each figure.
 */
export class CpuGuard {
  readonly #peers: number[];
  readonly #m0 = machineJiffies();
  readonly #own0 = process.cpuUsage();
  readonly #peer0: number[];

  constructor(peerPids: (number | undefined)[] = []) {
    this.#peers = peerPids.filter((p): p is number => p !== undefined);
    this.#peer0 = this.#peers.map(processJiffies);
  }

  /** Foreign CPU in percent of the machine since construction; call before the peer exits. */
  foreignPercent(): number {
    const m = machineJiffies();
    const own = process.cpuUsage(this.#own0);
    const ownJiffies = ((own.user + own.system) / 1e6) * HZ;
    const peerJiffies = this.#peers.reduce(
      (sum, pid, i) => sum + processJiffies(pid) - this.#peer0[i]!,
      0,
    );
    const total = m.total - this.#m0.total;
    if (total <= 0) return 0;
    const foreign = m.busy - this.#m0.busy - ownJiffies - peerJiffies;
    return Math.max(0, Math.min(100, (foreign / total) * 100));
  }
}
