import type { CertificateAuthority } from '../cert/certificate-authority.js';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { BrokerBudgets, rateLimitedAbort, type BrokerLimits } from './broker-budgets.js';
import { BrokerChannels } from './broker-channels.js';
import { GrantMinter } from './broker-grants.js';
import { HandshakeSessions } from './broker-sessions.js';
import type {
  BrokerChannel,
  BrokerEffect,
  BrokerStats,
  ChannelCloseReason,
  OfferedService,
  Window,
} from './broker-types.js';
import { HandshakeFailure } from './handshake-failure.js';
import {
  decodeHandshakeMessage,
  MessageType,
  type HandshakeMessage,
} from './handshake-messages.js';
import { peekControl } from './peek-control.js';
import { abandonSuccessor, adoptSuccessor, successorOf, type Successor } from './broker-resize.js';

/** Longest PENDING deadline accepted, ms: a half-open handshake holds a window that long. */
export const MAX_PENDING_TIMEOUT_MS = 60_000;

/**
 * Is `ms` a PENDING deadline hostd may be given: a whole number of ms from 1 to
 * {@link MAX_PENDING_TIMEOUT_MS}? (hostd's option and --handshake-deadline-ms, core's module.)
 */
export function isPendingTimeoutMs(ms: number): boolean {
  return Number.isInteger(ms) && ms >= 1 && ms <= MAX_PENDING_TIMEOUT_MS;
}

export interface BrokerOptions {
  readonly crypto: CryptoBackend;
  readonly ca: CertificateAuthority;
  readonly brokerSecretKey: Uint8Array;
  /** The grant key K_vm of every VM the broker may grant a channel to. */
  readonly grantKeys: ReadonlyMap<number, Uint8Array>;
  readonly nowMs: () => bigint;
  /** Limits of every VM that `limitsOf` does not name (`BrokerLimits` has the defaults). */
  readonly limits?: Partial<BrokerLimits>;
  /** Per-VM limits (services.yaml `vms[].limits`); a field left out falls back to `limits`. */
  readonly limitsOf?: (vmId: number) => Partial<BrokerLimits> | undefined;
  readonly random?: (n: number) => Uint8Array;
  /** PENDING deadline; default 1000 ms. */
  readonly pendingTimeoutMs?: bigint;
  /** Grant token lifetime; default 10 s (the token is presented right away). */
  readonly grantLifetimeMs?: bigint;
  /** Time a connected VM has to acknowledge a REVOKE before quarantine; default 2000 ms. */
  readonly revokeAckTimeoutMs?: bigint;
  /**
   * Certificates are bound to control links: an M1 must name exactly the certificate enrolled
   * on its link (`enrolled`), not one of an earlier link of the same VM. Default false.
   */
  readonly linkBoundCertificates?: boolean;
  /**
   * qemu mode: a window quarantined for a refused revoke receipt stays so until the epoch ends
   * (hostd restarts), not merely until the VM's link drops. Default false.
   */
  readonly refusedQuarantineOutlivesLink?: boolean;
  /**
   * Doorbell vectors of every VM's doorbell device (the ivshmem server's per-peer count); each
   * channel gets one of them (docs/protocol.md §7). Default 0: grants name no doorbell route.
   */
  readonly doorbellVectors?: number;
  /** The IVPosition of a VM's doorbell device, once the VM told it; a grant's route names it. */
  readonly doorbellOf?: (vmId: number) => number | undefined;
  /**
   * For a channel of an `isolation: device` service: the offset of its window in the channel's
   * own device memory (one granule, after the device header); its grants then name that memory
   * (target `device`, docs/protocol.md §10). undefined: the window is in the region. Default:
   * every channel in the region.
   */
  readonly deviceWindowOffset?: (channel: BrokerChannel) => bigint | undefined;
}

const offerKey = (service: number, instance: number): string => `${service}:${instance}`;

/**
 * hostd's channel broker (docs/protocol.md): a pure state machine over the VMs (links,
 * enrolled certificates, budgets), the offers and the channels (handshakes in flight, active,
 * closing, quarantined). Events go in — a message with the VM of the link it arrived on (never
 * from its content), a window reserved, a timer tick, a REVOKE acknowledged, a VM connected,
 * enrolled, rebooted or gone, an offer made or withdrawn — and effects come out: messages,
 * window and table work, REVOKEs, log notes. It never calls its owner back. It runs the cheap
 * checks before any signature verification, asks for a window only after the requester's
 * signature verified, and enforces deadlines, per-VM rate limits, caps on pending handshakes
 * and window quotas. Time comes from `nowMs`.
 */
export class BrokerHandshakes {
  readonly stats: BrokerStats = {
    signatureVerifications: 0,
    rateLimited: 0,
    malformedCharged: 0,
    rejected: 0,
    established: 0,
    aborted: 0,
  };
  /** How long a handshake may stay PENDING before it is aborted, ms. */
  readonly pendingTimeoutMs: bigint;
  readonly #budgets: BrokerBudgets;
  readonly #minter: GrantMinter;
  readonly #channels: BrokerChannels;
  readonly #sessions: HandshakeSessions;
  readonly #offers = new Map<string, Map<number, OfferedService>>();
  readonly #connected = new Set<number>();
  readonly #enrolled = new Map<number, Uint8Array>();

  constructor(options: BrokerOptions) {
    const random = options.random ?? ((n: number) => options.crypto.randomBytes(n));
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 1000n;
    this.#budgets = new BrokerBudgets({
      limits: options.limits,
      limitsOf: options.limitsOf,
      nowMs: options.nowMs,
    });
    this.#minter = new GrantMinter({
      crypto: options.crypto,
      brokerSecretKey: options.brokerSecretKey,
      grantKeys: options.grantKeys,
      epoch: () => options.ca.epoch,
      nowMs: options.nowMs,
      lifetimeMs: options.grantLifetimeMs ?? 10_000n,
      random,
      doorbellOf: options.doorbellOf ?? (() => undefined),
      deviceWindowOffset: options.deviceWindowOffset ?? (() => undefined),
    });
    this.#channels = new BrokerChannels({
      nowMs: options.nowMs,
      revokeAckTimeoutMs: options.revokeAckTimeoutMs ?? 2000n,
      connected: (vm) => this.#connected.has(vm),
      refusedQuarantineOutlivesLink: options.refusedQuarantineOutlivesLink === true,
    });
    this.#sessions = new HandshakeSessions({
      crypto: options.crypto,
      ca: options.ca,
      minter: this.#minter,
      channels: this.#channels,
      stats: this.stats,
      nowMs: options.nowMs,
      random,
      pendingTimeoutMs: this.pendingTimeoutMs,
      linkBoundCertificates: options.linkBoundCertificates === true,
      limitsOf: (vm) => this.#budgets.limitsOf(vm),
      offered: (service, instance) => this.offered(service, instance),
      enrolled: (vm) => this.#enrolled.get(vm),
      connected: (vm) => this.#connected.has(vm),
      bytesHeld: (vm) => this.#channels.bytesHeld(vm) + this.#sessions.bytesHeld(vm),
      doorbellVector: (c, p) =>
        this.#channels.pickDoorbellVector(options.doorbellVectors ?? 0, c, p),
    });
  }

  // ---- queries -------------------------------------------------------------------------

  /** The limits the broker applies to `vmId`. */
  limitsOf(vmId: number): BrokerLimits {
    return this.#budgets.limitsOf(vmId);
  }

  /** Channels that completed the handshake and are not torn down. */
  activeChannels(): BrokerChannel[] {
    return this.#channels
      .list()
      .filter((c) => c.state === 'ACTIVE')
      .map((c) => c.channel);
  }

  /** Windows held in quarantine. */
  quarantinedCount(): number {
    return this.#channels.quarantinedCount();
  }

  /** Handshakes in flight (of one consumer VM, or all). */
  pendingCount(vmId?: number): number {
    return this.#sessions.pendingCount(vmId);
  }

  /** The offer a channel request for `service`/`instance` goes to, if any. */
  offered(service: number, instance: number): OfferedService | undefined {
    const byProvider = this.#offers.get(offerKey(service, instance));
    return byProvider === undefined ? undefined : byProvider.values().next().value;
  }

  // ---- events: VMs and offers ----------------------------------------------------------

  /** A VM's control link came up: nothing is enrolled on it yet. */
  vmConnected(vmId: number): void {
    this.#connected.add(vmId);
    this.#enrolled.delete(vmId);
  }

  /** A VM enrolled the certificate whose SHA-256 is `certHash` on its current link. */
  enrolled(vmId: number, certHash: Uint8Array): void {
    this.#enrolled.set(vmId, certHash);
  }

  /**
   * A VM's link went away (its death, in emulated mode): its channels close (PEER_GONE and
   * REVOKE to the other side), its handshakes abort, and what waited for its acknowledgement
   * is released — it can no longer hold a mapping.
   */
  vmGone(vmId: number): BrokerEffect[] {
    this.#connected.delete(vmId);
    this.#enrolled.delete(vmId);
    const out: BrokerEffect[] = [];
    for (const id of this.#activeOf(vmId)) out.push(...this.#channels.close(id, 'vm-gone', vmId));
    out.push(...this.forgetVm(vmId), ...this.#channels.holderGone(vmId));
    return out;
  }

  /** A VM's SD session shows it was reset: as {@link vmGone}, but its link stays. */
  vmRebooted(vmId: number): BrokerEffect[] {
    const out: BrokerEffect[] = [];
    for (const id of this.#activeOf(vmId)) out.push(...this.#channels.close(id, 'vm-rebooted'));
    out.push(...this.forgetVm(vmId), ...this.#channels.holderGone(vmId));
    return out;
  }

  /**
   * Aborts every handshake `vmId` takes part in (both sides told) and forgets its budget; its
   * channels and what waits for its acknowledgements stay (hostd shutdown).
   */
  forgetVm(vmId: number): BrokerEffect[] {
    const out = this.#sessions.abortOf(vmId);
    this.#budgets.forget(vmId);
    return out;
  }

  /** `service`/`instance` is offered by `offer.providerVm` (new, or its terms changed). */
  offer(service: number, instance: number, offer: OfferedService): void {
    const key = offerKey(service, instance);
    let byProvider = this.#offers.get(key);
    if (byProvider === undefined) this.#offers.set(key, (byProvider = new Map()));
    byProvider.set(offer.providerVm, offer);
  }

  /** The offer went away (StopOffer, TTL, reboot, death, shutdown): its channels close. */
  withdraw(
    providerVm: number,
    service: number,
    instance: number,
    reason: ChannelCloseReason,
  ): BrokerEffect[] {
    const key = offerKey(service, instance);
    const byProvider = this.#offers.get(key);
    byProvider?.delete(providerVm);
    if (byProvider?.size === 0) this.#offers.delete(key);
    const out: BrokerEffect[] = [];
    const ids = this.#channels.activeWhere(
      (c) => c.providerVm === providerVm && c.service === service && c.instance === instance,
    );
    for (const id of ids) out.push(...this.#channels.close(id, reason));
    return out;
  }

  // ---- events: channels ----------------------------------------------------------------

  /**
   * Tears down an active channel (close, StopOffer, TTL, VM death): CLOSING, REVOKE to both
   * ends; its window is freed once both acknowledged (`window-free`) or quarantined when one
   * does not in time. `goneVm` is an end that can no longer be told. Nothing if not active.
   */
  closeChannel(
    channelId: bigint,
    reason: ChannelCloseReason = 'hostd-shutdown',
    goneVm?: number,
  ): BrokerEffect[] {
    return this.#channels.close(channelId, reason, goneVm);
  }

  /** `vmId` acknowledged the REVOKE of `channelId`. */
  revokeAcknowledged(vmId: number, channelId: bigint): BrokerEffect[] {
    return this.#channels.revokeAcknowledged(vmId, channelId);
  }

  /** `vmId` acknowledged a REVOKE with a missing or bad receipt: see BrokerChannels. */
  revokeReceiptRefused(vmId: number, channelId: bigint): BrokerEffect[] {
    return this.#channels.revokeReceiptRefused(vmId, channelId);
  }

  /** A successor window for an active channel's move (docs/protocol.md §11; broker-resize.ts). */
  successorOf(channelId: bigint, window: Window): Successor | undefined {
    return successorOf(this.#minter, this.#channels, channelId, window);
  }

  /** Both ends moved to `successor`: it becomes the channel, the old id is revoked. */
  adoptSuccessor(oldId: bigint, successor: BrokerChannel): BrokerEffect[] {
    return adoptSuccessor(this.#channels, oldId, successor);
  }

  /** A move that did not complete: both ids are torn down. */
  abandonSuccessor(oldId: bigint, successor: BrokerChannel): BrokerEffect[] {
    return abandonSuccessor(this.#channels, oldId, successor);
  }

  /** Aborts handshakes past their deadline and quarantines windows whose REVOKE is overdue. */
  tick(): BrokerEffect[] {
    return [...this.#sessions.expire(), ...this.#channels.tick()];
  }

  // ---- events: handshake messages ------------------------------------------------------

  /** Handles one handshake message that arrived on the control link of `linkVm`. */
  receive(linkVm: number, bytes: Uint8Array): BrokerEffect[] {
    // M1, hostd-only types and garbage pay a token before anything is decoded
    // (docs/security.md): a VM must not keep the broker decoding, verifying or logging at
    // line rate for free. M3, M5 and ABORT belong to handshakes in flight and are charged
    // only when they turn out to be strays.
    const peeked = peekControl(bytes);
    const t = peeked?.type;
    if (t === MessageType.m3 || t === MessageType.m5 || t === MessageType.abort) {
      return this.#dispatch(linkVm, bytes, false);
    }
    const reqSeq = t === MessageType.m1 && peeked?.by === 'request' ? peeked.reqSeq : 0n;
    return this.#charged(linkVm, reqSeq, () => this.#dispatch(linkVm, bytes, true));
  }

  /**
   * The answer to a `reserve-window` effect: the window (undefined when the region or the
   * channel table is full, with `shortage` saying which and what to change). Must come before
   * the next event, as hostd answers at once.
   */
  windowReserved(ticket: number, window: Window | undefined, shortage?: string): BrokerEffect[] {
    return this.#sessions.windowReserved(ticket, window, shortage);
  }

  #dispatch(linkVm: number, bytes: Uint8Array, charged: boolean): BrokerEffect[] {
    let msg: HandshakeMessage;
    try {
      msg = decodeHandshakeMessage(bytes);
    } catch (e) {
      const failure = new HandshakeFailure('malformed', (e as Error).message);
      return this.#guard(
        linkVm,
        () => {
          throw failure;
        },
        !charged,
      );
    }
    const session =
      msg.type === MessageType.m3 || msg.type === MessageType.m5 || msg.type === MessageType.abort;
    if (!charged && !session) {
      // The envelope decoded to another type than the peek saw: charge it now.
      return this.#charged(linkVm, 0n, () => this.#dispatch(linkVm, bytes, true));
    }
    switch (msg.type) {
      case MessageType.m1:
        return this.#guard(linkVm, () => this.#sessions.request(linkVm, msg));
      case MessageType.m3:
        return this.#guard(linkVm, () => this.#sessions.accept(linkVm, msg), true);
      case MessageType.m5:
        return this.#guard(linkVm, () => this.#sessions.finish(linkVm, msg), true);
      case MessageType.abort:
        return this.#sessions.endpointAbort(linkVm, msg);
      default:
        return this.#sessions.reject(
          linkVm,
          0n,
          0n,
          new HandshakeFailure('unexpected', `VMs may not send type ${msg.type}`),
        );
    }
  }

  /**
   * Runs `f` if `vmId` has a token left; otherwise refuses with a `rateLimited` ABORT (for an
   * M1 addressed by its req_seq, read by a bounded wire scan, so the consumer learns why).
   * Nothing of a refused message is decoded, looked up or verified.
   */
  #charged(vmId: number, reqSeq: bigint, f: () => BrokerEffect[]): BrokerEffect[] {
    const c = this.#budgets.charge(vmId);
    if (c.admitted) return [...c.notes, ...f()];
    this.stats.rateLimited++;
    this.stats.rejected++;
    return [
      ...c.notes,
      { kind: 'rejected', vmId, reason: 'rateLimited', detail: c.detail },
      // Built by hand (no protobufjs): this path runs at the flooder's rate.
      { kind: 'send', vmId, bytes: rateLimitedAbort(reqSeq, c.abortTemplate) },
    ];
  }

  /**
   * Runs a handler. With `chargeFailures` (M3, M5) a message that fails before it reaches a
   * handshake in flight — unknown channel, wrong link, undecodable body — costs its VM a token
   * like garbage does; over budget it is dropped without an answer.
   */
  #guard(linkVm: number, f: () => BrokerEffect[], chargeFailures = false): BrokerEffect[] {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof HandshakeFailure)) throw e;
      if (!chargeFailures) return this.#sessions.reject(linkVm, 0n, 0n, e);
      this.stats.malformedCharged++;
      const c = this.#budgets.charge(linkVm);
      if (c.admitted) return [...c.notes, ...this.#sessions.reject(linkVm, 0n, 0n, e)];
      this.stats.rateLimited++;
      return c.notes;
    }
  }

  #activeOf(vmId: number): bigint[] {
    return this.#channels.activeWhere((c) => c.consumerVm === vmId || c.providerVm === vmId);
  }
}
