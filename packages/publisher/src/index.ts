export type { PublishResult, Publisher } from './publisher.js';
export { MemoryPublisher } from './memory.js';
export { NoopPublisher } from './noop.js';
export { createPublisher, type PublisherDependencies } from './factory.js';
