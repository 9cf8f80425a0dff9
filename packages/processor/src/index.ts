// Defined in core since publisher and sources use it too; still exported here, where it was first.
export { type BackoffPolicy, backoffDelayMs } from '@herald/core/runtime';
export { type CodeRule, when } from './delivery/code-rules.js';
export { composeEmail } from './delivery/compose.js';
export {
  type Delivery,
  type DeliveryParts,
  type DeliveryPreview,
  type DeliveryReceipt,
  type DeliveryTarget,
  type DigestTemplateSources,
  type DigestToSend,
  deliveryFor,
  digestTemplateSources,
  eventDeliveries,
  type PreparedDelivery,
} from './delivery/deliveries.js';
export { DIGEST_POLL_MS, DigestSender, type DigestSenderDependencies } from './delivery/digest-sender.js';
export {
  type DeliveryLedger,
  type LedgerClaim,
  type LedgerEntry,
  type LedgerKey,
  MemoryLedger,
} from './delivery/ledger.js';
export { Pipeline, type PipelineDependencies } from './delivery/pipeline.js';
export {
  type ChannelDestination,
  type CodeDestination,
  type Destination,
  type EmailDestination,
  type FoldPolicy,
  type RoutableChannel,
  routeEvent,
} from './delivery/route.js';
export { StoreLedger, type StoreLedgerOptions } from './delivery/store-ledger.js';
export { type ProcessorEventMap, type ProcessorEventName, ProcessorEvents } from './events.js';
export { createLedger, createProcessor, createSource, type ProcessorDependencies } from './factory.js';
export { InFlightLimiter } from './flow/flow-control.js';
export { Processor, type ProcessorOptions } from './flow/processor.js';
export { executionWatches, type MessageWork } from './inputs/read-message.js';
export {
  type MemoryDeadLetter,
  type MemoryReceived,
  MemorySource,
  type MemorySourceOptions,
} from './sources/memory-source.js';
export { type PubSubReceived, PubSubSource, type PubSubSourceOptions } from './sources/pubsub-source.js';
export { DEAD_LETTER_ATTRIBUTES, type DeadLetterRecord, type ReceivedMessage, type Source } from './sources/source.js';
export { DeleteBatcher } from './sources/sqs-delete-batcher.js';
export { type SqsReceived, SqsSource, type SqsSourceOptions } from './sources/sqs-source.js';
export { VisibilityKeeper } from './sources/sqs-visibility.js';
