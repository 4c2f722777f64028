// Window allocator benchmark (issue 17): the cost of one open + close of a window as the free
// space splits into more extents, for the WindowAllocator (best fit over two red-black trees) and, in
// the same run, the allocator it replaced (address-ordered first fit over a sorted array) as
// the baseline. Target: the allocator's cost at 16 384 free extents ≤ 3× its cost at 64 (it
// grows with log n; the scan grows with n).
// Run: npm run bench -- allocator
import { cpus, loadavg } from 'node:os';
import { PAGE_SIZE } from '@sivshm/abi';
import { WindowAllocator } from '../src/region/window-allocator.js';

/** One allocator at one fragmentation. */
export interface AllocatorBenchRow {
  /** `tree` (WindowAllocator) or `scan` (first fit over a sorted array, the baseline). */
  allocator: 'tree' | 'scan';
  /** Free extents while measuring. */
  freeExtents: number;
  /** Median ns of CPU time of one allocate + free. */
  nsPerOpenClose: number;
  /** Every run's ns per open + close, sorted. */
  runNs: number[];
}

export interface AllocatorBenchResult {
  suite: 'allocator';
  machine: { cpus: number; model: string; node: string; loadAvgStart: number[] };
  runs: number;
  iterations: number;
  rows: AllocatorBenchRow[];
  /** ns at the most extents ÷ ns at the fewest, per allocator. */
  growth: { tree: number; scan: number };
  targetTreeGrowth: number;
  meetsTarget: boolean;
}

const EXTENTS = [64, 1024, 16_384];
const TARGET_GROWTH = 3;

/** What both allocators offer the benchmark. */
interface Allocator {
  allocate(length: number): number | undefined;
  free(offset: number): void;
}

/** The previous policy: address-ordered first fit, a linear scan of the sorted free list. */
class ScanAllocator implements Allocator {
  readonly #free: { offset: number; length: number }[];
  readonly #used = new Map<number, number>();

  constructor(base: number, size: number) {
    this.#free = [{ offset: base, length: size }];
  }

  allocate(length: number): number | undefined {
    for (let i = 0; i < this.#free.length; i++) {
      const e = this.#free[i]!;
      if (e.length < length) continue;
      const offset = e.offset;
      if (e.length === length) this.#free.splice(i, 1);
      else {
        e.offset += length;
        e.length -= length;
      }
      this.#used.set(offset, length);
      return offset;
    }
    return undefined;
  }

  free(offset: number): void {
    const length = this.#used.get(offset)!;
    this.#used.delete(offset);
    let lo = 0;
    let hi = this.#free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#free[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.#free[lo - 1];
    const next = this.#free[lo];
    const touchesPrev = prev !== undefined && prev.offset + prev.length === offset;
    const touchesNext = next !== undefined && offset + length === next.offset;
    if (touchesPrev && touchesNext) {
      prev.length += length + next.length;
      this.#free.splice(lo, 1);
    } else if (touchesPrev) prev.length += length;
    else if (touchesNext) {
      next.offset = offset;
      next.length += length;
    } else this.#free.splice(lo, 0, { offset, length });
  }
}

/**
 * `extents` one-page holes between one-page windows, then a large free tail: a request of two
 * pages fits none of the holes, so a scan walks all of them; allocating it from the tail and
 * freeing it again leaves the same state, so every iteration costs the same.
 */
function fragmented(make: (base: number, size: number) => Allocator, extents: number): Allocator {
  const base = 2 * PAGE_SIZE;
  const a = make(base, (2 * extents + 64) * PAGE_SIZE);
  const windows: number[] = [];
  for (let i = 0; i < 2 * extents; i++) windows.push(a.allocate(PAGE_SIZE)!);
  for (let i = 0; i < windows.length; i += 2) a.free(windows[i]!);
  return a;
}

/**
 * ns of this process's CPU time per open + close, per run: its own CPU time, so that other
 * processes on a shared machine slow the figure (cache, memory bandwidth) but do not add their
 * time slices to it.
 */
function measure(a: Allocator, runs: number, iterations: number): number[] {
  const ns: number[] = [];
  for (let r = -1; r < runs; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) a.free(a.allocate(2 * PAGE_SIZE)!);
    const c = process.cpuUsage(c0);
    if (r >= 0) ns.push(((c.user + c.system) * 1000) / iterations);
  }
  return ns.sort((x, y) => x - y);
}

export async function run(
  o: { quick?: boolean; log?: (s: string) => void } = {},
): Promise<AllocatorBenchResult> {
  const runs = o.quick ? 3 : 9;
  const iterations = o.quick ? 2_000 : 20_000;
  const loadAvgStart = loadavg();
  const makers = {
    tree: (base: number, size: number) => new WindowAllocator({ dataOffset: base, dataSize: size }),
    scan: (base: number, size: number) => new ScanAllocator(base, size),
  } as const;
  const rows: AllocatorBenchRow[] = [];
  for (const extents of EXTENTS) {
    // Both allocators at each size, alternating, so a load change hits both alike.
    for (const kind of ['tree', 'scan'] as const) {
      const a = fragmented(makers[kind], extents);
      // The scan at the largest size is slow: fewer iterations, same number of runs.
      const n =
        kind === 'scan' ? Math.max(200, Math.floor((iterations * 64) / extents)) : iterations;
      const runNs = measure(a, runs, n);
      const nsPerOpenClose = runNs[Math.floor(runNs.length / 2)]!;
      rows.push({ allocator: kind, freeExtents: extents + 1, nsPerOpenClose, runNs });
      o.log?.(`${kind} with ${extents + 1} free extents: ${nsPerOpenClose.toFixed(0)} ns`);
    }
  }
  const at = (kind: 'tree' | 'scan', extents: number): number =>
    rows.find((r) => r.allocator === kind && r.freeExtents === extents + 1)!.nsPerOpenClose;
  const first = EXTENTS[0]!;
  const last = EXTENTS[EXTENTS.length - 1]!;
  const growth = {
    tree: at('tree', last) / at('tree', first),
    scan: at('scan', last) / at('scan', first),
  };
  return {
    suite: 'allocator',
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? '?',
      node: process.version,
      loadAvgStart,
    },
    runs,
    iterations,
    rows,
    growth,
    targetTreeGrowth: TARGET_GROWTH,
    meetsTarget: growth.tree <= TARGET_GROWTH,
  };
}

export function format(r: AllocatorBenchResult): string {
  const lines = [
    `window allocator: CPU time of one open + close of a 2-page window, median of ${r.runs} runs`,
    'allocator  free extents  ns/open+close',
  ];
  for (const row of r.rows) {
    lines.push(
      `${row.allocator.padEnd(9)}  ${String(row.freeExtents).padStart(12)}  ${row.nsPerOpenClose.toFixed(0).padStart(13)}`,
    );
  }
  const first = EXTENTS[0]! + 1;
  const last = EXTENTS[EXTENTS.length - 1]! + 1;
  lines.push(
    `growth ${first} → ${last} extents: tree ${r.growth.tree.toFixed(2)}× (target ≤ ${r.targetTreeGrowth}×: ${r.meetsTarget ? 'met' : 'NOT met'}), scan baseline ${r.growth.scan.toFixed(1)}×`,
  );
  return lines.join('\n');
}
