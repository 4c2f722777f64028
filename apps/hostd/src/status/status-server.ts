import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { HostdError } from '../errors/hostd-error.js';

/** The key of a service in {@link StatusDocument.serviceNames}: its id in hex (`0x1234`). */
export function serviceNameKey(serviceId: number): string {
  return `0x${serviceId.toString(16)}`;
}

/** A service's name from the document, or its id in decimal when the config names none. */
export function serviceNameOf(d: StatusDocument, serviceId: number): string {
  return d.serviceNames[serviceNameKey(serviceId)] ?? String(serviceId);
}

/** One direction of a channel's rings, as read from the window's index pages. */
export interface StatusRingDirection {
  /** Bytes of records published so far (the free-running producer index, mod 2^32). */
  readonly producedBytes: number;
  /**
   * Records published so far (the producer page's free-running records word, mod 2^32, kept by
   * the producing VM's transport; 0 from a producer too old to keep it).
   */
  readonly records: number;
  /**
   * Events the producer's publisher gave up on because this ring was full (the producer page's
   * free-running drops word, mod 2^32; 0 from a producer too old to keep it).
   */
  readonly drops: number;
  /**
   * Requests this direction's consumer read and refused without running them (c2p: the
   * provider past its `maxCallsInFlight`, one-way requests included, which nobody answers): the
   * consumer page's free-running refused word, mod 2^32; 0 from a consumer too old to keep it.
   */
  readonly refused: number;
  /**
   * How this direction's consumer waits for records, from the word it wrote at attach: `spin`,
   * `event` or `adaptive`; `unknown` for 0 (not written) or a value no mode has.
   */
  readonly consumerNotify: 'spin' | 'event' | 'adaptive' | 'unknown';
  /** Bytes published and not yet consumed. */
  readonly queuedBytes: number;
  /** The producer marked its ring closed. */
  readonly closed: boolean;
}

/** Both directions of an ACTIVE channel. */
export interface StatusRings {
  readonly c2p: StatusRingDirection;
  readonly p2c: StatusRingDirection;
}

/** hostd's status as `sivshm status --json` prints it (schema version 1). */
export interface StatusDocument {
  readonly version: 1;
  readonly pid: number;
  readonly epoch: string;
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly config: string;
  readonly region: {
    readonly path: string;
    readonly size: number;
    readonly dataOffset: number;
    readonly dataSize: number;
    readonly channelCapacity: number;
    readonly freeBytes: number;
    readonly allocatedBytes: number;
    readonly quarantinedBytes: number;
    /** Largest free extent, bytes: the largest window an open can get right now. */
    readonly largestFree: number;
    /** Separate free extents (1: no fragmentation; never two adjacent, they are coalesced). */
    readonly freeExtents: number;
  };
  readonly vms: readonly {
    readonly id: number;
    readonly name: string;
    readonly connected: boolean;
    readonly enrolled: boolean;
    readonly certificateSerial?: string;
    /** When the VM's current link came up (ISO 8601, like `startedAt`); absent while down. */
    readonly connectedAt?: string;
    /** @deprecated The same instant as Unix-epoch ms; `connectedAt` says what it holds. */
    readonly connectedSinceMs?: number;
    readonly controlMessagesIn: number;
    readonly refusals: number;
    /** SD messages dropped: over the VM's SD entry budget, or more entries than it may send. */
    readonly sdDropped: number;
    /** The VM's SD budget (derived from its services; services.yaml limits are floors). */
    readonly sdBudget: {
      readonly entriesPerSecond: number;
      readonly burst: number;
      readonly maxEntriesPerMessage: number;
    };
    /** mac/aead records this VM refused (bad tag or sequence); each ended its channel. */
    readonly integrityFailures: number;
    /** revokeAcks without a receipt that verifies; each kept a window quarantined. */
    readonly revokeReceiptsRefused: number;
    /** Over-budget handshake messages left without an ABORT (the answers' budget was spent). */
    readonly handshakeAnswersWithheld: number;
    /** The VM's ivshmem doorbell id, once it told hostd. */
    readonly doorbellId?: number;
  }[];
  readonly services: readonly {
    readonly service: number;
    readonly instance: number;
    readonly major: number;
    readonly minor: number;
    readonly providerVm: number;
    readonly ttl: number;
  }[];
  readonly channels: readonly {
    readonly channelId: string;
    readonly state: string;
    readonly mode: string;
    readonly consumerVm: number;
    readonly providerVm: number;
    readonly service: number;
    readonly instance: number;
    readonly window: { readonly offset: number; readonly length: number };
    /** When the channel entered its current state (ISO 8601, like `startedAt`). */
    readonly stateChangedAt: string;
    /** @deprecated The same instant as Unix-epoch ms; `stateChangedAt` says what it holds. */
    readonly sinceMs: number;
    /** ACTIVE channels in the region only (a device channel's rings are in its own memory). */
    readonly rings?: StatusRings;
  }[];
  /**
   * The memory of `isolation: device` channels hostd holds (docs/protocol.md §10): per VM of
   * the pair, `plugged`, `unplugging`, `unplugged`, or `stuck` in a guest that has not released
   * it (hostd waits and never forces it). Absent from a hostd that predates device channels.
   */
  readonly channelDevices?: readonly {
    readonly channelId: string;
    readonly service: number;
    readonly instance: number;
    /** Bytes of the channel's memory. */
    readonly size: number;
    readonly vms: readonly { readonly vm: number; readonly state: string }[];
    /** Both hot-plugs, ms (qemu mode). */
    readonly plugMs?: number;
  }[];
  readonly handshakes: {
    readonly established: number;
    readonly aborted: number;
    readonly rejected: number;
    readonly rateLimited: number;
    readonly signatureVerifications: number;
    readonly pending: number;
    readonly timingMs: {
      readonly count: number;
      readonly p50?: number;
      readonly p99?: number;
      readonly last?: number;
    };
  };
  readonly sd: {
    readonly received: number;
    readonly relayed: number;
    readonly refused: number;
    readonly malformed: number;
    readonly findsAnswered: number;
    /** Offers whose TTL ran out before the provider renewed them. */
    readonly offersExpired: number;
  };
  readonly quarantinedWindows: number;
  /** Refusals of every VM since start, by error code (ERR_PROTOCOL, ERR_SD_POLICY, …). */
  readonly refusalsByReason: Readonly<Record<string, number>>;
  /** Name of each configured service, by its id in hex (`0x1234`): what `sivshm top` shows. */
  readonly serviceNames: Readonly<Record<string, string>>;
  /**
   * How late hostd's event loop ran since the previous status query (or start), ms: how long
   * any VM's message may have waited before hostd got to it (a flood shows here first).
   */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /**
   * Elastic channels (docs/protocol.md §11): moves completed and failed, moves under way, and
   * the last decisions (channel, grow or shrink, the ring size asked for, why), newest first.
   */
  readonly elastic?: {
    readonly grown: number;
    readonly shrunk: number;
    readonly failed: number;
    readonly moving: number;
    readonly last: readonly {
      readonly channel: string;
      readonly decision: string;
      readonly ringDataSize: number;
      readonly reason: string;
    }[];
  };
}

/**
 * The local status interface: a Unix socket (mode 0600) that answers every connection with one
 * JSON document and closes. `sivshm status` reads it.
 */
export class StatusServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  /** Listens at `path`; `snapshot` is called once per connection. */
  static async listen(path: string, snapshot: () => StatusDocument): Promise<StatusServer> {
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      let text: string;
      try {
        text = JSON.stringify(snapshot());
      } catch (e) {
        text = JSON.stringify({ error: (e as Error).message });
      }
      socket.end(`${text}\n`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new HostdError('ERR_STATUS', `cannot listen on ${path}: ${e.message}`)),
      );
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    return new StatusServer(server, path);
  }

  /** Stops listening and removes the socket file. */
  async close(): Promise<void> {
    await Promise.race([
      new Promise<void>((r) => this.server.close(() => r())),
      new Promise((r) => setTimeout(r, 1000).unref()),
    ]);
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
