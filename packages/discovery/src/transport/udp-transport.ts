import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Subject, type Observable } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdAddress, SdDatagram, SdTransport } from './sd-transport.js';

/** How to open a `UdpSdTransport`. */
export interface UdpSdTransportOptions {
  /** Our unicast IPv4 address: SD is sent from it and unicast SD is received on it. */
  readonly unicast: string;
  /** SD port, default 30490 (SD-27). */
  readonly port?: number;
  /** SD multicast group, default 224.244.224.245. */
  readonly multicastGroup?: string;
  /** IP TTL of multicast datagrams, default 1 (stays on the link, as vsomeip does). */
  readonly multicastTtl?: number;
}

/** The SD multicast group used when none is configured (vsomeip's sample configuration). */
export const DEFAULT_SD_MULTICAST_GROUP = '224.244.224.245';
/** The SD port (SD-27). */
export const SD_PORT = 30490;

/**
 * SOME/IP-SD over UDP/IPv4: one socket bound to `unicast:port` sends everything (so replies
 * come back to the SD port, as vsomeip expects) and receives unicast SD; a second socket
 * bound to `group:port` receives the multicast SD of the group joined on the unicast
 * address's interface. Datagrams from our own address are dropped (vsomeip does the same),
 * which also removes our own multicast looped back to us.
 *
 * @example
 * ```ts
 * const transport = await UdpSdTransport.open({ unicast: '10.0.0.5' });
 * const agent = new SdAgent({ transport });
 * ```
 */
export class UdpSdTransport implements SdTransport {
  private readonly inbox = new Subject<SdDatagram>();
  private readonly socketErrors = new Subject<DiscoveryError>();
  private closed = false;
  /** Socket errors after opening (they do not close the transport). */
  readonly errors$: Observable<DiscoveryError> = this.socketErrors.asObservable();
  readonly messages$: Observable<SdDatagram> = this.inbox.asObservable();
  readonly localAddress: SdAddress;
  /**
   * One datagram without IP fragmentation on a 1500-byte Ethernet MTU (vsomeip's default
   * `max-payload-size-unreliable` is in the same range); a larger batch is split.
   */
  readonly maxMessageBytes = 1400;

  private constructor(
    private readonly unicastSocket: Socket,
    private readonly multicastSocket: Socket,
    private readonly group: string,
    port: number,
    unicast: string,
  ) {
    this.localAddress = { address: unicast, port };
    const deliver = (multicast: boolean) => (msg: Buffer, rinfo: RemoteInfo) => {
      if (rinfo.address === unicast) return;
      this.inbox.next({
        bytes: new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength),
        from: { address: rinfo.address, port: rinfo.port },
        multicast,
      });
    };
    unicastSocket.on('message', deliver(false));
    multicastSocket.on('message', deliver(true));
    const onError = (err: Error): void =>
      this.socketErrors.next(
        new DiscoveryError('ERR_SD_TRANSPORT', `UDP SD socket: ${err.message}`, { cause: err }),
      );
    unicastSocket.on('error', onError);
    multicastSocket.on('error', onError);
  }

  /** Binds both sockets and joins the group; rejects with `ERR_SD_TRANSPORT` naming the step. */
  static async open(options: UdpSdTransportOptions): Promise<UdpSdTransport> {
    const port = options.port ?? SD_PORT;
    const group = options.multicastGroup ?? DEFAULT_SD_MULTICAST_GROUP;
    if (!isIPv4(options.unicast))
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `unicast ${options.unicast} is not an IPv4 address (IPv6 SD is not supported yet)`,
      );
    if (!isIPv4(group) || (Number(group.split('.')[0]) & 0xf0) !== 0xe0)
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `multicast group ${group} is not an IPv4 multicast address (224.0.0.0/4)`,
      );
    if (!Number.isInteger(port) || port < 1 || port > 0xffff)
      throw new DiscoveryError('ERR_SD_INPUT', `port ${port} is outside 1..65535`);
    const uni = createSocket({ type: 'udp4', reuseAddr: true });
    const multi = createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await bind(uni, port, options.unicast, 'bind the unicast SD socket');
      await bind(multi, port, group, 'bind the multicast SD socket');
      step(
        () => multi.addMembership(group, options.unicast),
        `join ${group} on ${options.unicast}`,
      );
      step(
        () => uni.setMulticastInterface(options.unicast),
        `send multicast from ${options.unicast}`,
      );
      step(() => uni.setMulticastTTL(options.multicastTtl ?? 1), 'set the multicast TTL');
      step(() => uni.setMulticastLoopback(true), 'enable multicast loopback');
    } catch (e) {
      uni.close();
      multi.close();
      throw e;
    }
    return new UdpSdTransport(uni, multi, group, port, options.unicast);
  }

  send(bytes: Uint8Array, to?: SdAddress): Promise<void> {
    if (this.closed)
      return Promise.reject(
        new DiscoveryError('ERR_SD_TRANSPORT', 'the UDP SD transport is closed'),
      );
    const address = to?.address ?? this.group;
    const port = to?.port ?? this.localAddress.port;
    return new Promise((resolve, reject) => {
      this.unicastSocket.send(bytes, port, address, (err) => {
        if (err === null) resolve();
        else
          reject(
            new DiscoveryError(
              'ERR_SD_TRANSPORT',
              `send to ${address}:${port} failed: ${err.message}`,
              { cause: err },
            ),
          );
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([closeSocket(this.unicastSocket), closeSocket(this.multicastSocket)]);
    this.inbox.complete();
    this.socketErrors.complete();
  }
}

function bind(s: Socket, port: number, address: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(
        new DiscoveryError(
          'ERR_SD_TRANSPORT',
          `could not ${what} (${address}:${port}): ${err.message}`,
          { cause: err },
        ),
      );
    s.once('error', onError);
    s.bind({ port, address, exclusive: false }, () => {
      s.off('error', onError);
      resolve();
    });
  });
}

function step(fn: () => void, what: string): void {
  try {
    fn();
  } catch (e) {
    throw new DiscoveryError('ERR_SD_TRANSPORT', `could not ${what}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
