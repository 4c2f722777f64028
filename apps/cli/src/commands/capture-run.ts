// `sivshm capture` at work: taps both rings of one channel of a mapped region and writes what
// they carry as pcap records. Loaded by the command's action only (commands/capture.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { sdPcap, type PcapDatagram } from '@sivshm/discovery';
import {
  ChannelTableReader,
  readRegionHeader,
  unmap,
  type FollowingTap,
} from '@sivshm/transport-ivshmem';
import { followingTap } from '../diag/channel-taps.js';
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
}

/** Captures until --duration, --count or Ctrl-C, then says what it wrote. */
export async function capture(o: CaptureOptions): Promise<void> {
  const m = mapRegionReadOnly(o.region);
  try {
    const { taps, announce } = channelTaps(new Uint8Array(m.shared), o);
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
    const lost = taps.reduce((n, t) => n + t.tap.lost, 0);
    const malformed = taps.reduce((n, t) => n + t.tap.malformed, 0);
    const moved = taps.find((t) => t.tap.moves > 0)?.tap;
    console.error(
      `${process.stderr.isTTY ? '\n' : ''}wrote ${written} frames to ${o.out}` +
        (moved === undefined
          ? ''
          : `, following the channel's moves to channel ${channelIdText(moved.channelId)}`) +
        (lost + malformed > 0
          ? ` (${lost} times fell behind, ${malformed} malformed batches skipped)`
          : ''),
    );
  } finally {
    unmap(m.handle);
  }
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
  tap: FollowingTap;
  src: string;
  dst: string;
}

/**
 * Read-only taps on both rings of the channel's window, each with the addresses its VMs get.
 * They follow the channel when it moves to a successor window (an elastic service): its frames
 * go on in the same file between the same addresses, and the move marker is not a frame.
 */
function channelTaps(
  region: Uint8Array,
  o: CaptureOptions,
): { taps: DirectionTap[]; announce: string } {
  const header = readRegionHeader(region);
  const found = new ChannelTableReader(region, header).find(o.channel);
  if (found === undefined) {
    throw new CliError(
      'ERR_INPUT',
      `channel ${channelIdText(o.channel)} is not in the channel table of ${o.region} (sivshm inspect lists them)`,
    );
  }
  const e = found.entry;
  const c = `127.0.1.${e.consumerVm & 0xff}`;
  const p = `127.0.1.${e.providerVm & 0xff}`;
  const c2p = followingTap(region, header, e, 0);
  const p2c = followingTap(region, header, e, 1);
  if (c2p === undefined || p2c === undefined)
    throw new CliError('ERR_INPUT', `channel ${channelIdText(o.channel)} has no valid window`);
  const taps = [
    { tap: c2p, src: c, dst: p },
    { tap: p2c, src: p, dst: c },
  ];
  return {
    taps,
    announce: `capturing channel ${channelIdText(o.channel)} (VM ${e.consumerVm} ⇄ VM ${e.providerVm}); Ctrl-C to stop`,
  };
}

/**
 * Polls the taps until Ctrl-C, the duration or the count, whichever comes first, appending each
 * turn's frames to `out`; returns how many were written.
 */
async function record(o: CaptureOptions, taps: DirectionTap[], out: PcapOut): Promise<number> {
  const limit = o.count ?? Infinity;
  const deadline = o.duration === undefined ? Infinity : Date.now() + o.duration * 1000;
  let written = 0;
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let lastReport = Date.now();
    while (!stop && Date.now() < deadline && written < limit) {
      const turn: PcapDatagram[] = [];
      for (const t of taps) {
        for (const r of t.tap.poll()) {
          turn.push({
            payload: r.frame,
            src: t.src,
            dst: t.dst,
            srcPort: CAPTURE_PORT,
            dstPort: CAPTURE_PORT,
            timeMs: Date.now(),
          });
        }
      }
      const keep = turn.slice(0, limit - written);
      if (keep.length > 0) {
        appendFrames(out, keep, written);
        written += keep.length;
      }
      if (Date.now() - lastReport >= 1000 && process.stderr.isTTY) {
        process.stderr.write(`\r${written} frames`);
        lastReport = Date.now();
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return written;
}
