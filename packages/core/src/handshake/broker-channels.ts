import type { BrokerChannel, BrokerEffect, ChannelCloseReason } from './broker-types.js';
import { DoorbellVectorLoad } from './doorbell-vectors.js';

/** An established channel the broker still accounts for. */
interface Held {
  readonly channel: BrokerChannel;
  state: 'ACTIVE' | 'CLOSING';
  closeReason?: ChannelCloseReason;
  /** VMs whose REVOKE acknowledgement is still due (CLOSING). */
  readonly awaitingAck: Set<number>;
  ackDeadlineMs: bigint;
}

/** A window kept out of use because `holders` may still map it. */
interface Quarantine {
  readonly channel: BrokerChannel;
  /** VMs that may still map the window; it is released when none is left. */
  readonly holders: Set<number>;
  /**
   * Holders that were sent a REVOKE and whose verified acknowledgement still counts. A holder
   * that let its deadline pass or answered with a bad receipt is not in it: only its going
   * away (the end of its epoch) releases it.
   */
  readonly ackReleases: Set<number>;
  /**
   * The VM that acknowledged without a receipt that verifies: the window counts against its
   * quota while quarantined, so repeating that cannot drain the region.
   */
  refusedBy?: number;
}

/** A channel past its handshake, as the broker reports it. */
export interface BrokerChannelState {
  readonly channel: BrokerChannel;
  readonly state: 'ACTIVE' | 'CLOSING';
  readonly closeReason?: ChannelCloseReason;
}

/**
 * The broker's channels after the handshake: ACTIVE → CLOSING → freed (or quarantined), with
 * REVOKE to both VMs on every teardown and their acknowledgements awaited (docs/security.md).
 * An acknowledgement counts only when its owner verified the device's receipt
 * (`revokeAcknowledged`); a VM that does not acknowledge in time, or with a receipt that does
 * not verify (`revokeReceiptRefused`), keeps the window quarantined until it goes away:
 * hostd cannot force-unmap a guest mapping. Only decisions live here; every table write,
 * zeroing and message is an effect for hostd to carry out.
 */
export class BrokerChannels {
  readonly #byId = new Map<bigint, Held>();
  readonly #quarantined = new Map<bigint, Quarantine>();
  /**
   * Window bytes per consumer VM of the channels in `#byId` and of the quarantined windows it
   * refused, and the doorbell vectors of the channels in `#byId`: both kept as channels come and
   * go, since the broker asks for them on every handshake and a scan would grow with the table.
   */
  readonly #bytesByVm = new Map<number, bigint>();
  readonly #vectorLoad = new DoorbellVectorLoad();
  readonly #nowMs: () => bigint;
  readonly #revokeAckTimeoutMs: bigint;
  readonly #connected: (vmId: number) => boolean;
  readonly #refusedOutlivesLink: boolean;

  constructor(o: {
    nowMs: () => bigint;
    revokeAckTimeoutMs: bigint;
    /** Whether a VM has a control link (a REVOKE to one without is neither sent nor awaited). */
    connected: (vmId: number) => boolean;
    /**
     * A window quarantined for a refused receipt is not released when its VM's link goes, only
     * with the epoch (qemu mode: the guest kernel keeps its windows until the region's epoch
     * changes, and a link can drop while the VM lives on). Default false (emulated mode, where
     * the link is the app's liveness).
     */
    refusedQuarantineOutlivesLink?: boolean;
  }) {
    this.#refusedOutlivesLink = o.refusedQuarantineOutlivesLink === true;
    this.#nowMs = o.nowMs;
    this.#revokeAckTimeoutMs = o.revokeAckTimeoutMs;
    this.#connected = o.connected;
  }

  /** The handshake of `channel` completed. */
  activate(channel: BrokerChannel): void {
    const old = this.#byId.get(channel.channelId);
    if (old !== undefined) this.#unhold(old);
    this.#byId.set(channel.channelId, {
      channel,
      state: 'ACTIVE',
      awaitingAck: new Set(),
      ackDeadlineMs: 0n,
    });
    this.#addBytes(channel.consumerVm, channel.window.length);
    this.#vectorLoad.add(channel);
  }

  /** Active and closing channels. */
  list(): BrokerChannelState[] {
    return [...this.#byId.values()].map((h) => ({
      channel: h.channel,
      state: h.state,
      ...(h.closeReason === undefined ? {} : { closeReason: h.closeReason }),
    }));
  }

  get(channelId: bigint): BrokerChannelState | undefined {
    const h = this.#byId.get(channelId);
    return h === undefined ? undefined : { channel: h.channel, state: h.state };
  }

  /** Active channel ids matching `f`. */
  activeWhere(f: (c: BrokerChannel) => boolean): bigint[] {
    const out: bigint[] = [];
    for (const h of this.#byId.values())
      if (h.state === 'ACTIVE' && f(h.channel)) out.push(h.channel.channelId);
    return out;
  }

  /** Window bytes the consumer `vmId` holds in active and closing channels. */
  bytesHeld(vmId: number): bigint {
    return this.#bytesByVm.get(vmId) ?? 0n;
  }

  /**
   * The doorbell vector of a new channel between the two VMs, of `vectors`, over the active and
   * closing channels ({@link pickDoorbellVector}).
   */
  pickDoorbellVector(vectors: number, consumerVm: number, providerVm: number): number | undefined {
    return this.#vectorLoad.pick(vectors, consumerVm, providerVm);
  }

  /** Windows in quarantine. */
  quarantinedCount(): number {
    return this.#quarantined.size;
  }

  /** The quarantined windows, each with the VM it is charged to (the one that refused its receipt). */
  quarantinedList(): { readonly channel: BrokerChannel; readonly refusedBy?: number }[] {
    return [...this.#quarantined.values()].map((q) => ({
      channel: q.channel,
      ...(q.refusedBy === undefined ? {} : { refusedBy: q.refusedBy }),
    }));
  }

  /**
   * Starts tearing down an ACTIVE channel: CLOSING, PEER_GONE (with the reason) to the side that
   * did not cause it, then REVOKE to both connected VMs (except `goneVm`). Nothing when it is not active.
   */
  close(channelId: bigint, reason: ChannelCloseReason, goneVm?: number): BrokerEffect[] {
    const h = this.#byId.get(channelId);
    if (h === undefined || h.state !== 'ACTIVE') return [];
    const ch = h.channel;
    h.state = 'CLOSING';
    h.closeReason = reason;
    h.ackDeadlineMs = this.#nowMs() + this.#revokeAckTimeoutMs;
    const out: BrokerEffect[] = [{ kind: 'channel-closing', channel: ch, reason }];
    for (const vm of [ch.consumerVm, ch.providerVm]) {
      if (vm === goneVm || !this.#connected(vm)) continue;
      const initiator =
        (reason === 'closed-by-consumer' && vm === ch.consumerVm) ||
        (reason === 'closed-by-provider' && vm === ch.providerVm);
      // The reason goes first: the VM ends the channel on whichever message it reads first,
      // and a revoke alone says nothing of why (a StopOffer would read as a plain revoke).
      // A channel that moved to its successor lives on there: its old id ends unannounced.
      if (!initiator && reason !== 'resized')
        out.push({ kind: 'peer-gone', vmId: vm, channelId, reason });
      out.push({ kind: 'revoke', vmId: vm, channelId });
      h.awaitingAck.add(vm);
    }
    out.push(...this.#maybeFinish(h));
    return out;
  }

  /**
   * The window of a handshake that aborted after M4: the consumer may have presented its grant
   * and mapped it, so it is not reused until the consumer acknowledges a REVOKE or goes away.
   */
  quarantineGranted(channel: BrokerChannel): BrokerEffect[] {
    const holder = channel.consumerVm;
    this.#setQuarantine(channel.channelId, {
      channel,
      holders: new Set([holder]),
      ackReleases: new Set([holder]),
    });
    return [
      { kind: 'window-quarantine', channel, holder },
      { kind: 'revoke', vmId: holder, channelId: channel.channelId },
    ];
  }

  /**
   * `vmId` acknowledged the REVOKE of `channelId` with a receipt its owner verified (its device
   * zapped the mapping). An acknowledgement without one is {@link revokeReceiptRefused}.
   */
  revokeAcknowledged(vmId: number, channelId: bigint): BrokerEffect[] {
    const q = this.#quarantined.get(channelId);
    if (q !== undefined) {
      if (!q.ackReleases.delete(vmId)) return [];
      q.holders.delete(vmId);
      return this.#maybeRelease(channelId, q);
    }
    const h = this.#byId.get(channelId);
    if (h === undefined || h.state !== 'CLOSING') return [];
    h.awaitingAck.delete(vmId);
    return this.#maybeFinish(h);
  }

  /**
   * `vmId` acknowledged the REVOKE of `channelId` without a receipt that verifies: its device
   * may still map the window, so the window is quarantined (or stays so) until `vmId` goes
   * away, whatever it acknowledges later.
   */
  revokeReceiptRefused(vmId: number, channelId: bigint): BrokerEffect[] {
    const q = this.#quarantined.get(channelId);
    if (q !== undefined) {
      q.ackReleases.delete(vmId);
      if (q.holders.has(vmId) && q.refusedBy === undefined) {
        q.refusedBy = vmId;
        this.#addBytes(vmId, q.channel.window.length);
      }
      return [];
    }
    const h = this.#byId.get(channelId);
    if (h === undefined || h.state !== 'CLOSING' || !h.awaitingAck.has(vmId)) return [];
    this.#unhold(h);
    const ackReleases = new Set(h.awaitingAck);
    ackReleases.delete(vmId);
    this.#setQuarantine(channelId, {
      channel: h.channel,
      holders: new Set(h.awaitingAck),
      ackReleases,
      refusedBy: vmId,
    });
    return [{ kind: 'window-quarantine', channel: h.channel, holder: vmId }];
  }

  /** `vmId` can no longer hold a mapping (its link went, or it was reset). */
  holderGone(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const h of [...this.#byId.values()]) {
      if (h.state === 'CLOSING' && h.awaitingAck.delete(vmId)) out.push(...this.#maybeFinish(h));
    }
    for (const [id, q] of [...this.#quarantined]) {
      if (q.refusedBy === vmId && this.#refusedOutlivesLink) continue;
      if (!q.holders.delete(vmId)) continue;
      q.ackReleases.delete(vmId);
      out.push(...this.#maybeRelease(id, q));
    }
    return out;
  }

  /** Quarantines the windows of CLOSING channels whose acknowledgement is overdue. */
  tick(): BrokerEffect[] {
    const now = this.#nowMs();
    const out: BrokerEffect[] = [];
    for (const h of [...this.#byId.values()]) {
      if (h.state !== 'CLOSING' || now < h.ackDeadlineMs) continue;
      const holder = [...h.awaitingAck][0];
      if (holder === undefined) continue;
      // Only the holders' going away releases it: a late acknowledgement is not trusted.
      this.#unhold(h);
      this.#setQuarantine(h.channel.channelId, {
        channel: h.channel,
        holders: new Set(h.awaitingAck),
        ackReleases: new Set(),
      });
      out.push({ kind: 'window-quarantine', channel: h.channel, holder });
    }
    return out;
  }

  /** Removes `h` from `#byId` and from the running counts. */
  #unhold(h: Held): void {
    this.#byId.delete(h.channel.channelId);
    this.#addBytes(h.channel.consumerVm, -h.channel.window.length);
    this.#vectorLoad.remove(h.channel);
  }

  #setQuarantine(channelId: bigint, q: Quarantine): void {
    this.#deleteQuarantine(channelId);
    this.#quarantined.set(channelId, q);
    if (q.refusedBy !== undefined) this.#addBytes(q.refusedBy, q.channel.window.length);
  }

  #deleteQuarantine(channelId: bigint): void {
    const q = this.#quarantined.get(channelId);
    if (q === undefined) return;
    this.#quarantined.delete(channelId);
    if (q.refusedBy !== undefined) this.#addBytes(q.refusedBy, -q.channel.window.length);
  }

  #addBytes(vmId: number, by: bigint): void {
    const n = (this.#bytesByVm.get(vmId) ?? 0n) + by;
    if (n === 0n) this.#bytesByVm.delete(vmId);
    else this.#bytesByVm.set(vmId, n);
  }

  #maybeRelease(channelId: bigint, q: Quarantine): BrokerEffect[] {
    if (q.holders.size > 0) return [];
    this.#deleteQuarantine(channelId);
    return [{ kind: 'window-release', channel: q.channel }];
  }

  #maybeFinish(h: Held): BrokerEffect[] {
    if (h.state !== 'CLOSING' || h.awaitingAck.size > 0) return [];
    this.#unhold(h);
    return [{ kind: 'window-free', channel: h.channel, cause: 'closed' }];
  }
}
