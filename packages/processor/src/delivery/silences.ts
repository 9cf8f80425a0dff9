import { GlobError } from '@herald/core';
import { compileGlob } from '@herald/core/config';
import type { Logger } from '@herald/core/runtime';
import type { Silence, SilenceField } from '@herald/store';
import type { DeliveryTarget } from './deliveries.js';

/** What a silence is matched against: the event's identity and one of its destinations. */
export interface SilenceSubject {
  execution?: { project: string; domain: string; name: string } | undefined;
  workflow?: string | undefined;
  phase?: string | undefined;
  target: Pick<DeliveryTarget, 'name' | 'to'>;
}

/** Where the silences in force are read from: the delivery store, shared by every replica. */
export interface SilenceStore {
  silences(): Promise<Silence[]>;
}

/**
 * How often the silences in force are read again. A silence added by `herald silences add` on
 * any machine is honoured by every replica within this (the promise: within seconds).
 */
export const SILENCE_POLL_MS = 2_000;

interface CompiledSilence {
  silence: Silence;
  tests: { field: SilenceField; pattern: RegExp }[];
}

/**
 * The silences in force, read from the store every couple of seconds and matched in memory, so
 * a delivery asks the store nothing more. A read that fails keeps the last silences known (and
 * says so): the store is down, and the claims will say as much.
 */
export class SilenceWatch {
  private compiled: CompiledSilence[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Silences already reported as unusable, so a poll every 2 s does not repeat it. */
  private readonly unusable = new Set<string>();

  constructor(
    private readonly store: () => SilenceStore,
    private readonly logger: Logger,
    private readonly pollMs = SILENCE_POLL_MS,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  /** The first silence in force every matcher of which the subject meets; undefined when none. */
  match(subject: SilenceSubject): Silence | undefined {
    const now = Date.now();
    for (const { silence, tests } of this.compiled) {
      if (silence.startsAt.getTime() > now || silence.endsAt.getTime() <= now) continue;
      if (tests.every((test) => valuesOf(subject, test.field).some((value) => test.pattern.test(value)))) {
        return silence;
      }
    }
    return undefined;
  }

  private async refresh(): Promise<void> {
    let silences: Silence[];
    try {
      silences = await this.store().silences();
    } catch (err) {
      this.logger.warn({ err }, 'cannot read the silences; keeping the last ones known');
      return;
    }
    this.compiled = silences.flatMap((silence) => this.compile(silence));
  }

  /**
   * A silence whose pattern does not compile (`herald silences add` refuses one, but an older
   * version did not) mutes nothing, and is said so once, rather than keeping every other
   * silence from being read.
   */
  private compile(silence: Silence): CompiledSilence[] {
    try {
      return [{ silence, tests: silence.matchers.map((m) => ({ field: m.field, pattern: compileGlob(m.pattern) })) }];
    } catch (err) {
      if (!(err instanceof GlobError)) throw err;
      if (!this.unusable.has(silence.id)) {
        this.unusable.add(silence.id);
        this.logger.warn(
          { silenceId: silence.id, pattern: err.pattern, reason: err.reason },
          'silence ignored: a pattern is not a valid glob',
        );
      }
      return [];
    }
  }
}

function valuesOf(subject: SilenceSubject, field: SilenceField): string[] {
  const value = (text: string | undefined) => (text === undefined ? [] : [text]);
  switch (field) {
    case 'project':
      return value(subject.execution?.project);
    case 'domain':
      return value(subject.execution?.domain);
    case 'execution':
      return value(subject.execution?.name);
    case 'workflow':
      return value(subject.workflow);
    case 'phase':
      return value(subject.phase);
    case 'destination':
      return [...value(subject.target.name), ...subject.target.to];
  }
}
