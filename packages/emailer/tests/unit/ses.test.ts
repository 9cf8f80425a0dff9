import type { SESClient } from '@aws-sdk/client-ses';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { classifySesError, type EmailMessage, isApiMissing, SesEmailer } from '@herald/emailer';
import { describe, expect, it } from 'vitest';

/** An error shaped like the AWS SDK's service exceptions. */
function awsError(name: string, status: number | undefined, fault: 'client' | 'server' = 'client'): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $fault: fault,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });
}

describe('SES failure classification', () => {
  it.each([
    ['MessageRejected', 400],
    ['MailFromDomainNotVerifiedException', 400],
    ['BadRequestException', 400],
    ['NotFoundException', 404],
  ])('%s is permanent', (name, status) => {
    expect(classifySesError(awsError(name, status)).retryable).toBe(false);
  });

  it.each([
    ['ThrottlingException', 400],
    ['TooManyRequestsException', 429],
    ['LimitExceededException', 400],
    ['AccountSendingPausedException', 400],
  ])('%s is retried', (name, status) => {
    expect(classifySesError(awsError(name, status)).retryable).toBe(true);
  });

  it('retries server faults', () => {
    expect(classifySesError(awsError('InternalFailure', 500, 'server')).retryable).toBe(true);
  });

  it('retries when no answer came at all (connection refused, reset)', () => {
    expect(
      classifySesError(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error', code: 'ECONNREFUSED' }))
        .retryable,
    ).toBe(true);
  });

  it('retries an aborted send (delivery timeout)', () => {
    const err = classifySesError(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('ses: aborted (delivery timeout or shutdown)');
  });

  it('keeps the provider, code and message for the dead-letter reason', () => {
    expect(classifySesError(awsError('MessageRejected', 400)).message).toBe(
      'ses: MessageRejected: MessageRejected happened',
    );
  });
});

describe('SESv2 availability', () => {
  it('treats 501 Not Implemented as an endpoint without SESv2 (LocalStack community)', () => {
    expect(isApiMissing(awsError('InternalFailure', 501, 'server'))).toBe(true);
  });

  it('does not mistake a failing call for a missing API', () => {
    expect(isApiMissing(awsError('InternalFailure', 500, 'server'))).toBe(false);
    expect(isApiMissing(awsError('MessageRejected', 400))).toBe(false);
  });
});

/** A client whose `send` records each command's class and answers from `respond`. */
function stubClient<T>(respond: () => unknown) {
  const calls: string[] = [];
  let destroyed = false;
  const client = {
    send: async (command: { constructor: { name: string } }) => {
      calls.push(command.constructor.name);
      return respond();
    },
    destroy: () => {
      destroyed = true;
    },
  } as unknown as T;
  return { client, calls, destroyed: () => destroyed };
}

const message: EmailMessage = {
  from: 'herald@example.com',
  to: ['a@example.com'],
  subject: 'Subject',
  html: '<p>Body</p>',
  text: 'Body',
  idempotencyKey: 'k',
};

describe('SesEmailer', () => {
  it('sends with the clients it is given, switching to the classic API when SESv2 is missing', async () => {
    const v2 = stubClient<SESv2Client>(() => {
      throw awsError('InternalFailure', 501, 'server');
    });
    const v1 = stubClient<SESClient>(() => ({ MessageId: 'm-1' }));
    const emailer = new SesEmailer({ region: 'us-east-1', v2Client: v2.client, v1Client: v1.client });
    expect(await emailer.send(message)).toEqual({ messageId: 'm-1' });
    expect(await emailer.send(message)).toEqual({ messageId: 'm-1' });
    expect(v2.calls).toEqual(['SendEmailCommand']);
    expect(v1.calls).toEqual(['SendEmailCommand', 'SendEmailCommand']);
    await emailer.close();
    expect(v2.destroyed() && v1.destroyed()).toBe(true);
  });

  it('closes without ever having sent', async () => {
    await new SesEmailer({ region: 'us-east-1' }).close();
  });
});
