import path from 'node:path';
import { Subject } from 'rxjs';
import {
  configRights,
  cryptoBackend,
  loadConfig,
  vmByName,
  type AttachMessage,
  type Certificate,
  type ChannelGrant,
  type ChannelMode,
  type ServiceConfig,
} from '@sivshm/core';
import { MessageLinkSdTransport, SdNode } from '@sivshm/discovery';
import {
  DEFAULT_DEVICE_PATH,
  EmulatedDevice,
  KernelDevice,
  TransportNode,
  type ChannelDevice,
  type DeviceFile,
  type NotifyMode,
} from '@sivshm/transport-ivshmem';
import { DoorbellHub } from '../doorbell/doorbell-hub.js';
import { RuntimeError } from '../errors/runtime-error.js';
import { VmLink } from '../link/vm-link.js';
import { ConsumedService, type ConsumeOptions } from '../service/consumed-service.js';
import { OfferedService, type OfferOptions } from '../service/offered-service.js';
import { ServiceCatalog } from '../service/service-catalog.js';
import { ChannelBrokerClient } from './channel-broker-client.js';
import type {
  AttachedChannel,
  ChannelEndListener,
  ChannelEndReason,
  NodeContext,
} from './node-context.js';

/** Options of {@link Node.open}. */
export interface NodeOpenOptions {
  /** services.yaml (a path) or a config already loaded with `loadConfig`. */
  readonly config: string | ServiceConfig;
  /** This VM's name in the config. */
  readonly vm: string;
  /** hostd's run dir: the control link is `<runDir>/<vm>.sock`. */
  readonly runDir: string;
  /** How channels wait for records (ARCHITECTURE.md §7); default `adaptive`. */
  readonly notify?: NotifyMode;
  /** Heartbeat period on the control link (for hostd's --vm-timeout); default 1000 ms. */
  readonly heartbeatMs?: number;
  /** qemu mode: the sivshm.ko device; default `/dev/sivshm`. */
  readonly devicePath?: string;
}

interface LiveChannel {
  readonly attached: AttachedChannel;
  readonly file: DeviceFile;
  readonly listeners: ChannelEndListener[];
  ended: boolean;
}

const crypto = cryptoBackend();

/**
 * An app's handle on sivshm inside a VM: one control link to hostd, this VM's certificate,
 * SD, the device and every channel. One `close()` withdraws offers, closes channels, unmaps,
 * closes fds and disconnects.
 *
 * @example
 * ```ts
 * const node = await Node.open({ config: 'services.yaml', vm: 'cluster', runDir: '/run/sivshm' });
 * const speed = await node.consume('VehicleSpeed', { instance: 1 });
 * speed.event<VehicleSpeed>('speed').subscribe(render);
 * await node.close();
 * ```
 */
export class Node {
  readonly #config: ServiceConfig;
  readonly #link: VmLink;
  readonly #doorbells: DoorbellHub;
  readonly #transport: TransportNode;
  readonly #sd: SdNode;
  readonly #broker: ChannelBrokerClient;
  readonly #notify: NotifyMode;
  readonly #channels = new Map<bigint, LiveChannel>();
  readonly #offered = new Map<string, OfferedService>();
  readonly #consumed = new Set<ConsumedService>();
  readonly #sdInbox = new Subject<{ bytes: Uint8Array; from: string }>();
  readonly #errors: { code: string; message: string }[] = [];
  #closed = false;

  private constructor(parts: {
    config: ServiceConfig;
    link: VmLink;
    doorbells: DoorbellHub;
    transport: TransportNode;
    secretKey: Uint8Array;
    certificate: Certificate;
    notify: NotifyMode;
  }) {
    this.#config = parts.config;
    this.#link = parts.link;
    this.#doorbells = parts.doorbells;
    this.#transport = parts.transport;
    this.#notify = parts.notify;
    const link = parts.link;
    this.#sd = new SdNode({
      transport: new MessageLinkSdTransport(
        {
          send: (bytes) => void link.send({ kind: 'sd', message: bytes }),
          messages$: this.#sdInbox.asObservable(),
        },
        link.attach.vmName,
      ),
      allowLoopbackEndpoints: true,
    });
    this.#broker = new ChannelBrokerClient({
      crypto,
      attach: link.attach,
      secretKey: parts.secretKey,
      certificate: parts.certificate,
      transport: parts.transport,
      policy: {
        offeredMajor: (service, instance) => {
          for (const s of this.#offered.values()) {
            const d = this.#catalogOf(s.name).definition;
            if (d.id === service && s.instance === instance) return d.major;
          }
          return undefined;
        },
        minMode: (service) =>
          this.#config.services.find((s) => s.id === service)?.minMode ?? 'plain',
      },
      send: (bytes) => void link.send({ kind: 'handshake', message: bytes }),
      onProviderGrant: (grant, file) => this.#onProviderGrant(grant, file),
    });
    link.listen({
      message: (m) => {
        switch (m.kind) {
          case 'sd':
            return this.#sdInbox.next({ bytes: m.message, from: 'hostd' });
          case 'handshake':
            return this.#broker.receive(m.message);
          case 'revoke':
            return void this.#onRevoke(m.channelId, m.token, m.tag);
          case 'peerGone':
            return this.#end(m.channelId, m.reason);
          case 'error':
            this.#errors.push({ code: m.code, message: m.message });
            return;
          default:
            return;
        }
      },
      closed: () => this.#onLinkGone(),
    });
  }

  /**
   * Connects this VM to hostd: control link, attach, enrolment with a fresh Ed25519 key (rights
   * as services.yaml gives this VM), doorbells, the device. Rejects with a `RuntimeError` that
   * says what to fix (`ERR_CONFIG`, `ERR_CONNECT`, `ERR_ENROL`).
   */
  static async open(options: NodeOpenOptions): Promise<Node> {
    if (typeof options !== 'object' || options === null) {
      throw new RuntimeError('ERR_BAD_ARGUMENT', 'Node.open needs { config, vm, runDir }');
    }
    if (typeof options.vm !== 'string' || options.vm === '') {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        'Node.open: vm must be the VM name of services.yaml',
      );
    }
    if (typeof options.runDir !== 'string' || options.runDir === '') {
      throw new RuntimeError('ERR_BAD_ARGUMENT', "Node.open: runDir must be hostd's --run-dir");
    }
    const notify = options.notify ?? 'adaptive';
    if (notify !== 'adaptive' && notify !== 'event' && notify !== 'spin') {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `Node.open: notify ${String(notify)} is not spin, event or adaptive`,
      );
    }
    let config: ServiceConfig;
    try {
      config =
        typeof options.config === 'string' ? await loadConfig(options.config) : options.config;
    } catch (e) {
      throw new RuntimeError('ERR_CONFIG', (e as Error).message, { cause: e });
    }
    const vm = vmByName(config, options.vm);
    if (vm === undefined) {
      throw new RuntimeError(
        'ERR_CONFIG',
        `${config.file}: no VM named '${options.vm}'; VMs there: ${config.vms.map((v) => v.name).join(', ')}`,
      );
    }
    const link = await VmLink.connect(path.join(options.runDir, `${vm.name}.sock`));
    let doorbells: DoorbellHub | undefined;
    let device: ChannelDevice | undefined;
    try {
      const attach = link.attach;
      if (attach.vmId !== vm.id) {
        throw new RuntimeError(
          'ERR_CONFIG',
          `hostd says this link is VM ${attach.vmId} (${attach.vmName}), the config says '${vm.name}' is VM ${vm.id}: hostd runs another services.yaml`,
        );
      }
      device = Node.#device(attach, options.devicePath);
      // Doorbells come from hostd's ivshmem server in both modes for now: KernelDevice does
      // not deliver the device's interrupts yet (README, known limits).
      doorbells = await DoorbellHub.connect(attach.ivshmemSocket);
      const secretKey = crypto.ed25519GenerateSecretKey();
      const rights = configRights(config, vm.id) ?? { offers: [], requests: [] };
      const certificate = await link.enrol(crypto, secretKey, rights, `${vm.name}-${process.pid}`);
      link.startHeartbeats(options.heartbeatMs ?? 1000);
      return new Node({
        config,
        link,
        doorbells,
        transport: new TransportNode(device),
        secretKey,
        certificate,
        notify,
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
      try {
        return new KernelDevice({ path: devicePath });
      } catch (e) {
        throw new RuntimeError(
          'ERR_CONNECT',
          `hostd runs in qemu mode (attach carries no grant key), so this VM needs the sivshm.ko device, but ${devicePath} cannot be opened (${(e as Error).message}); load the module, or run hostd without --qemu for emulated VMs`,
          { cause: e },
        );
      }
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

  /** This VM's id as hostd assigned it. */
  get vmId(): number {
    return this.#link.attach.vmId;
  }

  /** hostd's epoch this node runs in. */
  get epoch(): bigint {
    return this.#link.attach.epoch;
  }

  /** Errors hostd reported on the control link (code and message), oldest first. */
  get hostdErrors(): readonly { code: string; message: string }[] {
    return this.#errors;
  }

  /** Doorbells this VM received. */
  get doorbellsReceived(): number {
    return this.#doorbells.received;
  }

  /**
   * Finds service `name`, runs the handshake for a channel to it and resolves once the channel
   * is ACTIVE; the handle re-establishes it whenever the provider returns.
   */
  async consume(name: string, options: ConsumeOptions): Promise<ConsumedService> {
    this.#assertOpen();
    const catalog = this.#catalogOf(name);
    catalog.checkInstance(options?.instance);
    const svc = new ConsumedService(this.#context(), catalog, options);
    this.#consumed.add(svc);
    try {
      await svc.start(options.timeoutMs ?? 10_000);
    } catch (e) {
      this.#consumed.delete(svc);
      await svc.close();
      throw e;
    }
    return svc;
  }

  /** Offers service `name` over SD and serves every consumer's channel; resolves once offered. */
  async offer(name: string, options: OfferOptions): Promise<OfferedService> {
    this.#assertOpen();
    const catalog = this.#catalogOf(name);
    catalog.checkInstance(options?.instance);
    if (catalog.definition.provider !== this.#link.attach.vmName) {
      throw new RuntimeError(
        'ERR_CONFIG',
        `services.yaml names '${catalog.definition.provider}' as the provider of '${name}', not '${this.#link.attach.vmName}'`,
      );
    }
    const key = `${name}/${options.instance}`;
    if (this.#offered.has(key)) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `'${name}' instance ${options.instance} is already offered`,
      );
    }
    const svc = new OfferedService(this.#context(), catalog, options);
    this.#offered.set(key, svc);
    await svc.start();
    return svc;
  }

  /**
   * StopOffer for every offer, every channel closed and torn down at hostd, SD stopped, every
   * mapping and fd released, the link closed. Failures come back together in one error.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    const attempt = async (f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const s of this.#offered.values()) await attempt(() => s.withdraw());
    for (const s of this.#consumed) await attempt(() => s.close());
    for (const id of [...this.#channels.keys()]) await attempt(() => this.#closeChannel(id));
    await attempt(() => this.#sd.stop());
    this.#broker.abortAll('the node is closing');
    await attempt(() => this.#transport.close());
    await attempt(() => this.#doorbells.close());
    // Ends the link after the StopOffers and closes above are flushed.
    await attempt(() => this.#link.close());
    if (errors.length > 0) {
      throw new RuntimeError('ERR_CLOSED', `closing the node failed in ${errors.length} step(s)`, {
        cause: new AggregateError(errors),
      });
    }
  }

  #catalogOf(name: string): ServiceCatalog {
    return ServiceCatalog.of(this.#config, name);
  }

  #assertOpen(): void {
    if (this.#closed) throw new RuntimeError('ERR_CLOSED', 'the node is closed');
  }

  #context(): NodeContext {
    return {
      config: this.#config,
      vmId: this.vmId,
      sd: this.#sd,
      transport: this.#transport,
      openChannel: (service, instance, major, mode, timeoutMs) =>
        this.#openChannel(service, instance, major, mode, timeoutMs),
      onChannelEnd: (id, listener) => {
        const c = this.#channels.get(id);
        if (c === undefined || c.ended) listener('closed');
        else c.listeners.push(listener);
      },
      closeChannel: (id) => this.#closeChannel(id),
    };
  }

  async #openChannel(
    service: number,
    instance: number,
    major: number,
    mode: ChannelMode,
    timeoutMs: number,
  ): Promise<AttachedChannel> {
    this.#assertOpen();
    if (this.#link.closed) {
      throw new RuntimeError(
        'ERR_CLOSED',
        'the control link to hostd is gone; open the node again',
      );
    }
    const g = await this.#broker.request(service, instance, major, mode, timeoutMs);
    return this.#attach(g.grant, g.file, g.handshakeMs);
  }

  #attach(grant: ChannelGrant, file: DeviceFile, handshakeMs?: number): AttachedChannel {
    const channel = this.#transport.attach(file, grant, {
      notify: this.#notify,
      ownWaker: this.#doorbells.waker(),
      peerWaker: this.#doorbells.waker(),
    });
    const attached: AttachedChannel = {
      channel,
      grant,
      ...(handshakeMs === undefined ? {} : { handshakeMs }),
    };
    const live: LiveChannel = { attached, file, listeners: [], ended: false };
    this.#channels.set(grant.channelId, live);
    channel.state$.subscribe((s) => {
      // The data plane saw the peer go (closed flag, stalled heartbeat, a ring violation):
      // tell hostd so it tears the channel down for both ends.
      if (s === 'peer-gone' || s === 'failed') {
        this.#link.send({ kind: 'close', channelId: grant.channelId });
        this.#end(grant.channelId, s);
      }
    });
    return attached;
  }

  #onProviderGrant(grant: ChannelGrant, file: DeviceFile): void {
    const svc = [...this.#offered.values()].find((s) => {
      const d = this.#catalogOf(s.name).definition;
      return d.id === grant.service && s.instance === grant.instance;
    });
    let attached: AttachedChannel;
    try {
      attached = this.#attach(grant, file);
    } catch (e) {
      this.#errors.push({ code: 'ERR_ATTACH', message: (e as Error).message });
      this.#link.send({ kind: 'close', channelId: grant.channelId });
      return;
    }
    if (svc === undefined) void this.#closeChannel(grant.channelId);
    else svc.addChannel(attached);
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
    void this.#release(id).catch(() => undefined);
  }

  async #release(id: bigint): Promise<void> {
    const c = this.#channels.get(id);
    if (c === undefined) return;
    this.#channels.delete(id);
    await this.#transport.detach(c.attached.channel);
    c.file.close();
  }

  async #closeChannel(id: bigint): Promise<void> {
    if (!this.#channels.has(id)) return;
    this.#link.send({ kind: 'close', channelId: id });
    this.#end(id, 'closed');
    await this.#release(id);
  }

  async #onRevoke(id: bigint, token: Uint8Array, tag: Uint8Array): Promise<void> {
    // Stop the data plane before the device unmaps the window under it, then ack so hostd may
    // zero and reuse the window.
    this.#end(id, 'revoked');
    try {
      await this.#release(id);
    } catch {
      // The channel was already closing; the revoke below still applies.
    }
    try {
      this.#transport.device.revoke(token, tag);
    } catch (e) {
      this.#errors.push({ code: 'ERR_REVOKE', message: (e as Error).message });
    }
    this.#link.send({ kind: 'revokeAck', channelId: id });
  }

  #onLinkGone(): void {
    this.#broker.abortAll('the control link to hostd closed');
    for (const id of [...this.#channels.keys()]) this.#end(id, 'hostd-gone');
  }
}
