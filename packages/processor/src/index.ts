// Defined in core since publisher and sources use it too; still exported here, where it was first.
export { type BackoffPolicy, backoffDelayMs } from '@herald/core';
export { type CodeRule, when } from './code-rules.js';
export { composeEmail } from './compose.js';
export { type ProcessorEventMap, type ProcessorEventName, ProcessorEvents } from './events.js';
export { createProcessor, createSource, type ProcessorDependencies } from './factory.js';
export { InFlightLimiter } from './flow-control.js';
export { type DeliveryLedger, MemoryLedger } from './ledger.js';
export { type MemoryDeadLetter, MemorySource, type MemorySourceOptions } from './memory-source.js';
export { Pipeline, type PipelineDependencies } from './pipeline.js';
export { Processor, type ProcessorOptions } from './processor.js';
export { PubSubSource, type PubSubSourceOptions } from './pubsub-source.js';
export {
  type ChannelDestination,
  type CodeDestination,
  type Destination,
  type EmailDestination,
  type RoutableChannel,
  routeEvent,
} from './route.js';
export { DEAD_LETTER_ATTRIBUTES, type DeadLetterRecord, type ReceivedMessage, type Source } from './source.js';
export { DeleteBatcher } from './sqs-delete-batcher.js';
export { SqsSource, type SqsSourceOptions } from './sqs-source.js';
export { VisibilityKeeper } from './sqs-visibility.js';
