import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  CoreTokens,
  certificateHash,
  configRights,
  coreModule,
  cryptoBackend,
  cryptoSelfTest,
  handshakeSelfTest,
  decodeCertificateBody,
  initCaDirectory,
  loadConfig,
  openCaDirectory,
  resolveGrantKey,
  signRevoke,
  TokenBucket,
  type BrokerEffect,
  type BrokerHandshakes,
  type CertificateAuthority,
  type CertificateBody,
  type ControlMessage,
  type CryptoBackend,
  type OpenedCa,
  type ServiceConfig,
} from '@sivshm/core';
import { WindowLayout } from '@sivshm/kmod';
import {
  ChannelTableWriter,
  HostdHeartbeat,
  RingPageLayout,
  IvshmemServer,
  RegionLayout,
  WindowAllocator,
  closeFd,
  createRegionFile,
  mapFile,
  unmap,
  writeRegionHeader,
  type MappedFile,
  type RegionLayoutInfo,
} from '@sivshm/transport-ivshmem';
import { Container } from 'inversify';
import { ChannelLifecycle, type CloseReason } from './channels/channel-lifecycle.js';
import { HostdError } from './errors/hostd-error.js';
import { VmLinkServer } from './links/vm-link-server.js';
import { JsonLogger, type LogLevel } from './log/logger.js';
import { SdSwitch } from './sd/sd-switch.js';
import {
  StatusServer,
  type StatusDocument,
  type StatusRingDirection,
  type StatusRings,
} from './status/status-server.js';

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
  /** Ring data area per direction of every channel window, bytes (power of two); 64 KiB. */
  readonly channelDataSize?: number;
  /** PENDING handshake deadline, ms; default 1000 (security-anchors §2.7). */
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
}

const DEFAULT_DATA_SIZE = 64 * 1024;
/**
 * SD budget per VM. An SD node sends a handful of messages per second (repetition phase, cyclic
 * offers, finds); far more is a flood that hostd would amplify to every consumer.
 */
const SD_MESSAGES_PER_SECOND = 200;
const SD_BURST = 50;
/**
 * Refusals hostd logs and answers per VM (undecodable frames, messages out of order, policy
 * refusals). A VM that provokes more is in a burst: counted, logged once when it starts and
 * once when it ends, not answered (an answer per garbage frame would be work on its behalf).
 */
const REFUSALS_PER_SECOND = 20;
const REFUSAL_BURST = 20;
/** Quiet time that ends a burst of refusals. */
const REFUSAL_QUIET_MS = 1000;
/** Sampling interval of the event-loop delay figure in status, ms. */
const LOOP_SAMPLE_MS = 2;
/** 32-bit words of a ring index page that hostd reads (index, heartbeat, flags). */
const RING_PAGE_WORDS = 64;
/** Doorbell vectors per peer: one per ring direction of a channel. */
const IVSHMEM_VECTORS = 2;

interface VmState {
  readonly id: number;
  readonly name: string;
  readonly grantKey: Uint8Array;
  /** SD messages a VM may send: it makes hostd relay to every consumer, so it is metered. */
  readonly sdBucket: TokenBucket;
  sdDropped: number;
  /** Refusals this VM may provoke before they are only counted. */
  readonly refusalBucket: TokenBucket;
  /** Refusals neither logged nor answered in the current burst; undefined outside one. */
  refusalsSuppressed: number | undefined;
  lastSuppressedMs: number;
  /** Between the broker's over-budget `started` and `ended`: per-message logs are skipped. */
  handshakeBurst: boolean;
  lastHeardMs: number;
  hello: boolean;
  certificate: CertificateBody | undefined;
  /** SHA-256 of the certificate enrolled on the current link. */
  certHash: Uint8Array | undefined;
  connectedSinceMs: number | undefined;
  messagesIn: number;
  refusals: number;
  revokeSerial: bigint;
  /** The VM's id on the ivshmem doorbell server, as it told us on this link. */
  doorbellId: number | undefined;
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * The hypervisor-side daemon (ARCHITECTURE.md §2): owns the region, is the CA and the channel
 * broker, switches SOME/IP-SD between VMs under the config's policy, serves doorbells with the
 * ivshmem-server protocol, and answers status queries. One control link per VM; a message's VM
 * is the link's, never a field's.
 *
 * Use `Hostd.start()` from a composition root (the `sivshm-hostd` binary, `sivshm hostd`, tests)
 * and `stop()` to revoke every grant, withdraw every offer and remove sockets and region.
 *
 * @example
 * ```ts
 * const hostd = await Hostd.start({ configPath: 'services.yaml', stateDir: '/var/lib/sivshm', runDir: '/run/sivshm' });
 * process.once('SIGTERM', () => void hostd.stop());
 * ```
 */
export class Hostd {
  readonly log: JsonLogger;
  readonly config: ServiceConfig;
  readonly ca: CertificateAuthority;
  readonly epoch: bigint;
  readonly runDir: string;
  readonly #o: HostdOptions;
  readonly #crypto: CryptoBackend;
  readonly #opened: OpenedCa;
  readonly #broker: BrokerHandshakes;
  readonly #lifecycle: ChannelLifecycle;
  readonly #sd: SdSwitch;
  readonly #vms = new Map<number, VmState>();
  readonly #startedMs = Date.now();
  /** Event-loop lateness, reset by every status query. */
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
  readonly #windowLength: bigint;
  readonly #layout: RegionLayoutInfo;
  readonly #regionPath: string;
  #regionFd: number;
  #region: MappedFile | undefined;
  #links: VmLinkServer | undefined;
  #status: StatusServer | undefined;
  #ivshmem: IvshmemServer | undefined;
  /** ivshmem peer id → pid of the process that connected it (SO_PEERCRED). */
  readonly #ivshmemPids = new Map<number, number>();
  #timers: NodeJS.Timeout[] = [];
  #heartbeatSeq = 0n;
  #saving: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  private constructor(init: {
    o: HostdOptions;
    log: JsonLogger;
    config: ServiceConfig;
    crypto: CryptoBackend;
    opened: OpenedCa;
    grantKeys: Map<number, Uint8Array>;
    regionFd: number;
    region: MappedFile;
    layout: RegionLayoutInfo;
  }) {
    const { o, config, opened } = init;
    this.#o = o;
    this.log = init.log;
    this.config = config;
    this.#crypto = init.crypto;
    this.#opened = opened;
    this.ca = opened.ca;
    this.epoch = opened.ca.epoch;
    this.runDir = o.runDir;
    this.#regionFd = init.regionFd;
    this.#region = init.region;
    this.#layout = init.layout;
    this.#regionPath = config.region.path;
    this.#windowLength = BigInt(WindowLayout.windowLength(o.channelDataSize ?? DEFAULT_DATA_SIZE));
    for (const vm of config.vms) {
      this.#vms.set(vm.id, {
        id: vm.id,
        name: vm.name,
        grantKey: init.grantKeys.get(vm.id)!,
        sdBucket: new TokenBucket(SD_MESSAGES_PER_SECOND, SD_BURST, () => BigInt(Date.now())),
        sdDropped: 0,
        refusalBucket: new TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST, () =>
          BigInt(Date.now()),
        ),
        refusalsSuppressed: undefined,
        lastSuppressedMs: 0,
        handshakeBurst: false,
        lastHeardMs: 0,
        hello: false,
        certificate: undefined,
        certHash: undefined,
        connectedSinceMs: undefined,
        messagesIn: 0,
        refusals: 0,
        revokeSerial: 0n,
        doorbellId: undefined,
      });
    }
    const region = new Uint8Array(init.region.shared);
    this.#lifecycle = new ChannelLifecycle({
      table: new ChannelTableWriter(region, init.layout),
      allocator: new WindowAllocator({
        dataOffset: init.layout.dataOffset,
        dataSize: init.layout.dataSize,
        memory: new Uint8Array(init.region.bulk),
      }),
      log: this.log,
      nowMs: () => Date.now(),
      connected: (vm) => this.#links?.connected(vm) ?? false,
      sendRevoke: (vm, channelId) => this.#sendRevoke(vm, channelId),
      sendPeerGone: (vm, channelId, reason) =>
        void this.#links?.send(vm, { kind: 'peerGone', channelId, reason }),
      brokerClose: (channelId) => void this.#broker.closeChannel(channelId),
      revokeAckTimeoutMs: o.revokeAckTimeoutMs ?? 2000,
    });
    this.#sd = new SdSwitch({
      config,
      log: this.log,
      certificate: (vm) => this.#vms.get(vm)?.certificate,
      connected: (vm) => this.#links?.connected(vm) ?? false,
      sendSd: (vm, message) => void this.#links?.send(vm, { kind: 'sd', message }),
      refuse: (vm, code, message) => this.#refuse(vm, code, message),
      serviceGone: (providerVm, service, instance, why) => {
        const reason: CloseReason =
          why === 'stopOffer'
            ? 'stop-offer'
            : why === 'ttlExpired'
              ? 'ttl-expired'
              : why === 'peerRebooted'
                ? 'vm-rebooted'
                : this.#stopping
                  ? 'hostd-shutdown'
                  : 'vm-gone';
        for (const id of this.#lifecycle.activeOfService(providerVm, service, instance)) {
          this.#lifecycle.close(id, reason);
        }
      },
      vmRebooted: (vm) => {
        for (const id of this.#lifecycle.activeOf(vm)) this.#lifecycle.close(id, 'vm-rebooted');
        this.#route(this.#broker.forgetVm(vm));
        // A reset VM holds no mapping any more: what was waiting for its ack can be reused.
        this.#lifecycle.vmGone(vm);
      },
    });
    // Composition root: core's module builds the broker, which holds every VM to its own
    // services.yaml limits; the CA is the one opened from disk (persisted serials, revocations
    // and the bumped epoch), so it replaces core's default, and the broker key comes with it.
    const container = new Container();
    container.bind(CoreTokens.ServiceConfig).toConstantValue(config);
    container.bind(CoreTokens.BrokerSecretKey).toConstantValue(opened.brokerSecretKey);
    container.bind(CoreTokens.Epoch).toConstantValue(this.epoch);
    container.bind(CoreTokens.BrokerEnvironment).toConstantValue({
      offered: (service, instance) => {
        const o = this.#sd.offered(service, instance);
        const svc = config.services.find((s) => s.id === service);
        if (o === undefined || svc === undefined) return undefined;
        return {
          providerVm: o.providerVm,
          major: o.major,
          minMode: svc.minMode,
          windowLength: this.#windowLength,
        };
      },
      reserveWindow: (length) => this.#lifecycle.reserve(length),
      releaseWindow: (w, why) => this.#lifecycle.release(w, why),
      grantKey: (vm) => this.#vms.get(vm)!.grantKey,
      // A link's certificate lives as long as the link: an M1 must name the one enrolled on it.
      enrolledCertificate: (vm) => this.#vms.get(vm)?.certHash,
    });
    container.loadSync(
      coreModule({
        crypto: init.crypto.name,
        ...(o.pendingTimeoutMs === undefined ? {} : { pendingTimeoutMs: o.pendingTimeoutMs }),
      }),
    );
    container.rebindSync(CoreTokens.CertificateAuthority).toConstantValue(opened.ca);
    this.#broker = container.get(CoreTokens.BrokerHandshakes);
  }

  /** Loads the config, opens (or creates) the CA with epoch + 1, creates the region, listens. */
  static async start(o: HostdOptions): Promise<Hostd> {
    mkdirSync(o.runDir, { recursive: true, mode: 0o700 });
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
    const log = new JsonLogger(
      o.logLevel ?? 'info',
      o.logWrite ?? ((l) => void process.stderr.write(l)),
    );
    const config = await loadConfig(o.configPath);
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const crypto = cryptoBackend();
    // Known answers for every primitive, then whole handshakes in memory, before the CA signs
    // anything (security-anchors §3 case 47): a broken build stops hostd here, saying what
    // failed; it also warms the handshake code for the first VM.
    cryptoSelfTest(crypto);
    handshakeSelfTest(crypto);
    log.info('self-test-passed', { backend: crypto.name });
    const caDir = path.join(o.stateDir, 'ca');
    if (!existsSync(path.join(caDir, 'ca.key'))) {
      await initCaDirectory(caDir, { crypto });
      log.info('ca-created', { dir: caDir });
    }
    const opened = await openCaDirectory(caDir, {
      crypto,
      nowMs: () => BigInt(Date.now()),
      allowedRights: (vm) => configRights(config, vm),
      bumpEpoch: true,
    });
    const grantKeys = new Map<number, Uint8Array>();
    for (const vm of config.vms) grantKeys.set(vm.id, await resolveGrantKey(vm));

    // A region file left by a previous run belongs to the old epoch: start from a new file
    // (VMs still mapping the old one keep an orphaned copy whose grants no device accepts).
    rmSync(config.region.path, { force: true });
    const layout = RegionLayout.compute({
      regionSize: config.region.size,
      channelCapacity: config.region.channelCapacity,
    });
    const regionFd = createRegionFile(config.region.path, config.region.size, { exclusive: true });
    let region: MappedFile;
    try {
      region = mapFile(config.region.path, 0, config.region.size, { writable: true });
    } catch (e) {
      closeFd(regionFd);
      rmSync(config.region.path, { force: true });
      throw e;
    }
    writeRegionHeader(new Uint8Array(region.shared), layout, opened.ca.epoch);
    const hostd = new Hostd({
      o,
      log,
      config,
      crypto,
      opened,
      grantKeys,
      regionFd,
      region,
      layout,
    });
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

  /** Path of the ivshmem-doorbell server socket. */
  get ivshmemSocket(): string {
    return path.join(this.runDir, 'ivshmem.sock');
  }

  /** One status document (what `status.sock` answers). */
  status(): StatusDocument {
    const a = this.#lifecycle.allocatorStats();
    const round = (ms: number): number => Math.round(ms * 1000) / 1000;
    const times = this.#lifecycle
      .handshakeTimes()
      .map(round)
      .sort((x, y) => x - y);
    const lastRaw = this.#lifecycle.handshakeTimes().at(-1);
    const last = lastRaw === undefined ? undefined : round(lastRaw);
    const b = this.#broker.stats;
    const p50 = percentile(times, 50);
    const p99 = percentile(times, 99);
    return {
      version: 1,
      pid: process.pid,
      epoch: this.epoch.toString(),
      startedAt: new Date(this.#startedMs).toISOString(),
      uptimeMs: Date.now() - this.#startedMs,
      config: this.config.file,
      region: {
        path: this.#regionPath,
        size: this.#layout.regionSize,
        dataOffset: this.#layout.dataOffset,
        dataSize: this.#layout.dataSize,
        channelCapacity: this.#layout.channelCapacity,
        freeBytes: a.free,
        allocatedBytes: a.allocated,
        quarantinedBytes: a.quarantined,
        largestFree: a.largestFree,
      },
      vms: [...this.#vms.values()].map((v) => ({
        id: v.id,
        name: v.name,
        connected: this.#links?.connected(v.id) ?? false,
        enrolled: v.certificate !== undefined,
        ...(v.certificate === undefined
          ? {}
          : { certificateSerial: v.certificate.serial.toString() }),
        ...(v.connectedSinceMs === undefined ? {} : { connectedSinceMs: v.connectedSinceMs }),
        controlMessagesIn: v.messagesIn,
        refusals: v.refusals,
        sdDropped: v.sdDropped,
        ...(v.doorbellId === undefined ? {} : { doorbellId: v.doorbellId }),
      })),
      services: this.#sd.list().map((s) => ({
        service: s.service,
        instance: s.instance,
        major: s.major,
        minor: s.minor,
        providerVm: s.providerVm,
        ttl: s.ttl,
      })),
      channels: this.#lifecycle.list().map((c) => {
        const rings = c.state === 'ACTIVE' ? this.#ringFigures(c.window) : undefined;
        return {
          channelId: `0x${c.channelId.toString(16)}`,
          state: c.state,
          mode: c.mode,
          consumerVm: c.consumerVm,
          providerVm: c.providerVm,
          service: c.service,
          instance: c.instance,
          window: { offset: Number(c.window.offset), length: Number(c.window.length) },
          sinceMs: c.sinceMs,
          ...(rings === undefined ? {} : { rings }),
        };
      }),
      handshakes: {
        established: b.established,
        aborted: b.aborted,
        rejected: b.rejected,
        rateLimited: b.rateLimited,
        signatureVerifications: b.signatureVerifications,
        pending: this.#broker.pendingCount(),
        timingMs: {
          count: times.length,
          ...(p50 === undefined ? {} : { p50 }),
          ...(p99 === undefined ? {} : { p99 }),
          ...(last === undefined ? {} : { last }),
        },
      },
      sd: { ...this.#sd.stats },
      quarantinedWindows: this.#lifecycle.quarantinedCount(),
      eventLoopDelayMs: this.#takeLoopDelay(),
    };
  }

  #takeLoopDelay(): StatusDocument['eventLoopDelayMs'] {
    const h = this.#loopDelay;
    // The histogram holds whole sampling intervals: lateness is what exceeds the interval.
    const ms = (ns: number): number =>
      Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1e3 - LOOP_SAMPLE_MS * 1e3) / 1e3) : 0;
    const out = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
    h.reset();
    return out;
  }

  /**
   * Ring figures of a channel, read (never written) from the window's index pages: the indices
   * are free-running byte counts, so produced = producer index and queued = producer - consumer
   * (ARCHITECTURE.md §4). Values a peer wrote are reported as read, clamped by nothing else.
   */
  #ringFigures(window: { offset: bigint; length: bigint }): StatusRings | undefined {
    const dataSize = WindowLayout.dataSizeOf(Number(window.length));
    if (this.#region === undefined || dataSize === undefined) return undefined;
    const one = (dirOffset: number): StatusRingDirection => {
      const base = Number(window.offset) + dirOffset;
      const words = (page: number) =>
        new Uint32Array(this.#region!.shared, base + page, RING_PAGE_WORDS);
      const producer = words(WindowLayout.producerPage);
      const consumer = words(WindowLayout.consumerPage);
      const prod = Atomics.load(producer, RingPageLayout.producer.index / 4);
      const cons = Atomics.load(consumer, RingPageLayout.consumer.index / 4);
      return {
        producedBytes: prod,
        queuedBytes: (prod - cons) >>> 0,
        closed:
          (Atomics.load(producer, RingPageLayout.producer.flags / 4) &
            RingPageLayout.FLAG_CLOSED) !==
          0,
      };
    };
    return { c2p: one(0), p2c: one(WindowLayout.directionSize(dataSize)) };
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
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#loopDelay.disable();
    for (const vm of this.#vms.values()) {
      for (const id of this.#lifecycle.activeOf(vm.id)) this.#lifecycle.close(id, 'hostd-shutdown');
    }
    this.#sd.close();
    for (const vm of this.#vms.values()) this.#route(this.#broker.forgetVm(vm.id));
    const failures: Error[] = [];
    const attempt = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (e) {
        failures.push(new Error(`${what}: ${(e as Error).message}`, { cause: e }));
      }
    };
    await attempt('links', () => this.#links?.close());
    await attempt('status socket', () => this.#status?.close());
    await attempt('ivshmem server', () => this.#ivshmem?.close());
    await attempt('CA state', () => this.#saving.then(() => this.#opened.save()));
    await attempt('region', () => {
      if (this.#region !== undefined) unmap(this.#region.handle);
      this.#region = undefined;
      if (this.#regionFd >= 0) closeFd(this.#regionFd);
      this.#regionFd = -1;
      rmSync(this.#regionPath, { force: true });
    });
    await attempt('pid file', () => unlinkSync(path.join(this.runDir, 'hostd.pid')));
    this.log.info('hostd-stopped', { failures: failures.map((f) => f.message) });
    if (failures.length > 0) throw new AggregateError(failures, 'hostd shutdown was not clean');
  }

  async #listen(): Promise<void> {
    this.#loopDelay.enable();
    this.#ivshmem = IvshmemServer.listen({
      socketPath: this.ivshmemSocket,
      shm: { fd: this.#regionFd },
      vectors: IVSHMEM_VECTORS,
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
    this.#links = await VmLinkServer.listen(this.runDir, this.config.vms, {
      onConnect: (vm) => this.#guard('connect', vm, () => this.#onConnect(vm)),
      onMessage: (vm, m) => this.#guard(m.kind, vm, () => this.#onMessage(vm, m)),
      onInvalid: (vm, e) => {
        // qemu mode: the chardev outlives the guest's apps, so an app that died mid-frame
        // leaves bytes that swallow the next app's hello and put the stream out of step.
        // Garbage before hello there means exactly that: drop the link, QEMU redials
        // (reconnect=1) and the next hello meets a fresh decoder.
        if (this.#o.emulated === false && this.#vms.get(vm)?.hello === false) {
          this.log.warn('vm-link-out-of-step', { vm, error: e.message });
          this.#links?.drop(vm);
          return;
        }
        this.#refuse(vm, 'ERR_DECODE', e.message);
      },
      onDisconnect: (vm, e) => this.#guard('disconnect', vm, () => this.#onDisconnect(vm, e)),
      onRefused: (vm) => this.log.warn('link-refused', { vm, why: 'VM already connected' }),
    });
    this.#status = await StatusServer.listen(this.statusSocket, () => this.status());
    const tick = this.#o.tickMs ?? 100;
    const beat = new HostdHeartbeat(new Uint8Array(this.#region!.shared));
    this.#timers.push(
      setInterval(() => {
        // hostd's monotonic clock: a wall-clock step must not look like a dead broker.
        beat.store(process.hrtime.bigint());
        this.#guard('tick', 0, () => {
          this.#route(this.#broker.tick());
          this.#lifecycle.tick();
        });
      }, tick),
      setInterval(() => {
        this.#heartbeatSeq++;
        const silence = this.#o.vmSilenceTimeoutMs ?? 0;
        for (const vm of this.#vms.values()) {
          // qemu mode: the link is QEMU's chardev, connected from the moment the guest starts
          // booting, long before an app says hello; silence counts only once one did. (A
          // process that connects and never says hello in emulated mode is dropped as before.)
          const speaking = vm.hello || this.#o.emulated !== false;
          if (silence > 0 && speaking && this.#links?.connected(vm.id) === true) {
            const quietMs = Date.now() - vm.lastHeardMs;
            if (quietMs > silence) {
              // A hung guest: its link is treated like a death (channels closed, peers told).
              this.log.warn('vm-silent', { vm: vm.id, quietMs });
              this.#links.drop(vm.id);
              continue;
            }
          }
          this.#links?.send(vm.id, {
            kind: 'heartbeat',
            sequence: this.#heartbeatSeq,
            timeMs: BigInt(Date.now()),
          });
        }
      }, 1000),
    );
    beat.store(process.hrtime.bigint());
  }

  /**
   * Runs one event's handling; a bug met while serving one VM is logged and answered, never
   * allowed to take the daemon (and every other VM's channels) down with it.
   */
  #guard(what: string, vmId: number, f: () => void): void {
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

  #onConnect(vmId: number): void {
    const vm = this.#vms.get(vmId)!;
    vm.hello = false;
    vm.certificate = undefined;
    vm.certHash = undefined;
    vm.connectedSinceMs = Date.now();
    vm.lastHeardMs = Date.now();
    vm.doorbellId = undefined;
    vm.handshakeBurst = false;
    this.log.info('vm-connected', { vm: vmId, name: vm.name });
  }

  #onDisconnect(vmId: number, error: Error | undefined): void {
    const vm = this.#vms.get(vmId)!;
    this.log.info('vm-disconnected', { vm: vmId, name: vm.name, error: error?.message });
    vm.hello = false;
    vm.certificate = undefined;
    vm.certHash = undefined;
    vm.connectedSinceMs = undefined;
    vm.doorbellId = undefined;
    if (this.#stopping !== undefined) return;
    // Death of a VM (its link is the liveness signal in emulated mode): what it offered goes,
    // its channels close (peer_gone + REVOKE to the other side), its pending handshakes abort.
    this.#sd.vmGone(vmId);
    for (const id of this.#lifecycle.activeOf(vmId)) this.#lifecycle.close(id, 'vm-gone', vmId);
    this.#route(this.#broker.forgetVm(vmId));
    this.#lifecycle.vmGone(vmId);
  }

  #onMessage(vmId: number, m: ControlMessage): void {
    const vm = this.#vms.get(vmId)!;
    vm.messagesIn++;
    vm.lastHeardMs = Date.now();
    if (m.kind !== 'hello' && !vm.hello) {
      this.#refuse(vmId, 'ERR_PROTOCOL', `${m.kind} before hello`);
      return;
    }
    switch (m.kind) {
      case 'hello':
        return this.#onHello(vm, m.version, m.software);
      case 'csr':
        return this.#onCsr(vm, m.csr);
      case 'sd':
        if (!vm.sdBucket.take()) {
          // Counted and logged at debug only: a flood must not turn into a flood of logs.
          vm.sdDropped++;
          this.log.debug('sd-rate-limited', { vm: vmId, dropped: vm.sdDropped });
          return;
        }
        return this.#sd.receive(vmId, m.message);
      case 'handshake':
        return this.#onHandshake(vm, m.message);
      case 'revokeAck':
        return this.#lifecycle.revokeAcknowledged(vmId, m.channelId);
      case 'close':
        return this.#onClose(vm, m.channelId);
      case 'doorbellId':
        return this.#onDoorbellId(vm, m.id);
      case 'heartbeat':
        return;
      case 'error':
        this.log.warn('vm-error', { vm: vmId, code: m.code, message: m.message });
        return;
      default:
        this.#refuse(vmId, 'ERR_PROTOCOL', `VMs may not send ${m.kind}`);
    }
  }

  #onHello(vm: VmState, version: number, software: string): void {
    if (version !== 1) {
      this.#refuse(vm.id, 'ERR_VERSION', `control protocol ${version} is not supported (1 is)`);
      this.#links?.disconnect(vm.id);
      return;
    }
    vm.hello = true;
    this.log.info('vm-hello', { vm: vm.id, software });
    this.#sendAttach(vm);
  }

  #sendAttach(vm: VmState): void {
    const region = this.config.region;
    this.#links?.send(vm.id, {
      kind: 'attach',
      vmId: vm.id,
      vmName: vm.name,
      epoch: this.epoch,
      caPublicKey: this.ca.caPublicKey,
      brokerCertificate: this.ca.brokerCertificate,
      region: {
        path: region.path,
        size: BigInt(this.#layout.regionSize),
        dataOffset: BigInt(this.#layout.dataOffset),
        dataSize: BigInt(this.#layout.dataSize),
        channelCapacity: this.#layout.channelCapacity,
      },
      ...(this.#o.emulated === false ? {} : { grantKey: vm.grantKey }),
      ivshmemSocket: this.ivshmemSocket,
      enrolmentNonce: this.ca.enrolmentNonce(vm.id),
    });
  }

  #onCsr(vm: VmState, csr: Uint8Array): void {
    let cert;
    try {
      cert = this.ca.enrol(vm.id, csr);
    } catch (e) {
      this.#refuse(vm.id, 'ERR_CSR', (e as Error).message);
      // A CSR burns the nonce whatever its fate; hand out a fresh one so the VM can retry.
      this.#sendAttach(vm);
      return;
    }
    vm.certificate = decodeCertificateBody(cert.tbs);
    vm.certHash = certificateHash(this.#crypto, cert);
    this.log.info('vm-enrolled', {
      vm: vm.id,
      serial: vm.certificate.serial,
      subject: vm.certificate.subject,
      offers: vm.certificate.rights.offers.length,
      requests: vm.certificate.rights.requests.length,
    });
    this.#links?.send(vm.id, { kind: 'certificate', certificate: cert });
    this.#sd.announceTo(vm.id);
    this.#saving = this.#saving
      .then(() => this.#opened.save())
      .catch((e: unknown) => this.log.error('ca-save-failed', { error: (e as Error).message }));
  }

  /**
   * A VM says which ivshmem peer id it holds. Only its own channel peers ever ring that id, so
   * a false claim misdirects wake-ups meant for the claimant; hostd still refuses ids that are
   * not connected to its ivshmem server or that another connected VM holds, so a VM cannot
   * route its peers' rings into a third VM.
   */
  #onDoorbellId(vm: VmState, id: number): void {
    if (this.#ivshmem?.peerIds().includes(id) !== true) {
      this.#refuse(
        vm.id,
        'ERR_DOORBELL',
        `doorbell id ${id} is not a peer of hostd's ivshmem server`,
      );
      return;
    }
    for (const other of this.#vms.values()) {
      if (other !== vm && other.doorbellId === id && this.#links?.connected(other.id) === true) {
        this.#refuse(vm.id, 'ERR_DOORBELL', `doorbell id ${id} belongs to another VM`);
        return;
      }
    }
    // The same process holds both connections: the VM process in emulated mode, QEMU in qemu
    // mode. A claim of an id connected by another process (one no VM claimed yet) is refused,
    // so a VM cannot redirect its peers' doorbells to someone else's.
    const linkPid = this.#links?.peerPid(vm.id);
    const bellPid = this.#ivshmemPids.get(id);
    if (linkPid !== undefined && bellPid !== undefined && bellPid !== 0 && linkPid !== bellPid) {
      this.#refuse(
        vm.id,
        'ERR_DOORBELL',
        `doorbell id ${id} was connected by process ${bellPid}, not by the process holding this VM's control link (${linkPid})`,
      );
      return;
    }
    vm.doorbellId = id;
    this.log.info('vm-doorbell', { vm: vm.id, doorbellId: id });
  }

  #onHandshake(vm: VmState, bytes: Uint8Array): void {
    // Every admission rule (rate, pending cap, window quota, link-bound certificate, malformed
    // traffic charged to the budget) is the broker's (security-anchors §2.8).
    this.#route(this.#broker.receive(vm.id, bytes));
  }

  #route(effects: BrokerEffect[]): void {
    for (const e of effects) {
      switch (e.kind) {
        case 'send': {
          // A grant goes out with the doorbell id of the channel's other VM, so the VM rings
          // only that peer (ARCHITECTURE.md §7); without one it falls back to ringing all.
          const ch = e.grantFor;
          const peer =
            ch === undefined
              ? undefined
              : this.#vms.get(e.vmId === ch.consumerVm ? ch.providerVm : ch.consumerVm)?.doorbellId;
          this.#links?.send(e.vmId, {
            kind: 'handshake',
            message: e.bytes,
            ...(peer === undefined ? {} : { peerDoorbell: peer }),
          });
          break;
        }
        case 'channel-pending':
          this.#lifecycle.pending(e.channel);
          break;
        case 'channel-active': {
          this.#lifecycle.active(e.channel);
          // M5 and a StopOffer (or the provider's death) travel on different links: if the
          // offer went away while the handshake finished, the new channel goes at once.
          const ch = e.channel;
          if (this.#sd.offered(ch.service, ch.instance)?.providerVm !== ch.providerVm) {
            this.#lifecycle.close(
              ch.channelId,
              this.#links?.connected(ch.providerVm) === true ? 'stop-offer' : 'vm-gone',
            );
          }
          break;
        }
        case 'channel-aborted':
          this.#lifecycle.aborted(e.channel, `${e.reason}: ${e.detail}`);
          break;
        case 'rejected':
          // Refusals for being over budget are logged once per burst (below), not per message.
          // Within a burst the few messages the bucket still admits are not logged either:
          // the burst's two lines say it all.
          if (e.reason !== 'rateLimited' && this.#vms.get(e.vmId)?.handshakeBurst !== true)
            this.log.info('handshake-rejected', { vm: e.vmId, reason: e.reason, detail: e.detail });
          break;
        case 'over-budget': {
          const vm = this.#vms.get(e.vmId);
          if (vm !== undefined) vm.handshakeBurst = e.state === 'started';
          if (e.state === 'started')
            this.log.warn('handshake-over-budget', { vm: e.vmId, detail: e.detail });
          else this.log.info('handshake-back-in-budget', { vm: e.vmId, refused: e.refused });
          break;
        }
      }
    }
  }

  #onClose(vm: VmState, channelId: bigint): void {
    const c = this.#lifecycle.get(channelId);
    if (c === undefined || (c.consumerVm !== vm.id && c.providerVm !== vm.id)) {
      this.#refuse(vm.id, 'ERR_CHANNEL', `VM ${vm.id} has no channel 0x${channelId.toString(16)}`);
      return;
    }
    this.#lifecycle.close(
      channelId,
      c.consumerVm === vm.id ? 'closed-by-consumer' : 'closed-by-provider',
    );
  }

  #sendRevoke(vmId: number, channelId: bigint): boolean {
    const vm = this.#vms.get(vmId);
    if (vm === undefined || this.#links === undefined) return false;
    vm.revokeSerial++;
    const { token, tag } = signRevoke(this.#crypto, vm.grantKey, {
      epoch: this.epoch,
      revokeSerial: vm.revokeSerial,
      vmId,
      channelId,
    });
    return this.#links.send(vmId, { kind: 'revoke', channelId, token, tag });
  }

  #refuse(vmId: number, code: string, message: string): void {
    const vm = this.#vms.get(vmId);
    if (vm === undefined) return;
    vm.refusals++;
    const now = Date.now();
    if (vm.refusalsSuppressed !== undefined && now - vm.lastSuppressedMs >= REFUSAL_QUIET_MS) {
      this.log.info('refusals-back-in-budget', { vm: vmId, suppressed: vm.refusalsSuppressed });
      vm.refusalsSuppressed = undefined;
    }
    if (!vm.refusalBucket.take()) {
      vm.lastSuppressedMs = now;
      if (vm.refusalsSuppressed === undefined) {
        vm.refusalsSuppressed = 0;
        this.log.warn('refusals-over-budget', {
          vm: vmId,
          code,
          message,
          detail: `over ${REFUSALS_PER_SECOND} refusals/s: further ones are counted, not logged or answered, until the VM is quiet for ${REFUSAL_QUIET_MS} ms`,
        });
      }
      vm.refusalsSuppressed++;
      return;
    }
    if (vm.refusalsSuppressed === undefined) this.log.warn('refused', { vm: vmId, code, message });
    this.#links?.send(vmId, { kind: 'error', code, message });
  }
}

/** Takes `<runDir>/hostd.pid`, refusing when a live hostd holds it. */
function claimPidFile(file: string): void {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new HostdError(
          'ERR_STARTUP',
          `another hostd (pid ${pid}) uses ${path.dirname(file)}; stop it or pick another --run-dir`,
        );
      } catch (e) {
        if (HostdError.is(e)) throw e;
        // ESRCH: a stale file of a dead hostd; take it over.
      }
    }
  } catch (e) {
    if (HostdError.is(e)) throw e;
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
}
