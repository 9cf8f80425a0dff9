import { DecodeError } from '@herald/core';
import type { ReceivedMessage } from '../sources/source.js';

/** The bytes of a message FlyteAdmin published, and the key it published them under. */
export interface FlyteAdminPayload {
  readonly bytes: Uint8Array;
  /** SNS `Subject` or Pub/Sub attribute `key`; undefined when the transport dropped it (raw delivery). */
  readonly key: string | undefined;
  /**
   * The publish this message comes from: the SNS MessageId in an envelope, else the queue's
   * own message id (Pub/Sub's, or SQS's with raw delivery). Equal for redeliveries of one
   * publish, different for two publishes, even of the same bytes.
   */
  readonly publishId: string;
}

/** Keys FlyteAdmin (through gizmo) publishes under: protobuf message names and cloud event topics. */
const FLYTEADMIN_KEY = /^(?:flyteidl\.|cloudevents\.)/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Finds what FlyteAdmin published in a message, in the three forms it arrives in:
 * - SQS without raw delivery: the SNS envelope, `Subject` the key, `Message` base64 of the bytes;
 * - SQS with raw delivery: the bare base64 text (the key is lost);
 * - Pub/Sub: the bytes themselves, attribute `key` the key.
 * @param declared the queue is configured to carry FlyteAdmin's messages: any body is read as
 * one. Otherwise (`auto`) only a key FlyteAdmin uses, or a body that is base64 and not JSON,
 * marks one; anything else is left for Herald's own event decoder (undefined).
 * @throws DecodeError for a FlyteAdmin envelope whose Message is not base64.
 */
export function flyteAdminPayload(message: ReceivedMessage, declared: boolean): FlyteAdminPayload | undefined {
  const { body, attributes } = message;
  if (typeof body !== 'string') {
    const key = attributes.key;
    return declared || (key !== undefined && FLYTEADMIN_KEY.test(key))
      ? { bytes: body, key, publishId: message.id }
      : undefined;
  }
  const text = body.trim();
  if (text.startsWith('{')) {
    const envelope = snsEnvelope(text);
    if (!envelope) return undefined;
    const key = envelope.Subject;
    if (!declared && !(key !== undefined && FLYTEADMIN_KEY.test(key))) return undefined;
    return {
      bytes: base64Bytes(envelope.Message, 'Message (SNS envelope)'),
      key,
      publishId: envelope.MessageId ?? message.id,
    };
  }
  if (!BASE64.test(text) || text === '') {
    if (declared) throw new DecodeError(['body: expected base64 text (SNS raw delivery), got text that is not']);
    return undefined;
  }
  return { bytes: base64Bytes(text, 'body'), key: attributes.key, publishId: message.id };
}

function snsEnvelope(text: string): { Message: string; Subject?: string; MessageId?: string } | undefined {
  // Every JSON body is asked whether it is an SNS envelope, and most are Herald's own events:
  // a scan for the envelope's type spares them a second full parse.
  if (!text.includes('"Notification"')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { Type, Message, Subject, MessageId } = value as Record<string, unknown>;
  if (Type !== 'Notification' || typeof Message !== 'string') return undefined;
  const asText = (field: unknown) => (typeof field === 'string' ? field : undefined);
  return { Message, Subject: asText(Subject), MessageId: asText(MessageId) };
}

/** Standard base64, strictly: Node's decoder skips what it cannot read instead of refusing it. */
function base64Bytes(text: string, where: string): Uint8Array {
  if (!BASE64.test(text)) throw new DecodeError([`${where}: expected standard base64 of FlyteAdmin's protobuf`]);
  return new Uint8Array(Buffer.from(text, 'base64'));
}
