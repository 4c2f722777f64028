// A VM stand-in for hostd's tests, built on the control link only: it connects to its VM's
// socket, gets attach, enrols by CSR, speaks SD, runs consumer or provider handshakes with
// core's state machines, and presents grants to its own EmulatedDevice (the same rules the
// kernel module applies). It records what hostd sends so tests can assert on it.
import net from 'node:net';
import { type ChannelMode } from '@sivshm/abi';
import {
  ConsumerHandshake,
  ControlConnection,
  ProviderHandshakes,
  cryptoBackend,
  createCsr,
  peekControl,
  traceStage,
  type AttachMessage,
  type Certificate,
  type ChannelGrant,
  type ControlMessage,
  type ProtoObject,
  type Rights,
} from '@sivshm/core';
import { decodeProto } from '@sivshm/core/testing';
import {
  SessionCounters,
  decodeSdMessage,
  encodeSdMessage,
  endpointOption,
  packSdMessage,
  type PackEntry,
  type SdMessage,
} from '@sivshm/discovery';
import { EmulatedDevice, type DeviceFile } from '@sivshm/transport-ivshmem';
import { waitFor } from './test-deployment.js';

const crypto = cryptoBackend();

/** Outcome of one consumer handshake. */
export type RequestOutcome =
  | {
      readonly kind: 'granted';
      readonly grant: ChannelGrant;
      readonly file: DeviceFile;
      readonly ms: number;
    }
  | { readonly kind: 'aborted'; readonly reason: string; readonly detail: string };

interface ConsumerSession {
  readonly hs: ConsumerHandshake;
  readonly file: DeviceFile;
  readonly startedNs: bigint;
  resolve: (o: RequestOutcome) => void;
}

export class TestVm {
  readonly errors: { code: string; message: string }[] = [];
  readonly peerGone: { channelId: bigint; reason: string; atNs: bigint }[] = [];
  readonly revoked: { channelId: bigint; ok: boolean; error?: string }[] = [];
  readonly sd: SdMessage[] = [];
  readonly aborts: { reason: string; detail: string }[] = [];
  readonly providerGrants: ChannelGrant[] = [];
  /** Handshake frames from hostd that carried M4 or M6, with the peer doorbell id beside them. */
  readonly grantFrames: {
    type: number;
    peerDoorbell: number | undefined;
    /** Set only on the grant frames of a device channel in emulated mode. */
    channelDevice?: string;
  }[] = [];
  /** Every message hostd sent this VM, in order (what its link received). */
  readonly received: ControlMessage[] = [];
  /** Provider side: files by channel id (one per channel, as the runtime would). */
  readonly providerFiles = new Map<bigint, DeviceFile>();
  secretKey = crypto.ed25519GenerateSecretKey();
  attach!: AttachMessage;
  device!: EmulatedDevice;
  certificate: Certificate | undefined;
  closed = false;
  /** Provider side: ignore M2 for these services (a hung provider). */
  readonly hangOn = new Set<number>();
  /** Provider side: acknowledge REVOKEs (a VM that does not is quarantined). */
  ackRevokes = true;
  /**
   * How this VM answers a REVOKE: `device` applies it and forwards the receipt (the runtime);
   * `skip-no-receipt` and `skip-forged-receipt` leave the mapping in place and acknowledge
   * anyway, without a receipt or with made-up bytes (a hostile app).
   */
  revokeBehaviour: 'device' | 'skip-no-receipt' | 'skip-forged-receipt' = 'device';
  /** Consumer side: take the grant (M4) but never send M5 (a consumer dying after M4). */
  withholdFinish = false;
  readonly #link: ControlConnection;
  #sessions = new SessionCounters();
  readonly #consumers = new Map<bigint, ConsumerSession>();
  #provider: ProviderHandshakes | undefined;
  #reqSeq = 0n;
  #pendingCert: { resolve: (c: Certificate) => void; reject: (e: Error) => void } | undefined;

  private constructor(socket: net.Socket) {
    this.#link = new ControlConnection(socket, {
      onMessage: (m) => this.#onMessage(m),
      onClose: () => {
        this.closed = true;
      },
    });
  }

  /** Connects, says hello and waits for attach; builds the VM's device from it. */
  /**
   * Connects as the VM of `socketPath`. `grantKey`: the VM's key for its device when hostd
   * does not send it (qemu mode, where the guest kernel holds it).
   */
  static async connect(socketPath: string, grantKey?: Uint8Array): Promise<TestVm> {
    const socket = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const vm = new TestVm(socket);
    vm.send({ kind: 'hello', version: 1, software: 'hostd-test' });
    await waitFor(() => vm.attach !== undefined || vm.closed, 'attach');
    if (vm.attach === undefined)
      throw new Error(`link closed before attach: ${JSON.stringify(vm.errors)}`);
    vm.device = new EmulatedDevice({
      regionPath: vm.attach.region.path,
      vmId: vm.attach.vmId,
      grantKey: grantKey ?? vm.attach.grantKey!,
      crypto,
    });
    return vm;
  }

  get vmId(): number {
    return this.attach.vmId;
  }

  send(m: ControlMessage): void {
    this.#link.send(m);
  }

  /** Enrols with `rights` (hostd grants their intersection with the config). */
  async enrol(rights: Rights, subject = `test-${Date.now()}`): Promise<Certificate> {
    const cert = new Promise<Certificate>((resolve, reject) => {
      this.#pendingCert = { resolve, reject };
    });
    this.send({
      kind: 'csr',
      csr: createCsr(crypto, this.secretKey, {
        subject,
        nonce: this.attach.enrolmentNonce,
        rights,
      }),
    });
    let timer: NodeJS.Timeout | undefined;
    const c = await Promise.race([
      cert,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no certificate: ${JSON.stringify(this.errors)}`)),
          5000,
        );
      }),
    ]);
    clearTimeout(timer);
    this.certificate = c;
    return c;
  }

  /** Sends one SD message with these entries (own session counter, reboot flag as SD says). */
  sendSd(entries: PackEntry[]): void {
    const { sessionId, reboot } = this.#sessions.next('hostd');
    const msg = packSdMessage({
      sessionId,
      flags: { reboot, unicast: true, explicitInitialDataControl: false },
      entries,
    });
    this.send({ kind: 'sd', message: encodeSdMessage(msg) });
  }

  /** Sends a heartbeat every `ms` until closed (what a VM does when hostd has --vm-timeout). */
  startHeartbeats(ms: number): void {
    let seq = 0n;
    const t = setInterval(() => {
      if (this.closed) clearInterval(t);
      else this.send({ kind: 'heartbeat', sequence: ++seq, timeMs: BigInt(Date.now()) });
    }, ms);
    t.unref();
  }

  /** Starts SD over as a rebooted VM does: session ids from 1 with the reboot flag. */
  rebootSd(): void {
    this.#sessions = new SessionCounters();
  }

  /** Offers a service instance (an endpoint option is required by SD; it names the link). */
  offer(serviceId: number, instanceId: number, majorVersion = 1, ttl = 30): void {
    this.sendSd([
      {
        entry: { type: 'offer', serviceId, instanceId, majorVersion, minorVersion: 0, ttl },
        options: [endpointOption('127.0.0.1', 'udp', 30_500 + this.vmId)],
      },
    ]);
  }

  stopOffer(serviceId: number, instanceId: number, majorVersion = 1): void {
    this.sendSd([
      {
        entry: { type: 'stopOffer', serviceId, instanceId, majorVersion, minorVersion: 0, ttl: 0 },
        options: [endpointOption('127.0.0.1', 'udp', 30_500 + this.vmId)],
      },
    ]);
  }

  find(serviceId: number): void {
    this.sendSd([
      {
        entry: {
          type: 'find',
          serviceId,
          instanceId: 0xffff,
          majorVersion: 0xff,
          minorVersion: 0xffff_ffff,
          ttl: 3,
        },
      },
    ]);
  }

  /** Sends a Subscribe (or, with `ttl` 0, a StopSubscribe) for one eventgroup. */
  subscribe(serviceId: number, eventgroupId: number, ttl = 3): void {
    this.sendSd([
      {
        entry: {
          type: ttl === 0 ? 'stopSubscribe' : 'subscribe',
          serviceId,
          instanceId: 1,
          majorVersion: 1,
          ttl,
          initialDataRequested: false,
          counter: 0,
          eventgroupId,
        },
        options: [endpointOption('127.0.0.1', 'udp', 30_600 + this.vmId)],
      },
    ]);
  }

  /** Answers a Subscribe with an Ack (or, `ack` false, a Nack). */
  answerSubscribe(serviceId: number, eventgroupId: number, ack: boolean): void {
    this.sendSd([
      {
        entry: {
          type: ack ? 'subscribeAck' : 'subscribeNack',
          serviceId,
          instanceId: 1,
          majorVersion: 1,
          ttl: ack ? 3 : 0,
          initialDataRequested: false,
          counter: 0,
          eventgroupId,
        },
      },
    ]);
  }

  /** SD entries of `type` seen from hostd. */
  entriesSeen(type: string): number {
    return this.sd.flatMap((m) => m.entries).filter((e) => e.type === type).length;
  }

  /** Offers seen from hostd for `serviceId`. */
  offersSeen(serviceId: number): number {
    return this.sd
      .flatMap((m) => m.entries)
      .filter((e) => e.type === 'offer' && e.serviceId === serviceId).length;
  }

  /** Takes over the key and certificate of an earlier connection (a VM that skips enrolment). */
  reuseIdentity(from: TestVm): void {
    this.secretKey = from.secretKey;
    this.certificate = from.certificate;
  }

  /** Builds and signs M1 without sending it (for relay attacks). */
  buildRequest(service: number, instance = 1, major = 1, mode: ChannelMode = 'plain'): Uint8Array {
    return this.#newConsumer(service, instance, major, mode, () => undefined).m1;
  }

  /** Runs a consumer handshake; resolves when granted (grant presented to the device) or aborted. */
  request(
    service: number,
    instance = 1,
    major = 1,
    mode: ChannelMode = 'plain',
    timeoutMs = 8000,
  ): Promise<RequestOutcome> {
    return new Promise<RequestOutcome>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('handshake did not finish in time')),
        timeoutMs,
      );
      const { m1 } = this.#newConsumer(service, instance, major, mode, (o) => {
        clearTimeout(timer);
        resolve(o);
      });
      this.send({ kind: 'handshake', message: m1 });
    });
  }

  /** Sends M1 and does not wait (floods). */
  fireRequest(service: number, onOutcome: (o: RequestOutcome) => void = () => undefined): void {
    const { m1 } = this.#newConsumer(service, 1, 1, 'plain', onOutcome);
    this.send({ kind: 'handshake', message: m1 });
  }

  /**
   * Builds and signs an M1 whose answer (grant or ABORT) goes to `onOutcome`, without sending
   * it: a flood signs ahead so that it can send at its full rate.
   */
  prepareRequest(service: number, onOutcome: (o: RequestOutcome) => void): Uint8Array {
    return this.#newConsumer(service, 1, 1, 'plain', onOutcome).m1;
  }

  /** Becomes a provider: answers M2 for the services its certificate may offer. */
  provide(): void {
    const a = this.attach;
    this.#provider = new ProviderHandshakes({
      crypto,
      identity: { vmId: a.vmId, secretKey: this.secretKey, certificate: this.certificate! },
      trust: { caPublicKey: a.caPublicKey, brokerCertificate: a.brokerCertificate, epoch: a.epoch },
      nowMs: () => BigInt(Date.now()),
      policy: { offeredMajor: () => 1, minMode: () => 'plain' },
      deviceNonce: (channelId) => {
        const f = this.device.open();
        this.providerFiles.set(channelId, f);
        return f.nonce;
      },
    });
  }

  close(): void {
    this.closed = true;
    this.#link.close();
    try {
      this.device?.close();
    } catch {
      // already closed
    }
  }

  /** Destroys the link at once (a VM dying). */
  die(): void {
    this.closed = true;
    this.#link.destroy();
    try {
      this.device?.close();
    } catch {
      // already closed
    }
  }

  #newConsumer(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    done: (o: RequestOutcome) => void,
  ): { m1: Uint8Array } {
    const a = this.attach;
    const hs = new ConsumerHandshake({
      crypto,
      identity: { vmId: a.vmId, secretKey: this.secretKey, certificate: this.certificate! },
      trust: { caPublicKey: a.caPublicKey, brokerCertificate: a.brokerCertificate, epoch: a.epoch },
      nowMs: () => BigInt(Date.now()),
    });
    const file = this.device.open();
    const reqSeq = ++this.#reqSeq;
    traceStage('vm:request');
    const startedNs = process.hrtime.bigint();
    const m1 = hs.start({ service, instance, major, mode, reqSeq, kn: file.nonce });
    traceStage('vm:m1-signed');
    this.#consumers.set(reqSeq, { hs, file, startedNs, resolve: done });
    return { m1 };
  }

  #onMessage(m: ControlMessage): void {
    if (this.closed) return; // this VM is shutting down: late messages find no device
    this.received.push(m);
    switch (m.kind) {
      case 'attach':
        this.attach = m;
        return;
      case 'certificate':
        this.#pendingCert?.resolve(m.certificate);
        this.#pendingCert = undefined;
        return;
      case 'error':
        this.errors.push({ code: m.code, message: m.message });
        if (m.code === 'ERR_CSR') this.#pendingCert?.reject(new Error(`${m.code}: ${m.message}`));
        this.#pendingCert = undefined;
        return;
      case 'sd':
        this.sd.push(decodeSdMessage(m.message));
        return;
      case 'peerGone':
        this.peerGone.push({
          channelId: m.channelId,
          reason: m.reason,
          atNs: process.hrtime.bigint(),
        });
        return;
      case 'revoke':
        return this.#onRevoke(m.channelId, m.token, m.tag);
      case 'handshake': {
        const type = m.message[1];
        if (m.message[0] === 0x08 && (type === 4 || type === 6))
          this.grantFrames.push({
            type,
            peerDoorbell: m.peerDoorbell,
            ...(m.channelDevice === undefined ? {} : { channelDevice: m.channelDevice }),
          });
        // As the runtime does: a device channel's memory is bound before its grant is presented.
        if (m.channelDevice !== undefined) this.device.bindChannelDevice(m.channelDevice);
        return this.#onHandshake(m.message);
      }
      default:
        return;
    }
  }

  #onRevoke(channelId: bigint, token: Uint8Array, tag: Uint8Array): void {
    let receipt: Uint8Array | undefined;
    if (this.revokeBehaviour === 'device') {
      try {
        receipt = this.device.revoke(token, tag).receipt;
        this.revoked.push({ channelId, ok: true });
      } catch (e) {
        this.revoked.push({ channelId, ok: false, error: (e as Error).message });
      }
    } else {
      receipt =
        this.revokeBehaviour === 'skip-no-receipt' ? new Uint8Array(0) : crypto.randomBytes(32);
    }
    // As the runtime does: no acknowledgement for a revoke the device refused.
    if (this.ackRevokes && receipt !== undefined)
      this.send({ kind: 'revokeAck', channelId, receipt });
  }

  /** Keeps an ABORT's reason and detail as hostd sent them. */
  #recordAbort(bytes: Uint8Array): void {
    const env = decodeProto('HandshakeMessage', bytes);
    const a = decodeProto('AbortBody', env['body'] as Uint8Array);
    this.aborts.push({ reason: String(a['reason']), detail: String(a['detail']) });
  }

  #onHandshake(bytes: Uint8Array): void {
    // Routed as the runtime routes (channel-broker-client.ts): by core's wire scan, with no
    // decode before the handshake's own, so the hostd bench times what a VM pays.
    const route = peekControl(bytes);
    if (route === undefined) return;
    const type = route.type;
    if (type === 2 && this.hangOn.size > 0) {
      const env = decodeProto('HandshakeMessage', bytes);
      const offer = decodeProto('OfferBody', env['body'] as Uint8Array);
      const m1 = offer['m1'] as ProtoObject;
      const req = decodeProto('RequestBody', m1['body'] as Uint8Array);
      if (this.hangOn.has(Number(req['service']))) return;
    }
    if (type === 2 || type === 6) {
      traceStage(`vm:provider-in M${type}`);
      for (const e of this.#provider?.receive(bytes) ?? []) {
        traceStage(`vm:provider-out ${e.kind}`);
        if (e.kind === 'send') this.send({ kind: 'handshake', message: e.bytes });
        else if (e.kind === 'granted') {
          try {
            this.providerFiles
              .get(e.grant.channelId)
              ?.presentGrant(e.grant.grantToken, e.grant.grantTag);
          } catch (err) {
            // M6 can arrive after the channel's REVOKE (its offer went as it finished): the
            // device then refuses the grant (`revoked`), as sivshm.ko does.
            this.errors.push({ code: 'ERR_GRANT', message: (err as Error).message });
          }
          this.providerGrants.push(e.grant);
        } else this.aborts.push({ reason: e.reason, detail: e.detail });
      }
      return;
    }
    if (type !== 4 && type !== 7) return;
    if (type === 7 && route.by === 'channel') {
      // An abort for the provider side of a channel.
      for (const e of this.#provider?.receive(bytes) ?? []) {
        if (e.kind === 'aborted') this.aborts.push({ reason: e.reason, detail: e.detail });
      }
      this.#recordAbort(bytes);
      return;
    }
    if (route.by !== 'request') return;
    const reqSeq = route.reqSeq;
    const s = this.#consumers.get(reqSeq);
    if (s === undefined) {
      if (type === 7) this.#recordAbort(bytes);
      return;
    }
    traceStage('vm:consumer-in');
    for (const e of s.hs.receive(bytes)) {
      traceStage(`vm:consumer-out ${e.kind}`);
      if (e.kind === 'send') {
        if (!this.withholdFinish) this.send({ kind: 'handshake', message: e.bytes });
      } else if (e.kind === 'granted') {
        this.#consumers.delete(reqSeq);
        try {
          s.file.presentGrant(e.grant.grantToken, e.grant.grantTag);
        } catch (err) {
          // e.g. a device grant in qemu mode: the device it names is a guest's, not this one's
          this.errors.push({ code: 'ERR_GRANT', message: (err as Error).message });
        }
        traceStage('vm:grant-presented');
        s.resolve({
          kind: 'granted',
          grant: e.grant,
          file: s.file,
          ms: Number(process.hrtime.bigint() - s.startedNs) / 1e6,
        });
      } else {
        this.#consumers.delete(reqSeq);
        this.aborts.push({ reason: e.reason, detail: e.detail });
        s.resolve({ kind: 'aborted', reason: e.reason, detail: e.detail });
      }
    }
  }
}
