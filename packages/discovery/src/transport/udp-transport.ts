import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Subject, type Observable } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import { formatIPv6, isIPv6Multicast, parseIPv6 } from '../wire/ip-address.js';
import type { SdAddress, SdDatagram, SdTransport } from './sd-transport.js';

/** How to open a `UdpSdTransport`. */
export interface UdpSdTransportOptions {
  /** Our unicast IPv4 or IPv6 address: SD is sent from it and unicast SD is received on it. */
  readonly unicast: string;
  /** SD port, default 30490 (SD-27). */
  readonly port?: number;
  /**
   * SD multicast group of the unicast address's IP version: default 224.244.224.245 for IPv4;
   * an IPv6 transport must name its ff00::/8 group.
   */
  readonly multicastGroup?: string;
  /** IP TTL of multicast datagrams, default 1 (stays on the link, as vsomeip does). */
  readonly multicastTtl?: number;
}

/** The SD multicast group used when none is configured (vsomeip's sample configuration). */
export const DEFAULT_SD_MULTICAST_GROUP = '224.244.224.245';
/** The SD port (SD-27). */
export const SD_PORT = 30490;

/**
 * SOME/IP-SD over UDP, IPv4 or IPv6: one socket bound to `unicast:port` sends everything (so replies
 * come back to the SD port, as vsomeip expects) and receives unicast SD; a second socket
 * bound to `group:port` receives the multicast SD of the group joined on the unicast
 * address's interface (IPv6: the interface that holds the address). Datagrams from our own
 * address are dropped (vsomeip does the same),
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
    const v6 = isIPv6(options.unicast);
    if (!v6 && !isIPv4(options.unicast))
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `unicast ${options.unicast} is not an IPv4 or IPv6 address`,
      );
    // Compared with what the socket reports (RFC 5952 text) to drop our own datagrams.
    const unicast = v6 ? formatIPv6(parseIPv6(options.unicast)) : options.unicast;
    const group = checkedGroup(options.multicastGroup, v6);
    if (!Number.isInteger(port) || port < 1 || port > 0xffff)
      throw new DiscoveryError('ERR_SD_INPUT', `port ${port} is outside 1..65535`);
    // IPv6 names the multicast interface by scope (`::%eth0`), IPv4 by its address.
    const iface = v6 ? `::%${interfaceOf(unicast)}` : unicast;
    const type = v6 ? 'udp6' : 'udp4';
    const uni = createSocket({ type, reuseAddr: true });
    const multi = createSocket({ type, reuseAddr: true });
    try {
      await bind(uni, port, unicast, 'bind the unicast SD socket');
      await bind(multi, port, group, 'bind the multicast SD socket');
      step(() => multi.addMembership(group, iface), `join ${group} on ${iface}`);
      step(() => uni.setMulticastInterface(iface), `send multicast from ${iface}`);
      step(() => uni.setMulticastTTL(options.multicastTtl ?? 1), 'set the multicast TTL');
      step(() => uni.setMulticastLoopback(true), 'enable multicast loopback');
    } catch (e) {
      uni.close();
      multi.close();
      throw e;
    }
    return new UdpSdTransport(uni, multi, group, port, unicast);
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

/** The SD group: the IPv4 default, or the given group of the unicast address's IP version. */
function checkedGroup(given: string | undefined, v6: boolean): string {
  if (v6) {
    if (given === undefined)
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        'an IPv6 SD transport needs its multicastGroup (an ff00::/8 address); there is no default',
      );
    if (!isIPv6(given) || !isIPv6Multicast(parseIPv6(given)))
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `multicast group ${given} is not an IPv6 multicast address (ff00::/8)`,
      );
    return formatIPv6(parseIPv6(given));
  }
  const group = given ?? DEFAULT_SD_MULTICAST_GROUP;
  if (!isIPv4(group) || (Number(group.split('.')[0]) & 0xf0) !== 0xe0)
    throw new DiscoveryError(
      'ERR_SD_INPUT',
      `multicast group ${group} is not an IPv4 multicast address (224.0.0.0/4)`,
    );
  return group;
}

/** The name of the interface that holds IPv6 address `address` (RFC 5952 text). */
export function interfaceOf(address: string): string {
  for (const [name, addresses] of Object.entries(networkInterfaces()))
    for (const a of addresses ?? [])
      if (a.family === 'IPv6' && formatIPv6(parseIPv6(a.address.split('%')[0]!)) === address)
        return name;
  throw new DiscoveryError(
    'ERR_SD_TRANSPORT',
    `no interface of this host has the address ${address}`,
  );
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
