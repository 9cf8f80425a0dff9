import { describe, expect, it } from 'vitest';
import { deadLetterAttributes, safeAttributeValue, truncateUtf8 } from '../../src/sources/dead-letter-attributes.js';

const PUBSUB = { maxAttributes: 100, maxReasonBytes: 1000, maxValueBytes: 1024 };

describe('dead-letter attributes', () => {
  it("keep Herald's own first and the original ones only while the transport's count allows", () => {
    const original = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`a${i}`, `v${i}`]));
    const attributes = deadLetterAttributes(
      { id: 'm-1', body: '', attributes: original, receiveCount: 1 },
      { kind: 'permanent-failure', reason: 'refused', eventId: 'e-1', destination: 'email:default:x' },
      PUBSUB,
    );
    expect(Object.keys(attributes)).toHaveLength(100);
    expect(attributes).toMatchObject({
      'herald.reason': 'refused',
      'herald.kind': 'permanent-failure',
      'herald.eventId': 'e-1',
      'herald.destination': 'email:default:x',
      'herald.sourceMessageId': 'm-1',
      a0: 'v0',
      a94: 'v94',
    });
    expect(attributes).not.toHaveProperty('a95');
  });

  it('never let an original attribute overwrite one of Herald’s', () => {
    const attributes = deadLetterAttributes(
      { id: 'm-1', body: '', attributes: { 'herald.reason': 'forged', phase: '' }, receiveCount: 1 },
      { kind: 'undecodable', reason: '' },
      PUBSUB,
    );
    expect(attributes['herald.reason']).toBe('(no reason given)');
    expect(attributes).not.toHaveProperty('phase');
  });

  it('replace characters a queue refuses and cut values to their byte limit without splitting a character', () => {
    expect(safeAttributeValue('a\u0000b\u001bc\tok\n\uD800z\uFFFF', 100)).toBe('a\uFFFDb\uFFFDc\tok\n\uFFFDz\uFFFD');
    expect(safeAttributeValue('😀😀', 6)).toBe('😀');
    expect(truncateUtf8('é'.repeat(10), 5)).toBe('éé');
  });
});
