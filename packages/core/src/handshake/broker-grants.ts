import { GrantPerm, type GrantRoleName } from '@sivshm/abi';
import type { CryptoBackend } from '../crypto/crypto-backend.js';
import { signGrant } from '../grant/grant-verify.js';
import type { BrokerChannel } from './broker-types.js';
import { doorbellRouteOf } from './doorbell-vectors.js';
import { HandshakeFailure } from './handshake-failure.js';
import type { Certificate } from '../cert/certificate.js';
import {
  encodeGrantConsumerBody,
  encodeGrantProviderBody,
  encodeHandshakeMessage,
  MessageType,
  type HandshakeMessage,
} from './handshake-messages.js';
import {
  extendTranscript,
  initialTranscript,
  SignatureLabel,
  signatureInput,
} from './transcript.js';

/** The broker's messages and the label each is signed under. */
const LABEL = {
  [MessageType.m2]: SignatureLabel.m2,
  [MessageType.m4]: SignatureLabel.m4,
  [MessageType.m6]: SignatureLabel.m6,
} as const;

/**
 * What the broker signs and mints: its signatures on M2/M4/M6, the grant tokens (MACed with
 * the receiving VM's grant key), each VM's grant serials and fresh channel ids.
 */
export class GrantMinter {
  readonly #crypto: CryptoBackend;
  readonly #brokerSecretKey: Uint8Array;
  readonly #grantKeys: ReadonlyMap<number, Uint8Array>;
  readonly #epoch: () => bigint;
  readonly #nowMs: () => bigint;
  readonly #lifetimeMs: bigint;
  readonly #random: (n: number) => Uint8Array;
  readonly #doorbellOf: (vmId: number) => number | undefined;
  readonly #deviceWindowOffset: (ch: BrokerChannel) => bigint | undefined;
  readonly #nextSerial = new Map<number, bigint>();
  readonly #usedChannelIds = new Set<bigint>();

  constructor(o: {
    crypto: CryptoBackend;
    brokerSecretKey: Uint8Array;
    grantKeys: ReadonlyMap<number, Uint8Array>;
    epoch: () => bigint;
    nowMs: () => bigint;
    /** Grant token lifetime (the token is presented right away). */
    lifetimeMs: bigint;
    random: (n: number) => Uint8Array;
    /** The IVPosition of a VM's doorbell device, when hostd knows it. */
    doorbellOf: (vmId: number) => number | undefined;
    /** A device channel's window offset in its own memory; undefined: in the region. */
    deviceWindowOffset: (ch: BrokerChannel) => bigint | undefined;
  }) {
    this.#crypto = o.crypto;
    this.#brokerSecretKey = o.brokerSecretKey;
    this.#grantKeys = o.grantKeys;
    this.#epoch = o.epoch;
    this.#nowMs = o.nowMs;
    this.#lifetimeMs = o.lifetimeMs;
    this.#random = o.random;
    this.#doorbellOf = o.doorbellOf;
    this.#deviceWindowOffset = o.deviceWindowOffset;
  }

  /** TH1: the transcript hash after M1. */
  th1(m1Body: Uint8Array): Uint8Array {
    const c = this.#crypto;
    return extendTranscript(c, initialTranscript(c), MessageType.m1, m1Body);
  }

  /** The broker's signature over transcript hash `th` under `label`. */
  sign(label: Parameters<typeof signatureInput>[0], th: Uint8Array): Uint8Array {
    return this.#crypto.ed25519Sign(this.#brokerSecretKey, signatureInput(label, th));
  }

  /**
   * A broker message (M2, M4 or M6) with `body`: the transcript extended by it, and the
   * envelope with the broker's signature over that transcript hash.
   */
  signed(
    type: keyof typeof LABEL,
    th: Uint8Array,
    body: Uint8Array,
  ): { th: Uint8Array; bytes: Uint8Array } {
    const next = extendTranscript(this.#crypto, th, type, body);
    const bytes = encodeHandshakeMessage({ type, body, sig: this.sign(LABEL[type], next) });
    return { th: next, bytes };
  }

  /** M4: the consumer's grant (MACed with its K_vm, bound to its device nonce `knC`). */
  grantConsumerMessage(
    ch: BrokerChannel,
    o: {
      th3: Uint8Array;
      m2Body: Uint8Array;
      certP: Certificate;
      m3: HandshakeMessage;
      knC: Uint8Array;
    },
  ): Uint8Array {
    const grant = this.grant(ch, 'consumer', o.knC);
    const body = encodeGrantConsumerBody({
      m2Body: o.m2Body,
      certP: o.certP,
      m3: o.m3,
      grantToken: grant.token,
      grantTag: grant.tag,
    });
    return this.signed(MessageType.m4, o.th3, body).bytes;
  }

  /** M6: the provider's grant (MACed with its K_vm, bound to its device nonce `knP`). */
  grantProviderMessage(
    ch: BrokerChannel,
    o: { th5: Uint8Array; m5: HandshakeMessage; knP: Uint8Array },
  ): Uint8Array {
    const grant = this.grant(ch, 'provider', o.knP);
    const body = encodeGrantProviderBody({
      m5: o.m5,
      grantToken: grant.token,
      grantTag: grant.tag,
    });
    return this.signed(MessageType.m6, o.th5, body).bytes;
  }

  /** The grant token and tag for one end of `ch`, bound to that end's device nonce `kn`. */
  grant(ch: BrokerChannel, role: GrantRoleName, kn: Uint8Array) {
    const vm = role === 'consumer' ? ch.consumerVm : ch.providerVm;
    const key = this.#grantKeys.get(vm);
    if (key === undefined) throw new HandshakeFailure('notAuthorized', `VM ${vm} has no grant key`);
    const deviceOffset = this.#deviceWindowOffset(ch);
    return signGrant(this.#crypto, key, {
      role,
      perms: GrantPerm.map,
      epoch: this.#epoch(),
      grantSerial: role === 'consumer' ? ch.consumerSerial : ch.providerSerial,
      vmId: vm,
      channelId: ch.channelId,
      windowOffset: deviceOffset ?? ch.window.offset,
      windowLength: ch.window.length,
      kn,
      notAfterNs: (this.#nowMs() + this.#lifetimeMs) * 1_000_000n,
      mode: ch.mode,
      // the channel's doorbells: its vector, rung at the other end's doorbell device
      doorbell: doorbellRouteOf(
        ch,
        this.#doorbellOf(role === 'consumer' ? ch.providerVm : ch.consumerVm),
      ),
      ...(deviceOffset === undefined ? {} : { target: 'device' as const }),
    });
  }

  /**
   * The window offset `ch`'s grants and M2 name: its place in the channel's own memory for a
   * device channel (docs/protocol.md §10), else its place in the region.
   */
  grantedWindowOffset(ch: BrokerChannel): bigint {
    return this.#deviceWindowOffset(ch) ?? ch.window.offset;
  }

  /** The next grant serial of `vmId` (1, 2, …). */
  serial(vmId: number): bigint {
    const s = this.#nextSerial.get(vmId) ?? 1n;
    this.#nextSerial.set(vmId, s + 1n);
    return s;
  }

  /** A random channel id, never 0 and never handed out before. */
  channelId(): bigint {
    for (;;) {
      const b = this.#random(8);
      const id = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
      if (id !== 0n && !this.#usedChannelIds.has(id)) {
        this.#usedChannelIds.add(id);
        return id;
      }
    }
  }
}
