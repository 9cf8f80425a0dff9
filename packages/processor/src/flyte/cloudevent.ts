import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';

/**
 * The CloudEvents protobuf format (`io.cloudevents.v1.CloudEvent`, cloudevents/sdk-go
 * `binding/format/protobuf/v2`), which FlyteAdmin's cloud event publisher marshals every event
 * into before publishing it to SNS or Pub/Sub. No npm package ships it as a protobufjs module,
 * so it is described here once, field numbers as in sdk-go's `cloudevent.proto`.
 */
const descriptor: Protobuf.INamespace = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
          },
        },
      },
    },
    io: {
      nested: {
        cloudevents: {
          nested: {
            v1: {
              nested: {
                CloudEvent: {
                  oneofs: { data: { oneof: ['binary_data', 'text_data', 'proto_data'] } },
                  fields: {
                    id: { type: 'string', id: 1 },
                    source: { type: 'string', id: 2 },
                    spec_version: { type: 'string', id: 3 },
                    type: { type: 'string', id: 4 },
                    attributes: { keyType: 'string', type: 'CloudEventAttributeValue', id: 5 } as Protobuf.IMapField,
                    binary_data: { type: 'bytes', id: 6 },
                    text_data: { type: 'string', id: 7 },
                    proto_data: { type: 'google.protobuf.Any', id: 8 },
                  },
                },
                CloudEventAttributeValue: {
                  oneofs: {
                    attr: {
                      oneof: [
                        'ce_boolean',
                        'ce_integer',
                        'ce_string',
                        'ce_bytes',
                        'ce_uri',
                        'ce_uri_ref',
                        'ce_timestamp',
                      ],
                    },
                  },
                  fields: {
                    ce_boolean: { type: 'bool', id: 1 },
                    ce_integer: { type: 'int32', id: 2 },
                    ce_string: { type: 'string', id: 3 },
                    ce_bytes: { type: 'bytes', id: 4 },
                    ce_uri: { type: 'string', id: 5 },
                    ce_uri_ref: { type: 'string', id: 6 },
                    ce_timestamp: { type: 'google.protobuf.Timestamp', id: 7 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** The fields of a decoded CloudEvent that Herald reads. `data` names the member of the oneof that is set. */
export interface CloudEventMessage {
  id: string;
  source: string;
  spec_version: string;
  type: string;
  data?: 'binary_data' | 'text_data' | 'proto_data';
  binary_data?: Uint8Array;
  text_data?: string;
  proto_data?: { type_url?: string };
}

let memo: Protobuf.Type | undefined;

/**
 * The `io.cloudevents.v1.CloudEvent` message type, built on first use: protobufjs's reflection
 * build is required lazily, like flyteidl, so Herald's own-format users never load it.
 */
export function cloudEventType(): Protobuf.Type {
  if (!memo) {
    const protobuf = createRequire(import.meta.url)('protobufjs/light') as typeof Protobuf;
    memo = protobuf.Root.fromJSON(descriptor).lookupType('io.cloudevents.v1.CloudEvent');
  }
  return memo;
}

/**
 * Decodes CloudEvent protobuf bytes.
 * @throws whatever protobufjs throws on malformed bytes (the caller turns it into a DecodeError).
 */
export function decodeCloudEvent(bytes: Uint8Array): CloudEventMessage {
  const type = cloudEventType();
  return type.toObject(type.decode(bytes), { oneofs: true, defaults: true }) as CloudEventMessage;
}
