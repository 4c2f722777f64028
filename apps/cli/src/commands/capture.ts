import { InvalidArgumentError, type Command } from 'commander';
import { statSync, writeFileSync } from 'node:fs';
import { CoreError } from '@sivshm/core';
import { WindowLayout } from '@sivshm/abi';
import { sdPcap, type PcapDatagram } from '@sivshm/discovery';
import {
  ChannelTableReader,
  mapFile,
  readRegionHeader,
  RingTap,
  unmap,
} from '@sivshm/transport-ivshmem';

/** UDP port the capture puts SOME/IP frames on (tell tshark: -d udp.port==30501,someip). */
export const CAPTURE_PORT = 30501;

function channelId(text: string): bigint {
  if (!/^(0x[0-9a-f]{1,16}|\d{1,20})$/i.test(text)) {
    throw new InvalidArgumentError(
      `channel id "${text}" must be a decimal or 0x hex u64 (see sivshm status or inspect)`,
    );
  }
  return BigInt(text);
}

function positive(text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0)
    throw new InvalidArgumentError(`"${text}" must be a positive number`);
  return v;
}

interface CaptureOptions {
  region: string;
  channel: bigint;
  out: string;
  duration?: number;
  count?: number;
}

/** Registers `sivshm capture`. */
export function registerCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description(
      "record a channel's SOME/IP frames (both directions, read-only) into a pcap file; read it with\n" +
        `tshark -r FILE -d udp.port==${CAPTURE_PORT},someip (VM n appears as 127.0.1.n)`,
    )
    .requiredOption('--region <file>', 'the region file (emulated mode, e.g. /dev/shm/sivshm-demo)')
    .requiredOption('--channel <id>', 'channel id (decimal or 0x hex)', channelId)
    .requiredOption('--out <file.pcap>', 'where to write the capture')
    .option(
      '--duration <seconds>',
      'stop after this long (default: until Ctrl-C or --count)',
      positive,
    )
    .option('--count <n>', 'stop after this many frames', positive)
    .action(capture);
}

async function capture(o: CaptureOptions): Promise<void> {
  let size: number;
  try {
    size = statSync(o.region).size;
  } catch (e) {
    throw new CoreError('ERR_IO', `cannot open region ${o.region}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const m = mapFile(o.region, 0, size, { writable: false });
  let recorded: Recorded;
  try {
    recorded = await record(o, channelTaps(new Uint8Array(m.shared), o));
  } finally {
    unmap(m.handle);
  }
  const { datagrams, lost, malformed } = recorded;
  writeFileSync(o.out, sdPcap(datagrams.slice(0, o.count ?? datagrams.length)));
  console.error(
    `${process.stderr.isTTY ? '\n' : ''}wrote ${Math.min(datagrams.length, o.count ?? Infinity)} frames to ${o.out}` +
      (lost + malformed > 0
        ? ` (${lost} times fell behind, ${malformed} malformed batches skipped)`
        : ''),
  );
}

interface DirectionTap {
  tap: RingTap;
  src: string;
  dst: string;
}

/** Read-only taps on both rings of the channel's window, each with the addresses its VMs get. */
function channelTaps(region: Uint8Array, o: CaptureOptions): DirectionTap[] {
  const found = new ChannelTableReader(region, readRegionHeader(region)).find(o.channel);
  if (found === undefined) {
    throw new CoreError(
      'ERR_IO',
      `channel ${o.channel} is not in the channel table of ${o.region} (sivshm inspect lists them)`,
    );
  }
  const e = found.entry;
  const dataSize = WindowLayout.dataSizeOf(e.length);
  if (dataSize === undefined)
    throw new CoreError('ERR_IO', `channel ${o.channel} has no valid window`);
  const dir = WindowLayout.directionSize(dataSize);
  const c = `127.0.1.${e.consumerVm & 0xff}`;
  const p = `127.0.1.${e.providerVm & 0xff}`;
  console.error(
    `capturing channel ${o.channel} (VM ${e.consumerVm} ⇄ VM ${e.providerVm}); Ctrl-C to stop`,
  );
  return [
    { tap: new RingTap(region.subarray(e.offset, e.offset + dir), dataSize), src: c, dst: p },
    {
      tap: new RingTap(region.subarray(e.offset + dir, e.offset + 2 * dir), dataSize),
      src: p,
      dst: c,
    },
  ];
}

interface Recorded {
  datagrams: PcapDatagram[];
  lost: number;
  malformed: number;
}

/** Polls the taps until Ctrl-C, the duration or the count, whichever comes first. */
async function record(o: CaptureOptions, taps: DirectionTap[]): Promise<Recorded> {
  const datagrams: PcapDatagram[] = [];
  const deadline = o.duration === undefined ? Infinity : Date.now() + o.duration * 1000;
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lastReport = Date.now();
  while (!stop && Date.now() < deadline && datagrams.length < (o.count ?? Infinity)) {
    for (const t of taps) {
      for (const r of t.tap.poll()) {
        datagrams.push({
          payload: r.frame,
          src: t.src,
          dst: t.dst,
          srcPort: CAPTURE_PORT,
          dstPort: CAPTURE_PORT,
          timeMs: Date.now(),
        });
      }
    }
    if (Date.now() - lastReport >= 1000 && process.stderr.isTTY) {
      process.stderr.write(`\r${datagrams.length} frames`);
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return {
    datagrams,
    lost: taps.reduce((n, t) => n + t.tap.lost, 0),
    malformed: taps.reduce((n, t) => n + t.tap.malformed, 0),
  };
}
