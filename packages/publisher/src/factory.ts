import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import type { Logger, MemoryQueue } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
import { MemoryPublisher } from './memory.js';
import { NoopPublisher } from './noop.js';
import type { Publisher } from './publisher.js';
import { PubSubPublisher } from './pubsub.js';
import { SnsPublisher } from './sns.js';

/** What a publisher may need besides the config. */
export interface PublisherDependencies {
  /** The in-process queue shared with the processor; required for `type: sandbox`. */
  memoryQueue?: MemoryQueue;
  logger?: Logger;
  /** Traces each publish and puts its trace context in the messages' attributes; undefined: none. */
  tracing?: Tracing | undefined;
}

/**
 * The publisher a config describes.
 * @throws HeraldError when the transport cannot be built from here (e.g. sandbox without its
 * in-process queue, which only exists inside a running processor).
 */
export function createPublisher(config: ResolvedConfig, deps: PublisherDependencies = {}): Publisher {
  switch (config.type) {
    case 'local':
      return new NoopPublisher();
    case 'sandbox':
      if (!deps.memoryQueue) {
        throw new HeraldError(
          'type sandbox keeps its queue inside the running processor: publish with `herald run --publish FILE`',
        );
      }
      return new MemoryPublisher(deps.memoryQueue, { tracing: deps.tracing });
    case 'aws':
      return new SnsPublisher({
        topicArn: config.publisher.topicName,
        region: config.aws.region,
        endpoint: config.awsTransport.endpoint,
        reconnectAttempts: config.reconnect.attempts,
        reconnectDelaySeconds: config.reconnect.delaySeconds,
        logger: deps.logger,
        tracing: deps.tracing,
      });
    case 'gcp':
      return new PubSubPublisher({
        projectId: config.gcp.projectId,
        topicName: config.publisher.topicName,
        orderingByExecution: config.gcpTransport.orderingByExecution,
        reconnectAttempts: config.reconnect.attempts,
        reconnectDelaySeconds: config.reconnect.delaySeconds,
        logger: deps.logger,
        tracing: deps.tracing,
      });
  }
}
