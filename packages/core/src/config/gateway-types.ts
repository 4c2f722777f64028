/**
 * The typed `gateway:` section of services.yaml: what the SOME/IP gateway puts on the vehicle
 * network (apps/gateway). Absent section: no gateway; nothing is exported unless listed.
 */

/** One sivshm service instance the gateway offers on the network. */
export interface GatewayExport {
  /** Name of the service in `services`. */
  readonly service: string;
  readonly instance: number;
  /** UDP port of the service's unreliable endpoint (events and methods). */
  readonly udpPort: number;
  /** TCP port of the service's reliable endpoint (events and methods), when it has one. */
  readonly tcpPort?: number;
  /**
   * Multicast group (of the unicast address's IP version) and UDP port the export's events go to once for all UDP subscribers
   * (the SubscribeAck names it); absent: each subscriber gets its own copy by unicast.
   */
  readonly multicast?: { readonly group: string; readonly port: number };
  /** Eventgroup ids a network peer may subscribe to (default: all of the service's). */
  readonly eventgroups: readonly number[];
  /** IP addresses allowed to see and subscribe (absent: any peer). */
  readonly peers?: readonly string[];
  /**
   * `tp`: events and responses too large for one UDP datagram leave as SOME/IP-TP segments of
   * at most this many payload bytes (a multiple of 16); absent: they leave unsegmented.
   */
  readonly tpSegment?: number;
}

/**
 * One network service instance the gateway imports: it finds and subscribes to it with
 * SOME/IP-SD and offers it inside sivshm as its provider (services.yaml must name the gateway's
 * VM as the service's provider).
 */
export interface GatewayImport {
  /** Name of the service in `services` (its ids, methods and events are the network's). */
  readonly service: string;
  readonly instance: number;
  /** The gateway's own UDP port for this import: events arrive and requests leave here. */
  readonly udpPort: number;
  /**
   * The gateway's own TCP port: when given, methods and events go over one TCP connection from
   * this port to the peer's reliable endpoint.
   */
  readonly tcpPort?: number;
  /** Eventgroup ids subscribed on the network (default: all of the service's). */
  readonly eventgroups: readonly number[];
  /** Addresses whose offers are taken (absent: any peer). */
  readonly peers?: readonly string[];
  /** `tp`: requests too large for one UDP datagram leave as SOME/IP-TP segments (as exports). */
  readonly tpSegment?: number;
}

/** The `gateway:` section. */
export interface GatewayConfig {
  /** The gateway's own unicast IPv4 or IPv6 address on the vehicle network. */
  readonly unicast: string;
  /** SD multicast group, of the unicast address's IP version (IPv4 default 224.244.224.245). */
  readonly sdGroup: string;
  /** SD port (default 30490). */
  readonly sdPort: number;
  /** sivshm services offered on the network (default none). */
  readonly exports: readonly GatewayExport[];
  /** Network services offered inside sivshm (default none). */
  readonly imports: readonly GatewayImport[];
}
