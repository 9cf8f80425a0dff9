import { classifySesError, isApiMissing } from '@herald/emailer';
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
