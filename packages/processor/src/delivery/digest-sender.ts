import { DeliveryError, type ExecutionEvent, TemplateError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { backoffDelayMs, type Logger } from '@herald/core/runtime';
import type { DeliveryTrace, Tracing } from '@herald/core/tracing';
import type { DeliveryStore, DigestContents } from '@herald/store';
import type { ProcessorEvents } from '../events.js';
import { AttemptSignals } from './attempt-signals.js';
import {
  type Delivery,
  type DeliveryParts,
  type DigestToSend,
  deliveryFor,
  digestTemplateSources,
} from './deliveries.js';
import type { DeliveryLedger, LedgerKey } from './ledger.js';
import type { Destination } from './route.js';

/**
 * How often each replica looks for digests that are due: a digest goes out within this of its
 * window's end (or of filling up).
 */
export const DIGEST_POLL_MS = 1_000;
/** Digests one poll sends at most, at once. */
const DUE_PER_POLL = 16;

export interface DigestSenderDependencies {
  /** The store digests are held in (open once the processor has started). */
  store: () => DeliveryStore;
  /** Claims and settles each digest's delivery, like any other: exactly one replica sends it. */
  ledger: DeliveryLedger;
  parts: DeliveryParts;
  config: Pick<ResolvedConfig, 'processing' | 'rules' | 'eventNotifications'>;
  events: ProcessorEvents;
  logger: Logger;
  /** Aborted when shutdown's grace period ends: a digest being sent is cancelled and retried later. */
  shutdownSignal: AbortSignal;
  random?: (() => number) | undefined;
  pollMs?: number | undefined;
  /** Traces each digest's send in a trace of its own; undefined: no spans. */
  tracing?: Tracing | undefined;
}

/**
 * Sends the digests that are due, from any replica: each poll closes the due digests' windows
 * (no event joins a closed one; the next event opens the group's next digest), then claims each
 * one's delivery (`digest:ID` and its destination) in the delivery log, so of the replicas that
 * see it due exactly one sends it, and a replica that died mid-send is taken over when its
 * lease ends. A failed send is retried with the pipeline's backoff, up to `maxAttempts`, then
 * logged dead-lettered.
 */
export class DigestSender {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;

  /** What cancels a send: the delivery timeout, or the end of shutdown's grace period. */
  private readonly signals: AttemptSignals;

  constructor(private readonly deps: DigestSenderDependencies) {
    this.signals = new AttemptSignals(deps.config.processing.deliveryTimeoutMs, deps.shutdownSignal);
  }

  /** Starts polling, the first time at once: digests that fell due while no replica ran go out first. */
  async start(): Promise<void> {
    this.stopped = false;
    this.pollThenSchedule();
  }

  /** Stops polling and waits for the digests being sent (their sends are bounded by the delivery timeout). */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** Sends what is due now; what a poll does (tests call it to avoid waiting for the timer). */
  async poll(): Promise<void> {
    let due: string[];
    try {
      due = await this.deps.store().dueDigests(DUE_PER_POLL);
    } catch (err) {
      this.deps.logger.warn({ err }, 'cannot look for due digests; will try again');
      return;
    }
    await Promise.all(
      due.map((id) =>
        this.send(id).catch((err: unknown) =>
          // Nothing is lost: the digest stays closed and due, and the next poll tries again.
          this.deps.logger.error({ err, digestId: id }, 'could not send a digest; will try again'),
        ),
      ),
    );
  }

  /** One poll now (`close` waits for it), the next one a poll interval after it ends. */
  private pollThenSchedule(): void {
    if (this.stopped) return;
    this.polling = this.poll().finally(() => {
      this.polling = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.pollThenSchedule(), this.deps.pollMs ?? DIGEST_POLL_MS);
    });
  }

  private async send(id: string): Promise<void> {
    const store = this.deps.store();
    await store.closeDigest(id);
    // Its events are read once this replica holds its claim: the others, seeing it due too, read no more than its row.
    const digest = await store.digest(id, { events: false });
    if (digest?.status !== 'closed') return;
    if (digest.members === 0) {
      // immediateFirst, and nothing followed the first: it said all there was to say.
      await store.finishDigest(id, 'empty');
      return;
    }
    const key: LedgerKey = { eventId: `digest:${id}`, destination: digest.destination };
    const claim = await this.deps.ledger.begin({ ...key, label: digest.label });
    if (claim.outcome === 'settled') {
      // Sent (or given up on) by a replica that stopped before it could say so here.
      const [row] = await store.list({ eventId: key.eventId, limit: 1 });
      await store.finishDigest(id, row?.status === 'dead-lettered' ? 'dead-lettered' : 'sent');
      return;
    }
    if (claim.outcome === 'busy') {
      // Another replica is sending it: look again once its lease could have ended.
      await store.retryDigest(id, claim.leaseLeftMs ?? this.deps.config.processing.deliveryTimeoutMs);
      return;
    }
    const contents = await store.digest(id);
    if (contents) await this.attempt(contents, key);
  }

  /**
   * Sends a claimed digest, in a `deliver` span of its own trace when traced: a digest is sent
   * by a timer, not by any one message.
   */
  private attempt(digest: DigestContents, key: LedgerKey): Promise<void> {
    const { tracing } = this.deps;
    const delivery = deliveryFor(JSON.parse(digest.target) as Destination, this.deps.parts);
    if (!tracing) return this.attemptTraced(digest, key, delivery, undefined);
    const attributes = {
      'herald.provider': delivery.provider,
      'herald.destination': digest.label,
      'herald.destination.key': digest.destination,
      'herald.digest.id': digest.id,
      'herald.digest.kind': digest.kind,
      'herald.digest.count': digest.members,
      'herald.rule': digest.rule,
    };
    return tracing.detached(attributes, (span) => this.attemptTraced(digest, key, delivery, span));
  }

  private async attemptTraced(
    digest: DigestContents,
    key: LedgerKey,
    delivery: Delivery,
    traced: DeliveryTrace | undefined,
  ): Promise<void> {
    const { ledger, events, config } = this.deps;
    const store = this.deps.store();
    const opener = digest.openerEvent === null ? undefined : (JSON.parse(digest.openerEvent) as ExecutionEvent);
    const overdue = digest.kind === 'overdue';
    const toSend: DigestToSend = {
      id: digest.id,
      kind: digest.kind,
      // The group's key: the same for every digest of the group (one PagerDuty alert per storm).
      incidentKey: digest.groupKey,
      rule: digest.rule,
      group: digest.group,
      windowMs: digest.windowMs,
      // An overdue alert is about the one event that started its watch.
      events: overdue ? (opener ? [opener] : []) : digest.events.map((e) => JSON.parse(e.event) as ExecutionEvent),
      openedAt: digest.openedAt,
      closedAt: digest.closedAt ?? new Date(),
      sentFirst: overdue ? undefined : opener,
      templates: digestTemplateSources(config, digest.rule, digest.kind),
    };
    const common = { digestId: digest.id, rule: digest.rule, destination: digest.destination, label: digest.label };
    const started = performance.now();
    const signal = this.signals.next();
    try {
      const render = () => delivery.prepareDigest(toSend);
      const prepared = traced ? await traced.part('render', {}, render) : await render();
      const send = async () => prepared?.send({ signal });
      const receipt = traced ? await traced.part('send', { 'herald.provider': delivery.provider }, send) : await send();
      traced?.outcome('delivered');
      await ledger.delivered(key, { providerMessageId: receipt?.providerMessageId, subject: receipt?.subject });
      await store.finishDigest(digest.id, 'sent');
      events.emit('digest_sent', {
        ...common,
        provider: delivery.provider,
        count: digest.members,
        providerMessageId: receipt?.providerMessageId ?? '',
        durationMs: performance.now() - started,
      });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof TemplateError || (err instanceof DeliveryError && !err.retryable);
      const [row] = await store.list({ eventId: key.eventId, limit: 1 });
      const attempt = row?.attempts ?? 1;
      const deadLettered = permanent || attempt >= config.processing.maxAttempts;
      const { retryBaseDelayMs, retryMaxDelayMs } = config.processing;
      const delayMs = deadLettered
        ? 0
        : backoffDelayMs(
            { baseDelayMs: retryBaseDelayMs, maxDelayMs: retryMaxDelayMs },
            attempt,
            err instanceof DeliveryError ? (err.retryAfterMs ?? 0) : 0,
            this.deps.random,
          );
      traced?.outcome(deadLettered ? (permanent ? 'failed' : 'attempts-exhausted') : 'retry', error);
      if (deadLettered) {
        await ledger.deadLettered(key, permanent ? error : `gave up after ${attempt} attempts: ${error}`);
        await store.finishDigest(digest.id, 'dead-lettered');
      } else {
        await ledger.failed(key, error);
        await store.retryDigest(digest.id, delayMs);
      }
      events.emit('digest_failed', {
        ...common,
        provider: delivery.provider,
        retryable: !permanent,
        attempt,
        error,
        deadLettered,
        delayMs,
      });
    }
  }
}
