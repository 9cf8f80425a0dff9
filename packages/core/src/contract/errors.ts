/**
 * Base of every error Herald raises on purpose. Anything else reaching the top is a bug.
 */
export class HeraldError extends Error {
  override name = 'HeraldError';
}

/** A message body that is not a valid ExecutionEvent. Permanent: retrying cannot fix it. */
export class DecodeError extends HeraldError {
  override name = 'DecodeError';
  /** One line per problem, each starting with the field path. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.problems = problems;
  }
}

/** One problem found in a config file: where, and what was expected. */
export interface ConfigProblem {
  /** Dotted key path, e.g. `notifications.processor.queueName`; empty for the file itself. */
  readonly path: string;
  readonly message: string;
}

/** The config file cannot be used. Carries every problem found, not just the first. */
export class ConfigError extends HeraldError {
  override name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], file?: string) {
    const where = file ? `${file}: ` : '';
    super(
      `${where}${problems.length} problem${problems.length === 1 ? '' : 's'} in configuration:\n` +
        problems.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
    this.problems = problems;
  }
}

/** `path: message`, or just the message when the problem concerns the whole file. */
export function formatProblem(problem: ConfigProblem): string {
  return problem.path ? `${problem.path}: ${problem.message}` : problem.message;
}

/** A Handlebars template that does not compile or fails while rendering. Permanent. */
export class TemplateError extends HeraldError {
  override name = 'TemplateError';
  /** Which template: a config key path or a description such as `event notification[0].email.subject`. */
  readonly template: string;
  /** What is wrong with it, without the template's name (the config loader files it under a key path). */
  readonly detail: string;

  constructor(template: string, detail: string, options?: ErrorOptions) {
    super(`${template}: ${detail}`, options);
    this.template = template;
    this.detail = detail;
  }
}

/**
 * A delivery attempt failed. `retryable` is decided once, by the transport that saw the
 * failure (see each emailer's `classify` function), never by inspecting messages later.
 */
export class DeliveryError extends HeraldError {
  override name = 'DeliveryError';
  readonly retryable: boolean;
  /** Provider that failed, e.g. `ses`, `smtp`, `outbox`. */
  readonly provider: string;
  /** Server-requested wait before the next attempt (Retry-After), when it gave one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    provider: string,
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(`${provider}: ${message}`, { cause: options.cause });
    this.provider = provider;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A queue refused a message because it is full. The caller decides whether to wait or fail. */
export class QueueFullError extends HeraldError {
  override name = 'QueueFullError';
}

/** A pattern that is not a glob Herald can match with (an unbalanced bracket or brace). */
export class GlobError extends HeraldError {
  override name = 'GlobError';
  readonly pattern: string;
  /** Why, as the glob compiler said it. */
  readonly reason: string;

  constructor(pattern: string, reason: string, options?: ErrorOptions) {
    super(`not a valid glob: ${reason}`, options);
    this.pattern = pattern;
    this.reason = reason;
  }
}
