export { createPublisher, type PublisherDependencies } from './factory.js';
export { MemoryPublisher } from './memory.js';
export { NoopPublisher } from './noop.js';
export { prepareEvents } from './prepare.js';
export type { Publisher, PublishResult } from './publisher.js';
export { PubSubPublisher, type PubSubPublisherOptions } from './pubsub.js';
export { batches as snsBatches, PublishError, SnsPublisher, type SnsPublisherOptions } from './sns.js';
