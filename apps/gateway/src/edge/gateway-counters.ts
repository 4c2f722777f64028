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
  /** Method requests taken from the network (with and without return). */
  requests: number;
  /** Responses and errors sent. */
  replies: number;
  /** Datagrams, or TCP streams (then closed), that were not well-formed SOME/IP. */
  malformed: number;
  /** Requests whose payload is not the method's protobuf request type (E_MALFORMED_MESSAGE). */
  undecodable: number;
  /** Messages to a service or method this endpoint does not export, or of a type it does not take. */
  refused: number;
  /** Messages dropped because their peer was past its rate or in-flight budget. */
  overBudget: number;
  /** Messages dropped because they came from a peer the export's `peers` list leaves out. */
  notAllowed: number;
}

export function newCounters(): GatewayCounters {
  return {
    eventsSent: 0,
    eventsDropped: 0,
    requests: 0,
    replies: 0,
    malformed: 0,
    undecodable: 0,
    refused: 0,
    overBudget: 0,
    notAllowed: 0,
  };
}
