import { chmodSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import {
  cryptoBackend,
  DEFAULT_SERVICE_RING_DATA_SIZE,
  isPendingTimeoutMs,
  loadConfig,
  resolveGrantKey,
  type BrokerHandshakes,
  type CaLock,
  type CertificateAuthority,
  type ControlMessage,
  type CryptoBackend,
  type OpenedCa,
  type ServiceConfig,
} from '@sivshm/core';
import { windowLayout } from '@sivshm/abi';
import {
  HostdHeartbeat,
  IvshmemServer,
  WindowAllocator,
  closeFd,
  unmap,
} from '@sivshm/transport-ivshmem';
import { BrokerRouter } from './broker/broker-router.js';
import { ChannelLifecycle } from './channels/channel-lifecycle.js';
import { ControlDispatch } from './control/control-dispatch.js';
import { HostdError } from './errors/hostd-error.js';
import { ChannelDevices } from './isolation/channel-devices.js';
import { QmpConnections } from './qmp/qmp-connections.js';
import { ivshmemPeers, ivshmemPeersPerProcess } from './links/ivshmem-limits.js';
import { VmLinkServer } from './links/vm-link-server.js';
import { brokerFor } from './broker/config-broker.js';
import { JsonLogger, type LogLevel } from './log/logger.js';
import { RegionLock } from './region/region-lock.js';
import { ElasticChannels } from './resize/elastic-channels.js';
import { CaAdmin } from './admin/ca-admin.js';
import { CaAdminServer } from './admin/ca-admin-server.js';
import { RegionSizeGuard } from './region/region-size-guard.js';
import { closeReasonOf } from './sd/close-reason.js';
import { SdSwitch } from './sd/sd-switch.js';
import {
  claimPidFile,
  channelTableOf,
  createRegion,
  takeCaLock,
  openHostdCa,
  type HostdRegion,
} from './startup/hostd-startup.js';
import { ensureUsableDirectory } from './startup/usable-directory.js';
import { StatusReporter } from './status/status-document.js';
import { HostdMetrics } from './metrics/hostd-metrics.js';
import { MetricsServer, type MetricsAddress } from './metrics/metrics-server.js';
import { StatusServer, type StatusDocument } from './status/status-server.js';
import { VmHeartbeats } from './vms/vm-heartbeats.js';
import { VmRegistry } from './vms/vm-registry.js';

/** Options of {@link Hostd.start}. */
export interface HostdOptions {
  /** services.yaml. */
  readonly configPath: string;
  /** Persistent state (the CA directory lives in `<stateDir>/ca`). */
  readonly stateDir: string;
  /** Sockets: `<vm-name>.sock` per VM, `status.sock`, `ivshmem.sock`, `hostd.pid`. */
  readonly runDir: string;
  readonly logLevel?: LogLevel;
  /** Where log lines go; default stderr. */
  readonly logWrite?: (line: string) => void;
  /**
   * Ring data area per direction of the channel windows of services that name no `ringDataSize`
   * in services.yaml, bytes (power of two); 64 KiB.
   */
  readonly channelDataSize?: number;
  /** PENDING handshake deadline, ms (1 to 60000); default 1000 (docs/security.md). */
  readonly pendingTimeoutMs?: number;
  /** Time a live VM has to acknowledge a REVOKE before quarantine, ms; default 2000. */
  readonly revokeAckTimeoutMs?: number;
  /** Period of the region heartbeat and of the handshake deadline check, ms; default 100. */
  readonly tickMs?: number;
  /** Send K_vm in attach (emulated mode); default true. */
  readonly emulated?: boolean;
  /**
   * Drop a VM's link after this long without a frame from it, ms; 0 (default) = never. For
   * qemu mode, where a hung guest keeps its virtio-serial socket open: VMs then send a
   * heartbeat at least this often.
   */
  readonly vmSilenceTimeoutMs?: number;
  /** Serve Prometheus/OpenMetrics text at http://HOST:PORT/metrics (metrics/metrics-server.ts). */
  readonly metrics?: MetricsAddress;
}

/**
 * Doorbell vectors per peer; the broker gives each channel one of them, the least used by the
 * two VMs' live channels (several channels share one when they outnumber the vectors).
 */
const IVSHMEM_VECTORS = 2;
/**
 * Time a control connection has to say `hello` (emulated mode), ms. An app says it at once;
 * a few seconds absorb a loaded machine, and a squatter holding a VM's only link is dropped
 * after that long whatever --vm-timeout says.
 */
export const HELLO_TIMEOUT_MS = 3000;
/** Longest wait for a QEMU's answer to one QMP command, ms. */
const QMP_TIMEOUT_MS = 5000;
/** Events whose handling never touches the region (no size check before them). */
const QUIET_EVENTS = new Set(['heartbeat', 'error']);

/**
 * The hypervisor-side daemon (docs/architecture.md), and its composition root: it owns the
 * region, is the CA and the channel broker, switches SOME/IP-SD between VMs under the config's
 * policy, serves doorbells with the ivshmem-server protocol, and answers status queries. One
 * control link per VM; a message's VM is the link's, never a field's.
 *
 * The parts are wired here by hand, in the one order start-up allows (the CA, the grant keys
 * and the region are opened asynchronously first): a DI container would add a token per part
 * and hide that order without making any part replaceable that a test needs to replace.
 *
 * Use `Hostd.start()` from a composition root (the `sivshm-hostd` binary, `sivshm hostd`, tests)
 * and `stop()` to revoke every grant, withdraw every offer and remove sockets and region.
 */
export class Hostd {
  readonly log: JsonLogger;
  readonly config: ServiceConfig;
  readonly ca: CertificateAuthority;
  readonly epoch: bigint;
  readonly runDir: string;
  readonly #o: HostdOptions;
  readonly #opened: OpenedCa;
  readonly #broker: BrokerHandshakes;
  readonly #sd: SdSwitch;
  readonly #vms: VmRegistry;
  readonly #router: BrokerRouter;
  /** Elastic channels (docs/protocol.md §11), made when hostd starts serving. */
  #elastic: ElasticChannels | undefined;
  readonly #dispatch: ControlDispatch;
  readonly #status: StatusReporter;
  readonly #lifecycle: ChannelLifecycle;
  /** The memory of `isolation: device` channels (issue 18, docs/protocol.md §10). */
  readonly #devices: ChannelDevices;
  readonly #regionPath: string;
  #region: HostdRegion | undefined;
  #regionLock: RegionLock | undefined;
  readonly #regionSize: RegionSizeGuard;
  #links: VmLinkServer | undefined;
  #statusServer: StatusServer | undefined;
  #metricsServer: MetricsServer | undefined;
  #adminServer: CaAdminServer | undefined;
  /** The CA directory is hostd's while it runs (ca-lock.ts): `sivshm ca` goes through admin.sock. */
  #caLock: CaLock | undefined;
  #ivshmem: IvshmemServer | undefined;
  /** ivshmem peer id → pid of the process that connected it (SO_PEERCRED). */
  readonly #ivshmemPids = new Map<number, number>();
  #timers: NodeJS.Timeout[] = [];
  #saving: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  private constructor(init: {
    o: HostdOptions;
    log: JsonLogger;
    config: ServiceConfig;
    crypto: CryptoBackend;
    opened: OpenedCa;
    grantKeys: Map<number, Uint8Array>;
    region: HostdRegion;
  }) {
    const { o, config, opened, crypto, log, region } = init;
    this.#o = o;
    this.log = log;
    this.config = config;
    this.#opened = opened;
    this.ca = opened.ca;
    this.epoch = opened.ca.epoch;
    this.runDir = o.runDir;
    this.#region = region;
    this.#regionPath = config.region.path;
    this.#regionSize = this.#sizeGuard(region);
    const send = (vm: number, m: ControlMessage): boolean => this.#links?.send(vm, m) ?? false;
    const connected = (vm: number): boolean => this.#links?.connected(vm) ?? false;
    this.#vms = new VmRegistry({ config, grantKeys: init.grantKeys, log, send });
    const devices = (this.#devices = Hostd.#channelDevices(o, config, opened.ca.epoch, log));
    const doorbells = this.#doorbells(connected);
    this.#broker = brokerFor(o, config, opened, crypto, init.grantKeys, doorbells, devices);
    const lifecycle = new ChannelLifecycle({
      table: channelTableOf(region),
      allocator: new WindowAllocator({
        dataOffset: region.layout.dataOffset,
        dataSize: region.layout.dataSize,
        memory: new Uint8Array(region.mapping.bulk),
      }),
      log,
      nowMs: () => Date.now(),
    });
    this.#lifecycle = lifecycle;
    this.#router = new BrokerRouter({
      broker: this.#broker,
      lifecycle,
      vms: this.#vms,
      log,
      send,
      sendRevoke: (vm, channelId) => void this.#vms.sendRevoke(crypto, this.epoch, vm, channelId),
      devices,
    });
    this.#sd = this.#sdSwitch(config, connected);
    this.#dispatch = new ControlDispatch({
      log,
      crypto,
      ca: opened.ca,
      vms: this.#vms,
      broker: this.#broker,
      router: this.#router,
      lifecycle,
      sd: this.#sd,
      emulated: o.emulated !== false,
      region: { path: config.region.path, layout: region.layout },
      ivshmemSocket: this.ivshmemSocket,
      links: () => this.#links,
      doorbellPeers: () => this.#ivshmem?.peerIds() ?? [],
      doorbellPid: (id) => this.#ivshmemPids.get(id),
      saveCa: () => void this.#saveCa().catch(() => undefined),
      stopping: () => this.#stopping !== undefined,
      resized: (vm, id, successor) => this.#elastic?.resized(vm, id, successor),
    });
    this.#status = new StatusReporter({
      config,
      epoch: this.epoch,
      regionPath: this.#regionPath,
      layout: region.layout,
      vms: this.#vms,
      broker: this.#broker,
      lifecycle,
      sd: this.#sd,
      connected,
      regionMemory: () => (this.#regionIntact() ? this.#region?.mapping.shared : undefined),
      devices,
    });
  }

  /** The doorbell vectors and ids the broker names in grants. */
  #doorbells(connected: (vm: number) => boolean) {
    return {
      vectors: IVSHMEM_VECTORS,
      // a VM's doorbell id counts while its link is up (as the router's peerDoorbell)
      of: (vm: number) => (connected(vm) ? this.#vms.get(vm)?.doorbellId : undefined),
    };
  }

  /** The memory of `isolation: device` channels: files (emulated) or hot-plugged devices (qemu). */
  static #channelDevices(
    o: HostdOptions,
    config: ServiceConfig,
    epoch: bigint,
    log: JsonLogger,
  ): ChannelDevices {
    return new ChannelDevices({
      config,
      dir: path.join(o.runDir, 'devices'),
      epoch,
      log,
      ...(o.emulated === false ? { qmp: new QmpConnections(config, QMP_TIMEOUT_MS) } : {}),
    });
  }

  /** Watches the region file's size; a shrunk file is restored and every VM dropped. */
  #sizeGuard(region: HostdRegion): RegionSizeGuard {
    return new RegionSizeGuard({
      region,
      size: this.config.region.size,
      path: this.config.region.path,
      epoch: this.epoch,
      log: this.log,
      dropEveryVm: () => {
        for (const vm of this.#vms.all()) this.#links?.drop(vm.id);
      },
    });
  }

  /** Persists the CA state after any save in flight; failures are logged (and rejected). */
  #saveCa(): Promise<void> {
    const save = this.#saving.then(() => this.#opened.save());
    this.#saving = save.catch((e: unknown) =>
      this.log.error('ca-save-failed', { error: (e as Error).message }),
    );
    return save;
  }

  /** The SD switch, its offers and departures reported to the broker. */
  #sdSwitch(config: ServiceConfig, connected: (vm: number) => boolean): SdSwitch {
    // A service's own ring size (services.yaml `ringDataSize`) or hostd's default for all,
    // laid out for the region's page granule (a default below one granule is raised to it).
    const granule = config.region.pageGranule;
    const windowLength = (ringDataSize: number | undefined): bigint =>
      BigInt(
        windowLayout(granule).windowLength(
          ringDataSize ??
            Math.max(this.#o.channelDataSize ?? DEFAULT_SERVICE_RING_DATA_SIZE, granule),
        ),
      );
    return new SdSwitch({
      config,
      log: this.log,
      certificate: (vm) => this.#vms.get(vm)?.certificate,
      connected,
      sendSd: (vm, message) => void this.#links?.send(vm, { kind: 'sd', message }),
      refuse: (vm, code, message) => this.#vms.refuse(vm, code, message),
      serviceOffered: (providerVm, service, instance, major) => {
        const svc = config.services.find((s) => s.id === service);
        if (svc === undefined) return;
        this.#broker.offer(service, instance, {
          providerVm,
          major,
          minMode: svc.minMode,
          windowLength: windowLength(svc.ringDataSize),
        });
      },
      serviceGone: (providerVm, service, instance, why) => {
        const reason = closeReasonOf(why, this.#stopping !== undefined);
        this.#router.route(this.#broker.withdraw(providerVm, service, instance, reason));
      },
      vmRebooted: (vm) => this.#router.route(this.#broker.vmRebooted(vm)),
    });
  }

  /** Loads the config, opens (or creates) the CA with epoch + 1, creates the region, listens. */
  static async start(o: HostdOptions): Promise<Hostd> {
    // Both directories are made and checked before anything else (usable-directory.ts).
    ensureUsableDirectory(o.stateDir, '--state-dir');
    ensureUsableDirectory(o.runDir, '--run-dir');
    const pidFile = path.join(o.runDir, 'hostd.pid');
    claimPidFile(pidFile);
    try {
      return await Hostd.#start(o);
    } catch (e) {
      // Whatever got as far as the constructor was cleaned up by stop(); the rest is ours.
      rmSync(pidFile, { force: true });
      throw e;
    }
  }

  static async #start(o: HostdOptions): Promise<Hostd> {
    const ms = o.pendingTimeoutMs;
    if (ms !== undefined && !isPendingTimeoutMs(ms)) {
      throw new HostdError(
        'ERR_ARGS',
        `pendingTimeoutMs ${ms} is not allowed: use a whole number of milliseconds from 1 to 60000`,
      );
    }
    const log = new JsonLogger(
      o.logLevel ?? 'info',
      o.logWrite ?? ((l) => void process.stderr.write(l)),
    );
    const config = await loadConfig(o.configPath);
    // Before the CA's epoch is bumped or the region touched: a second hostd on the same region
    // changes nothing of the first's (region-lock.ts).
    const lock = RegionLock.take(config.region.path, o.runDir);
    try {
      return await Hostd.#startLocked(o, log, config, lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  static async #startLocked(
    o: HostdOptions,
    log: JsonLogger,
    config: ServiceConfig,
    lock: RegionLock,
  ): Promise<Hostd> {
    const crypto = cryptoBackend();
    const caLock = takeCaLock(o);
    let hostd: Hostd;
    try {
      const opened = await openHostdCa({ stateDir: o.stateDir, config, crypto, log });
      const grantKeys = new Map<number, Uint8Array>();
      for (const vm of config.vms) grantKeys.set(vm.id, await resolveGrantKey(vm));
      const region = createRegion(config, opened.ca.epoch);
      hostd = new Hostd({ o, log, config, crypto, opened, grantKeys, region });
    } catch (e) {
      caLock.release();
      throw e;
    }
    hostd.#regionLock = lock;
    hostd.#caLock = caLock;
    try {
      await hostd.#listen();
    } catch (e) {
      await hostd.stop();
      throw e;
    }
    log.info('hostd-started', {
      pid: process.pid,
      epoch: hostd.epoch,
      region: config.region.path,
      size: config.region.size,
      vms: config.vms.length,
      services: config.services.length,
      crypto: crypto.name,
    });
    return hostd;
  }

  /** Path of the status socket. */
  get statusSocket(): string {
    return path.join(this.runDir, 'status.sock');
  }

  /** Path of the admin socket (`sivshm ca revoke` / `ca list` while hostd runs). */
  get adminSocket(): string {
    return path.join(this.runDir, 'admin.sock');
  }

  /** Path of the ivshmem-doorbell server socket. */
  get ivshmemSocket(): string {
    return path.join(this.runDir, 'ivshmem.sock');
  }

  /** The memory of the `isolation: device` channels hostd holds now. */
  channelDevices(): ReturnType<ChannelDevices['list']> {
    return this.#devices.list();
  }

  /** One status document (what `status.sock` answers). */
  status(): StatusDocument {
    this.#regionIntact(); // a shrunk region is restored before any figure is read from it
    return this.#status.document();
  }

  /**
   * Clean shutdown: revokes every grant (REVOKE to both ends of every channel), withdraws every
   * offer (StopOffer to consumers), closes every link, removes sockets, the region and the pid
   * file. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    this.log.info('hostd-stopping', {});
    // Closing channels writes the table: never into a truncated file.
    this.#regionIntact();
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#status.stop();
    for (const c of this.#broker.activeChannels()) {
      this.#router.route(this.#broker.closeChannel(c.channelId, 'hostd-shutdown'));
    }
    this.#sd.close();
    for (const vm of this.#vms.all()) this.#router.route(this.#broker.forgetVm(vm.id));
    const failures: Error[] = [];
    const attempt = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        failures.push(new Error(`${what}: ${(e as Error).message}`, { cause: e }));
      }
    };
    await attempt('links', () => this.#links?.close());
    await attempt('status socket', () => this.#statusServer?.close());
    await attempt('metrics endpoint', () => this.#metricsServer?.close());
    await attempt('admin socket', () => this.#adminServer?.close());
    await attempt('ivshmem server', () => this.#ivshmem?.close());
    await attempt('channel devices', () => this.#devices.close());
    await attempt('CA state', () => this.#saving.then(() => this.#opened.save()));
    this.#caLock?.release();
    this.#caLock = undefined;
    await attempt('region', () => {
      const region = this.#region;
      this.#region = undefined;
      if (region !== undefined) {
        unmap(region.mapping.handle);
        closeFd(region.fd);
        unmap(region.control.mapping.handle);
        closeFd(region.control.fd);
        rmSync(region.control.path, { force: true });
      }
      rmSync(this.#regionPath, { force: true });
      this.#regionLock?.release();
      this.#regionLock = undefined;
    });
    await attempt('pid file', () => unlinkSync(path.join(this.runDir, 'hostd.pid')));
    this.log.info('hostd-stopped', { failures: failures.map((f) => f.message) });
    if (failures.length > 0) throw new AggregateError(failures, 'hostd shutdown was not clean');
  }

  /** The port `--metrics` listens on (the one asked for, or the kernel's pick for port 0). */
  get metricsPort(): number | undefined {
    return this.#metricsServer?.port;
  }

  async #listenMetrics(): Promise<void> {
    const at = this.#o.metrics;
    if (at === undefined) return;
    const metrics = new HostdMetrics(() => {
      this.#regionIntact();
      return this.#status.document(true);
    });
    this.#lifecycle.onHandshakeTimed = (ms) => metrics.observeHandshake(ms);
    this.#metricsServer = await MetricsServer.listen(at, metrics);
    this.log.info('metrics-listening', { host: at.host, port: this.#metricsServer.port });
  }

  async #listen(): Promise<void> {
    this.#status.start();
    this.#devices.start();
    this.#ivshmem = IvshmemServer.listen({
      socketPath: this.ivshmemSocket,
      shm: { fd: this.#region!.fd },
      vectors: IVSHMEM_VECTORS,
      maxPeers: ivshmemPeers(this.config.vms.length),
      maxPeersPerProcess: ivshmemPeersPerProcess(this.config.vms.length),
      // Metered like a VM's lines (vm 0: not attributable to one VM).
      onError: (e) => this.log.warn('ivshmem-connection-refused', { vm: 0, error: e.message }),
      onPeerJoined: (id, pid) => {
        this.#ivshmemPids.set(id, pid);
        this.log.debug('ivshmem-peer-joined', { id, pid });
      },
      onPeerLeft: (id, e) => {
        this.#ivshmemPids.delete(id);
        this.log.debug('ivshmem-peer-left', { id, error: e?.message });
      },
    });
    // Whoever connects gets the region fd: same access rule as the control sockets.
    chmodSync(this.ivshmemSocket, 0o600);
    const d = this.#dispatch;
    this.#links = await VmLinkServer.listen(
      this.runDir,
      this.config.vms,
      {
        onConnect: (vm) => this.#guard('connect', vm, () => d.linkUp(vm)),
        onMessage: (vm, m) => this.#guard(m.kind, vm, () => d.message(vm, m)),
        onInvalid: (vm, e) => d.invalid(vm, e),
        onDisconnect: (vm, e) => this.#guard('disconnect', vm, () => d.linkDown(vm, e)),
        onRefused: (vm) => this.log.warn('link-refused', { vm, why: 'VM already connected' }),
        onServerError: (vm, e) => this.log.warn('link-accept-failed', { vm, error: e.message }),
      },
      { helloTimeoutMs: this.#o.emulated === false ? 0 : HELLO_TIMEOUT_MS },
    );
    this.#statusServer = await StatusServer.listen(this.statusSocket, () => this.status());
    await this.#listenMetrics();
    this.#adminServer = await CaAdminServer.listen(
      this.adminSocket,
      new CaAdmin({
        ca: this.ca,
        save: () => this.#saveCa(),
        broker: this.#broker,
        router: this.#router,
        vms: this.#vms,
        log: this.log,
      }),
    );
    const heartbeats = new VmHeartbeats({
      vms: this.#vms,
      links: () => this.#links,
      log: this.log,
      silenceTimeoutMs: this.#o.vmSilenceTimeoutMs ?? 0,
      emulated: this.#o.emulated !== false,
    });
    const elastic = (this.#elastic = this.#elasticChannels());
    this.#status.watchElastic(() => elastic.status);
    const beat = new HostdHeartbeat(new Uint8Array(this.#region!.mapping.shared));
    const controlBeat = new HostdHeartbeat(new Uint8Array(this.#region!.control.mapping.shared));
    this.#timers.push(
      setInterval(() => {
        // The heartbeat is a write into the mapping: look at the file's size first.
        if (!this.#regionIntact()) return;
        // hostd's monotonic clock: a wall-clock step must not look like a dead broker.
        beat.store(process.hrtime.bigint());
        controlBeat.store(process.hrtime.bigint());
        // Deadlines are judged after this turn's I/O (setImmediate runs after the poll phase):
        // an M3 or M5 that arrived while hostd was descheduled is read before its handshake's
        // deadline is checked, instead of the handshake being aborted with its answer unread.
        setImmediate(() => this.#guard('tick', 0, () => this.#router.route(this.#broker.tick())));
        // Elastic channels are sampled at the same pace (docs/protocol.md §11.1).
        setImmediate(() => this.#guard('elastic', 0, () => elastic.tick()));
      }, this.#o.tickMs ?? 100),
      setInterval(() => heartbeats.beat(), 1000),
    );
    beat.store(process.hrtime.bigint());
    controlBeat.store(process.hrtime.bigint());
  }

  /** hostd's side of elastic channels, over its broker, lifecycle, links and region. */
  #elasticChannels(): ElasticChannels {
    const region = this.#region!;
    return new ElasticChannels({
      config: this.config,
      broker: this.#broker,
      lifecycle: this.#lifecycle,
      route: (effects) => this.#router.route(effects),
      send: (vm, m) => this.#links?.send(vm, m) ?? false,
      log: this.log,
      regionMemory: () => (this.#regionIntact() ? this.#region?.mapping.shared : undefined),
      pageGranule: region.layout.pageGranule,
      budgetBytes: region.layout.dataSize,
    });
  }

  /** True while the region file still has the size hostd mapped (region-size-guard.ts). */
  #regionIntact(): boolean {
    return this.#region !== undefined && this.#regionSize.intact();
  }

  /**
   * Runs one event's handling; a bug met while serving one VM is logged and answered, never
   * allowed to take the daemon (and every other VM's channels) down with it.
   */
  #guard(what: string, vmId: number, f: () => void): void {
    // Most events can end up writing the channel table (a handshake, a close, an SD StopOffer
    // that tears channels down, a link change): the region must be whole first. An fstat per
    // event is cheap next to decoding it.
    if (!QUIET_EVENTS.has(what) && !this.#regionIntact()) return;
    try {
      f();
    } catch (e) {
      this.log.error('internal-error', {
        vm: vmId,
        while: what,
        error: (e as Error).message,
        stack: (e as Error).stack,
      });
      if (vmId !== 0)
        this.#links?.send(vmId, {
          kind: 'error',
          code: 'ERR_INTERNAL',
          message: `hostd failed handling ${what}`,
        });
    }
  }
}
