export { createPublisher, type PublisherDependencies } from './factory.js';
export { MemoryPublisher } from './memory.js';
export { NoopPublisher } from './noop.js';
export type { Publisher, PublishResult } from './publisher.js';
