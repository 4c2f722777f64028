/**
 * The host's half of the modes check in tier 3 (guest-markers.ts is the guests' half): while
 * the consumer keeps marker traffic flowing on a plain and an aead channel, the host reads the
 * region file hostd shares with both QEMUs again and again, and the consumer guest's root reads
 * its BAR through a test module (sivshm_bar_scan.c). A marker must be seen in plain (the scans
 * work) and never in aead.
 */
import { readFileSync } from 'node:fs';
import { sleep, type StatusLike } from '@sivshm/testing';
import type { QemuGuest, TierResults } from '@sivshm/testing/qemu';
import { lastStep, waitStep, type Step } from './guest-steps.js';
import { MARKER_CHANNELS, MARKER_FLOW_MS, markerBytes, type MarkerMode } from './guest-markers.js';

/** How often the host reads the region file while the markers flow. */
const SCAN_EVERY_MS = 250;

interface Tally {
  mode: MarkerMode;
  channelId: string;
  events: number;
  otherEvents: number;
  calls: number;
  error: string | null;
}

/** Whether two channel ids name the same channel (status spells them in hex, the app in decimal). */
function sameChannel(a: string, b: string): boolean {
  try {
    return BigInt(a) === BigInt(b);
  } catch {
    return false;
  }
}

const tallies = (s: Step | string): Tally[] =>
  typeof s === 'string' ? [] : ((s['channels'] as Tally[] | undefined) ?? []);

/** What the consumer guest's BAR scans found: per marker hex, the largest count any scan saw. */
function barScans(consumer: QemuGuest): { scans: number; found: Map<string, number> } {
  const found = new Map<string, number>();
  let scans = 0;
  for (const m of consumer.console().matchAll(/^@@ bar-scan ([0-9a-f]+) (\d+) of (\d+)\s*$/gm)) {
    scans++;
    found.set(m[1]!, Math.max(found.get(m[1]!) ?? 0, Number(m[2])));
  }
  return { scans, found };
}

/**
 * Waits for the marker traffic, scans the region file while it flows, and records per mode:
 * the traffic itself (echoed calls, marker events, the channel's mode in hostd's status) and
 * what the scans of the region file and of the guest's BAR found.
 */
export async function markerScan(
  results: TierResults,
  regionPath: string,
  consumer: QemuGuest,
  status: () => Promise<StatusLike>,
  stepTimeoutMs: number,
): Promise<void> {
  const flowing = await waitStep(consumer, 'markers-flowing', stepTimeoutMs);
  const seenInFile = new Map<MarkerMode, number>();
  let fileScans = 0;
  let st: StatusLike | undefined;
  if (typeof flowing !== 'string') {
    st = await status();
    // Only while the consumer keeps the traffic going (it says markers-done after that).
    for (const end = Date.now() + MARKER_FLOW_MS - 1000; Date.now() < end;) {
      if (lastStep(consumer, 'markers-done') !== undefined) break;
      const region = readFileSync(regionPath);
      fileScans++;
      for (const c of MARKER_CHANNELS) {
        if (region.includes(markerBytes(c.marker)))
          seenInFile.set(c.mode, (seenInFile.get(c.mode) ?? 0) + 1);
      }
      await sleep(SCAN_EVERY_MS);
    }
  }
  const done = await waitStep(consumer, 'markers-done', stepTimeoutMs);
  const bar = barScans(consumer);
  for (const c of MARKER_CHANNELS) {
    const t = tallies(done).find((x) => x.mode === c.mode);
    const ch = st?.channels.find((x) => t !== undefined && sameChannel(x.channelId, t.channelId));
    results.record(
      `${c.mode}/events-and-calls-carry-the-marker`,
      t !== undefined &&
        t.error === null &&
        t.calls > 0 &&
        t.events > 0 &&
        t.otherEvents === 0 &&
        ch?.mode === c.mode &&
        ch.state === 'ACTIVE',
      `consumer: ${typeof done === 'string' ? done : JSON.stringify(t)}; hostd's channel: ${JSON.stringify(ch)}`,
    );
    const hidden = c.mode === 'aead';
    const inFile = seenInFile.get(c.mode) ?? 0;
    results.record(
      `${c.mode}/${hidden ? 'no-plaintext-marker' : 'plaintext-marker-found'}-in-region-file`,
      fileScans >= 3 && (hidden ? inFile === 0 : inFile > 0),
      `the marker was in ${inFile} of ${fileScans} reads of the region file while traffic flowed`,
    );
    const inBar = bar.found.get(markerBytes(c.marker).toString('hex'));
    results.record(
      `${c.mode}/${hidden ? 'no-plaintext-marker' : 'plaintext-marker-found'}-in-guest-bar`,
      inBar !== undefined && (hidden ? inBar === 0 : inBar > 0),
      `the consumer guest's BAR scans (${bar.scans}) found it ${inBar ?? 'never scanned'} times at most ${consumer.tail()}`,
    );
  }
  results.note(
    `marker traffic: ${fileScans} reads of the region file, ${bar.scans} BAR scans in the consumer guest`,
  );
}
