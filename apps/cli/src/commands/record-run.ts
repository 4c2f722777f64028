// `sivshm record` at work: taps both rings of every selected channel of a mapped region (read
// only, like `sivshm capture`) and streams what they carry into one pcapng file, one interface
// per channel. Loaded by the command's action only (commands/record.ts).
import { closeSync, openSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelEntry } from '@sivshm/abi';
import type { ServiceConfig } from '@sivshm/core';
import { unmap, type ChannelTableReader } from '@sivshm/transport-ivshmem';
import type { ChannelTap } from '../diag/channel-tap.js';
import { followingTap } from '../diag/channel-taps.js';
import { HostdTable } from '../diag/hostd-table.js';
import { loadDiagConfig } from '../diag/diagnostics-vm.js';
import { interfaceBlock, packetBlock, sectionHeaderBlock } from '../diag/pcapng.js';
import { channelInterface, frameOf, recordedChannelOf } from '../diag/recorded-channel.js';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';
import { checkWritableFile } from '../io/cli-files.js';
import { mapRegionReadOnly } from '../io/region-file.js';

/** The options of `sivshm record`, parsed. */
export interface RecordOptions {
  region: string;
  out: string;
  channel?: bigint[];
  service?: string[];
  config?: string;
  duration?: number;
  count?: number;
  maxSize: number;
  /** Stops the recording as Ctrl-C does (for a caller in the same process). */
  signal?: AbortSignal;
}

/** What a recording wrote, and the gaps its taps could not see (lower-bound counts). */
export interface RecordSummary {
  readonly frames: number;
  /** Times a producer lapped a tap. */
  readonly lapses: number;
  /** Old windows hostd freed before a tap read them to their move marker (protocol §11.3). */
  readonly cutOffs: number;
}

/** How often the channel table is read again for channels that opened or ended. */
const SCAN_MS = 200;

/** One ring of a recorded channel, with the VMs its frames go between. */
interface DirectionTap {
  readonly tap: ChannelTap;
  readonly from: number;
  readonly to: number;
}

/**
 * A channel being recorded: its pcapng interface and its two taps. The taps follow the channel's
 * moves to successor windows (docs/protocol.md §11), so its records stay on its one interface.
 */
interface Recorded {
  readonly interfaceId: number;
  readonly entry: ChannelEntry;
  readonly taps: readonly DirectionTap[];
}

/** The channel ids a recorded channel's taps read now or wait to follow to. */
function idsOf(r: Recorded): bigint[] {
  return r.taps.flatMap((t) => [t.tap.channelId, t.tap.waitingFor ?? t.tap.channelId]);
}

/** Whether `e` is still the table entry of a window `r` reads (its first one by generation). */
function reads(r: Recorded, e: ChannelEntry): boolean {
  if (e.channelId === r.entry.channelId) return e.generation === r.entry.generation;
  return idsOf(r).includes(e.channelId);
}

/** Same service instance between the same VMs: what a successor window shares with its channel. */
const samePair = (a: ChannelEntry, b: ChannelEntry): boolean =>
  a.service === b.service &&
  a.instance === b.instance &&
  a.major === b.major &&
  a.consumerVm === b.consumerVm &&
  a.providerVm === b.providerVm;

/** The output file, written block by block. */
class Recording {
  bytes = 0;
  frames = 0;
  interfaces = 0;
  constructor(
    readonly fd: number,
    readonly file: string,
    readonly maxSize: number,
  ) {}

  /** Appends `blocks`; false (nothing written) when they would pass --max-size. */
  append(blocks: readonly Uint8Array[]): boolean {
    const chunk = Buffer.concat(blocks);
    if (this.bytes + chunk.length > this.maxSize) return false;
    try {
      writeSync(this.fd, chunk);
    } catch (e) {
      const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
      throw new CliError(
        'ERR_IO',
        `cannot write ${this.file} (${why}); its first ${this.frames} frames are complete`,
        { cause: e },
      );
    }
    this.bytes += chunk.length;
    return true;
  }
}

function openRecording(file: string, maxSize: number): Recording {
  try {
    const fd = openSync(file, 'w');
    const r = new Recording(fd, file, maxSize);
    r.append([sectionHeaderBlock('sivshm record')]);
    return r;
  } catch (e) {
    if (CliError.is(e)) throw e;
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot write recording ${file}: ${why}`, { cause: e });
  }
}

/** Service ids from --service (names need --config). */
function serviceIds(names: readonly string[], config: ServiceConfig | undefined): Set<number> {
  return new Set(
    names.map((n) => {
      if (/^0x[0-9a-f]{1,4}$/i.test(n)) return Number(n);
      if (config === undefined) {
        throw new CliError(
          'ERR_USAGE',
          `--service ${n}: a service name needs --config (or give its 0x id)`,
        );
      }
      const s = config.services.find((x) => x.name === n);
      if (s === undefined) {
        throw new CliError(
          'ERR_USAGE',
          `--service ${n}: ${config.file} has no such service; its services: ${config.services.map((x) => x.name).join(', ')}`,
        );
      }
      return s.id;
    }),
  );
}

/**
 * Read-only taps on both rings of the entry's window (c2p first); `fromStart`: from index 0, for
 * a channel that opened during the recording (its first records are still in the ring).
 */
function directionTaps(
  region: Uint8Array,
  hostd: HostdTable,
  e: ChannelEntry,
  fromStart: boolean,
): DirectionTap[] {
  const table = (): ChannelTableReader => hostd.table();
  const c2p = followingTap(region, hostd.header, e, 0, fromStart, table);
  const p2c = followingTap(region, hostd.header, e, 1, fromStart, table);
  if (c2p === undefined || p2c === undefined) return [];
  return [
    { tap: c2p, from: e.consumerVm, to: e.providerVm },
    { tap: p2c, from: e.providerVm, to: e.consumerVm },
  ];
}

/** Microseconds since the Unix epoch, finer than Date.now(). */
const nowUs = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));

/**
 * Records until --duration, --count, --max-size, Ctrl-C or `o.signal`, then says what it wrote.
 * A stop by signal takes what the rings hold at that moment before it returns.
 */
export async function record(o: RecordOptions): Promise<RecordSummary> {
  // The output is checked first and opened before the first frame is read: a path that cannot
  // be written fails before anything is captured, and every frame is on disk once read.
  checkWritableFile(o.out, 'recording');
  const config = o.config === undefined ? undefined : await loadDiagConfig(o.config);
  const services = serviceIds(o.service ?? [], config);
  const m = mapRegionReadOnly(o.region);
  let hostd: HostdTable | undefined;
  try {
    const region = new Uint8Array(m.shared);
    hostd = new HostdTable(o.region, region);
    const channels = new Set(o.channel ?? []);
    for (const id of channels) {
      if (hostd.table().find(id) === undefined) {
        throw new CliError(
          'ERR_INPUT',
          `channel ${id} is not in the channel table of ${hostd.source} (sivshm inspect lists them)`,
        );
      }
    }
    const wanted = (e: ChannelEntry): boolean =>
      (channels.size === 0 && services.size === 0) ||
      channels.has(e.channelId) ||
      services.has(e.service);
    const out = openRecording(o.out, o.maxSize);
    let why: string;
    const recorded = new ChannelSet(out, region, hostd, config);
    try {
      const table = hostd;
      why = await recordLoop(o, out, () => scanTable(table), wanted, recorded);
    } finally {
      closeSync(out.fd);
    }
    console.error(
      `${process.stderr.isTTY ? '\n' : ''}wrote ${out.frames} frames of ${out.interfaces} channel${out.interfaces === 1 ? '' : 's'} (${out.bytes} bytes) to ${o.out}${why}${gapsText(recorded)}`,
    );
    return { frames: out.frames, lapses: recorded.lapses, cutOffs: recorded.cutOffs };
  } finally {
    hostd?.close();
    unmap(m.handle);
  }
}

/**
 * The table's used entries; undefined when the table reads as inconsistent (hostd is
 * mid-change): the channels recorded so far are kept and the table is read again later.
 */
function scanTable(hostd: HostdTable): ChannelEntry[] | undefined {
  try {
    return hostd
      .table()
      .entries()
      .map((x) => x.entry);
  } catch {
    return undefined;
  }
}

/** What the taps could not see, for the closing line ('' when nothing). */
function gapsText(c: ChannelSet): string {
  const parts = [
    c.lapses > 0 ? `lapped ${c.lapses} times` : '',
    c.cutOffs > 0 ? `${c.cutOffs} old windows freed before they were read to the end` : '',
  ].filter((p) => p !== '');
  return parts.length === 0 ? '' : ` (taps ${parts.join(', ')}: frames there are missing)`;
}

/** The channels being recorded, kept in step with the channel table. */
class ChannelSet {
  readonly #recorded = new Map<bigint, Recorded>();
  /** Gaps of the taps of channels no longer recorded. */
  #gapsBefore = { lapses: 0, cutOffs: 0 };
  /** True after the first scan: channels found later opened during the recording. */
  #started = false;
  constructor(
    readonly out: Recording,
    readonly region: Uint8Array,
    readonly hostd: HostdTable,
    readonly config: ServiceConfig | undefined,
  ) {}

  get size(): number {
    return this.#recorded.size;
  }

  get lapses(): number {
    return this.#gapsBefore.lapses + this.#sum((t) => t.lost);
  }

  get cutOffs(): number {
    return this.#gapsBefore.cutOffs + this.#sum((t) => t.cutOffs);
  }

  #sum(f: (t: ChannelTap) => number): number {
    let n = 0;
    for (const r of this.#recorded.values()) for (const t of r.taps) n += f(t.tap);
    return n;
  }

  /**
   * Drops channels whose windows are all neither ACTIVE nor CLOSING; adds the new ACTIVE ones `wanted` picks (an
   * IDB each). A successor window is not a new channel: it is skipped while a recorded channel
   * of the same pair is still in the table, until that channel's taps follow their marker to it.
   * False when --max-size stops it.
   */
  update(used: readonly ChannelEntry[], wanted: (e: ChannelEntry) => boolean): boolean {
    for (const [id, r] of this.#recorded) {
      // CLOSING too: a moved channel's old window closes once both ends left it, maybe before
      // the taps read its last records and its marker. And a successor still PENDING that the
      // taps already followed: hostd marks it ACTIVE only once both ends answered the move, and
      // a scan in between (from the second move on, when the first window is gone) must not
      // take the channel for ended and the successor for a new channel.
      const live = (e: ChannelEntry): boolean =>
        e.state === 'ACTIVE' ||
        e.state === 'CLOSING' ||
        (e.state === 'PENDING' && e.channelId !== r.entry.channelId);
      if (!used.some((e) => live(e) && reads(r, e))) {
        this.#recorded.delete(id);
        for (const t of r.taps) {
          this.#gapsBefore.lapses += t.tap.lost;
          this.#gapsBefore.cutOffs += t.tap.cutOffs;
        }
      }
    }
    const recorded = [...this.#recorded.values()];
    for (const e of used) {
      if (e.state !== 'ACTIVE' || !wanted(e)) continue;
      if (recorded.some((r) => reads(r, e) || samePair(r.entry, e))) continue;
      const block = interfaceBlock(channelInterface(recordedChannelOf(e), this.#names(e)));
      if (!this.out.append([block])) return false;
      this.#recorded.set(e.channelId, {
        interfaceId: this.out.interfaces++,
        entry: e,
        taps: directionTaps(this.region, this.hostd, e, this.#started),
      });
    }
    this.#started = true;
    return true;
  }

  #names(e: ChannelEntry): { service?: string; consumer?: string; provider?: string } {
    const c = this.config;
    const vm = (id: number): string | undefined => c?.vms.find((v) => v.id === id)?.name;
    const service = c?.services.find((s) => s.id === e.service)?.name;
    const [consumer, provider] = [vm(e.consumerVm), vm(e.providerVm)];
    return {
      ...(service === undefined ? {} : { service }),
      ...(consumer === undefined ? {} : { consumer }),
      ...(provider === undefined ? {} : { provider }),
    };
  }

  /** EPBs of every record published since the last poll, at most `max`. */
  poll(max: number): Uint8Array[] {
    const blocks: Uint8Array[] = [];
    for (const r of this.#recorded.values()) {
      for (const t of r.taps) {
        for (const rec of t.tap.poll()) {
          if (blocks.length >= max) break;
          const data = frameOf(rec.frame, t.from, t.to);
          blocks.push(packetBlock({ interfaceId: r.interfaceId, timestampUs: nowUs(), data }));
        }
      }
    }
    return blocks;
  }
}

/**
 * Polls the taps, adding channels as they appear and dropping those that ended; returns why it
 * stopped (empty for Ctrl-C or --count).
 */
async function recordLoop(
  o: RecordOptions,
  out: Recording,
  scan: () => ChannelEntry[] | undefined,
  wanted: (e: ChannelEntry) => boolean,
  channels: ChannelSet,
): Promise<string> {
  const limit = o.count ?? Infinity;
  const deadline = o.duration === undefined ? Infinity : Date.now() + o.duration * 1000;
  const full = ` (stopped at --max-size ${o.maxSize})`;
  let stop = o.signal?.aborted === true;
  const onSignal = (): void => void (stop = true);
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onSignal, { once: true });
  try {
    let nextScan = 0;
    let announced = false;
    let lastReport = Date.now();
    while (!stop && out.frames < limit) {
      if (Date.now() >= deadline) return ` (--duration ${o.duration} s)`;
      // Polled before the table is read again: a channel that ended gives its last records.
      const blocks = channels.poll(limit - out.frames);
      if (blocks.length > 0) {
        if (!out.append(blocks)) return full;
        out.frames += blocks.length;
      }
      const active = Date.now() >= nextScan ? scan() : undefined;
      if (Date.now() >= nextScan) nextScan = Date.now() + SCAN_MS;
      if (active !== undefined) {
        if (!channels.update(active, wanted)) return full;
        // Said after the first scan: a channel that opens from now on is read from its start.
        if (!announced) console.error(`recording to ${o.out}; Ctrl-C to stop`);
        announced = true;
      }
      if (Date.now() - lastReport >= 1000 && process.stderr.isTTY) {
        process.stderr.write(`\r${out.frames} frames, ${channels.size} channels`);
        lastReport = Date.now();
      }
      await sleep(1);
    }
    if (stop && out.frames < limit) {
      // What the rings hold at the stop is taken, as capture does.
      const blocks = channels.poll(limit - out.frames);
      if (blocks.length > 0) {
        if (!out.append(blocks)) return full;
        out.frames += blocks.length;
      }
    }
    return '';
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    o.signal?.removeEventListener('abort', onSignal);
  }
}
