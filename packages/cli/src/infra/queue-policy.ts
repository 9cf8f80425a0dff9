import { HeraldError } from '@herald/core';

/** The Sid of the statement Herald adds to a queue policy; a statement with this Sid is Herald's to update. */
export const HERALD_STATEMENT_SID = 'herald-sns-to-sqs';

/** One statement of an IAM policy document, as far as Herald reads it. */
interface Statement {
  Sid?: unknown;
  Effect?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: unknown;
}

/** What to do with a queue's policy so that the topic may send to the queue. */
export type PolicyMerge =
  /** The policy already lets the topic send: `allowedBy` names the statement that does. */
  | { kind: 'unchanged'; allowedBy: string }
  /** Write `policy`: every existing statement kept, Herald's added or (its own, by Sid) updated. */
  | { kind: 'merged'; policy: string; change: string };

/** Herald's statement: SNS may send to the queue messages coming from the topic, and from nowhere else. */
export function heraldStatement(queueArn: string, topicArn: string): Record<string, unknown> {
  return {
    Sid: HERALD_STATEMENT_SID,
    Effect: 'Allow',
    Principal: { Service: 'sns.amazonaws.com' },
    Action: 'sqs:SendMessage',
    Resource: queueArn,
    Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
  };
}

/**
 * Merges Herald's statement into a queue's current policy (the `Policy` attribute; empty or
 * absent when the queue has none). Every existing statement is kept. Herald's statement is added
 * only when no statement already lets the topic send; one carrying Herald's Sid that does not is
 * replaced, as Herald's own.
 *
 * A statement "lets the topic send" when it allows `sqs:SendMessage` (or a wildcard covering it)
 * on the queue to SNS (or to everyone) under conditions Herald can check: none, or
 * `aws:SourceArn` matched by `ArnEquals`/`ArnLike`/`StringEquals`/`StringLike`. Any other
 * condition counts as not allowing, so Herald adds its own statement (adding an Allow never takes
 * anything away).
 *
 * @throws HeraldError when the current policy is not a JSON policy document: Herald will not
 *   overwrite what it cannot read.
 */
export function mergeQueuePolicy(current: string | undefined, queueArn: string, topicArn: string): PolicyMerge {
  const document = parsePolicy(current, queueArn);
  const statements = toList(document.Statement) as Statement[];
  const allowing = statements.findIndex((s) => letsTopicSend(s, queueArn, topicArn));
  if (allowing >= 0) {
    const sid = statements[allowing]?.Sid;
    return { kind: 'unchanged', allowedBy: typeof sid === 'string' && sid !== '' ? sid : `statement ${allowing + 1}` };
  }
  const ours = heraldStatement(queueArn, topicArn);
  const own = statements.findIndex((s) => s.Sid === HERALD_STATEMENT_SID);
  const merged = own >= 0 ? statements.map((s, i) => (i === own ? ours : s)) : [...statements, ours];
  const others = statements.length - (own >= 0 ? 1 : 0);
  const kept = `${others} other statement${others === 1 ? '' : 's'} kept`;
  const change =
    own >= 0
      ? `statement ${HERALD_STATEMENT_SID} updated to allow ${topicArn} (${kept})`
      : `statement ${HERALD_STATEMENT_SID} added (${kept})`;
  const policy = JSON.stringify({ ...document, Version: document.Version ?? '2012-10-17', Statement: merged });
  return { kind: 'merged', policy, change };
}

function parsePolicy(current: string | undefined, queueArn: string): Record<string, unknown> {
  if (current === undefined || current.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(current);
  } catch (err) {
    throw new HeraldError(`the policy of queue ${queueArn} is not JSON (${(err as Error).message}); left as it is`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeraldError(`the policy of queue ${queueArn} is not a policy document; left as it is`);
  }
  return value as Record<string, unknown>;
}

function letsTopicSend(s: Statement, queueArn: string, topicArn: string): boolean {
  if (s.Effect !== 'Allow' || s.NotPrincipal !== undefined || s.NotAction !== undefined) return false;
  if (s.NotResource !== undefined) return false;
  return (
    principalIncludesSns(s.Principal) &&
    toList(s.Action).some((a) => typeof a === 'string' && matches('sqs:sendmessage', a.toLowerCase())) &&
    toList(s.Resource).some((r) => typeof r === 'string' && matches(queueArn, r)) &&
    conditionAllows(s.Condition, topicArn)
  );
}

function principalIncludesSns(principal: unknown): boolean {
  if (principal === '*') return true;
  if (typeof principal !== 'object' || principal === null) return false;
  const { AWS, Service } = principal as { AWS?: unknown; Service?: unknown };
  return toList(AWS).includes('*') || toList(Service).includes('sns.amazonaws.com');
}

/** Whether every condition of the statement is one Herald understands and the topic meets. */
function conditionAllows(condition: unknown, topicArn: string): boolean {
  if (condition === undefined) return true;
  if (typeof condition !== 'object' || condition === null) return false;
  return Object.entries(condition).every(([operator, keys]) => {
    if (typeof keys !== 'object' || keys === null) return false;
    return Object.entries(keys).every(([key, values]) => {
      // Condition keys are case-insensitive; operators are not.
      if (key.toLowerCase() !== 'aws:sourcearn') return false;
      const list = toList(values).filter((v): v is string => typeof v === 'string');
      if (operator === 'ArnEquals' || operator === 'StringEquals') return list.includes(topicArn);
      if (operator === 'ArnLike' || operator === 'StringLike') return list.some((v) => matches(topicArn, v));
      return false;
    });
  });
}

function toList(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** IAM wildcard matching: `*` is any run of characters, `?` any one. */
function matches(value: string, pattern: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}
