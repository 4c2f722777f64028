import {
  ChannelModeCode,
  type BrokerChannel,
  type ChannelMode,
  type Window,
  type WindowRelease,
} from '@sivshm/core';
import { WindowLayout } from '@sivshm/kmod';
import type {
  ChannelEntryStateName,
  ChannelTableWriter,
  WindowAllocator,
  WindowAllocatorStats,
} from '@sivshm/transport-ivshmem';
import type { JsonLogger } from '../log/logger.js';

/** Why a channel is torn down (also the `reason` of the peer_gone a VM receives). */
export type CloseReason =
  | 'closed-by-consumer'
  | 'closed-by-provider'
  | 'stop-offer'
  | 'ttl-expired'
  | 'vm-gone'
  | 'vm-rebooted'
  | 'hostd-shutdown';

/** What the lifecycle needs from hostd. */
export interface ChannelLifecycleEnvironment {
  readonly table: ChannelTableWriter;
  readonly allocator: WindowAllocator;
  readonly log: JsonLogger;
  readonly nowMs: () => number;
  /** Monotonic ms with sub-ms resolution, for handshake durations; default `performance.now`. */
  readonly monotonicMs?: () => number;
  /** True while the VM has a control link. */
  connected(vmId: number): boolean;
  /** Sends REVOKE (signed with that VM's grant key) over the VM's link; false if not sent. */
  sendRevoke(vmId: number, channelId: bigint): boolean;
  /** Sends PEER_GONE over the VM's link. */
  sendPeerGone(vmId: number, channelId: bigint, reason: CloseReason): void;
  /** Forgets the channel in the broker (which releases its window through `release`). */
  brokerClose(channelId: bigint): void;
  /** How long a live VM has to acknowledge a REVOKE before its window is quarantined. */
  readonly revokeAckTimeoutMs: number;
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
  channel: BrokerChannel;
  state: ChannelEntryStateName;
  readonly tableIndex: number;
  /** Monotonic start of the handshake (PENDING). */
  readonly startedMono: number;
  sinceMs: number;
  closeReason?: CloseReason;
  /** VMs whose revoke acknowledgement is still due (CLOSING). */
  awaitingAck: Set<number>;
  ackDeadlineMs: number;
  /** The VM still holding a mapping when the window was quarantined. */
  quarantinedFor?: number;
}

/**
 * hostd's channel lifecycle: PENDING → ACTIVE → CLOSING → FREE (or QUARANTINED), with the
 * channel table in the region rewritten on every change (hostd is its only writer), windows
 * reserved and zeroed through the allocator, and REVOKE sent to both VMs on every teardown
 * (security-anchors §2.7). A VM that does not acknowledge a REVOKE in time keeps its window
 * QUARANTINED until it disconnects or reconnects (hostd cannot force-unmap a guest mapping).
 */
export class ChannelLifecycle {
  readonly #env: ChannelLifecycleEnvironment;
  readonly #byId = new Map<bigint, Entry>();
  /** Table slots reserved together with a window, before the broker names the channel. */
  readonly #slotByOffset = new Map<bigint, number>();
  readonly #reservedSlots = new Set<number>();
  /** Windows the next `release` must quarantine instead of freeing. */
  readonly #quarantineOnRelease = new Set<bigint>();
  readonly #quarantined = new Map<bigint, { vmId: number; tableIndex: number }>();
  readonly #handshakeMs: number[] = [];
  /** Quarantined windows that a REVOKE acknowledgement releases: channel id → offset. */
  readonly #awaitingQuarantineAck = new Map<bigint, bigint>();

  readonly #mono: () => number;

  constructor(env: ChannelLifecycleEnvironment) {
    this.#env = env;
    this.#mono = env.monotonicMs ?? (() => performance.now());
  }

  /** Broker hook: reserve a window and a table slot (undefined when either is exhausted). */
  reserve(length: bigint): Window | undefined {
    const { allocator, table } = this.#env;
    const slot = this.#freeSlot(table);
    if (slot === undefined) return undefined;
    const offset = allocator.allocate(Number(length));
    if (offset === undefined) return undefined;
    this.#slotByOffset.set(BigInt(offset), slot);
    this.#reservedSlots.add(slot);
    return { offset: BigInt(offset), length };
  }

  /**
   * Broker hook: the window is no longer used by the broker; zero and free it, or quarantine
   * it when the broker says a grant for it went out in a handshake that then aborted.
   */
  release(window: Window, why?: WindowRelease): void {
    const { allocator } = this.#env;
    const slot = this.#slotByOffset.get(window.offset);
    const granted =
      why?.cause === 'aborted' && why.grantIssued ? this.#byId.get(why.channelId) : undefined;
    if (granted !== undefined && granted.state === 'PENDING' && slot !== undefined) {
      // An abort after M4 (no M5 in time): the consumer may have mapped the window, so it is
      // not reused until the consumer's device acknowledges a REVOKE or the VM goes away.
      this.#slotByOffset.delete(window.offset);
      allocator.quarantine(Number(window.offset));
      granted.state = 'QUARANTINED';
      this.#write(granted, false);
      const vm = granted.channel.consumerVm;
      this.#quarantined.set(window.offset, { vmId: vm, tableIndex: slot });
      this.#awaitingQuarantineAck.set(granted.channel.channelId, window.offset);
      this.#env.sendRevoke(vm, granted.channel.channelId);
      this.#env.log.warn('channel-quarantined', { ...this.#fields(granted), holder: vm });
      return;
    }
    this.#slotByOffset.delete(window.offset);
    if (this.#quarantineOnRelease.delete(window.offset)) {
      allocator.quarantine(Number(window.offset));
      return; // the slot stays QUARANTINED in the table until `releaseQuarantine`
    }
    allocator.free(Number(window.offset));
    if (slot !== undefined) {
      this.#reservedSlots.delete(slot);
      if (this.#env.table.read(slot).state !== 'FREE') this.#env.table.free(slot);
    }
  }

  /** Broker effect `channel-pending`: write the PENDING entry. */
  pending(ch: BrokerChannel): void {
    const slot = this.#slotByOffset.get(ch.window.offset);
    if (slot === undefined) return;
    const now = this.#env.nowMs();
    const e: Entry = {
      channel: ch,
      state: 'PENDING',
      tableIndex: slot,
      startedMono: this.#mono(),
      sinceMs: now,
      awaitingAck: new Set(),
      ackDeadlineMs: 0,
    };
    this.#byId.set(ch.channelId, e);
    this.#write(e, true);
  }

  /** Broker effect `channel-active`. */
  active(ch: BrokerChannel): void {
    const e = this.#byId.get(ch.channelId);
    if (e === undefined) return;
    const now = this.#env.nowMs();
    this.#handshakeMs.push(this.#mono() - e.startedMono);
    if (this.#handshakeMs.length > 1000) this.#handshakeMs.shift();
    e.state = 'ACTIVE';
    e.sinceMs = now;
    this.#write(e, false);
    this.#env.log.info('channel-active', this.#fields(e));
  }

  /** Broker effect `channel-aborted`: the broker already released the window. */
  aborted(ch: BrokerChannel, reason: string): void {
    const e = this.#byId.get(ch.channelId);
    this.#byId.delete(ch.channelId);
    this.#env.log.info('channel-aborted', { ...(e ? this.#fields(e) : {}), reason });
  }

  /**
   * Starts tearing down an ACTIVE channel: CLOSING in the table, REVOKE to both VMs, PEER_GONE
   * to the side that did not cause it. Returns false if there is no such active channel.
   */
  close(channelId: bigint, reason: CloseReason, goneVm?: number): boolean {
    const e = this.#byId.get(channelId);
    if (e === undefined || e.state !== 'ACTIVE') return false;
    const { channel: ch } = e;
    e.state = 'CLOSING';
    e.closeReason = reason;
    e.sinceMs = this.#env.nowMs();
    e.ackDeadlineMs = e.sinceMs + this.#env.revokeAckTimeoutMs;
    this.#write(e, false);
    this.#env.log.info('channel-closing', { ...this.#fields(e), reason });
    for (const vm of [ch.consumerVm, ch.providerVm]) {
      if (vm === goneVm || !this.#env.connected(vm)) continue;
      if (this.#env.sendRevoke(vm, channelId)) e.awaitingAck.add(vm);
      const initiator =
        (reason === 'closed-by-consumer' && vm === ch.consumerVm) ||
        (reason === 'closed-by-provider' && vm === ch.providerVm);
      if (!initiator) this.#env.sendPeerGone(vm, channelId, reason);
    }
    this.#maybeFinish(e);
    return true;
  }

  /** A VM acknowledged the REVOKE of `channelId` (its device zapped the mapping). */
  revokeAcknowledged(vmId: number, channelId: bigint): void {
    const offset = this.#awaitingQuarantineAck.get(channelId);
    const q = offset === undefined ? undefined : this.#quarantined.get(offset);
    if (offset !== undefined && q !== undefined && q.vmId === vmId) {
      this.#awaitingQuarantineAck.delete(channelId);
      this.#releaseQuarantine(offset, q.tableIndex);
      return;
    }
    const e = this.#byId.get(channelId);
    if (e === undefined || e.state !== 'CLOSING') return;
    e.awaitingAck.delete(vmId);
    this.#maybeFinish(e);
  }

  /** A VM's link went away: it can no longer hold a mapping (emulated: its process is gone). */
  vmGone(vmId: number): void {
    for (const e of [...this.#byId.values()]) {
      if (e.state === 'CLOSING' && e.awaitingAck.delete(vmId)) this.#maybeFinish(e);
    }
    for (const [offset, q] of [...this.#quarantined]) {
      if (q.vmId === vmId) this.#releaseQuarantine(offset, q.tableIndex);
    }
  }

  /** Timer: quarantine windows of CLOSING channels whose acknowledgement is overdue. */
  tick(): void {
    const now = this.#env.nowMs();
    for (const e of [...this.#byId.values()]) {
      if (e.state !== 'CLOSING' || now < e.ackDeadlineMs) continue;
      const holder = [...e.awaitingAck][0];
      if (holder === undefined) continue;
      e.quarantinedFor = holder;
      this.#quarantineOnRelease.add(e.channel.window.offset);
      this.#quarantined.set(e.channel.window.offset, { vmId: holder, tableIndex: e.tableIndex });
      e.state = 'QUARANTINED';
      this.#write(e, false);
      this.#env.log.warn('channel-quarantined', { ...this.#fields(e), holder });
      this.#byId.delete(e.channel.channelId);
      this.#env.brokerClose(e.channel.channelId);
    }
  }

  /** Channels in one state, or all. */
  list(): ChannelRecord[] {
    const out: ChannelRecord[] = [];
    for (const e of this.#byId.values()) out.push(this.#record(e));
    return out;
  }

  /** Active channel ids involving `vmId`. */
  activeOf(vmId: number): bigint[] {
    return [...this.#byId.values()]
      .filter(
        (e) =>
          e.state === 'ACTIVE' && (e.channel.consumerVm === vmId || e.channel.providerVm === vmId),
      )
      .map((e) => e.channel.channelId);
  }

  /** Active channel ids of one service instance. */
  activeOfService(providerVm: number, service: number, instance: number): bigint[] {
    return [...this.#byId.values()]
      .filter(
        (e) =>
          e.state === 'ACTIVE' &&
          e.channel.providerVm === providerVm &&
          e.channel.service === service &&
          e.channel.instance === instance,
      )
      .map((e) => e.channel.channelId);
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

  /** Windows held in quarantine, by offset. */
  quarantinedCount(): number {
    return this.#quarantined.size;
  }

  /** Allocator figures. */
  allocatorStats(): WindowAllocatorStats {
    return this.#env.allocator.stats();
  }

  #maybeFinish(e: Entry): void {
    if (e.state !== 'CLOSING' || e.awaitingAck.size > 0) return;
    this.#byId.delete(e.channel.channelId);
    this.#env.log.info('channel-freed', this.#fields(e));
    // The broker frees the quota and calls `release`, which zeroes the window and frees the slot.
    this.#env.brokerClose(e.channel.channelId);
  }

  #releaseQuarantine(offset: bigint, tableIndex: number): void {
    this.#quarantined.delete(offset);
    for (const [id, o] of this.#awaitingQuarantineAck) {
      if (o === offset) this.#awaitingQuarantineAck.delete(id);
    }
    this.#env.allocator.release(Number(offset));
    this.#reservedSlots.delete(tableIndex);
    this.#env.table.free(tableIndex);
    this.#env.log.info('quarantine-released', { offset });
  }

  #freeSlot(table: ChannelTableWriter): number | undefined {
    for (let i = 0; i < table.capacity; i++) {
      if (!this.#reservedSlots.has(i) && table.read(i).state === 'FREE') return i;
    }
    return undefined;
  }

  #write(e: Entry, fresh: boolean): void {
    const { table } = this.#env;
    const old = table.read(e.tableIndex);
    const ch = e.channel;
    table.write(e.tableIndex, {
      channelId: ch.channelId,
      generation: fresh ? (old.generation + 1) >>> 0 : old.generation,
      state: e.state,
      offset: Number(ch.window.offset),
      length: Number(ch.window.length),
      consumerVm: ch.consumerVm,
      providerVm: ch.providerVm,
      service: ch.service,
      instance: ch.instance,
      major: ch.major,
      mode: ChannelModeCode[ch.mode],
      ringDataSize: WindowLayout.dataSizeOf(Number(ch.window.length)) ?? 0,
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
