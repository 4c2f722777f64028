import path from 'node:path';
import { Subject } from 'rxjs';
import { type ChannelMode } from '@sivshm/abi';
import {
  configRights,
  vmLoad,
  cryptoBackend,
  cryptoSelfTest,
  handshakeSelfTest,
  type AttachMessage,
  type Certificate,
  type ChannelGrant,
  type ControlMessage,
  type ServiceConfig,
  type VmConfig,
} from '@sivshm/core';
import { MessageLinkSdTransport, SdAgent } from '@sivshm/discovery';
import {
  assertGranuleFits,
  DataPlane,
  DEFAULT_DEVICE_PATH,
  EmulatedDevice,
  KernelDevice,
  type ChannelDevice,
  type DeviceFile,
  type Doorbells,
  type NotifyMode,
} from '@sivshm/transport-ivshmem';
import { openDoorbells } from '../doorbell/open-doorbells.js';
import { RuntimeError } from '../errors/runtime-error.js';
import { findControlPort } from '../link/control-port.js';
import { VmLink } from '../link/vm-link.js';
import { ChannelBrokerClient } from './channel-broker-client.js';
import { closeSteps } from './close-steps.js';
import type { AttachedChannel, ChannelEndListener, ChannelEndReason } from './node-context.js';
import { answerRevoke } from './revoke-answer.js';
import { offerTtlFor } from './offer-ttl.js';

/** What a session needs to reach hostd and build the VM's side. */
export interface HostdSessionOptions {
  readonly config: ServiceConfig;
  readonly vm: VmConfig;
  readonly runDir: string;
  readonly notify: NotifyMode;
  readonly heartbeatMs: number;
  /** A channel's peer counts as gone after this long without progress; default 1000 ms. */
  readonly peerTimeoutMs?: number;
  readonly devicePath?: string;
  /**
   * qemu mode: the VM's virtio-serial control port (a device path, or `auto` for the port
   * named `org.sivshm.control`); unset: the Unix socket `<runDir>/<vm>.sock`.
   */
  readonly controlPort?: string;
}

/** What the session asks of the node that owns it. */
export interface HostdSessionHooks {
  /** The major version this VM offers for (service, instance), undefined when not offered. */
  offeredMajor(service: number, instance: number): number | undefined;
  /** The weakest channel mode services.yaml allows for `service`. */
  minMode(service: number): ChannelMode;
  /** A consumer's channel to one of our offers was granted and attached. */
  onProviderChannel(attached: AttachedChannel): void;
  /** The control link ended without `close()`: hostd went away (or dropped this VM). */
  onGone(): void;
}

interface LiveChannel {
  /** The channel's id at hostd: its successor's after a move (docs/protocol.md §11). */
  id: bigint;
  readonly attached: AttachedChannel;
  readonly file: DeviceFile;
  readonly listeners: ChannelEndListener[];
  ended: boolean;
  /** The release `#end` started: a revoke read after the end waits for it before acking. */
  released?: Promise<void>;
}

const crypto = cryptoBackend();

/** Zeroes the data keys a keyed grant carries (the handshake's copy; channels hold their own). */
function zeroKeys(grant: ChannelGrant): void {
  grant.keys?.c2p.fill(0);
  grant.keys?.p2c.fill(0);
}
/** The crypto self-test runs once per process, before the first enrolment. */
let selfTested = false;
/** Errors hostd reported that a session keeps (oldest dropped first). */
const MAX_ERRORS = 100;
/**
 * How long a channel whose peer closed its ring cleanly waits for hostd's word on why before it
 * ends as `peer-gone` (hostd sends it as soon as it handles the peer's close or StopOffer).
 */
const PEER_REASON_GRACE_MS = 1000;

/**
 * One attachment of a VM to one running hostd (one epoch): the control link, this VM's
 * certificate, SD over the link, doorbells, the device and every channel granted in it.
 *
 * Why a session is its own object: when hostd restarts, everything it handed out — the
 * certificate, grants, the region mapping, even the grant key — belongs to the old epoch and is
 * void, so the node drops the whole session and builds a new one rather than patching parts.
 */
export class HostdSession {
  readonly #link: VmLink;
  readonly #doorbells: Doorbells;
  readonly #transport: DataPlane;
  readonly #sd: SdAgent;
  readonly #broker: ChannelBrokerClient;
  readonly #notify: NotifyMode;
  readonly #peerTimeoutMs: number | undefined;
  readonly #hooks: HostdSessionHooks;
  readonly #channels = new Map<bigint, LiveChannel>();
  /**
   * Consumer grants whose M4 was verified but whose channel is not attached yet (the grant is
   * still on its way to `openChannel`), with whether hostd revoked them meanwhile.
   */
  readonly #arriving = new Map<bigint, { revoked: boolean }>();
  readonly #sdInbox = new Subject<{ bytes: Uint8Array; from: string }>();
  readonly #errors: { code: string; message: string }[] = [];
  #closing = false;

  private constructor(parts: {
    link: VmLink;
    doorbells: Doorbells;
    transport: DataPlane;
    secretKey: Uint8Array;
    certificate: Certificate;
    notify: NotifyMode;
    peerTimeoutMs: number | undefined;
    hooks: HostdSessionHooks;
    /** hostd refuses an SD message of this VM with more entries (vmLoad): split before that. */
    sdMaxEntries: number;
  }) {
    this.#link = parts.link;
    this.#doorbells = parts.doorbells;
    this.#transport = parts.transport;
    this.#notify = parts.notify;
    this.#peerTimeoutMs = parts.peerTimeoutMs;
    this.#hooks = parts.hooks;
    const link = parts.link;
    this.#sd = new SdAgent({
      transport: new MessageLinkSdTransport(
        {
          send: (bytes) => void link.send({ kind: 'sd', message: bytes }),
          messages$: this.#sdInbox.asObservable(),
        },
        link.attach.vmName,
      ),
      allowLoopbackEndpoints: true,
      maxEntriesPerMessage: parts.sdMaxEntries,
      timing: { offerTtl: offerTtlFor(parts.peerTimeoutMs) },
    });
    this.#broker = new ChannelBrokerClient({
      crypto,
      attach: link.attach,
      secretKey: parts.secretKey,
      certificate: parts.certificate,
      transport: parts.transport,
      policy: {
        offeredMajor: (service, instance) => this.#hooks.offeredMajor(service, instance),
        minMode: (service) => this.#hooks.minMode(service),
      },
      send: (bytes) => void link.send({ kind: 'handshake', message: bytes }),
      onProviderGrant: (grant, file) => this.#onProviderGrant(grant, file),
      onConsumerGrant: (channelId) => this.#arriving.set(channelId, { revoked: false }),
    });
    link.listen({
      message: (m) => {
        switch (m.kind) {
          case 'sd':
            return this.#sdInbox.next({ bytes: m.message, from: 'hostd' });
          case 'handshake':
            // A device channel's memory (emulated mode) is bound before its grant is presented.
            if (m.channelDevice !== undefined) this.#bindChannelDevice(m.channelDevice);
            return this.#broker.receive(m.message);
          case 'revoke':
            return void this.#onRevoke(m.channelId, m.token, m.tag);
          case 'resize':
            return void this.#onResize(m);
          case 'peerGone':
            return this.#end(m.channelId, m.reason);
          case 'error':
            this.#error(m.code, m.message);
            return;
          default:
            return;
        }
      },
      closed: () => this.#onLinkGone(),
    });
  }

  /**
   * Connects the VM's control link, checks that hostd runs the same services.yaml, opens the
   * device and the doorbells, and enrols a fresh Ed25519 key with the rights services.yaml gives
   * this VM. Rejects with `ERR_CONNECT`, `ERR_CONFIG` or `ERR_ENROL` saying what to fix.
   */
  static async open(o: HostdSessionOptions, hooks: HostdSessionHooks): Promise<HostdSession> {
    if (!selfTested) {
      // Known answers and whole handshakes in memory before this VM signs anything
      // (docs/security.md#t47); they also warm the crypto and handshake code, so the
      // first real handshake does not pay for loading and optimising it.
      cryptoSelfTest(crypto);
      handshakeSelfTest(crypto);
      selfTested = true;
    }
    const link = await VmLink.connect(
      o.controlPort === undefined
        ? path.join(o.runDir, `${o.vm.name}.sock`)
        : o.controlPort === 'auto'
          ? findControlPort()
          : o.controlPort,
    );
    let doorbells: Doorbells | undefined;
    let device: ChannelDevice | undefined;
    try {
      const attach = link.attach;
      if (attach.vmId !== o.vm.id) {
        throw new RuntimeError(
          'ERR_CONFIG',
          `hostd says this link is VM ${attach.vmId} (${attach.vmName}), the config says '${o.vm.name}' is VM ${o.vm.id}: hostd runs another services.yaml`,
        );
      }
      device = HostdSession.#device(attach, o.devicePath);
      doorbells = await openDoorbells(device, attach.ivshmemSocket);
      // hostd hands this id to our channel peers with their grants, so they ring only us.
      link.send({ kind: 'doorbellId', id: doorbells.id });
      const secretKey = crypto.ed25519GenerateSecretKey();
      const rights = configRights(o.config, o.vm.id) ?? { offers: [], requests: [] };
      const certificate = await link.enrol(
        crypto,
        secretKey,
        rights,
        `${o.vm.name}-${process.pid}`,
      );
      link.startHeartbeats(o.heartbeatMs);
      return new HostdSession({
        link,
        doorbells,
        transport: new DataPlane(device),
        secretKey,
        certificate,
        notify: o.notify,
        peerTimeoutMs: o.peerTimeoutMs,
        hooks,
        sdMaxEntries: vmLoad(o.config, o.vm.id).sdEntriesPerMessage,
      });
    } catch (e) {
      try {
        device?.close();
      } catch {
        // Nothing was mapped yet.
      }
      doorbells?.close();
      void link.close();
      throw e;
    }
  }

  static #device(attach: AttachMessage, devicePath = DEFAULT_DEVICE_PATH): ChannelDevice {
    // hostd hands out the grant key only in emulated mode; without it the kernel module holds
    // it and grants are presented to the sivshm.ko device.
    if (attach.grantKey === undefined) {
      let device: KernelDevice;
      try {
        device = new KernelDevice({ path: devicePath });
      } catch (e) {
        throw new RuntimeError(
          'ERR_CONNECT',
          `hostd runs in qemu mode (attach carries no grant key), so this VM needs the sivshm.ko device, but ${devicePath} cannot be opened (${(e as Error).message}); load the module, or run hostd without --qemu for emulated VMs`,
          { cause: e },
        );
      }
      HostdSession.#granuleFits(device);
      return device;
    }
    try {
      return new EmulatedDevice({
        regionPath: attach.region.path,
        vmId: attach.vmId,
        grantKey: attach.grantKey,
        crypto,
      });
    } catch (e) {
      throw new RuntimeError(
        'ERR_CONNECT',
        `cannot open the region file ${attach.region.path} that hostd named (${(e as Error).message})`,
        { cause: e },
      );
    }
  }

  /**
   * A kernel whose pages are larger than the region's page granule refuses every grant: say so
   * at connect, with the setting to change, rather than at the first channel. A device that
   * cannot answer INFO yet (no key, no header) is left to report that itself later.
   */
  static #granuleFits(device: ChannelDevice): void {
    let info: ReturnType<ChannelDevice['info']>;
    try {
      info = device.info();
    } catch {
      return;
    }
    try {
      assertGranuleFits(info);
    } catch (e) {
      device.close();
      throw new RuntimeError('ERR_CONNECT', (e as Error).message, { cause: e });
    }
  }

  get vmId(): number {
    return this.#link.attach.vmId;
  }

  get vmName(): string {
    return this.#link.attach.vmName;
  }

  get epoch(): bigint {
    return this.#link.attach.epoch;
  }

  get sd(): SdAgent {
    return this.#sd;
  }

  get transport(): DataPlane {
    return this.#transport;
  }

  /** Doorbells received in this session. */
  get doorbellsReceived(): number {
    return this.#doorbells.received;
  }

  /** Errors hostd reported on this session's link, oldest first. */
  get errors(): readonly { code: string; message: string }[] {
    return this.#errors;
  }

  /** Runs a consumer handshake for (service, instance) and attaches the granted channel. */
  async openChannel(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<AttachedChannel> {
    if (this.#closing || this.#link.closed) {
      throw new RuntimeError(
        'ERR_HOSTD_GONE',
        'the control link to hostd is gone; the node reconnects when hostd is back',
      );
    }
    const g = await this.#broker.request(service, instance, major, mode, timeoutMs);
    const arriving = this.#arriving.get(g.grant.channelId);
    this.#arriving.delete(g.grant.channelId);
    if (arriving?.revoked === true) {
      // Never map a revoked window: the device may already have revoked it, and in qemu mode
      // the first touch of a zapped window is a SIGBUS that kills the app.
      g.file.close();
      zeroKeys(g.grant);
      throw new RuntimeError(
        'ERR_HANDSHAKE',
        `hostd revoked channel ${g.grant.channelId} of service 0x${service.toString(16)} instance ${instance} before it was attached (its handshake outlived hostd's pending-handshake deadline, see hostd's --handshake-deadline-ms); the channel is asked for again`,
        { cause: { abortReason: 'revoked' } },
      );
    }
    try {
      return this.#attach(g.grant, g.file, g.handshakeMs);
    } catch (e) {
      zeroKeys(g.grant);
      throw e;
    }
  }

  /**
   * StopOffers already sent by the node; closes every channel here and at hostd, stops SD,
   * unmaps, closes fds and ends the link after what was sent is flushed.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await closeSteps('closing the node', [
      ...[...this.#channels.keys()].map((id) => () => this.#closeChannel(id)),
      () => this.#sd.stop(),
      () => this.#broker.abortAll('the node is closing'),
      () => this.#transport.close(),
      () => this.#doorbells.close(),
      // Ends the link after the StopOffers and closes above are flushed.
      () => this.#link.close(),
    ]);
  }

  /**
   * Releases what is left after the link ended: every channel ends (`hostd-gone`), windows are
   * unmapped and fds closed. Nothing is sent: there is nobody to send to.
   */
  async discard(): Promise<void> {
    this.#closing = true;
    this.#broker.abortAll('the control link to hostd closed');
    for (const id of [...this.#channels.keys()]) this.#end(id, 'hostd-gone');
    // The session is dead either way; a failed release must not stop the others.
    await closeSteps('releasing the session', [
      () => this.#sd.stop(),
      () => this.#transport.close(),
      () => this.#doorbells.close(),
      () => this.#link.close(),
    ]).catch(() => undefined);
  }

  /** Tells the device of a device channel's memory file (docs/protocol.md §10). */
  #bindChannelDevice(path: string): void {
    try {
      this.#transport.device.bindChannelDevice?.(path);
    } catch (e) {
      // Its grant is then refused (`nodev`) and the channel fails like any refused grant.
      this.#error('ERR_ATTACH', (e as Error).message);
    }
  }

  #error(code: string, message: string): void {
    this.#errors.push({ code, message });
    if (this.#errors.length > MAX_ERRORS) this.#errors.shift();
  }

  #attach(grant: ChannelGrant, file: DeviceFile, handshakeMs?: number): AttachedChannel {
    const channel = this.#transport.attach(file, grant, {
      notify: this.#notify,
      ...(this.#peerTimeoutMs === undefined ? {} : { peerTimeoutMs: this.#peerTimeoutMs }),
      // Both ring and sleep on the doorbell route the channel's grant names, through its file
      // (docs/protocol.md §7): the device lets the file ring and hear nothing else.
      ownWaker: this.#doorbells.waker(file),
      peerWaker: this.#doorbells.waker(file),
    });
    const id = grant.channelId;
    const live: LiveChannel = {
      id,
      attached: {
        channel,
        grant,
        ...(handshakeMs === undefined ? {} : { handshakeMs }),
        onEnd: (listener) => {
          if (live.ended || this.#channels.get(live.id) !== live) listener('closed');
          else live.listeners.push(listener);
        },
        close: () =>
          this.#channels.get(live.id) === live ? this.#closeChannel(live.id) : Promise.resolve(),
      },
      file,
      listeners: [],
      ended: false,
    };
    this.#channels.set(id, live);
    channel.state$.subscribe((s) => {
      if (s === 'peer-gone' || s === 'failed') this.#onDataPlaneEnd(live.id, channel, s);
    });
    return live.attached;
  }

  #onProviderGrant(grant: ChannelGrant, file: DeviceFile): void {
    let attached: AttachedChannel;
    try {
      attached = this.#attach(grant, file);
    } catch (e) {
      zeroKeys(grant);
      this.#error('ERR_ATTACH', (e as Error).message);
      this.#link.send({ kind: 'close', channelId: grant.channelId });
      return;
    }
    this.#hooks.onProviderChannel(attached);
  }

  /**
   * The data plane saw the peer go (closed flag, stalled heartbeat, a ring violation): tell
   * hostd so it tears the channel down for both ends. A peer that closed its ring cleanly
   * (withdraw, StopOffer, close) already told hostd, whose peerGone says why and comes within
   * moments: the end waits up to {@link PEER_REASON_GRACE_MS} for it, so a StopOffer reads as
   * `stop-offer` rather than as a failed ring.
   */
  #onDataPlaneEnd(
    id: bigint,
    channel: AttachedChannel['channel'],
    s: 'peer-gone' | 'failed',
  ): void {
    const why = channel.failure;
    if (why?.code === 'ERR_CLOSED') {
      const timer = setTimeout(() => {
        if (this.#channels.get(id)?.ended !== false) return;
        this.#link.send({ kind: 'close', channelId: id });
        this.#end(id, 'peer-gone');
      }, PEER_REASON_GRACE_MS);
      timer.unref();
      return;
    }
    // A refused mac/aead record: hostd counts it, and the close below gets both ends a
    // fresh channel (fresh keys) instead of a wedged one.
    if (why?.code === 'ERR_INTEGRITY') {
      this.#link.send({ kind: 'error', code: 'ERR_INTEGRITY', message: why.message });
    }
    this.#link.send({ kind: 'close', channelId: id });
    this.#end(id, s);
  }

  /** Marks channel `id` ended and tells its owner (once). The channel itself closes in `#release`. */
  #end(id: bigint, reason: ChannelEndReason): void {
    const c = this.#channels.get(id);
    if (c === undefined || c.ended) return;
    c.ended = true;
    for (const l of c.listeners.splice(0)) {
      try {
        l(reason);
      } catch {
        // A listener's failure must not keep the others from hearing about the end.
      }
    }
    c.released = this.#release(id).catch(() => undefined);
  }

  async #release(id: bigint): Promise<void> {
    const c = this.#channels.get(id);
    if (c === undefined) return;
    this.#channels.delete(id);
    try {
      await this.#transport.detach(c.attached.channel);
      c.file.close();
    } finally {
      zeroKeys(c.attached.grant); // the channel zeroed its own copies; these are the handshake's
    }
  }

  async #closeChannel(id: bigint): Promise<void> {
    if (!this.#channels.has(id)) return;
    this.#link.send({ kind: 'close', channelId: id });
    this.#end(id, 'closed');
    await this.#release(id);
  }

  /**
   * hostd moves this end of a channel to a successor window (docs/protocol.md §11): its grant
   * goes to the channel's own device file, the channel moves, and from then on the channel is
   * known by the successor's id. hostd then revokes the old id, which ends nothing here: no
   * channel is known by it any more, so only the device revokes and the receipt goes back. A
   * move that fails fails the channel at once, which is closed as any failed channel: a grant
   * the device refuses, a successor window it cannot map or the channel cannot move to, or a
   * move not complete in its bound. The close tells hostd, which abandons the successor (both
   * ids torn down) instead of waiting out its own bound; closing the channel's device file
   * unmaps the successor window with the old one, and the consumer re-establishes the channel.
   */
  async #onResize(m: Extract<ControlMessage, { kind: 'resize' }>): Promise<void> {
    const live = this.#channels.get(m.channelId);
    if (live === undefined || live.ended) return; // hostd's bound tears the move down
    try {
      live.file.presentGrant(m.grantToken, m.grantTag);
      const window = live.file.mapWindow(m.successorId);
      await live.attached.channel.moveTo(window, m.successorId, m.timeoutMs);
    } catch (e) {
      this.#error('ERR_RESIZE', (e as Error).message);
      // A move that failed in the data plane failed the channel already (its state$ closes
      // it); one refused before it began left it open on the old window: end it here.
      if (this.#channels.get(m.channelId) === live && !live.ended) {
        this.#link.send({ kind: 'close', channelId: m.channelId });
        this.#end(m.channelId, 'failed');
      }
      return;
    }
    if (this.#channels.get(m.channelId) !== live || live.ended) return;
    this.#channels.delete(m.channelId);
    live.id = m.successorId;
    this.#channels.set(m.successorId, live);
    this.#link.send({ kind: 'resized', channelId: m.channelId, successorId: m.successorId });
  }

  async #onRevoke(id: bigint, token: Uint8Array, tag: Uint8Array): Promise<void> {
    // Stop the data plane before the device unmaps the window under it, then ack with the
    // device's receipt so hostd may zero and reuse the window.
    // A grant verified but not yet attached (the M4 and this REVOKE came in one read): its
    // attach is a few microtasks away and must not happen (openChannel refuses it).
    const arriving = this.#arriving.get(id);
    if (arriving !== undefined) arriving.revoked = true;
    const live = this.#channels.get(id);
    this.#end(id, 'revoked');
    try {
      // Ended already (hostd's peerGone with the reason comes just before its revoke, or the
      // data plane saw the peer go): the unmap must still wait for that release to finish.
      await live?.released;
      await this.#release(id);
    } catch {
      // The channel was already closing; the revoke below still applies.
    }
    // No acknowledgement for a revoke the device refused (revoke-answer.ts).
    const answer = answerRevoke(this.#transport.device, id, token, tag);
    if ('error' in answer) this.#error('ERR_REVOKE', answer.error);
    else this.#link.send(answer.ack);
  }

  #onLinkGone(): void {
    this.#broker.abortAll('the control link to hostd closed');
    for (const id of [...this.#channels.keys()]) this.#end(id, 'hostd-gone');
    if (!this.#closing) this.#hooks.onGone();
  }
}
