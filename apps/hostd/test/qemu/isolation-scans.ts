/**
 * What the isolation scenario's guests printed from their root loops (app-image.ts): round
 * after round, the ivshmem PCI functions the guest lists in sysfs (`@@ iso-pci N <bdf>…`), and
 * for each function's BAR2 how often each marker occurs (`@@ iso-scan N <bdf> <hex> <count> of
 * <bytes>`, from sivshm_bar_scan.ko with all=1), in the third guest root's writes
 * (`@@ iso-write N <bdf> <control|region> <blocks> <kept>`, scribble=1), then
 * `@@ iso-round-end N`. The read-only control device is listed apart from the other functions
 * (its slot is pinned: {@link CONTROL_DEVICE_BDF}). Each round carries
 * where in the console it started and ended, so the host can take the rounds that ran while
 * something was going on.
 */
import { CONTROL_DEVICE_BDF } from './isolation-markers.js';

/** One BAR2 scan line of a round. */
export interface BarScan {
  readonly bdf: string;
  readonly hex: string;
  readonly count: number;
  readonly bytes: number;
}

/** One write of root over a BAR2 (the third guest's rounds). */
export interface BarWrite {
  readonly bdf: string;
  readonly kind: 'control' | 'region';
  /** 16-byte blocks written. */
  readonly blocks: number;
  /** Of them, how many read back as written. */
  readonly kept: number;
}

/** One round of a guest's root loop. */
export interface ScanRound {
  readonly n: number;
  /**
   * The ivshmem functions the guest listed in sysfs at the round's start, but the read-only
   * control device.
   */
  readonly functions: readonly string[];
  /** Whether the round listed the read-only control device. */
  readonly control: boolean;
  readonly scans: BarScan[];
  readonly writes: BarWrite[];
  /** Console offsets of the round's first line and of its end line (-1 while unfinished). */
  readonly start: number;
  end: number;
}

/** Every round in `console` (in order). */
export function scanRounds(console: string): ScanRound[] {
  const rounds = new Map<number, ScanRound>();
  const re = /^@@ iso-(pci|scan|write|round-end) (\d+)(.*)$/gm;
  for (const m of console.matchAll(re)) {
    const n = Number(m[2]);
    const rest = (m[3] ?? '').trim();
    const at = m.index;
    if (m[1] === 'pci') {
      const listed = rest === '' ? [] : rest.split(/\s+/);
      rounds.set(n, {
        n,
        functions: listed.filter((f) => !CONTROL_DEVICE_BDF.endsWith(f)),
        control: listed.some((f) => CONTROL_DEVICE_BDF.endsWith(f)),
        scans: [],
        writes: [],
        start: at,
        end: -1,
      });
      continue;
    }
    const r = rounds.get(n);
    if (r === undefined) continue; // a round whose start line was cut by kernel output
    if (m[1] === 'round-end') r.end = at;
    else if (m[1] === 'write') {
      const w = /^(\S+) (control|region) (\d+) (\d+)$/.exec(rest);
      if (w !== null)
        r.writes.push({
          bdf: w[1]!,
          kind: w[2] as BarWrite['kind'],
          blocks: Number(w[3]),
          kept: Number(w[4]),
        });
    } else {
      const s = /^(\S+) ([0-9a-f]+) (\d+) of (\d+)$/.exec(rest);
      if (s !== null)
        r.scans.push({ bdf: s[1]!, hex: s[2]!, count: Number(s[3]), bytes: Number(s[4]) });
    }
  }
  return [...rounds.values()].sort((a, b) => a.n - b.n);
}

/** Whether round `r` scanned every function it listed, for every marker in `markers`. */
export function covered(r: ScanRound, markers: readonly string[]): boolean {
  return (
    r.end >= 0 &&
    r.functions.length > 0 &&
    r.functions.every((f) =>
      markers.every((hex) => r.scans.some((s) => s.bdf.endsWith(f) && s.hex === hex)),
    )
  );
}

/** The rounds that started at or after console offset `from` and ended before `to`. */
export function roundsBetween(rounds: readonly ScanRound[], from: number, to: number): ScanRound[] {
  return rounds.filter((r) => r.start >= from && r.end >= 0 && r.end <= to);
}

/** The most times `hex` was found in one scan of those rounds, on functions `on` (all when absent). */
export function mostFound(
  rounds: readonly ScanRound[],
  hex: string,
  on?: (bdf: string) => boolean,
): number {
  let most = 0;
  for (const r of rounds)
    for (const s of r.scans)
      if (s.hex === hex && (on === undefined || on(s.bdf))) most = Math.max(most, s.count);
  return most;
}

/** A short account of rounds for a failure message. */
export function describeRounds(rounds: readonly ScanRound[]): string {
  return rounds
    .map(
      (r) =>
        `#${r.n} [${r.functions.join(' ')}] ${r.scans.map((s) => `${s.bdf}:${s.hex.slice(0, 10)}=${s.count}/${s.bytes}`).join(' ')}${r.end < 0 ? ' (unfinished)' : ''}`,
    )
    .join('; ');
}
