import { SOMEIP_HEADER_SIZE } from '@sivshm/abi';
import type { GatewayCounters } from '../edge/gateway-counters.js';
import { tpSegments } from './tp-segmenter.js';

/**
 * What becomes of a SOME/IP message too large for one UDP datagram of the gateway's budget
 * (`MAX_BATCH_BYTES`), per service: with `tp` configured, its SOME/IP-TP segments, each sent as
 * its own datagram in order (a payload within one segment leaves whole); without, the message as it is — one IP-fragmented datagram, which
 * a peer configured for it takes and a vsomeip peer without TP for the service drops. That
 * second case is counted (`oversized`) and logged once per service with the fix, so it is never
 * silent.
 */
export class LargeMessagePolicy {
  private warned = false;

  constructor(
    /** The service's `tp` segment size, or undefined when TP is off for it. */
    private readonly tpSegment: number | undefined,
    /** Which entry of services.yaml's gateway section: its list and its service instance. */
    private readonly entry: {
      readonly section: 'export' | 'import';
      readonly service: string;
      readonly instance: number;
    },
    private readonly counters: GatewayCounters,
    private readonly log: (line: string) => void,
  ) {}

  /** The datagrams that carry `message` (a whole encoded SOME/IP message past the budget). */
  datagrams(message: Uint8Array): readonly Uint8Array[] {
    if (this.tpSegment !== undefined) {
      // A payload within one segment would be a lone segment (offset 0, no more): it leaves
      // whole, no larger than a segment with its headers.
      if (message.byteLength - SOMEIP_HEADER_SIZE <= this.tpSegment) return [message];
      this.counters.tpSegmented += 1;
      return tpSegments(message, this.tpSegment);
    }
    this.counters.oversized += 1;
    if (!this.warned) {
      this.warned = true;
      const { section, service, instance } = this.entry;
      this.log(
        `${service}/${instance}: a ${message.byteLength}-byte SOME/IP message is past one UDP datagram and leaves unsegmented (IP-fragmented), which a vsomeip peer drops unless it takes SOME/IP-TP; enable tp for service ${service}: add 'tp: true' to its gateway.${section} entry (counted as oversized; logged once)`,
      );
    }
    return [message];
  }
}

/** Where `sendSomeIp` puts datagrams: a UDP socket's `send`. */
export interface DatagramSink {
  send(bytes: Uint8Array, port: number, address: string): void;
}

/**
 * Sends one encoded SOME/IP message to `address:port` over UDP: alone when it fits `maxBytes`,
 * else as `policy` says (TP segments in order, or the message unsegmented and counted).
 */
export function sendSomeIp(
  socket: DatagramSink,
  policy: LargeMessagePolicy,
  maxBytes: number,
  message: Uint8Array,
  port: number,
  address: string,
): void {
  if (message.byteLength <= maxBytes) return socket.send(message, port, address);
  for (const d of policy.datagrams(message)) socket.send(d, port, address);
}
