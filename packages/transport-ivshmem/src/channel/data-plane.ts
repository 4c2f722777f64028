import { Channel, type ChannelOptions } from './channel.js';
import {
  ServiceConsumer,
  ServiceProvider,
  type ServiceAddress,
  type ServiceProviderOptions,
} from './service-endpoints.js';
import {
  assertGranuleFits,
  type ChannelDevice,
  type DeviceFile,
} from '../device/channel-device.js';
import { TransportError } from '../errors/transport-error.js';

/**
 * A grant as the handshake hands it over (docs/protocol.md §6–7): token, tag, the channel it
 * opens, and for `mac`/`aead` channels the mode and the per-direction data keys.
 */
export interface ChannelGrantTokens {
  readonly channelId: bigint;
  readonly grantToken: Uint8Array;
  readonly grantTag: Uint8Array;
  /** Data keys (keyed modes only): consumer → provider and provider → consumer. */
  readonly keys?: { readonly c2p: Uint8Array; readonly p2c: Uint8Array };
}

/** How to run a channel once attached (everything of `ChannelOptions` but the memory and keys). */
export type AttachOptions = Omit<ChannelOptions, 'window' | 'role' | 'protection'>;

/**
 * A process's data plane: its device, every device file, every mapped window and channel, and
 * the service endpoints on them. One `close()` frees them all and reports every teardown
 * failure in one `AggregateError`.
 *
 * The handshake (core) and discovery (discovery) are not here: the runtime runs them and hands
 * the data plane the device file whose nonce went into M1/M3 and the grant that came back.
 *
 * @example
 * ```ts
 * declare const regionPath: string, vmId: number, grantKey: Uint8Array;
 * declare const grant: ChannelGrantTokens; // from the handshake
 * declare const peerWaker: Waker, ownWaker: Waker;
 * declare const VehicleSpeed: import('protobufjs').Type;
 * declare function render(speed: unknown): void;
 * const plane = new DataPlane(new EmulatedDevice({ regionPath, vmId, grantKey }));
 * const file = plane.openFile();                      // file.nonce goes into M1
 * const channel = plane.attach(file, grant, { notify: 'adaptive', peerWaker, ownWaker });
 * const speed = plane.consume(channel, { service: 0x1234, major: 1, client: 2 });
 * speed.event(0x8001, VehicleSpeed).subscribe(render);
 * await plane.close();
 * ```
 */
export class DataPlane {
  readonly #device: ChannelDevice;
  readonly #files = new Set<DeviceFile>();
  readonly #channels = new Set<Channel>();
  readonly #endpoints = new Set<ServiceProvider | ServiceConsumer>();
  #closed = false;

  constructor(device: ChannelDevice) {
    this.#device = device;
  }

  /** The device this data plane enforces access through. */
  get device(): ChannelDevice {
    return this.#device;
  }

  /** Channels attached and not yet closed. */
  get channels(): readonly Channel[] {
    return [...this.#channels];
  }

  /** Opens a device file; its nonce binds the grant the handshake will return. */
  openFile(): DeviceFile {
    this.#assertOpen();
    const f = this.#device.open();
    this.#files.add(f);
    return f;
  }

  /**
   * Presents the grant on `file` (the device checks it), maps the window and starts the
   * channel. The role comes from the grant itself.
   */
  attach(file: DeviceFile, grant: ChannelGrantTokens, options: AttachOptions = {}): Channel {
    this.#assertOpen();
    if (!this.#files.has(file)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'the device file was not opened by this data plane',
      );
    }
    const info = this.#device.info();
    assertGranuleFits(info);
    const granted = file.presentGrant(grant.grantToken, grant.grantTag);
    // The mode the device verified in the token, which the handshake bound both ends to.
    const mode = granted.mode;
    if (mode !== 'plain' && grant.keys === undefined) {
      throw new TransportError(
        'ERR_GRANT',
        `channel ${grant.channelId} is in ${mode} mode but the grant carries no data keys`,
      );
    }
    if (granted.channelId !== grant.channelId) {
      throw new TransportError(
        'ERR_GRANT',
        `the grant is for channel ${granted.channelId}, not ${grant.channelId}`,
      );
    }
    const channel = new Channel({
      ...options,
      pageGranule: info.pageGranule,
      window: file.mapWindow(grant.channelId),
      role: granted.role,
      ...(mode === 'plain' || grant.keys === undefined
        ? {}
        : { protection: { mode, channelId: grant.channelId, keys: grant.keys } }),
    });
    this.#channels.add(channel);
    return channel;
  }

  /** The provider side of a service on `channel`. */
  provide(
    channel: Channel,
    address: ServiceAddress,
    options: ServiceProviderOptions = {},
  ): ServiceProvider {
    this.#assertOwned(channel);
    const p = new ServiceProvider(channel, address, options);
    this.#endpoints.add(p);
    return p;
  }

  /** The consumer side of a service on `channel`. */
  consume(channel: Channel, address: ServiceAddress): ServiceConsumer {
    this.#assertOwned(channel);
    const c = new ServiceConsumer(channel, address);
    this.#endpoints.add(c);
    return c;
  }

  /** Closes one channel (and forgets it), e.g. after hostd revoked it. */
  async detach(channel: Channel): Promise<void> {
    this.#channels.delete(channel);
    await channel.close();
  }

  /**
   * Closes endpoints, channels, device files and the device, in that order. Every step runs
   * even if an earlier one failed; failures come back together in one `AggregateError`.
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
    for (const e of this.#endpoints) await attempt(() => e.close());
    for (const c of this.#channels) await attempt(() => c.close());
    for (const f of this.#files) await attempt(() => f.close());
    await attempt(() => this.#device.close());
    this.#endpoints.clear();
    this.#channels.clear();
    this.#files.clear();
    if (errors.length > 0)
      throw new AggregateError(errors, `closing the data plane failed in ${errors.length} step(s)`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TransportError('ERR_CLOSED', 'the data plane is closed');
  }

  #assertOwned(channel: Channel): void {
    this.#assertOpen();
    if (!this.#channels.has(channel)) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        'the channel was not attached by this data plane',
      );
    }
  }
}
