import { HERALD_STATEMENT_SID, heraldStatement, mergeQueuePolicy } from '@herald/cli';
import { HeraldError } from '@herald/core';
import { describe, expect, it } from 'vitest';

const QUEUE = 'arn:aws:sqs:us-east-1:123456789012:flyte-notifications';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:flyte-notifications';

const operatorStatement = {
  Sid: 'operator-read',
  Effect: 'Allow',
  Principal: { AWS: 'arn:aws:iam::123456789012:role/ops' },
  Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'],
  Resource: QUEUE,
};

function policy(...statements: unknown[]): string {
  return JSON.stringify({ Version: '2012-10-17', Id: 'flyte', Statement: statements });
}

function statementsOf(merged: ReturnType<typeof mergeQueuePolicy>): unknown[] {
  if (merged.kind !== 'merged') throw new Error(`expected a merged policy, got ${merged.kind}`);
  return (JSON.parse(merged.policy) as { Statement: unknown[] }).Statement;
}

describe('mergeQueuePolicy', () => {
  it("adds Herald's statement to a queue without a policy", () => {
    for (const current of [undefined, '']) {
      const merged = mergeQueuePolicy(current, QUEUE, TOPIC);
      expect(statementsOf(merged)).toEqual([heraldStatement(QUEUE, TOPIC)]);
      expect(merged).toMatchObject({ change: `statement ${HERALD_STATEMENT_SID} added (0 other statements kept)` });
    }
  });

  it("keeps every existing statement and the document's other keys, and appends Herald's", () => {
    const merged = mergeQueuePolicy(policy(operatorStatement), QUEUE, TOPIC);
    expect(statementsOf(merged)).toEqual([operatorStatement, heraldStatement(QUEUE, TOPIC)]);
    expect(merged.kind === 'merged' && JSON.parse(merged.policy).Id).toBe('flyte');
    expect(merged).toMatchObject({ change: `statement ${HERALD_STATEMENT_SID} added (1 other statement kept)` });
  });

  it('reads a policy whose Statement is a single object', () => {
    const current = JSON.stringify({ Version: '2012-10-17', Statement: operatorStatement });
    expect(statementsOf(mergeQueuePolicy(current, QUEUE, TOPIC))).toHaveLength(2);
  });

  it("changes nothing when Herald's own statement is already there", () => {
    const current = policy(operatorStatement, heraldStatement(QUEUE, TOPIC));
    expect(mergeQueuePolicy(current, QUEUE, TOPIC)).toEqual({ kind: 'unchanged', allowedBy: HERALD_STATEMENT_SID });
  });

  it('changes nothing when an equivalent statement of the operator already lets the topic send', () => {
    const equivalents = [
      // FlyteAdmin's usual Terraform: anyone, conditioned on the topic.
      {
        Sid: 'flyte-sns',
        Effect: 'Allow',
        Principal: '*',
        Action: 'SQS:SendMessage',
        Resource: QUEUE,
        Condition: { ArnEquals: { 'aws:SourceArn': TOPIC } },
      },
      {
        Effect: 'Allow',
        Principal: { Service: ['sns.amazonaws.com'] },
        Action: 'sqs:*',
        Resource: 'arn:aws:sqs:us-east-1:123456789012:*',
        Condition: { ArnLike: { 'AWS:SourceArn': 'arn:aws:sns:us-east-1:123456789012:flyte-*' } },
      },
    ];
    for (const statement of equivalents) {
      const merged = mergeQueuePolicy(policy(operatorStatement, statement), QUEUE, TOPIC);
      expect(merged).toEqual({ kind: 'unchanged', allowedBy: statement.Sid ?? 'statement 2' });
    }
  });

  it('adds its statement beside one that does not let this topic send', () => {
    const notEnough = [
      {
        ...heraldStatement(QUEUE, TOPIC),
        Sid: 'other-topic',
        Condition: { ArnEquals: { 'aws:SourceArn': `${TOPIC}-x` } },
      },
      { ...heraldStatement(QUEUE, TOPIC), Sid: 'deny', Effect: 'Deny' },
      { ...heraldStatement(QUEUE, TOPIC), Sid: 'receive-only', Action: 'sqs:ReceiveMessage' },
      { ...heraldStatement(QUEUE, TOPIC), Sid: 'other-queue', Resource: `${QUEUE}-dlq` },
      // A condition Herald cannot check counts as not allowing: adding an Allow takes nothing away.
      {
        ...heraldStatement(QUEUE, TOPIC),
        Sid: 'vpc-only',
        Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1' } },
      },
    ];
    for (const statement of notEnough) {
      expect(statementsOf(mergeQueuePolicy(policy(statement), QUEUE, TOPIC))).toEqual([
        statement,
        heraldStatement(QUEUE, TOPIC),
      ]);
    }
  });

  it('updates its own statement (by Sid) when it names another topic, keeping the rest', () => {
    const stale = heraldStatement(QUEUE, `${TOPIC}-old`);
    const merged = mergeQueuePolicy(policy(operatorStatement, stale), QUEUE, TOPIC);
    expect(statementsOf(merged)).toEqual([operatorStatement, heraldStatement(QUEUE, TOPIC)]);
    expect(merged).toMatchObject({
      change: `statement ${HERALD_STATEMENT_SID} updated to allow ${TOPIC} (1 other statement kept)`,
    });
  });

  it('refuses to overwrite a policy it cannot read', () => {
    expect(() => mergeQueuePolicy('{"Statement": [', QUEUE, TOPIC)).toThrow(HeraldError);
    expect(() => mergeQueuePolicy('[]', QUEUE, TOPIC)).toThrow(/not a policy document; left as it is/);
  });
});
