import { DecodeError, decodeEvent, type ExecutionEvent, isTerminalPhase } from '@herald/core';
import type { MessageInput, ResolvedConfig } from '@herald/core/config';
import type { ExecutionWatch } from '@herald/store';
import type { CodeRule } from '../delivery/code-rules.js';
import {
  type BoundDelivery,
  type DeliveryParts,
  deliveryFor,
  eventDeliveries,
  renderedEmailDelivery,
  stateKey,
} from '../delivery/deliveries.js';
import { matchesScope, routeEvent, ruleDestinations } from '../delivery/route.js';
import { decodeFlyteAdminEmail, FLYTEADMIN_EMAIL_KEY, type FlyteAdminEmail } from '../flyte/admin-email.js';
import { decodeFlyteEgress, type FlyteEgressMode } from '../flyte/egress.js';
import type { ReceivedMessage } from '../sources/source.js';
import { type FlyteAdminPayload, flyteAdminPayload } from './flyteadmin-payload.js';

/** What one message asks for: an identity for the ledger and dead letters, and its deliveries. */
export interface MessageWork {
  /** The event's id, or for an email that arrived rendered, one derived from its bytes. */
  readonly id: string;
  readonly deliveries: BoundDelivery[];
  /** The execution and phase it is about, when it is about one (a rendered email is not). */
  readonly execution?: { project: string; domain: string; name: string } | undefined;
  /** The workflow's name, when the event says it. */
  readonly workflow?: string | undefined;
  readonly phase?: string | undefined;
  /** Rules' `expect` watches this event starts (`ended` false) or ends (true). */
  readonly watches?: readonly { watch: ExecutionWatch; ended: boolean }[] | undefined;
}

/** A message read: work to do, or one that asks for nothing by design (counted, not dead-lettered). */
export type ReadOutcome = { kind: 'work'; work: MessageWork } | { kind: 'skipped'; reason: string };

/** What reading needs: what the queue carries, how to route an event, what deliveries are made of. */
export interface ReaderParts extends DeliveryParts {
  config: Pick<ResolvedConfig, 'emailer' | 'rules' | 'processing'>;
  codeRules: readonly CodeRule[];
}

/** The keys FlyteAdmin's execution events go under, by the mode that reads them. */
const EGRESS_KEYS: Readonly<Record<string, FlyteEgressMode | 'ambiguous'>> = {
  'cloudevents.WorkflowExecution': 'cloudevent',
  'cloudevents.NodeExecution': 'cloudevent',
  'cloudevents.TaskExecution': 'cloudevent',
  'cloudevents.ExecutionStart': 'cloudevent',
  // externalEvents and cloudEvents v1 both publish under these: only the configured mode can say.
  'flyteidl.admin.WorkflowExecutionEventRequest': 'ambiguous',
  'flyteidl.admin.NodeExecutionEventRequest': 'ambiguous',
  'flyteidl.admin.TaskExecutionEventRequest': 'ambiguous',
};

/**
 * What a message holds once decoded: an event, an email that arrived rendered (FlyteAdmin's),
 * or nothing to do by design.
 */
export type DecodedMessage =
  | { kind: 'event'; event: ExecutionEvent }
  | ({ kind: 'email' } & FlyteAdminEmail)
  | { kind: 'skipped'; reason: string };

/**
 * Reads a message into the deliveries it asks for, as `herald.processor.input` says the queue
 * carries them (see MESSAGE_INPUTS): {@link decodeMessage}, then {@link routeMessage}.
 * @throws DecodeError naming what is wrong: the message is dead-lettered with it.
 */
export function readMessage(message: ReceivedMessage, parts: ReaderParts): ReadOutcome {
  const decoded = decodeMessage(message, parts.config.processing.input);
  return decoded.kind === 'skipped' ? decoded : { kind: 'work', work: routeMessage(decoded, parts) };
}

/**
 * The bytes of a message read as what `input` says the queue carries.
 * @throws DecodeError naming what is wrong: the message is dead-lettered with it.
 */
export function decodeMessage(message: ReceivedMessage, input: MessageInput): DecodedMessage {
  if (input === 'herald') return { kind: 'event', event: decodeEvent(message.body) };
  const flyte = flyteAdminPayload(message, input !== 'auto');
  switch (input) {
    case 'flyteadmin':
      return decodeEmail(requirePayload(flyte, 'a FlyteAdmin email'));
    case 'flyteadmin-events':
      return decodeEgress(requirePayload(flyte, 'a FlyteAdmin execution event (externalEvents)'), 'external');
    case 'flyteadmin-cloudevents':
      return decodeEgress(requirePayload(flyte, 'a FlyteAdmin cloud event (cloudEvents)'), 'cloudevent');
    case 'auto': {
      if (!flyte) return { kind: 'event', event: decodeEvent(message.body) };
      if (flyte.key === undefined) return decodeRawBase64(flyte);
      if (flyte.key === FLYTEADMIN_EMAIL_KEY) return decodeEmail(flyte);
      const mode = EGRESS_KEYS[flyte.key];
      if (mode === 'cloudevent') return decodeEgress(flyte, mode);
      if (mode === 'ambiguous') {
        throw new DecodeError([
          `key ${flyte.key}: FlyteAdmin publishes this from externalEvents and from cloudEvents v1 alike; set herald.processor.input to flyteadmin-events or flyteadmin-cloudevents`,
        ]);
      }
      throw new DecodeError([`key ${JSON.stringify(flyte.key.slice(0, 80))}: not a message Herald reads`]);
    }
  }
}

/** The deliveries a decoded message asks for: the event routed, or the rendered email's recipients. */
export function routeMessage(decoded: Exclude<DecodedMessage, { kind: 'skipped' }>, parts: ReaderParts): MessageWork {
  if (decoded.kind === 'email') {
    return { id: decoded.id, deliveries: [renderedEmailDelivery(decoded.email, 'flyteadmin-email', parts)] };
  }
  const { event } = decoded;
  const destinations = routeEvent(event, parts.config, parts.channels, parts.codeRules);
  const { project, domain, name } = event.execution;
  return {
    id: event.id,
    deliveries: eventDeliveries(event, destinations, parts),
    execution: { project, domain, name },
    workflow: event.workflow?.name,
    phase: event.phase,
    watches: executionWatches(event, parts),
  };
}

function requirePayload(payload: FlyteAdminPayload | undefined, what: string): FlyteAdminPayload {
  if (!payload) throw new DecodeError([`body: expected ${what}: an SNS envelope, base64 text or Pub/Sub bytes`]);
  return payload;
}

/**
 * A body of bare base64 on a queue not declared FlyteAdmin's: FlyteAdmin's email with raw
 * delivery, if it decodes strictly as one; otherwise refused, saying both readings failed.
 */
function decodeRawBase64(payload: FlyteAdminPayload): DecodedMessage {
  try {
    return decodeEmail(payload);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    throw new DecodeError([
      'body: not JSON, so not a Herald event; read as base64 of a FlyteAdmin email',
      ...err.problems,
    ]);
  }
}

/**
 * What the event does to the rules' `expect` watches of its execution: reaching a rule's
 * `after` phase starts one per destination of the rule; ending stops them.
 */
export function executionWatches(
  event: ExecutionEvent,
  parts: Pick<ReaderParts, 'config' | 'channels'> & DeliveryParts,
): { watch: ExecutionWatch; ended: boolean }[] {
  const watches: { watch: ExecutionWatch; ended: boolean }[] = [];
  const ended = isTerminalPhase(event.phase);
  for (const rule of parts.config.rules) {
    const expect = rule.expect;
    if (!expect || !matchesScope(event, rule) || (!ended && event.phase !== expect.after)) continue;
    const { project, domain, name } = event.execution;
    for (const destination of ruleDestinations(rule, parts.channels)) {
      const groupKey = stateKey(['expect', rule.name, destination.key, project, domain, name]);
      watches.push({
        ended,
        watch: {
          groupKey,
          rule: rule.name,
          destination: destination.key,
          label: deliveryFor(destination, parts).label,
          target: JSON.stringify(destination),
          group: { execution: `${project}/${domain}/${name}` },
          withinMs: expect.withinMs,
          event: JSON.stringify(event),
        },
      });
    }
  }
  return watches;
}

function decodeEmail(payload: FlyteAdminPayload): DecodedMessage {
  if (payload.key !== undefined && payload.key !== FLYTEADMIN_EMAIL_KEY) {
    throw new DecodeError([`key ${JSON.stringify(payload.key.slice(0, 80))}: expected ${FLYTEADMIN_EMAIL_KEY}`]);
  }
  return { kind: 'email', ...decodeFlyteAdminEmail(payload.bytes, payload.publishId) };
}

function decodeEgress(payload: FlyteAdminPayload, mode: FlyteEgressMode): DecodedMessage {
  const result = decodeFlyteEgress(payload.bytes, payload.key, mode);
  return result.kind === 'skipped' ? result : { kind: 'event', event: result.event };
}
