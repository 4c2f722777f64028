// The public surface of @sivshm/gateway, listed by hand: the gateway, its counters and errors,
// and the SOME/IP header codec it speaks on the network.
export { Gateway } from './gateway.js';
export type { GatewayOptions } from './gateway.js';
export type { GatewayCounters } from './edge/gateway-counters.js';
export type { PeerBudgetLimits } from './edge/peer-budget.js';
export { GatewayError } from './errors/gateway-error.js';
export type { GatewayErrorCode } from './errors/gateway-error.js';
export {
  MessageType,
  ReturnCode,
  encodeSomeIp,
  splitSomeIpDatagram,
} from './someip/someip-message.js';
export type { SomeIpMessage, SomeIpSplit, SomeIpMalformed } from './someip/someip-message.js';
