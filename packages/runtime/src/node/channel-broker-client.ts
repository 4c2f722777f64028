import { type ChannelMode } from '@sivshm/abi';
import {
  ConsumerHandshake,
  MessageType,
  ProviderHandshakes,
  peekControl,
  type AttachMessage,
  type Certificate,
  type ChannelGrant,
  type CryptoBackend,
  type ProviderPolicy,
} from '@sivshm/core';
import type { DeviceFile, DataPlane } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/** A consumer handshake that ended with a grant (already checked by the handshake). */
export interface ConsumerGrant {
  readonly grant: ChannelGrant;
  readonly file: DeviceFile;
  /** M1 sent → M4 verified, milliseconds. */
  readonly handshakeMs: number;
}

interface PendingRequest {
  readonly hs: ConsumerHandshake;
  readonly file: DeviceFile;
  readonly startedNs: bigint;
  readonly resolve: (g: ConsumerGrant) => void;
  readonly reject: (e: RuntimeError) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Consumer handshakes one VM runs at once. Enough to keep the three processes of a handshake
 * busy together; more only lengthens each one (they queue for the same CPUs) towards hostd's
 * pending deadline, and it stays under hostd's default pending limit per VM, so a VM left at
 * the defaults is never refused `tooManyPending` by its own batch.
 */
export const MAX_HANDSHAKES_IN_FLIGHT = 2;

/** Options of {@link ChannelBrokerClient}. */
export interface ChannelBrokerClientOptions {
  readonly crypto: CryptoBackend;
  readonly attach: AttachMessage;
  readonly secretKey: Uint8Array;
  readonly certificate: Certificate;
  readonly transport: DataPlane;
  readonly policy: ProviderPolicy;
  /** Sends one handshake message to hostd. */
  readonly send: (bytes: Uint8Array) => void;
  /**
   * A provider-side channel was granted (the grant is not yet presented; its doorbell route is
   * in the grant itself, docs/protocol.md §7.4).
   */
  readonly onProviderGrant: (grant: ChannelGrant, file: DeviceFile) => void;
  /**
   * A consumer handshake's M4 was verified: called synchronously, before the grant reaches
   * whoever awaits `request()` (a later microtask). A REVOKE that came in the same read as the
   * M4 is handled in between, so the owner must learn the channel id here to refuse attaching
   * a channel hostd already revoked.
   */
  readonly onConsumerGrant?: (channelId: bigint) => void;
}

/**
 * This VM's side of the channel handshake (docs/protocol.md) over the control link: consumer
 * handshakes it starts (M1 → M4 → M5) and provider handshakes hostd offers it (M2 → M3 … M6),
 * each bound to a fresh device file whose nonce goes into M1/M3.
 */
export class ChannelBrokerClient {
  readonly #o: ChannelBrokerClientOptions;
  readonly #provider: ProviderHandshakes;
  readonly #providerFiles = new Map<bigint, DeviceFile>();
  readonly #requests = new Map<bigint, PendingRequest>();
  /** Requests waiting for one of the handshake slots. */
  readonly #waiting: { resolve(): void; reject(e: RuntimeError): void }[] = [];
  #inFlight = 0;
  #reqSeq = 0n;

  constructor(o: ChannelBrokerClientOptions) {
    this.#o = o;
    const a = o.attach;
    this.#provider = new ProviderHandshakes({
      crypto: o.crypto,
      identity: { vmId: a.vmId, secretKey: o.secretKey, certificate: o.certificate },
      trust: { caPublicKey: a.caPublicKey, brokerCertificate: a.brokerCertificate, epoch: a.epoch },
      nowMs: () => BigInt(Date.now()),
      policy: o.policy,
      deviceNonce: (channelId) => {
        const f = o.transport.openFile();
        this.#providerFiles.set(channelId, f);
        return f.nonce;
      },
    });
  }

  /**
   * Runs a consumer handshake for one service instance; rejects `ERR_HANDSHAKE` on abort
   * (`ERR_NO_SPACE` when hostd has no room). At most {@link MAX_HANDSHAKES_IN_FLIGHT} run at
   * once; the others wait here, not at hostd: a VM that consumes hundreds of services asks for
   * them all together, and hostd's pending limit and deadline, and the providers, are sized for
   * a few at a time.
   */
  async request(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<ConsumerGrant> {
    await this.#slot();
    try {
      // M1 leaves from a turn of its own, after the work of the turn that asked: an app that
      // consumes hundreds of services asks in one synchronous burst, and a CPU profile of the
      // 256-instance run showed the first handshakes' M4 waiting behind that burst (hundreds
      // of ms, seconds on a loaded machine) until hostd's pending deadline had passed.
      await new Promise((resolve) => setImmediate(resolve));
      return await this.#handshake(service, instance, major, mode, timeoutMs);
    } finally {
      this.#inFlight--;
      this.#waiting.shift()?.resolve();
    }
  }

  #slot(): Promise<void> {
    if (this.#inFlight < MAX_HANDSHAKES_IN_FLIGHT) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) =>
      this.#waiting.push({
        resolve: () => {
          this.#inFlight++;
          resolve();
        },
        reject,
      }),
    );
  }

  #handshake(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<ConsumerGrant> {
    const a = this.#o.attach;
    const hs = new ConsumerHandshake({
      crypto: this.#o.crypto,
      identity: { vmId: a.vmId, secretKey: this.#o.secretKey, certificate: this.#o.certificate },
      trust: { caPublicKey: a.caPublicKey, brokerCertificate: a.brokerCertificate, epoch: a.epoch },
      nowMs: () => BigInt(Date.now()),
    });
    const file = this.#o.transport.openFile();
    const reqSeq = ++this.#reqSeq;
    return new Promise<ConsumerGrant>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(reqSeq);
        file.close();
        reject(
          new RuntimeError(
            'ERR_TIMEOUT',
            `the handshake for service 0x${service.toString(16)} instance ${instance} did not finish in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#requests.set(reqSeq, {
        hs,
        file,
        startedNs: process.hrtime.bigint(),
        resolve,
        reject,
        timer,
      });
      this.#o.send(hs.start({ service, instance, major, mode, reqSeq, kn: file.nonce }));
    });
  }

  /**
   * Handles one handshake message from hostd. Malformed input is dropped (hostd is trusted, but
   * a bug there must not crash the app). The `peer_doorbell` hostd sends beside M4 and M6 is not
   * needed: since grant version 2 the grant names the channel's doorbell route.
   */
  receive(bytes: Uint8Array): void {
    // core's router says which handshake the message belongs to: a provider handshake (M2,
    // M6, an ABORT by channel) or one of our requests (M4, an ABORT by req_seq).
    const route = peekControl(bytes);
    if (route === undefined) return;
    const { type } = route;
    if (route.by === 'channel') {
      if (type === MessageType.m2 || type === MessageType.m6 || type === MessageType.abort)
        this.#toProvider(bytes);
      return;
    }
    if (type !== MessageType.m4 && type !== MessageType.abort) return;
    const reqSeq = route.reqSeq;
    const r = this.#requests.get(reqSeq);
    if (r === undefined) return;
    for (const e of r.hs.receive(bytes)) {
      if (e.kind === 'send') this.#o.send(e.bytes);
      else if (e.kind === 'granted') {
        this.#finish(reqSeq);
        this.#o.onConsumerGrant?.(e.grant.channelId);
        r.resolve({
          grant: e.grant,
          file: r.file,
          handshakeMs: Number(process.hrtime.bigint() - r.startedNs) / 1e6,
        });
      } else {
        this.#finish(reqSeq);
        r.file.close();
        r.reject(handshakeAborted(e.reason, e.detail));
      }
    }
  }

  /** Fails every handshake in flight (the link went). */
  abortAll(why: string): void {
    for (const w of this.#waiting.splice(0)) w.reject(new RuntimeError('ERR_CLOSED', why));
    for (const [seq, r] of this.#requests) {
      this.#finish(seq);
      r.reject(new RuntimeError('ERR_CLOSED', why));
    }
  }

  #finish(reqSeq: bigint): void {
    const r = this.#requests.get(reqSeq);
    if (r !== undefined) clearTimeout(r.timer);
    this.#requests.delete(reqSeq);
  }

  #toProvider(bytes: Uint8Array): void {
    for (const e of this.#provider.receive(bytes)) {
      if (e.kind === 'send') this.#o.send(e.bytes);
      else if (e.kind === 'granted') {
        const f = this.#providerFiles.get(e.grant.channelId);
        this.#providerFiles.delete(e.grant.channelId);
        if (f !== undefined) this.#o.onProviderGrant(e.grant, f);
      }
      // An aborted provider handshake leaves nothing to undo here: its file holds no grant and
      // is closed with the node.
    }
  }
}

/**
 * The error of a handshake hostd aborted. No room (the region, the channel table or this VM's
 * window quota) is `ERR_NO_SPACE`: waiting helps only once channels close, and the detail names
 * the setting that makes room. Everything else is `ERR_HANDSHAKE`, with the abort reason as
 * `cause.abortReason` (`rateLimited` and `tooManyPending` pass by themselves with time).
 */
export function handshakeAborted(reason: string, detail: string): RuntimeError {
  const text = detail === '' ? reason : detail;
  if (reason === 'noSpace')
    return new RuntimeError('ERR_NO_SPACE', `hostd has no room for the channel: ${text}`, {
      cause: { abortReason: reason },
    });
  return new RuntimeError(
    'ERR_HANDSHAKE',
    `hostd aborted the handshake: ${reason}${detail === '' ? '' : ` (${detail})`}`,
    { cause: { abortReason: reason } },
  );
}
