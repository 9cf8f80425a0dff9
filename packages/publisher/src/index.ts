export {
  EventTooLargeError,
  type OversizeEvent,
  PublishError,
  type PublishedEvent,
  type UnpublishedEvent,
} from './errors.js';
export { createPublisher, type PublisherDependencies } from './factory.js';
export { EventInputError, type EventLocation, parseEvents } from './inputs.js';
export { MemoryPublisher, type MemoryPublisherOptions } from './memory.js';
export { NoopPublisher } from './noop.js';
export { prepareEvents } from './prepare.js';
export type { Publisher, PublishResult } from './publisher.js';
export {
  PUBSUB_MAX_MESSAGE_BYTES,
  PubSubPublisher,
  type PubSubPublisherOptions,
  pubsubMessageBytes,
} from './pubsub.js';
export {
  batches as snsBatches,
  type IndexedEvent,
  SNS_MAX_MESSAGE_BYTES,
  SnsPublisher,
  type SnsPublisherOptions,
  snsMessageBytes,
} from './sns.js';
