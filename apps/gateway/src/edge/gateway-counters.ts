/**
 * What the gateway did with traffic from and to the network. Everything dropped at the edge is
 * counted here under its reason, so an operator sees a misbehaving peer without a log line per
 * packet.
 */
export interface GatewayCounters {
  /** Events sent as SOME/IP notifications (one per subscriber endpoint, or one per multicast group). */
  eventsSent: number;
  /** Events not sent to a TCP subscriber: no connection from its endpoint, or one not draining. */
  eventsDropped: number;
  /** Events of imported services taken from the network and published inside sivshm. */
  eventsReceived: number;
  /** Requests of imported methods sent to a network provider. */
  requestsSent: number;
  /** Method requests taken from the network (with and without return). */
  requests: number;
  /** Responses and errors sent. */
  replies: number;
  /** Datagrams, or TCP streams (then closed), that were not well-formed SOME/IP. */
  malformed: number;
  /**
   * Requests whose payload is not the method's protobuf request type (E_MALFORMED_MESSAGE);
   * for an import, events and answers whose payload is not their protobuf type.
   */
  undecodable: number;
  /**
   * Messages to a service or method this endpoint does not export, or of a type it does not
   * take; for an import, messages that are no subscribed event nor an awaited answer.
   */
  refused: number;
  /** Messages dropped because their peer was past its rate or in-flight budget. */
  overBudget: number;
  /**
   * Messages dropped because they came from a peer the export's `peers` list leaves out, or,
   * for an import, from another address than the bound provider's endpoint.
   */
  notAllowed: number;
  /** Messages too large for one UDP datagram sent as SOME/IP-TP segments (the service's `tp`). */
  tpSegmented: number;
  /**
   * Messages too large for one UDP datagram sent unsegmented (IP-fragmented) because their
   * service has no `tp`: a vsomeip peer without TP for it drops them. Logged once per service.
   */
  oversized: number;
  /**
   * Unfinished SOME/IP-TP reassemblies evicted to stay within the reassembler's bounds (per
   * sender, in number for all senders, in bytes), the longest idle first.
   */
  tpEvicted: number;
  /** Unfinished SOME/IP-TP reassemblies given up after no segment for their timeout. */
  tpExpired: number;
}

export function newCounters(): GatewayCounters {
  return {
    eventsSent: 0,
    eventsDropped: 0,
    eventsReceived: 0,
    requestsSent: 0,
    requests: 0,
    replies: 0,
    malformed: 0,
    undecodable: 0,
    refused: 0,
    overBudget: 0,
    notAllowed: 0,
    tpSegmented: 0,
    oversized: 0,
    tpEvicted: 0,
    tpExpired: 0,
  };
}
