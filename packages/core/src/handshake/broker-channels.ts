import type { BrokerChannel, BrokerEffect, ChannelCloseReason } from './broker-types.js';

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
    this.#byId.set(channel.channelId, {
      channel,
      state: 'ACTIVE',
      awaitingAck: new Set(),
      ackDeadlineMs: 0n,
    });
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
    let n = 0n;
    for (const h of this.#byId.values())
      if (h.channel.consumerVm === vmId) n += h.channel.window.length;
    for (const q of this.#quarantined.values())
      if (q.refusedBy === vmId) n += q.channel.window.length;
    return n;
  }

  /** Windows in quarantine. */
  quarantinedCount(): number {
    return this.#quarantined.size;
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
      if (!initiator) out.push({ kind: 'peer-gone', vmId: vm, channelId, reason });
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
    this.#quarantined.set(channel.channelId, {
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
      if (q.holders.has(vmId)) q.refusedBy ??= vmId;
      return [];
    }
    const h = this.#byId.get(channelId);
    if (h === undefined || h.state !== 'CLOSING' || !h.awaitingAck.has(vmId)) return [];
    this.#byId.delete(channelId);
    const ackReleases = new Set(h.awaitingAck);
    ackReleases.delete(vmId);
    this.#quarantined.set(channelId, {
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
      this.#byId.delete(h.channel.channelId);
      this.#quarantined.set(h.channel.channelId, {
        channel: h.channel,
        holders: new Set(h.awaitingAck),
        ackReleases: new Set(),
      });
      out.push({ kind: 'window-quarantine', channel: h.channel, holder });
    }
    return out;
  }

  #maybeRelease(channelId: bigint, q: Quarantine): BrokerEffect[] {
    if (q.holders.size > 0) return [];
    this.#quarantined.delete(channelId);
    return [{ kind: 'window-release', channel: q.channel }];
  }

  #maybeFinish(h: Held): BrokerEffect[] {
    if (h.state !== 'CLOSING' || h.awaitingAck.size > 0) return [];
    this.#byId.delete(h.channel.channelId);
    return [{ kind: 'window-free', channel: h.channel, cause: 'closed' }];
  }
}
