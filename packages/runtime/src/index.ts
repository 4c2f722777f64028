// The public surface of @sivshm/runtime, listed by hand.
export { RuntimeError } from './errors/runtime-error.js';
export type { RuntimeErrorCode } from './errors/runtime-error.js';
export { Node } from './node/node.js';
export type { NodeOpenOptions } from './node/node.js';
export type { ChannelEndReason } from './node/node-context.js';
export { ConsumedService } from './service/consumed-service.js';
export type {
  ConsumedServiceStatus,
  ConsumeOptions,
  CallOptions,
} from './service/consumed-service.js';
export { OfferedService, ServicePublisher } from './service/offered-service.js';
export type { OfferOptions, MethodHandler } from './service/offered-service.js';
export { ServiceCatalog } from './service/service-catalog.js';
export type { ResolvedEvent, ResolvedMethod } from './service/service-catalog.js';
