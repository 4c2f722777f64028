import type { ChannelMode } from '@sivshm/abi';
import type { AbortReasonName } from './abort-reason.js';

/** A service instance on offer, as the broker is told of it (from hostd's SD switch). */
export interface OfferedService {
  readonly providerVm: number;
  readonly major: number;
  readonly minMode: ChannelMode;
  /** Window length for a channel of this service (page multiple, valid window layout). */
  readonly windowLength: bigint;
}

/** A region window reserved for a channel. */
export interface Window {
  readonly offset: bigint;
  readonly length: bigint;
}

/** Why a channel is torn down (also the `reason` of the peer_gone a VM receives). */
export type ChannelCloseReason =
  | 'closed-by-consumer'
  | 'closed-by-provider'
  | 'stop-offer'
  | 'ttl-expired'
  | 'vm-gone'
  | 'vm-rebooted'
  | 'certificate-revoked'
  | 'hostd-shutdown'
  /** The channel moved to its successor window (docs/protocol.md §11): no peer-gone is sent. */
  | 'resized'
  /** A move did not complete within its bound: both ids are torn down. */
  | 'resize-failed';

/** A channel as the broker sees it; handed to hostd's lifecycle in effects. */
export interface BrokerChannel {
  readonly channelId: bigint;
  readonly consumerVm: number;
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly window: Window;
  readonly consumerSerial: bigint;
  readonly providerSerial: bigint;
  /**
   * The doorbell vector both ends ring and observe (`pickDoorbellVector`); undefined when the
   * VMs have no doorbell vectors.
   */
  readonly doorbellVector?: number;
  /**
   * The nonces of the device files the ends presented in M1 and M3, kept for the grants of a
   * successor window on the same files (docs/protocol.md §11.2); set once the channel is active.
   */
  readonly knC?: Uint8Array;
  readonly knP?: Uint8Array;
}

/**
 * What the broker asks its owner to do, in order. The broker decides; the owner (hostd's
 * router and channel lifecycle) only carries each effect out and reports back through events
 * (`windowReserved`, `revokeAcknowledged`, …), never by being called from the broker.
 */
export type BrokerEffect =
  | {
      readonly kind: 'send';
      readonly vmId: number;
      readonly bytes: Uint8Array;
      /**
       * Set when `bytes` carries a grant (M4 to the consumer, M6 to the provider): the channel
       * it is for, so the caller can add what the VM needs next to it (the peer's doorbell).
       */
      readonly grantFor?: BrokerChannel;
    }
  | {
      /**
       * Reserve a window of `length` bytes (and a channel table slot) for an admitted M1, then
       * answer at once with `windowReserved(ticket, window | undefined)`.
       */
      readonly kind: 'reserve-window';
      readonly ticket: number;
      readonly length: bigint;
      readonly consumerVm: number;
      readonly providerVm: number;
    }
  | { readonly kind: 'channel-pending'; readonly channel: BrokerChannel }
  | { readonly kind: 'channel-active'; readonly channel: BrokerChannel }
  | {
      readonly kind: 'channel-aborted';
      readonly channel: BrokerChannel;
      readonly reason: AbortReasonName | 'unknown';
      readonly detail: string;
      /** M4 had gone out: the window goes to quarantine, not back to the free list. */
      readonly grantIssued: boolean;
    }
  | {
      /** An active channel starts its teardown: CLOSING in the table, REVOKEs follow. */
      readonly kind: 'channel-closing';
      readonly channel: BrokerChannel;
      readonly reason: ChannelCloseReason;
    }
  | {
      /** Send `vmId` a REVOKE for `channelId`; its device acknowledges with `revokeAck`. */
      readonly kind: 'revoke';
      readonly vmId: number;
      readonly channelId: bigint;
    }
  | {
      readonly kind: 'peer-gone';
      readonly vmId: number;
      readonly channelId: bigint;
      readonly reason: ChannelCloseReason;
    }
  | {
      /**
       * Zero the window and give it and its table slot back: nobody holds a grant for it (an
       * abort before M4), or every holder acknowledged its REVOKE or went away.
       */
      readonly kind: 'window-free';
      readonly channel: BrokerChannel;
      readonly cause: 'aborted' | 'closed';
    }
  | {
      /**
       * Keep the window out of use, QUARANTINED in the table: `holder` may still map it (it got
       * a grant and did not acknowledge a REVOKE). A `window-release` follows when it can.
       */
      readonly kind: 'window-quarantine';
      readonly channel: BrokerChannel;
      readonly holder: number;
    }
  | {
      /** A quarantined window's holder acknowledged or went away: zero and free it. */
      readonly kind: 'window-release';
      readonly channel: BrokerChannel;
    }
  | {
      readonly kind: 'rejected';
      readonly vmId: number;
      readonly reason: AbortReasonName;
      readonly detail: string;
    }
  | {
      /**
       * A VM went over its handshake budget (`started`) or is back under it (`ended`, with the
       * messages refused or dropped in between). One pair per burst, so a flood is logged
       * twice rather than once per message.
       */
      readonly kind: 'over-budget';
      readonly vmId: number;
      readonly state: 'started' | 'ended';
      readonly refused: number;
      readonly detail: string;
    };

/** Counters for status output and for the DoS tests (case 43 counts verifications). */
export interface BrokerStats {
  signatureVerifications: number;
  /** Messages refused (M1) or dropped (anything else) because their VM was over budget. */
  rateLimited: number;
  /** Messages charged to a VM's budget that were not valid M1s (garbage, wrong type, stray). */
  malformedCharged: number;
  rejected: number;
  established: number;
  aborted: number;
}
