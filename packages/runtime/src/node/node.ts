import { BehaviorSubject, type Observable } from 'rxjs';
import { loadConfig, vmByName, type ServiceConfig, type VmConfig } from '@sivshm/core';
import type { SdAgent } from '@sivshm/discovery';
import type { DataPlane, NotifyMode } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';
import { ConsumedService, type ConsumeOptions } from '../service/consumed-service.js';
import { assertMayConsume } from '../service/consume-policy.js';
import { OfferedService, type OfferOptions } from '../service/offered-service.js';
import { ServiceCatalog } from '../service/service-catalog.js';
import { closeSteps } from './close-steps.js';
import { HostdSession, type HostdSessionHooks, type HostdSessionOptions } from './hostd-session.js';
import type { AttachedChannel, NodeContext } from './node-context.js';

// The parts tied to one running hostd (control link, enrolment, device, doorbells, SD agent,
// channel attach/revoke) live in ./hostd-session.ts; this file keeps what outlives a hostd
// restart: the config, the offers and consumed services, and the re-attach loop.

/** Options of {@link Node.open}. */
export interface NodeOpenOptions {
  /** services.yaml (a path) or a config already loaded with `loadConfig`. */
  readonly config: string | ServiceConfig;
  /** This VM's name in the config. */
  readonly vm: string;
  /** hostd's run dir: the control link is `<runDir>/<vm>.sock` (not needed with `controlPort`). */
  readonly runDir?: string;
  /**
   * qemu mode, inside a guest: the control link is this virtio-serial port instead of a socket
   * (a device path such as `/dev/vport1p1`, or `auto` for the port named `org.sivshm.control`).
   */
  readonly controlPort?: string;
  /** How channels wait for records (docs/architecture.md §7); default `adaptive`. */
  readonly notify?: NotifyMode;
  /** Heartbeat period on the control link (for hostd's --vm-timeout), 10..60000 ms; default 1000. */
  readonly heartbeatMs?: number;
  /**
   * A channel's peer counts as gone when it neither beats nor moves a ring for this long, ms
   * (100..60000); default 1000. Longer for guests whose vCPUs may stall that long (TCG, a loaded
   * host): the channel then survives the stall, and a dead peer is noticed that much later.
   * This VM's SD offers then live at least as long, so a stall does not expire them either
   * (offer-ttl.spec).
   */
  readonly peerTimeoutMs?: number;
  /** qemu mode: the sivshm.ko device; default `/dev/sivshm`. */
  readonly devicePath?: string;
  /**
   * Re-attach by itself when hostd goes away and comes back (a restart: new epoch, new
   * certificate, every offer and consumed service re-established); default true. With false the
   * node stays `disconnected` and must be closed and opened again.
   */
  readonly reconnect?: boolean;
  /** Longest wait between two re-attach attempts; default 2000 ms. */
  readonly reconnectMaxDelayMs?: number;
}

/**
 * The node's link to hostd: `connected`, `reconnecting` (hostd went away; every channel ended
 * and the node is attaching again), `disconnected` (hostd went away and the node was opened with
 * `reconnect: false`), `closed`.
 */
export type NodeConnection = 'connected' | 'reconnecting' | 'disconnected' | 'closed';

/** First wait before re-attaching to a restarted hostd; doubles up to `reconnectMaxDelayMs`. */
const RECONNECT_FIRST_DELAY_MS = 100;
/** Messages from failed re-attach attempts the node keeps in `hostdErrors`. */
const MAX_ERRORS = 100;

/**
 * An app's handle on sivshm inside a VM: one control link to hostd, this VM's certificate,
 * SD, the device and every channel. One `close()` withdraws offers, closes channels, unmaps,
 * closes fds and disconnects.
 *
 * @example
 * ```ts
 * interface VehicleSpeed { kph: number } // the protobuf message, as generated
 * declare function render(s: VehicleSpeed): void;
 * const node = await Node.open({ config: 'services.yaml', vm: 'cluster', runDir: '/run/sivshm' });
 * const speed = await node.consume('VehicleSpeed', { instance: 1 });
 * speed.event<VehicleSpeed>('speed').subscribe(render);
 * await node.close();
 * ```
 */
export class Node {
  readonly #config: ServiceConfig;
  readonly #sessionOptions: HostdSessionOptions;
  readonly #reconnect: boolean;
  readonly #reconnectMaxDelayMs: number;
  /** Offers by `name/instance`. */
  readonly #offered = new Map<string, OfferedService>();
  readonly #catalogs = new Map<string, ServiceCatalog>();
  readonly #consumed = new Set<ConsumedService>();
  readonly #connection = new BehaviorSubject<NodeConnection>('connected');
  readonly #errors: { code: string; message: string }[] = [];
  #session: HostdSession | undefined;
  #epoch: bigint;
  #vmId: number;
  /** Doorbells of sessions that ended. */
  #doorbellsBefore = 0;
  #sessions = 1;
  #retry: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  #closed = false;

  private constructor(sessionOptions: HostdSessionOptions, options: NodeOpenOptions) {
    this.#config = sessionOptions.config;
    this.#sessionOptions = sessionOptions;
    this.#reconnect = options.reconnect ?? true;
    this.#reconnectMaxDelayMs = options.reconnectMaxDelayMs ?? 2000;
    this.#epoch = 0n;
    this.#vmId = sessionOptions.vm.id;
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
    const port = options.controlPort;
    if (port !== undefined && (typeof port !== 'string' || port === '')) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        "Node.open: controlPort must be the VM's virtio-serial port path or 'auto'",
      );
    }
    if (port === undefined && (typeof options.runDir !== 'string' || options.runDir === '')) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        "Node.open: runDir must be hostd's --run-dir (or, in a QEMU guest, give controlPort)",
      );
    }
    const notify = options.notify ?? 'adaptive';
    if (notify !== 'adaptive' && notify !== 'event' && notify !== 'spin') {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `Node.open: notify ${String(notify)} is not spin, event or adaptive`,
      );
    }
    const maxDelay = options.reconnectMaxDelayMs;
    if (options.reconnect !== undefined && typeof options.reconnect !== 'boolean') {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `Node.open: reconnect must be true or false, got ${String(options.reconnect)}`,
      );
    }
    if (maxDelay !== undefined && !(Number.isInteger(maxDelay) && maxDelay >= 10)) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `Node.open: reconnectMaxDelayMs must be an integer ≥ 10, got ${String(maxDelay)}`,
      );
    }
    const peerTimeout = checkedMs('Node.open: peerTimeoutMs', options.peerTimeoutMs, 100, 60_000);
    const heartbeatMs =
      checkedMs('Node.open: heartbeatMs', options.heartbeatMs, 10, 60_000) ?? 1000;
    let config: ServiceConfig;
    try {
      config =
        typeof options.config === 'string' ? await loadConfig(options.config) : options.config;
    } catch (e) {
      throw new RuntimeError('ERR_CONFIG', (e as Error).message, { cause: e });
    }
    const vm: VmConfig | undefined = vmByName(config, options.vm);
    if (vm === undefined) {
      throw new RuntimeError(
        'ERR_CONFIG',
        `${config.file}: no VM named '${options.vm}'; VMs there: ${config.vms.map((v) => v.name).join(', ')}`,
      );
    }
    const node = new Node(
      {
        config,
        vm,
        runDir: options.runDir ?? '',
        notify,
        heartbeatMs,
        ...(peerTimeout === undefined ? {} : { peerTimeoutMs: peerTimeout }),
        ...(options.devicePath === undefined ? {} : { devicePath: options.devicePath }),
        ...(port === undefined ? {} : { controlPort: port }),
      },
      options,
    );
    node.#install(await HostdSession.open(node.#sessionOptions, node.#hooks()));
    return node;
  }

  /** This VM's id as hostd assigned it. */
  get vmId(): number {
    return this.#vmId;
  }

  /** hostd's epoch of the current (or, while reconnecting, the last) session. */
  get epoch(): bigint {
    return this.#epoch;
  }

  /** The link to hostd right now; see {@link NodeConnection}. */
  get connection(): NodeConnection {
    return this.#connection.value;
  }

  /** Every change of the link to hostd; replays the current state, completes on close. */
  get connection$(): Observable<NodeConnection> {
    return this.#connection.asObservable();
  }

  /** Sessions with hostd so far: 1 + the times the node re-attached after hostd came back. */
  get sessions(): number {
    return this.#sessions;
  }

  /**
   * Errors hostd reported on the control link (code and message) and failed re-attach
   * attempts, oldest first.
   */
  get hostdErrors(): readonly { code: string; message: string }[] {
    return [...this.#errors, ...(this.#session?.errors ?? [])];
  }

  /** Doorbells this VM received. */
  get doorbellsReceived(): number {
    return this.#doorbellsBefore + (this.#session?.doorbellsReceived ?? 0);
  }

  /**
   * Finds service `name`, runs the handshake for a channel to it and resolves once the channel
   * is ACTIVE; the handle re-establishes it whenever the provider (or hostd) returns.
   */
  async consume(name: string, options: ConsumeOptions): Promise<ConsumedService> {
    this.#assertOpen();
    const catalog = this.#catalogOf(name);
    if (typeof options !== 'object' || options === null) {
      const instances = catalog.definition.instances.join(', ');
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `Node.consume('${name}', options) needs options with the instance (services.yaml lists ${instances})`,
      );
    }
    catalog.checkInstance(options.instance);
    assertMayConsume(catalog.definition, this.#sessionOptions.vm.name, options.mode);
    checkedMs('Node.consume: timeoutMs', options.timeoutMs, 1, MAX_TIMER_MS);
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

  /**
   * Offers service `name` over SD and serves every consumer's channel; resolves once the offer
   * is registered (the first Offer follows after the SD Initial Wait, in one message with every
   * offer registered meanwhile, so offering many instances in a row does not wait per offer).
   * The offer is made again by itself when the node re-attaches to a restarted hostd.
   */
  async offer(name: string, options: OfferOptions): Promise<OfferedService> {
    this.#assertOpen();
    const catalog = this.#catalogOf(name);
    catalog.checkInstance(options?.instance);
    const vmName = this.#sessionOptions.vm.name;
    if (catalog.definition.provider !== vmName) {
      throw new RuntimeError(
        'ERR_CONFIG',
        `services.yaml names '${catalog.definition.provider}' as the provider of '${name}', not '${vmName}'`,
      );
    }
    const key = `${name}/${options.instance}`;
    // A withdrawn offer may be made again (the gateway re-offers an imported service when its
    // network provider comes back); it is replaced, keeping the map's order.
    if (this.#offered.get(key)?.withdrawn === false) {
      throw new RuntimeError(
        'ERR_BAD_ARGUMENT',
        `'${name}' instance ${options.instance} is already offered`,
      );
    }
    if (this.#session === undefined && !this.#reconnect) this.#current(); // ERR_HOSTD_GONE
    const svc = new OfferedService(this.#context(), catalog, options);
    this.#offered.set(key, svc);
    // While hostd is away the offer is made when the node re-attaches (`resume`).
    if (this.#session === undefined) return svc;
    try {
      await svc.start();
    } catch (e) {
      this.#offered.delete(key);
      throw e;
    }
    return svc;
  }

  /**
   * StopOffer for every offer, every channel closed and torn down at hostd, SD stopped, every
   * mapping and fd released, the link closed. Failures come back together in one error.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#retry?.wake();
    const session = this.#session;
    this.#session = undefined;
    try {
      await closeSteps('closing the node', [
        ...[...this.#offered.values()].map((s) => () => s.withdraw()),
        ...[...this.#consumed].map((s) => () => s.close()),
        ...(session === undefined ? [] : [() => session.close()]),
      ]);
    } finally {
      this.#connection.next('closed');
      this.#connection.complete();
    }
  }

  #catalogOf(name: string): ServiceCatalog {
    // Resolved once per name: a provider asks for its offers' definitions on every M2 and
    // grant, and resolving means protobuf type look-ups.
    let c = this.#catalogs.get(name);
    if (c === undefined) this.#catalogs.set(name, (c = ServiceCatalog.of(this.#config, name)));
    return c;
  }

  /** The offer of (service id, instance), found by its key instead of a scan of every offer. */
  #offeredById(service: number, instance: number): OfferedService | undefined {
    const d = this.#config.services.find((s) => s.id === service);
    return d === undefined ? undefined : this.#offered.get(`${d.name}/${instance}`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new RuntimeError('ERR_CLOSED', 'the node is closed');
  }

  #current(): HostdSession {
    const s = this.#session;
    if (s !== undefined) return s;
    if (this.#closed) throw new RuntimeError('ERR_CLOSED', 'the node is closed');
    throw new RuntimeError(
      'ERR_HOSTD_GONE',
      this.#reconnect
        ? 'the control link to hostd is gone; the node re-attaches when hostd is back'
        : 'the control link to hostd is gone (reconnect: false); close the node and open it again',
    );
  }

  #context(): NodeContext {
    // Getters, not values: the session changes when hostd restarts.
    const current = (): HostdSession => this.#current();
    const vmId = (): number => this.#vmId;
    return {
      config: this.#config,
      get vmId(): number {
        return vmId();
      },
      get sd(): SdAgent {
        return current().sd;
      },
      get transport(): DataPlane {
        return current().transport;
      },
      openChannel: (service, instance, major, mode, timeoutMs) =>
        current().openChannel(service, instance, major, mode, timeoutMs),
    };
  }

  #hooks(): HostdSessionHooks {
    return {
      offeredMajor: (service, instance) => {
        const s = this.#offeredById(service, instance);
        return s === undefined ? undefined : this.#catalogOf(s.name).definition.major;
      },
      minMode: (service) => this.#config.services.find((s) => s.id === service)?.minMode ?? 'plain',
      onProviderChannel: (attached) => this.#onProviderChannel(attached),
      onGone: () => this.#onHostdGone(),
    };
  }

  #install(session: HostdSession): void {
    this.#session = session;
    this.#epoch = session.epoch;
    this.#vmId = session.vmId;
  }

  #onProviderChannel(attached: AttachedChannel): void {
    const g = attached.grant;
    const svc = this.#offeredById(g.service, g.instance);
    if (svc === undefined) void attached.close();
    else svc.addChannel(attached);
  }

  /**
   * hostd went away: the session's channels already ended (`hostd-gone`); drop the session,
   * pause the services, and attach again until hostd is back or the node closes.
   */
  #onHostdGone(): void {
    const session = this.#session;
    if (this.#closed || session === undefined) return;
    this.#session = undefined;
    this.#doorbellsBefore += session.doorbellsReceived;
    this.#errors.push(...session.errors);
    void session.discard();
    for (const s of this.#offered.values()) s.suspend();
    for (const s of this.#consumed) s.suspend();
    if (!this.#reconnect) {
      this.#connection.next('disconnected');
      return;
    }
    this.#connection.next('reconnecting');
    void this.#reattach();
  }

  async #reattach(): Promise<void> {
    let delay = RECONNECT_FIRST_DELAY_MS;
    while (!this.#closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#retry = undefined;
          resolve();
        }, delay);
        this.#retry = { timer, wake: () => (clearTimeout(timer), resolve()) };
      });
      if (this.#closed) return;
      let session: HostdSession;
      try {
        session = await HostdSession.open(this.#sessionOptions, this.#hooks());
      } catch (e) {
        // hostd not back yet (ERR_CONNECT), or back with another services.yaml (ERR_CONFIG):
        // keep trying; the operator may fix hostd. The latest reason is kept for the app.
        this.#noteError(
          RuntimeError.is(e) ? e.code : 'ERR_CONNECT',
          `re-attach to hostd: ${(e as Error).message}`,
        );
        delay = Math.min(delay * 2, this.#reconnectMaxDelayMs);
        continue;
      }
      if (this.#closed) {
        await session.close().catch(() => undefined);
        return;
      }
      this.#install(session);
      this.#sessions++;
      this.#connection.next('connected');
      // Offers first so that a VM consuming its own service finds it; each resume is
      // independent: one failing must not keep the others down.
      for (const s of this.#offered.values()) {
        await s.resume().catch((e: Error) => this.#noteError('ERR_OFFER', e.message));
      }
      for (const s of this.#consumed) s.resume();
      return;
    }
  }

  #noteError(code: string, message: string): void {
    this.#errors.push({ code, message });
    if (this.#errors.length > MAX_ERRORS) this.#errors.splice(0, this.#errors.length - MAX_ERRORS);
  }
}

/** Node's timers take at most 2^31 - 1 ms; a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A period or bound option (`name` says whose), checked: a whole number of ms from `min` to
 * `max`, or unset. (A heartbeat period of 0 or NaN would make a timer fire every millisecond; a
 * consume timeout of NaN would fail at once saying nobody offers the service.)
 */
function checkedMs(
  name: string,
  ms: number | undefined,
  min: number,
  max: number,
): number | undefined {
  if (ms === undefined || (Number.isInteger(ms) && ms >= min && ms <= max)) return ms;
  throw new RuntimeError(
    'ERR_BAD_ARGUMENT',
    `${name} must be a whole number of ms from ${min} to ${max}, got ${String(ms)}`,
  );
}
