import { globToRegExp } from '@herald/core/config';
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
    try {
      const silences = await this.store().silences();
      this.compiled = silences.map((silence) => ({
        silence,
        tests: silence.matchers.map((m) => ({ field: m.field, pattern: globToRegExp(m.pattern) })),
      }));
    } catch (err) {
      this.logger.warn({ err }, 'cannot read the silences; keeping the last ones known');
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
