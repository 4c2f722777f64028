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
   * IPv4 multicast group and UDP port the export's events go to once for all UDP subscribers
   * (the SubscribeAck names it); absent: each subscriber gets its own copy by unicast.
   */
  readonly multicast?: { readonly group: string; readonly port: number };
  /** Eventgroup ids a network peer may subscribe to (default: all of the service's). */
  readonly eventgroups: readonly number[];
  /** IP addresses allowed to see and subscribe (absent: any peer). */
  readonly peers?: readonly string[];
}

/** The `gateway:` section. */
export interface GatewayConfig {
  /** The gateway's own unicast IPv4 address on the vehicle network. */
  readonly unicast: string;
  /** SD multicast group (default 224.244.224.245). */
  readonly sdGroup: string;
  /** SD port (default 30490). */
  readonly sdPort: number;
  readonly exports: readonly GatewayExport[];
}
