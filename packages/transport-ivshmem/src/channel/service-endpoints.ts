// The typed ends of a service on one channel, in one place for their importers: the provider
// (publishers and method handlers) and the consumer (event streams and calls).
export { ReturnCode, type ServiceAddress } from './service-common.js';
export { EventPublisher, type EventPublisherOptions } from './event-publisher.js';
export { MAX_WAITING_REPLIES, ServiceProvider } from './service-provider.js';
export { ServiceConsumer } from './service-consumer.js';
export type { ServiceProviderOptions } from './calls-in-flight.js';
