import type { Channel } from '@herald/channels';
import { DecodeError, DeliveryError, TemplateError } from '@herald/core';
import type { ConfigTemplates, ResolvedConfig } from '@herald/core/config';
import { backoffDelayMs, type Logger } from '@herald/core/runtime';
import type { DeliveryTrace, MessageOrigin, ProcessTrace, Tracing } from '@herald/core/tracing';
import type { Emailer } from '@herald/emailer';
import type { ProcessorEvents } from '../events.js';
import { decodeMessage, type MessageWork, routeMessage } from '../inputs/read-message.js';
import type { ReceivedMessage, Source } from '../sources/source.js';
import { AttemptSignals } from './attempt-signals.js';
import type { CodeRule } from './code-rules.js';
import type { BoundDelivery, DeliveryReceipt } from './deliveries.js';
import type { DeliveryLedger, LedgerEntry, LedgerKey } from './ledger.js';
import type { SilenceWatch } from './silences.js';

/** Everything the pipeline needs; built by `createProcessor` or by a test. */
export interface PipelineDependencies {
  config: Pick<ResolvedConfig, 'emailer' | 'processing' | 'rules'>;
  templates: ConfigTemplates;
  source: Source;
  emailer: Emailer | undefined;
  /** Channels by name (`herald.channels`). */
  channels: ReadonlyMap<string, Channel>;
  codeRules: readonly CodeRule[];
  ledger: DeliveryLedger;
  /** The silences in force (with a store); without, nothing is silenced. */
  silences?: SilenceWatch | undefined;
  events: ProcessorEvents;
  logger: Logger;
  /** Aborted when shutdown's grace period ends: running sends are cancelled and retried later. */
  shutdownSignal: AbortSignal;
  random?: () => number;
  /** Traces each message in a span continuing the trace it carries; undefined: no spans. */
  tracing?: Tracing | undefined;
}

type Outcome =
  | {
      kind: 'done';
      receipt?: DeliveryReceipt | undefined;
      /** Why nothing was sent, when nothing was: for the delivery's trace. */
      without?: 'silenced' | 'duplicate' | 'suppressed' | 'folded' | 'nothing-to-send';
    }
  | {
      kind: 'retry';
      destination: string;
      error: string;
      retryAfterMs: number;
      /** Another copy of the message holds this delivery: it, not this copy, settles it. */
      heldByAnotherCopy?: true;
      /**
       * Come back no sooner than this, whatever the backoff says: the claim's lease, after which
       * a delivery held by a replica that died is free to be attempted again.
       */
      notBeforeMs?: number;
    }
  | { kind: 'permanent'; destination: string; error: string };

/** One delivery of a message on its way to the dead-letter destination. */
interface DeliveryDeadLetter {
  destination: string;
  record: { kind: 'permanent-failure' | 'attempts-exhausted'; reason: string };
}

/**
 * Handles one message from receipt to settlement: decode → route → render → deliver → settle.
 *
 * - An undecodable message is dead-lettered at once and acked.
 * - Destinations are delivered in parallel; each one's failure is its own: a permanent failure
 *   dead-letters that destination only, a transient one brings the whole message back later,
 *   and the destinations that already succeeded are skipped then (ledger), so nobody gets two
 *   emails.
 * - The message is acked only when every destination was delivered or dead-lettered.
 * - Never throws: a failure to settle leaves the message with the source, which redelivers it.
 */
export class Pipeline {
  /** What cancels an attempt: the delivery timeout, or the end of shutdown's grace period. */
  private readonly signals: AttemptSignals;
  /** Where messages come from, as the messages' traces name it. */
  private readonly origin: MessageOrigin;

  constructor(private readonly deps: PipelineDependencies) {
    this.origin = deps.source.origin ?? { system: 'herald.memory', destination: undefined };
    this.signals = new AttemptSignals(deps.config.processing.deliveryTimeoutMs, deps.shutdownSignal);
  }

  /**
   * @param deliveriesDone called once every delivery of the message has finished, before it is
   * settled: the processor frees the message's slot then, so the settle round trip (a batched
   * delete) does not keep a new message waiting.
   */
  async handle(message: ReceivedMessage, deliveriesDone: () => void = () => {}): Promise<void> {
    const { tracing } = this.deps;
    if (!tracing) return this.handleMessage(message, deliveriesDone, undefined);
    return tracing.process(message, this.origin, (traced) => this.handleMessage(message, deliveriesDone, traced));
  }

  private async handleMessage(
    message: ReceivedMessage,
    deliveriesDone: () => void,
    traced: ProcessTrace | undefined,
  ): Promise<void> {
    const { events, source } = this.deps;
    events.emit('message_received', { messageId: message.id, receiveCount: message.receiveCount });
    let work: MessageWork;
    try {
      const decoded = step(traced, 'decode', () => decodeMessage(message, this.deps.config.processing.input));
      if (decoded.kind === 'skipped') {
        events.emit('message_skipped', { messageId: message.id, reason: decoded.reason });
        await this.ack(message, undefined);
        return;
      }
      work = step(traced, 'route', () => routeMessage(decoded, this.deps));
      traced?.annotate(workAttributes(work));
    } catch (err) {
      const reason = err instanceof DecodeError ? err.message : `cannot decode: ${String(err)}`;
      await this.deadLetterThenAck(message, { kind: 'undecodable', reason });
      return;
    }

    if (work.watches?.length && this.deps.ledger.watchExecution) {
      const { ledger } = this.deps;
      try {
        await Promise.all(work.watches.map(({ watch, ended }) => ledger.watchExecution?.(watch, ended)));
      } catch (err) {
        // Unrecorded, an execution would go unwatched (or a finished one be reported overdue).
        deliveriesDone();
        await this.retry(message, work, ['expect'], `delivery log unavailable: ${messageOf(err)}`, 0);
        return;
      }
    }

    try {
      const recorded: Promise<void>[] = [];
      if (work.deliveries.length > 0) {
        const { body, attributes } = message;
        recorded.push(
          this.record(message, () => this.deps.ledger.keep(work.id, { body, attributes: { ...attributes } })),
        );
      }
      const outcomes = await Promise.all(
        work.deliveries.map((d) =>
          traced ? this.tracedDelivery(traced, message, work, d, recorded) : this.deliver(message, work, d, recorded),
        ),
      );
      // The message's slot is free once its sends are done; the ledger's records of them only
      // have to land before the message is settled.
      deliveriesDone();
      await Promise.all(recorded);
      await this.settle(message, work, outcomes);
    } catch (err) {
      // Only a bug gets here; the message goes back to the queue rather than being lost.
      this.deps.logger.error({ err, messageId: message.id }, 'unexpected error while handling message');
      await this.safely('retryLater', message, () =>
        source.retryLater(message, this.deps.config.processing.retryBaseDelayMs),
      );
    }
  }

  /** {@link deliver} in a `deliver` span that records the outcome. */
  private tracedDelivery(
    traced: ProcessTrace,
    message: ReceivedMessage,
    work: MessageWork,
    destination: BoundDelivery,
    recorded: Promise<void>[],
  ): Promise<Outcome> {
    const attributes = {
      'herald.destination': destination.label,
      'herald.destination.key': destination.key,
      'herald.provider': destination.provider,
      'herald.delivery.attempt': message.receiveCount,
    };
    return traced.delivery(attributes, async (span) => {
      const outcome = await this.deliver(message, work, destination, recorded, span);
      if (outcome.kind === 'done') span.outcome(outcome.without ?? 'delivered');
      else if (outcome.kind === 'permanent') span.outcome('failed', outcome.error);
      else if (outcome.heldByAnotherCopy) span.outcome('held-elsewhere');
      else span.outcome(this.isFinalAttempt(message) ? 'attempts-exhausted' : 'retry', outcome.error);
      return outcome;
    });
  }

  /**
   * @param recorded collects the ledger writes after the attempt, which settle waits for.
   * @param traced the delivery's span, when traced: rendering and sending get spans of their own.
   */
  private async deliver(
    message: ReceivedMessage,
    work: MessageWork,
    destination: BoundDelivery,
    recorded: Promise<void>[],
    traced?: DeliveryTrace,
  ): Promise<Outcome> {
    const { ledger, events } = this.deps;
    const key: LedgerKey = { eventId: work.id, destination: destination.key };
    // Written out rather than spread from key: this runs for every delivery, and a spread is a
    // generic copy where a literal is one allocation of a known shape.
    const entry = {
      eventId: work.id,
      destination: destination.key,
      label: destination.label,
      execution: work.execution,
      phase: work.phase,
    };
    const silence = this.deps.silences?.match({ ...work, target: destination.target });
    if (silence && ledger.silenced) {
      try {
        await ledger.silenced(entry, silence.id);
      } catch (err) {
        // Unlogged, it would be silenced with no trace: try again later, as for a claim.
        return ledgerUnavailable(destination, err);
      }
      events.emit('delivery_silenced', {
        messageId: message.id,
        eventId: work.id,
        destination: destination.key,
        label: destination.label,
        silenceId: silence.id,
      });
      return { kind: 'done', without: 'silenced' };
    }
    let claim: Awaited<ReturnType<DeliveryLedger['begin']>>;
    const asked = performance.now();
    try {
      claim = await ledger.begin(entry);
      events.emit('ledger_answered', { operation: 'claim', durationMs: performance.now() - asked });
    } catch (err) {
      // Without the ledger nobody can tell whether another replica sent it: try again later.
      return ledgerUnavailable(destination, err);
    }
    if (claim.outcome === 'claimed') {
      const held = await this.stormControl(message, work, destination, entry, recorded);
      if (held) return held;
    }
    if (claim.outcome === 'settled') {
      events.emit('duplicate_skipped', { messageId: message.id, eventId: work.id, destination: destination.key });
      return { kind: 'done', without: 'duplicate' };
    }
    if (claim.outcome === 'busy') {
      events.emit('claim_held_elsewhere', { messageId: message.id, eventId: work.id, destination: destination.key });
      // Another copy of this message is delivering it right now; come back and see how it went.
      // Not before its claim could have expired: the holder may be a replica that died
      // mid-send, whose claim holds until its lease ends, and every return of the message
      // counts against the queue's receive limit (SQS moves it to the dead-letter queue after
      // maxAttempts + 1 receives), so coming back sooner only burns attempts. What is left of
      // the lease, not a whole one: a holder that died long ago is taken over soon.
      return {
        kind: 'retry',
        destination: destination.key,
        error: 'being delivered by another copy',
        retryAfterMs: 0,
        heldByAnotherCopy: true,
        ...(claim.leaseLeftMs === undefined ? {} : { notBeforeMs: claim.leaseLeftMs }),
      };
    }
    const outcome = await this.attempt(message, work, destination, traced);
    // A delivery that will be dead-lettered (a permanent failure, or any failure on the final
    // attempt) stays claimed until it is (see settle), so no other copy starts it meanwhile.
    if (outcome.kind === 'done') {
      const { providerMessageId, subject } = outcome.receipt ?? {};
      recorded.push(this.record(message, () => ledger.delivered(key, { providerMessageId, subject })));
    } else if (outcome.kind === 'retry' && !this.isFinalAttempt(message)) {
      recorded.push(this.record(message, () => ledger.failed(key, outcome.error)));
    }
    return outcome;
  }

  /**
   * Storm control for a delivery just claimed, in order: its send-once key (a later event with
   * the same value is `suppressed`), its digest (folded, unless it opens one with
   * immediateFirst), its rate limit (beyond it, folded into what the limit held back, sent when
   * the period ends). Returns the outcome when the delivery goes no further; undefined: send it.
   */
  private async stormControl(
    message: ReceivedMessage,
    work: MessageWork,
    destination: BoundDelivery,
    entry: LedgerEntry,
    recorded: Promise<void>[],
  ): Promise<Outcome | undefined> {
    const { ledger, events } = this.deps;
    const common = { messageId: message.id, eventId: work.id, destination: destination.key, label: destination.label };
    try {
      if (destination.once && ledger.once) {
        const once = await ledger.once(entry, destination.once.key);
        if (!once.first) {
          events.emit('delivery_suppressed', {
            ...common,
            onceValue: destination.once.key.value,
            sentFor: once.sentFor,
          });
          return { kind: 'done', without: 'suppressed' };
        }
      }
      if (destination.fold && ledger.fold) {
        const folded = await ledger.fold(entry, destination.fold.join);
        if (folded.role === 'held') {
          events.emit('delivery_folded', { ...common, digestId: folded.digestId });
          return { kind: 'done', without: 'folded' };
        }
        // It opened the digest and goes out now (immediateFirst); the digest follows the rest.
      }
      if (destination.rateLimit && ledger.takeToken) {
        const { max, perMs, join } = destination.rateLimit;
        const token = await ledger.takeToken(destination.key, max, perMs);
        if (!token.allowed && ledger.fold) {
          const folded = await ledger.fold(entry, join(Math.max(1, token.periodLeftMs)));
          if (folded.role === 'held') {
            events.emit('delivery_folded', { ...common, digestId: folded.digestId });
            return { kind: 'done', without: 'folded' };
          }
        }
      }
      return undefined;
    } catch (err) {
      // Neither held back nor sent: release the claim and try again later. On the final
      // attempt it stays claimed until it is dead-lettered (see settle), as after a failed send.
      if (!this.isFinalAttempt(message)) {
        const key = { eventId: entry.eventId, destination: entry.destination };
        recorded.push(this.record(message, () => ledger.failed(key, `delivery log unavailable: ${messageOf(err)}`)));
      }
      return ledgerUnavailable(destination, err);
    }
  }

  private async attempt(
    message: ReceivedMessage,
    work: MessageWork,
    destination: BoundDelivery,
    traced: DeliveryTrace | undefined,
  ): Promise<Outcome> {
    const { events } = this.deps;
    const started = performance.now();
    const signal = this.signals.next();
    try {
      const prepared = traced
        ? await traced.part('render', {}, () => destination.prepare({ signal }))
        : await destination.prepare({ signal });
      const sent = traced
        ? await traced.part('send', { 'herald.provider': destination.provider }, async () => prepared?.send({ signal }))
        : await prepared?.send({ signal });
      if (sent) {
        // The receipt's fields written out, not spread (see deliver): one per delivery.
        events.emit('delivered', {
          channel: sent.channel,
          provider: sent.provider,
          providerMessageId: sent.providerMessageId,
          location: sent.location,
          to: sent.to,
          subject: sent.subject,
          text: sent.text,
          messageId: message.id,
          eventId: work.id,
          destination: destination.key,
          durationMs: performance.now() - started,
        });
      }
      return sent ? { kind: 'done', receipt: sent } : { kind: 'done', without: 'nothing-to-send' };
    } catch (err) {
      const permanent = err instanceof TemplateError || (err instanceof DeliveryError && !err.retryable);
      events.emit('delivery_failed', {
        messageId: message.id,
        eventId: work.id,
        destination: destination.key,
        provider: destination.provider,
        retryable: !permanent,
        error: messageOf(err),
      });
      if (permanent) return { kind: 'permanent', destination: destination.key, error: messageOf(err) };
      // Transient by classification, or unclassified (a provider bug, an exception in a code
      // rule): retrying cannot lose anything, and attempts are bounded by maxAttempts.
      return {
        kind: 'retry',
        destination: destination.key,
        error: err instanceof Error ? err.message : String(err),
        retryAfterMs: err instanceof DeliveryError ? (err.retryAfterMs ?? 0) : 0,
      };
    }
  }

  private async settle(message: ReceivedMessage, work: MessageWork, outcomes: Outcome[]): Promise<void> {
    const finalAttempt = this.isFinalAttempt(message);
    const retries = outcomes.filter((o): o is Extract<Outcome, { kind: 'retry' }> => o.kind === 'retry');
    const deadLetters: DeliveryDeadLetter[] = [
      ...outcomes.flatMap((o) =>
        o.kind === 'permanent'
          ? [{ destination: o.destination, record: { kind: 'permanent-failure' as const, reason: o.error } }]
          : [],
      ),
      // A delivery another copy is making is not this copy's to give up on: that copy may
      // still succeed, or fail and need the message back.
      ...(finalAttempt ? retries.filter((r) => !r.heldByAnotherCopy) : []).map((r) => ({
        destination: r.destination,
        record: {
          kind: 'attempts-exhausted' as const,
          reason: `gave up after ${message.receiveCount} attempts: ${r.error}`,
        },
      })),
    ];
    for (const [index, deadLetter] of deadLetters.entries()) {
      if (!(await this.deadLetterDelivery(message, work, deadLetter))) {
        // Nothing is settled without being recorded: release the claims and try again later.
        const left = deadLetters.slice(index).map((d) => d.destination);
        for (const destination of left) {
          const key = { eventId: work.id, destination };
          await this.record(message, () => this.deps.ledger.failed(key, 'dead-letter destination unavailable'));
        }
        return this.retry(message, work, left, 'dead-letter destination unavailable', 0);
      }
    }

    // On the final attempt only deliveries held by another copy are left. This copy still
    // keeps the message in the queue rather than acking it: on SQS the other copy holds only a
    // stale receipt handle once this one was received, so if its delivery fails it cannot
    // bring the message back itself. When the message returns, that delivery is settled (and
    // the message acked) or free to be attempted again.
    const left = finalAttempt ? retries.filter((r) => r.heldByAnotherCopy) : retries;
    if (left.length === 0) return this.ack(message, work.id);
    return this.retry(
      message,
      work,
      left.map((r) => r.destination),
      left.map((r) => r.error).join('; '),
      Math.max(...left.map((r) => r.retryAfterMs)),
      Math.max(...left.map((r) => r.notBeforeMs ?? 0)),
    );
  }

  /** Records one delivery at the dead-letter destination and settles its claim; false when it could not. */
  private async deadLetterDelivery(
    message: ReceivedMessage,
    work: MessageWork,
    { destination, record }: DeliveryDeadLetter,
  ): Promise<boolean> {
    const full = { ...record, eventId: work.id, destination };
    if (!(await this.safely('deadLetter', message, () => this.deps.source.deadLetter(message, full)))) return false;
    await this.record(message, () => this.deps.ledger.deadLettered({ eventId: work.id, destination }, record.reason));
    this.deps.events.emit('dead_lettered', { messageId: message.id, ...full });
    return true;
  }

  private isFinalAttempt(message: ReceivedMessage): boolean {
    return message.receiveCount >= this.deps.config.processing.maxAttempts;
  }

  private async retry(
    message: ReceivedMessage,
    work: MessageWork,
    destinations: string[],
    error: string,
    retryAfterMs: number,
    notBeforeMs = 0,
  ): Promise<void> {
    const { processing } = this.deps.config;
    // Cancelled by shutdown: hand it straight back for another processor to take.
    const delayMs = this.deps.shutdownSignal.aborted
      ? 0
      : Math.max(
          notBeforeMs,
          backoffDelayMs(
            { baseDelayMs: processing.retryBaseDelayMs, maxDelayMs: processing.retryMaxDelayMs },
            message.receiveCount,
            retryAfterMs,
            this.deps.random,
          ),
        );
    this.deps.events.emit('retry_scheduled', {
      messageId: message.id,
      eventId: work.id,
      destinations,
      attempt: message.receiveCount,
      delayMs,
      error,
    });
    // When the source refuses (a stale receipt handle, the queue unreachable), the message is
    // not settled: it comes back by itself when its visibility timeout or lease ends.
    if (await this.safely('retryLater', message, () => this.deps.source.retryLater(message, delayMs))) {
      this.deps.events.emit('message_settled', { messageId: message.id, eventId: work.id, outcome: 'retry' });
    }
  }

  private async deadLetterThenAck(
    message: ReceivedMessage,
    record: { kind: 'undecodable'; reason: string },
  ): Promise<void> {
    const recorded = await this.safely('deadLetter', message, () => this.deps.source.deadLetter(message, record));
    if (!recorded) {
      await this.safely('retryLater', message, () =>
        this.deps.source.retryLater(message, this.deps.config.processing.retryBaseDelayMs),
      );
      return;
    }
    this.deps.events.emit('dead_lettered', { messageId: message.id, ...record });
    await this.record(message, () =>
      this.deps.ledger.undecodable({ messageId: message.id, reason: record.reason, source: this.deps.source.name }),
    );
    await this.ack(message, undefined);
  }

  private async ack(message: ReceivedMessage, eventId: string | undefined): Promise<void> {
    if (await this.safely('ack', message, () => this.deps.source.ack(message))) {
      this.deps.events.emit('message_settled', { messageId: message.id, eventId, outcome: 'acked' });
    }
  }

  /**
   * Writes to the delivery ledger after the fact. A failure is reported, never thrown: what it
   * records has already happened (a send went out), and the claim's lease keeps anyone else
   * from repeating it meanwhile.
   */
  private async record(message: ReceivedMessage, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.deps.events.emit('source_error', { operation: 'ledger', messageId: message.id, error: messageOf(err) });
    }
  }

  /** Runs a source operation; a failure is reported and returns false instead of throwing. */
  private async safely(operation: string, message: ReceivedMessage, run: () => Promise<void>): Promise<boolean> {
    try {
      await run();
      return true;
    } catch (err) {
      this.deps.events.emit('source_error', {
        operation,
        messageId: message.id,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
  }
}

/** Runs a step of reading a message, in a span of its own when the message is traced. */
function step<T>(traced: ProcessTrace | undefined, name: string, run: () => T): T {
  return traced ? traced.step(name, run) : run();
}

/** What a message's span says about the event it carried, once read. */
function workAttributes(work: MessageWork): Record<string, string | number> {
  const { execution } = work;
  return {
    'herald.event.id': work.id,
    'herald.destination.count': work.deliveries.length,
    ...(execution ? { 'herald.execution': `${execution.project}/${execution.domain}/${execution.name}` } : {}),
    ...(work.phase ? { 'herald.phase': work.phase } : {}),
    ...(work.workflow ? { 'herald.workflow': work.workflow } : {}),
  };
}

/** The delivery ledger could not be asked or told: the delivery is tried again later. */
function ledgerUnavailable(destination: BoundDelivery, err: unknown): Outcome {
  return {
    kind: 'retry',
    destination: destination.key,
    error: `delivery log unavailable: ${messageOf(err)}`,
    retryAfterMs: 0,
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
