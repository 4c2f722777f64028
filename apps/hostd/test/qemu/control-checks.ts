/**
 * Tier 3's check of the read-only control device (issue 18, docs/protocol.md §10.4), judged in
 * the isolation scenario (isolation-tier.ts), where every guest gets hostd's control file through
 * a `readonly=on` backend:
 *
 * - `guest-root-cannot-write-control-table`: root in the third guest writes over every byte of
 *   the control device's BAR2, round after round, and none of it reads back; hostd's control file
 *   on the host never holds what it wrote and keeps a valid header of hostd's epoch. The same
 *   root's writes over the region's header do land (they read back, and the host's region file
 *   holds them): the writes are real, and the region header is garbage from the first round on.
 *   sivshm.ko in every guest bound the read-only control device, and the pair's grants, epoch
 *   checks and traffic went on with the region header overwritten: they read the header from
 *   the control device only.
 */
import { readFileSync } from 'node:fs';
import { controlPathFor, readControlHeader } from '@sivshm/transport-ivshmem';
import type { IsolationRun } from './isolation-checks.js';
import { CONTROL_DEVICE_BDF, SCRIBBLE } from './isolation-markers.js';
import { roundsBetween, scanRounds, type BarWrite, type ScanRound } from './isolation-scans.js';

/** 16-byte blocks of `file` that hold SCRIBBLE. */
function scribbledBlocks(file: Uint8Array, length = file.byteLength): number {
  const want = Buffer.from(SCRIBBLE, 'latin1');
  let n = 0;
  for (let i = 0; i + 16 <= length; i += 16)
    if (want.equals(Buffer.from(file.buffer, file.byteOffset + i, 16))) n++;
  return n;
}

const writesOf = (rounds: readonly ScanRound[], kind: BarWrite['kind']): BarWrite[] =>
  rounds.flatMap((r) => r.writes.filter((w) => w.kind === kind));

const account = (ws: readonly BarWrite[]): string =>
  ws.map((w) => `${w.bdf} ${w.kind} ${w.kept}/${w.blocks}`).join(', ');

/** What the host's files hold now: the control file's header and both files' scribbled blocks. */
function hostFiles(regionPath: string): {
  controlEpoch: string;
  controlScribbled: number;
  regionScribbled: number;
} {
  const control = new Uint8Array(readFileSync(controlPathFor(regionPath)));
  let controlEpoch: string;
  try {
    controlEpoch = String(readControlHeader(control).epoch);
  } catch (e) {
    controlEpoch = `invalid: ${(e as Error).message}`;
  }
  const region = new Uint8Array(readFileSync(regionPath));
  return {
    controlEpoch,
    controlScribbled: scribbledBlocks(control),
    regionScribbled: scribbledBlocks(region, 64),
  };
}

export function judgeControlReadOnly(run: IsolationRun, regionPath: string): void {
  const [, , third] = run.guests;
  const { from, to, done } = run.traffic;
  const rounds = scanRounds(third.console());
  const during = roundsBetween(rounds, from[2]!, to[2]!);
  const controlWrites = writesOf(rounds, 'control');
  const regionWrites = writesOf(rounds, 'region');
  const firstWrite = rounds.find((r) => r.end >= 0 && r.writes.length > 0);
  const host = hostFiles(regionPath);
  const epoch = String(run.duringStatus['epoch']);
  const tally = typeof done === 'string' ? undefined : (done['tally'] as Record<string, unknown>);
  const bound = run.guests.map((g) =>
    /^@@ iso-ctl sivshm: read-only control device/m.test(g.console()),
  );
  const failed: string[] = [];
  const need = (what: string, ok: boolean): void => void (ok || failed.push(what));
  need(
    'sivshm.ko bound the read-only control device in every guest (its dmesg)',
    bound.every((b) => b),
  );
  need(
    `every root round of the third guest listed the control device (${CONTROL_DEVICE_BDF})`,
    rounds.length > 0 && rounds.every((r) => r.control),
  );
  need(
    "≥ 2 of the third guest's rounds during the traffic wrote over the whole control BAR",
    during.filter((r) => r.writes.some((w) => w.kind === 'control' && w.blocks > 0)).length >= 2,
  );
  need(
    'none of those writes read back in the guest',
    controlWrites.length > 0 &&
      controlWrites.every((w) => w.kept === 0 && w.bdf === CONTROL_DEVICE_BDF),
  );
  need(
    "the same root's writes over the region header read back (the writes are real)",
    regionWrites.length > 0 && regionWrites.every((w) => w.kept === w.blocks && w.blocks > 0),
  );
  need(
    `the host's control file holds no written block and a valid header of hostd's epoch ${epoch}`,
    host.controlScribbled === 0 && host.controlEpoch === epoch,
  );
  need("the host's region file holds the written header (4 blocks)", host.regionScribbled === 4);
  need(
    "the third guest's first write round ended before the device traffic began (the region header was overwritten during all of it)",
    firstWrite !== undefined && firstWrite.end <= from[2]!,
  );
  need(
    'the pair exchanged calls and events over the device channel without an error meanwhile',
    tally !== undefined &&
      Number(tally['events']) > 0 &&
      Number(tally['calls']) > 0 &&
      tally['error'] === null,
  );
  const all = (ws: readonly BarWrite[]): string =>
    `${ws.reduce((n, w) => n + w.kept, 0)} of ${ws.reduce((n, w) => n + w.blocks, 0)} blocks read back in ${ws.length} writes`;
  run.results.note(
    `root's writes in the third guest: control device ${all(controlWrites)}, region header ${all(regionWrites)}; host control file ${host.controlScribbled} written blocks, epoch ${host.controlEpoch}; region file ${host.regionScribbled} written blocks`,
  );
  run.results.record(
    'guest-root-cannot-write-control-table',
    failed.length === 0,
    `not met: ${failed.join('; ')} — control writes ${account(controlWrites.slice(0, 6))}; region writes ${account(regionWrites.slice(0, 3))}; host ${JSON.stringify(host)}; bound ${JSON.stringify(bound)}; rounds ${rounds.length} (${during.length} during the traffic), first write round #${String(firstWrite?.n)}`,
  );
}
