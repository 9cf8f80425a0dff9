import { isNonExistentQueueError } from '@herald/core/runtime';
import { describe, expect, it } from 'vitest';

describe('isNonExistentQueueError', () => {
  it('knows the missing-queue code of both SQS protocols', () => {
    expect(isNonExistentQueueError(Object.assign(new Error('gone'), { name: 'QueueDoesNotExist' }))).toBe(true);
    expect(
      isNonExistentQueueError(Object.assign(new Error('gone'), { name: 'AWS.SimpleQueueService.NonExistentQueue' })),
    ).toBe(true);
  });

  it('is false for any other error', () => {
    expect(isNonExistentQueueError(Object.assign(new Error('no'), { name: 'AccessDenied' }))).toBe(false);
    expect(isNonExistentQueueError(null)).toBe(false);
  });
});
