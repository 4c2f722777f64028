// The public surface of @sivshm/runtime, listed by hand: what an app needs to open a node,
// consume and offer services. Everything else (sessions, the catalog, doorbells) is internal.
export { RuntimeError } from './errors/runtime-error.js';
export type { RuntimeErrorCode } from './errors/runtime-error.js';
export { Node } from './node/node.js';
export type { NodeOpenOptions, NodeConnection } from './node/node.js';
export type { ChannelEndReason } from './node/node-context.js';
export { ConsumedService } from './service/consumed-service.js';
// What `ConsumedService.samples()` delivers: a message decoded in place, valid until release().
export type { Sample } from '@sivshm/transport-ivshmem';
export type {
  ConsumedServiceStatus,
  ConsumeOptions,
  CallOptions,
  StreamOptions,
} from './service/consumed-service.js';
export { OfferedService, ServicePublisher } from './service/offered-service.js';
export type {
  OfferOptions,
  MethodHandler,
  ServicePublisherOptions,
} from './service/offered-service.js';
// The raw-bytes event path's check: do these bytes decode as this type (publishBytes runs it).
export { encodedPayloadCheck } from './service/event-bytes.js';
export {
  sivshmNodeModule,
  SivshmTokens,
  consumedServiceToken,
  offeredServiceToken,
} from './di/sivshm-node-module.js';
export type {
  SivshmNodeModuleOptions,
  ConsumeBinding,
  OfferBinding,
} from './di/sivshm-node-module.js';
