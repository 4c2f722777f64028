import type { Certificate } from '../cert/certificate.js';
import type { ChannelMode, GrantRoleName } from '@sivshm/abi';
import type { AbortReasonName } from './abort-reason.js';
import type { ChannelKeys } from './channel-keys.js';

/** What every endpoint trusts: the CA key (pinned/provisioned) and hostd's broker certificate. */
export interface TrustAnchors {
  readonly caPublicKey: Uint8Array;
  readonly brokerCertificate: Certificate;
  /** The current epoch; certificates and grants of any other epoch are refused. */
  readonly epoch: bigint;
}

/** An app endpoint's identity: its VM, its Ed25519 secret key and its certificate. */
export interface EndpointIdentity {
  readonly vmId: number;
  readonly secretKey: Uint8Array;
  readonly certificate: Certificate;
}

/** Rank of modes for downgrade checks: plain < mac < aead. */
export const MODE_RANK: Record<ChannelMode, number> = { plain: 0, mac: 1, aead: 2 };

/** What an endpoint learns when its handshake completes: enough to open the channel. */
export interface ChannelGrant {
  readonly role: GrantRoleName;
  readonly channelId: bigint;
  readonly epoch: bigint;
  readonly consumerVm: number;
  readonly providerVm: number;
  readonly service: number;
  readonly instance: number;
  readonly major: number;
  readonly mode: ChannelMode;
  readonly windowOffset: bigint;
  readonly windowLength: bigint;
  /** Token and tag to present to the device (docs/protocol.md §7). */
  readonly grantToken: Uint8Array;
  readonly grantTag: Uint8Array;
  /** Data keys, keyed modes only. */
  readonly keys?: ChannelKeys;
  /** Subject of the peer's certificate, for logs and status. */
  readonly peerSubject: string;
}

/** Effects an endpoint state machine asks its runtime to carry out, in order. */
export type EndpointEffect =
  | { readonly kind: 'send'; readonly bytes: Uint8Array }
  | { readonly kind: 'granted'; readonly grant: ChannelGrant }
  | {
      readonly kind: 'aborted';
      readonly channelId: bigint;
      readonly reason: AbortReasonName | 'unknown';
      readonly detail: string;
      /** True when the abort came from hostd; false when this side gave up. */
      readonly remote: boolean;
    };
