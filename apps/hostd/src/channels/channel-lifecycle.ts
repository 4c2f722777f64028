import { windowLayout, type ChannelEntryStateName, type ChannelMode } from '@sivshm/abi';
import type { BrokerChannel, BrokerEffect, ChannelCloseReason, Window } from '@sivshm/core';
import type {
  ChannelTableWriter,
  WindowAllocator,
  WindowAllocatorStats,
} from '@sivshm/transport-ivshmem';
import type { JsonLogger } from '../log/logger.js';
import { channelIdentity } from './channel-identity.js';

/** Why a channel is torn down (also the `reason` of the peer_gone a VM receives). */
export type CloseReason = ChannelCloseReason;

/** What the lifecycle writes to and logs with. */
export interface ChannelLifecycleOptions {
  readonly table: ChannelTableWriter;
  readonly allocator: WindowAllocator;
  readonly log: JsonLogger;
  readonly nowMs: () => number;
  /** Monotonic ms with sub-ms resolution, for handshake durations; default `performance.now`. */
  readonly monotonicMs?: () => number;
}

/** A channel as hostd reports it (status, tests). */
export interface ChannelRecord {
  readonly channelId: bigint;
  readonly state: ChannelEntryStateName;
  readonly consumerVm: number;
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly window: Window;
  readonly tableIndex: number;
  readonly sinceMs: number;
  readonly closeReason?: CloseReason;
}

interface Entry {
  readonly channel: BrokerChannel;
  state: ChannelEntryStateName;
  readonly tableIndex: number;
  /** Monotonic start of the handshake (PENDING). */
  readonly startedMono: number;
  sinceMs: number;
  closeReason?: CloseReason;
}

/** The effects the lifecycle carries out; the broker router handles the rest. */
export type LifecycleEffect = Extract<
  BrokerEffect,
  {
    kind:
      | 'channel-pending'
      | 'channel-active'
      | 'channel-aborted'
      | 'channel-closing'
      | 'window-free'
      | 'window-quarantine'
      | 'window-release';
  }
>;

/**
 * hostd's hands on the region for the broker's channel effects: it reserves windows and table
 * slots, rewrites the channel table in the region on every change (hostd is its only writer),
 * zeroes and frees windows, and keeps quarantined ones out of use (docs/security.md). Every
 * decision — when a channel closes, whom to revoke, when a window may be reused — is the
 * broker's; this never calls back into it. It also keeps the record of each channel that
 * status reports.
 */
export class ChannelLifecycle {
  readonly #o: ChannelLifecycleOptions;
  readonly #byId = new Map<bigint, Entry>();
  /** Table slot of every window in use (reserved, live or quarantined), by offset. */
  readonly #slotByOffset = new Map<bigint, number>();
  readonly #usedSlots = new Set<number>();
  readonly #quarantined = new Set<bigint>();
  readonly #handshakeMs: number[] = [];
  /** Told every handshake's duration (ms) as the channel goes ACTIVE: the metrics histogram. */
  onHandshakeTimed: ((ms: number) => void) | undefined;
  readonly #mono: () => number;

  constructor(o: ChannelLifecycleOptions) {
    this.#o = o;
    this.#mono = o.monotonicMs ?? (() => performance.now());
  }

  /** Reserves a window and a table slot (undefined when either is exhausted). */
  reserve(length: bigint): Window | undefined {
    const { allocator, table } = this.#o;
    const slot = this.#freeSlot(table);
    if (slot === undefined) return undefined;
    const offset = allocator.allocate(Number(length));
    if (offset === undefined) return undefined;
    this.#slotByOffset.set(BigInt(offset), slot);
    this.#usedSlots.add(slot);
    return { offset: BigInt(offset), length };
  }

  /**
   * Why `reserve(length)` found nothing, in words that name the setting to change: the channel
   * table is full, or no free extent of the region is that large.
   */
  shortage(length: bigint): string {
    const { allocator, table } = this.#o;
    if (this.#freeSlot(table) === undefined)
      return `the channel table is full: all ${table.capacity} entries are in use (region.channelCapacity in services.yaml)`;
    const s = allocator.stats();
    return `the region has no free window of ${length} bytes: ${s.free} bytes free, the largest free extent ${s.largestFree} bytes in ${s.freeExtents} extents, ${s.quarantined} quarantined (region.size in services.yaml, or a smaller ringDataSize for the service)`;
  }

  /** Carries out one of the broker's channel or window effects. */
  apply(e: LifecycleEffect): void {
    switch (e.kind) {
      case 'channel-pending':
        return this.#pending(e.channel);
      case 'channel-active':
        return this.#active(e.channel);
      case 'channel-aborted': {
        const entry = this.#byId.get(e.channel.channelId);
        this.#byId.delete(e.channel.channelId);
        this.#o.log.info('channel-aborted', {
          ...(entry ? this.#fields(entry) : {}),
          reason: `${e.reason}: ${e.detail}`,
        });
        return;
      }
      case 'channel-closing':
        return this.#closing(e.channel, e.reason);
      case 'window-free':
        return this.#free(e.channel, e.cause);
      case 'window-quarantine':
        return this.#quarantine(e.channel, e.holder);
      case 'window-release':
        return this.#release(e.channel);
    }
  }

  /** Channels hostd knows, in any state but FREE. */
  list(): ChannelRecord[] {
    return [...this.#byId.values()].map((e) => this.#record(e));
  }

  /** The channel, if it is known and not FREE. */
  get(channelId: bigint): ChannelRecord | undefined {
    const e = this.#byId.get(channelId);
    return e === undefined ? undefined : this.#record(e);
  }

  /** Handshake durations (PENDING → ACTIVE), ms, most recent last. */
  handshakeTimes(): readonly number[] {
    return this.#handshakeMs;
  }

  /** Windows held in quarantine. */
  quarantinedCount(): number {
    return this.#quarantined.size;
  }

  /** Allocator figures. */
  allocatorStats(): WindowAllocatorStats {
    return this.#o.allocator.stats();
  }

  #pending(ch: BrokerChannel): void {
    const slot = this.#slotByOffset.get(ch.window.offset);
    if (slot === undefined) return;
    const e: Entry = {
      channel: ch,
      state: 'PENDING',
      tableIndex: slot,
      startedMono: this.#mono(),
      sinceMs: this.#o.nowMs(),
    };
    this.#byId.set(ch.channelId, e);
    this.#write(e, true);
  }

  #active(ch: BrokerChannel): void {
    const e = this.#byId.get(ch.channelId);
    if (e === undefined) return;
    const ms = this.#mono() - e.startedMono;
    this.#handshakeMs.push(ms);
    this.onHandshakeTimed?.(ms);
    if (this.#handshakeMs.length > 1000) this.#handshakeMs.shift();
    e.state = 'ACTIVE';
    e.sinceMs = this.#o.nowMs();
    this.#write(e, false);
    this.#o.log.info('channel-active', this.#fields(e));
  }

  #closing(ch: BrokerChannel, reason: CloseReason): void {
    const e = this.#byId.get(ch.channelId);
    if (e === undefined) return;
    e.state = 'CLOSING';
    e.closeReason = reason;
    e.sinceMs = this.#o.nowMs();
    this.#write(e, false);
    this.#o.log.info('channel-closing', { ...this.#fields(e), reason });
  }

  /** Zeroes the window and frees it and its slot (the allocator zeroes on free). */
  #free(ch: BrokerChannel, cause: 'aborted' | 'closed'): void {
    if (cause === 'closed') {
      const e = this.#byId.get(ch.channelId);
      this.#byId.delete(ch.channelId);
      if (e !== undefined) this.#o.log.info('channel-freed', this.#fields(e));
    }
    const offset = ch.window.offset;
    const slot = this.#slotByOffset.get(offset);
    this.#slotByOffset.delete(offset);
    this.#o.allocator.free(Number(offset));
    if (slot !== undefined) {
      this.#usedSlots.delete(slot);
      if (this.#o.table.read(slot).state !== 'FREE') this.#o.table.free(slot);
    }
  }

  /** Keeps the window out of use; its slot stays QUARANTINED in the table. */
  #quarantine(ch: BrokerChannel, holder: number): void {
    const offset = ch.window.offset;
    this.#o.allocator.quarantine(Number(offset));
    this.#quarantined.add(offset);
    const e = this.#byId.get(ch.channelId);
    if (e === undefined) return;
    // A handshake that aborted after M4 keeps its record until the abort is logged.
    if (e.state !== 'PENDING') this.#byId.delete(ch.channelId);
    e.state = 'QUARANTINED';
    this.#write(e, false);
    this.#o.log.warn('channel-quarantined', { ...this.#fields(e), holder });
  }

  #release(ch: BrokerChannel): void {
    const offset = ch.window.offset;
    this.#quarantined.delete(offset);
    this.#o.allocator.release(Number(offset));
    const slot = this.#slotByOffset.get(offset);
    this.#slotByOffset.delete(offset);
    if (slot !== undefined) {
      this.#usedSlots.delete(slot);
      this.#o.table.free(slot);
    }
    this.#o.log.info('quarantine-released', { offset });
  }

  #freeSlot(table: ChannelTableWriter): number | undefined {
    // Slots this lifecycle holds are skipped before the table is read: a read copies and
    // validates the entry, and reading every held slot on each reservation made setting up n
    // channels cost n²/2 reads (docs/performance.md, Scale).
    for (let i = 0; i < table.capacity; i++) {
      if (this.#usedSlots.has(i)) continue;
      if (table.read(i).state === 'FREE') return i;
    }
    return undefined;
  }

  #write(e: Entry, fresh: boolean): void {
    const { table } = this.#o;
    const old = table.read(e.tableIndex);
    const ch = e.channel;
    table.write(e.tableIndex, {
      channelId: ch.channelId,
      generation: fresh ? (old.generation + 1) >>> 0 : old.generation,
      state: e.state,
      offset: Number(ch.window.offset),
      length: Number(ch.window.length),
      ...channelIdentity(ch),
      ringDataSize:
        windowLayout(this.#o.table.pageGranule).dataSizeOf(Number(ch.window.length)) ?? 0,
    });
  }

  #record(e: Entry): ChannelRecord {
    const ch = e.channel;
    return {
      channelId: ch.channelId,
      state: e.state,
      consumerVm: ch.consumerVm,
      providerVm: ch.providerVm,
      service: ch.service,
      instance: ch.instance,
      major: ch.major,
      mode: ch.mode,
      window: ch.window,
      tableIndex: e.tableIndex,
      sinceMs: e.sinceMs,
      ...(e.closeReason === undefined ? {} : { closeReason: e.closeReason }),
    };
  }

  #fields(e: Entry): Record<string, unknown> {
    const ch = e.channel;
    return {
      channel: `0x${ch.channelId.toString(16)}`,
      consumer: ch.consumerVm,
      provider: ch.providerVm,
      service: ch.service,
      instance: ch.instance,
      mode: ch.mode,
      offset: ch.window.offset,
      length: ch.window.length,
    };
  }
}
