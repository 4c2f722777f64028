// `sivshm capture` at work: taps both rings of one channel of a mapped region and writes what
// they carry as pcap records. Loaded by the command's action only (commands/capture.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { sdPcap, type PcapDatagram } from '@sivshm/discovery';
import { unmap } from '@sivshm/transport-ivshmem';
import type { ChannelTap } from '../diag/channel-tap.js';
import { followingTap } from '../diag/channel-taps.js';
import { HostdTable } from '../diag/hostd-table.js';
import { MissedRecords } from '../diag/missed-records.js';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';
import { checkWritableFile } from '../io/cli-files.js';
import { channelIdText } from '../io/id-text.js';
import { mapRegionReadOnly } from '../io/region-file.js';
import { CAPTURE_PORT } from './capture.js';

/** The options of `sivshm capture`, parsed. */
export interface CaptureOptions {
  region: string;
  channel: bigint;
  out: string;
  duration?: number;
  count?: number;
  /** Print the summary as one JSON object on stdout too. */
  json?: boolean;
  /**
   * Ends the capture like Ctrl-C (for a caller in the same process, which cannot signal itself
   * without ending its own run).
   */
  signal?: AbortSignal;
}

/** What a capture wrote, and what it could not keep up with (`--json` prints it). */
export interface CaptureSummary {
  readonly out: string;
  /** The channel captured, and the one its frames were read from last (after any moves). */
  readonly channel: string;
  readonly lastChannel: string;
  readonly frames: number;
  /** How many times the producer lapped the capture (it resumed at the newest record). */
  readonly lapses: number;
  /**
   * How many times hostd freed a window the channel had moved out of before the capture read it
   * up to its move marker (docs/protocol.md §11.3); the capture went on in the channel's window.
   */
  readonly cutOffs: number;
  /**
   * Records lost in those lapses and cut-offs, at least (counted from event session ids:
   * MissedRecords).
   */
  readonly missedRecords: number;
  readonly malformedBatches: number;
}

/** Captures until --duration, --count or Ctrl-C, then says what it wrote. */
export async function capture(o: CaptureOptions): Promise<CaptureSummary> {
  const m = mapRegionReadOnly(o.region);
  let hostdTable: HostdTable | undefined;
  try {
    const region = new Uint8Array(m.shared);
    hostdTable = new HostdTable(o.region, region);
    const { taps, announce } = channelTaps(region, hostdTable, o);
    // The output is opened before the first frame is read: a path that cannot be written fails
    // now, not after the capture, and every frame is on disk as soon as it is read.
    const out = openPcap(o.out);
    console.error(announce);
    let written: number;
    try {
      written = await record(o, taps, out);
    } finally {
      closeSync(out.fd);
    }
    const summary = summarize(o, taps, written);
    console.error(`${process.stderr.isTTY ? '\n' : ''}${summaryLine(summary)}`);
    if (o.json === true) console.log(JSON.stringify(summary));
    return summary;
  } finally {
    hostdTable?.close();
    unmap(m.handle);
  }
}

function summarize(o: CaptureOptions, taps: DirectionTap[], frames: number): CaptureSummary {
  const sum = (f: (t: DirectionTap) => number): number => taps.reduce((n, t) => n + f(t), 0);
  const moved = taps.find((t) => t.tap.moves > 0)?.tap;
  return {
    out: o.out,
    channel: channelIdText(o.channel),
    lastChannel: channelIdText(moved?.channelId ?? o.channel),
    frames,
    lapses: sum((t) => t.tap.lost),
    cutOffs: sum((t) => t.tap.cutOffs),
    missedRecords: sum((t) => t.missed.count),
    malformedBatches: sum((t) => t.tap.malformed),
  };
}

function summaryLine(s: CaptureSummary): string {
  const gaps = [
    s.lapses > 0 ? `lapped ${s.lapses === 1 ? 'once' : `${s.lapses} times`} by the producer` : '',
    s.cutOffs > 0
      ? `${s.cutOffs} old window${s.cutOffs === 1 ? '' : 's'} freed before it was read to the end`
      : '',
  ].filter((p) => p !== '');
  const problems = [
    gaps.length > 0 ? `${gaps.join(', ')}: missed at least ${s.missedRecords} records` : '',
    s.malformedBatches > 0 ? `${s.malformedBatches} malformed batches skipped` : '',
  ].filter((p) => p !== '');
  return (
    `wrote ${s.frames} frames to ${s.out}` +
    (s.lastChannel === s.channel
      ? ''
      : `, following the channel's moves to channel ${s.lastChannel}`) +
    (problems.length > 0 ? ` (${problems.join('; ')})` : '')
  );
}

/** The pcap output, its global header already written. */
interface PcapOut {
  readonly fd: number;
  readonly file: string;
}

/** Length of the pcap global header that `sdPcap` puts before the records. */
const PCAP_HEADER_BYTES = sdPcap([]).length;

function openPcap(file: string): PcapOut {
  checkWritableFile(file, 'capture file');
  try {
    const fd = openSync(file, 'w');
    writeSync(fd, sdPcap([]));
    return { fd, file };
  } catch (e) {
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot write capture file ${file}: ${why}`, { cause: e });
  }
}

/**
 * Appends datagrams as pcap records. `sdPcap` numbers the IPv4 identification within one call;
 * with DF set that field carries no meaning (RFC 6864), so per-batch numbering is harmless.
 */
function appendFrames(out: PcapOut, datagrams: readonly PcapDatagram[], before: number): void {
  try {
    writeSync(out.fd, sdPcap(datagrams).subarray(PCAP_HEADER_BYTES));
  } catch (e) {
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError(
      'ERR_IO',
      `cannot write capture file ${out.file} (${why}); its first ${before} frames are complete`,
      { cause: e },
    );
  }
}

interface DirectionTap {
  tap: ChannelTap;
  src: string;
  dst: string;
  missed: MissedRecords;
}

/**
 * Read-only taps on both rings of the channel's window, each with the addresses its VMs get.
 * They follow the channel when it moves to a successor window (an elastic service): its frames
 * go on in the same file between the same addresses, and the move marker is not a frame.
 */
function channelTaps(
  region: Uint8Array,
  hostd: HostdTable,
  o: CaptureOptions,
): { taps: DirectionTap[]; announce: string } {
  const header = hostd.header;
  const found = hostd.table().find(o.channel);
  if (found === undefined) {
    throw new CliError(
      'ERR_INPUT',
      `channel ${channelIdText(o.channel)} is not in the channel table of ${hostd.source} (sivshm inspect lists them)`,
    );
  }
  const e = found.entry;
  const c = `127.0.1.${e.consumerVm & 0xff}`;
  const p = `127.0.1.${e.providerVm & 0xff}`;
  const table = (): ReturnType<HostdTable['table']> => hostd.table();
  const c2p = followingTap(region, header, e, 0, false, table);
  const p2c = followingTap(region, header, e, 1, false, table);
  if (c2p === undefined || p2c === undefined)
    throw new CliError('ERR_INPUT', `channel ${channelIdText(o.channel)} has no valid window`);
  const taps = [
    { tap: c2p, src: c, dst: p, missed: new MissedRecords() },
    { tap: p2c, src: p, dst: c, missed: new MissedRecords() },
  ];
  return {
    taps,
    announce: `capturing channel ${channelIdText(o.channel)} (VM ${e.consumerVm} ⇄ VM ${e.providerVm}); Ctrl-C to stop`,
  };
}

/** The frames the taps hold now, noting lapses and session gaps on the way. */
function pollTaps(taps: DirectionTap[]): PcapDatagram[] {
  const turn: PcapDatagram[] = [];
  for (const t of taps) {
    const gapsBefore = t.tap.lost + t.tap.cutOffs;
    for (const r of t.tap.poll()) {
      t.missed.saw(r.frame);
      turn.push({
        payload: r.frame,
        src: t.src,
        dst: t.dst,
        srcPort: CAPTURE_PORT,
        dstPort: CAPTURE_PORT,
        timeMs: Date.now(),
      });
    }
    // A poll returns the records before a lapse or cut-off it met, never after it.
    if (t.tap.lost + t.tap.cutOffs !== gapsBefore) t.missed.lapsed();
  }
  return turn;
}

/**
 * Polls the taps until Ctrl-C (SIGINT), SIGTERM, `o.signal`, the duration or the count,
 * whichever comes first, appending each turn's frames to `out`; returns how many were written.
 * A stop by signal takes what the rings hold at that moment before it returns.
 */
async function record(o: CaptureOptions, taps: DirectionTap[], out: PcapOut): Promise<number> {
  const limit = o.count ?? Infinity;
  const deadline = o.duration === undefined ? Infinity : Date.now() + o.duration * 1000;
  let written = 0;
  let stop = o.signal?.aborted === true;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onSignal, { once: true });
  const take = (): void => {
    const keep = pollTaps(taps).slice(0, limit - written);
    if (keep.length > 0) {
      appendFrames(out, keep, written);
      written += keep.length;
    }
  };
  try {
    let lastReport = Date.now();
    while (!stop && Date.now() < deadline && written < limit) {
      take();
      if (Date.now() - lastReport >= 1000 && process.stderr.isTTY) {
        process.stderr.write(`\r${written} frames`);
        lastReport = Date.now();
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    if (stop && written < limit) take();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    o.signal?.removeEventListener('abort', onSignal);
  }
  return written;
}
