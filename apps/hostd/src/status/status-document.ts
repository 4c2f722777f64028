import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { BrokerHandshakes, ServiceConfig } from '@sivshm/core';
import type { RegionLayoutInfo } from '@sivshm/transport-ivshmem';
import type { ChannelLifecycle, ChannelRecord } from '../channels/channel-lifecycle.js';
import type { ChannelDeviceRecord } from '../isolation/channel-devices.js';
import {
  regionWindowWords,
  ringFigures,
  RING_PAGE_WORDS,
  type WindowWords,
} from '../rings/ring-figures.js';
import type { SdSwitch } from '../sd/sd-switch.js';
import type { VmRegistry } from '../vms/vm-registry.js';
import { serviceNameKey, type StatusDocument, type StatusRings } from './status-server.js';

/** Sampling interval of the event-loop delay figure in status, ms. */
const LOOP_SAMPLE_MS = 2;

/** What the status document is read from. */
export interface StatusSources {
  readonly config: ServiceConfig;
  readonly epoch: bigint;
  readonly regionPath: string;
  readonly layout: RegionLayoutInfo;
  readonly vms: VmRegistry;
  readonly broker: BrokerHandshakes;
  readonly lifecycle: ChannelLifecycle;
  readonly sd: SdSwitch;
  connected(vmId: number): boolean;
  /** The region's shared mapping while hostd holds it. */
  regionMemory(): ArrayBuffer | SharedArrayBuffer | undefined;
  /** The memory of `isolation: device` channels (isolation/channel-devices.ts). */
  readonly devices?: {
    list(): readonly ChannelDeviceRecord[];
    /** Bytes of a device channel's window (ring index pages), read for the figures only. */
    readWindow?(channelId: bigint, offset: number, length: number): Uint8Array | undefined;
  };
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Builds hostd's status document (what `status.sock` answers): region figures, VMs, offers,
 * channels with the ring figures read from their windows, handshake counters and timings,
 * and how late the event loop ran since the previous query.
 */
export class StatusReporter {
  readonly #s: StatusSources;
  #elastic: (() => NonNullable<StatusDocument['elastic']>) | undefined;
  readonly #startedMs = Date.now();
  /** Event-loop lateness, reset by every status query. */
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });

  constructor(sources: StatusSources) {
    this.#s = sources;
  }

  /** Adds hostd's elastic channels (resize/elastic-channels.ts) to the document. */
  watchElastic(source: () => NonNullable<StatusDocument['elastic']>): void {
    this.#elastic = source;
  }

  /** Starts sampling the event loop. */
  start(): void {
    this.#loopDelay.enable();
  }

  stop(): void {
    this.#loopDelay.disable();
  }

  /**
   * The document. `keepLoopDelay`: leave the event-loop figure's window open (a metrics scrape
   * must not shorten what the next `status` query reports).
   */
  document(keepLoopDelay = false): StatusDocument {
    const { config, layout, lifecycle, broker, sd } = this.#s;
    const devices = this.#s.devices?.list() ?? [];
    const a = lifecycle.allocatorStats();
    return {
      version: 1,
      pid: process.pid,
      epoch: this.#s.epoch.toString(),
      startedAt: new Date(this.#startedMs).toISOString(),
      uptimeMs: Date.now() - this.#startedMs,
      config: config.file,
      region: {
        path: this.#s.regionPath,
        size: layout.regionSize,
        dataOffset: layout.dataOffset,
        dataSize: layout.dataSize,
        channelCapacity: layout.channelCapacity,
        freeBytes: a.free,
        allocatedBytes: a.allocated,
        quarantinedBytes: a.quarantined,
        largestFree: a.largestFree,
        freeExtents: a.freeExtents,
      },
      vms: this.#vms(),
      services: sd.list().map((s) => ({
        service: s.service,
        instance: s.instance,
        major: s.major,
        minor: s.minor,
        providerVm: s.providerVm,
        ttl: s.ttl,
      })),
      channels: lifecycle.list().map((c) => this.#channel(c, devices)),
      channelDevices: devices.map((d) => ({
        ...d,
        channelId: `0x${d.channelId.toString(16)}`,
        vms: [...d.vms],
        ...(d.plugMs === undefined ? {} : { plugMs: Math.round(d.plugMs) }),
      })),
      handshakes: { ...this.#handshakes(), pending: broker.pendingCount() },
      sd: { ...sd.stats },
      quarantinedWindows: lifecycle.quarantinedCount(),
      refusalsByReason: Object.fromEntries(this.#s.vms.refusalsByReason),
      serviceNames: Object.fromEntries(config.services.map((s) => [serviceNameKey(s.id), s.name])),
      eventLoopDelayMs: this.#takeLoopDelay(keepLoopDelay),
      ...(this.#elastic === undefined ? {} : { elastic: structuredClone(this.#elastic()) }),
    };
  }

  #vms(): StatusDocument['vms'] {
    return [...this.#s.vms.all()].map((v) => ({
      id: v.id,
      name: v.name,
      connected: this.#s.connected(v.id),
      enrolled: v.certificate !== undefined,
      ...(v.certificate === undefined
        ? {}
        : { certificateSerial: v.certificate.serial.toString() }),
      ...(v.connectedSinceMs === undefined
        ? {}
        : {
            connectedAt: new Date(v.connectedSinceMs).toISOString(),
            connectedSinceMs: v.connectedSinceMs, // deprecated alias, kept for schema-1 readers
          }),
      controlMessagesIn: v.messagesIn,
      refusals: v.refusals,
      sdDropped: v.sdDropped,
      sdBudget: {
        entriesPerSecond: v.sdBudget.rate,
        burst: v.sdBudget.burst,
        maxEntriesPerMessage: v.sdMaxEntries,
      },
      integrityFailures: v.integrityFailures,
      revokeReceiptsRefused: v.revokeReceiptsRefused,
      handshakeAnswersWithheld: v.rateLimitedUnanswered,
      ...(v.doorbellId === undefined ? {} : { doorbellId: v.doorbellId }),
    }));
  }

  #channel(
    c: ChannelRecord,
    devices: readonly ChannelDeviceRecord[],
  ): StatusDocument['channels'][number] {
    // A device channel's region window is reserved but never used: its rings are in its device.
    const onDevice = devices.some((d) => d.channelId === c.channelId);
    const rings =
      c.state !== 'ACTIVE'
        ? undefined
        : onDevice
          ? this.#ringFigures(c.window.length, this.#deviceWords(c.channelId))
          : this.#ringFigures(c.window.length, this.#regionWords(c.window.offset));
    return {
      channelId: `0x${c.channelId.toString(16)}`,
      state: c.state,
      mode: c.mode,
      consumerVm: c.consumerVm,
      providerVm: c.providerVm,
      service: c.service,
      instance: c.instance,
      window: { offset: Number(c.window.offset), length: Number(c.window.length) },
      stateChangedAt: new Date(c.sinceMs).toISOString(),
      sinceMs: c.sinceMs, // deprecated alias, kept for schema-1 readers
      ...(rings === undefined ? {} : { rings }),
    };
  }

  #handshakes(): Omit<StatusDocument['handshakes'], 'pending'> {
    const round = (ms: number): number => Math.round(ms * 1000) / 1000;
    const raw = this.#s.lifecycle.handshakeTimes();
    const times = raw.map(round).sort((x, y) => x - y);
    const lastRaw = raw.at(-1);
    const last = lastRaw === undefined ? undefined : round(lastRaw);
    const b = this.#s.broker.stats;
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    return {
      established: b.established,
      aborted: b.aborted,
      rejected: b.rejected,
      rateLimited: b.rateLimited,
      signatureVerifications: b.signatureVerifications,
      timingMs: {
        count: times.length,
        ...(p50 === undefined ? {} : { p50 }),
        ...(p99 === undefined ? {} : { p99 }),
        ...(last === undefined ? {} : { last }),
      },
    };
  }

  #takeLoopDelay(keep: boolean): StatusDocument['eventLoopDelayMs'] {
    const h = this.#loopDelay;
    // The histogram holds whole sampling intervals: lateness is what exceeds the interval.
    const ms = (ns: number): number =>
      Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1e3 - LOOP_SAMPLE_MS * 1e3) / 1e3) : 0;
    const out = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
    if (!keep) h.reset();
    return out;
  }

  /** Reads ring index words at an offset of a region channel's window. */
  #regionWords(windowOffset: bigint): WindowWords | undefined {
    const memory = this.#s.regionMemory();
    if (memory === undefined) return undefined;
    return regionWindowWords(memory, Number(windowOffset));
  }

  /** Reads ring index words at an offset of a device channel's window (a copy from its memory). */
  #deviceWords(channelId: bigint): WindowWords | undefined {
    const read = this.#s.devices?.readWindow?.bind(this.#s.devices);
    if (read === undefined) return undefined;
    return (at) => {
      const bytes = read(channelId, at, RING_PAGE_WORDS * 4);
      return bytes === undefined
        ? undefined
        : new Uint32Array(bytes.buffer, bytes.byteOffset, RING_PAGE_WORDS);
    };
  }

  /** Ring figures of a channel (rings/ring-figures.ts: the same reader as the elastic sampler). */
  #ringFigures(windowLength: bigint, words: WindowWords | undefined): StatusRings | undefined {
    return ringFigures(this.#s.layout.pageGranule, Number(windowLength), words);
  }
}
