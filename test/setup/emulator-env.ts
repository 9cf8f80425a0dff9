// Runs in every test worker: the AWS SDK and the Pub/Sub client find the emulators (and dummy
// credentials) through the standard environment variables, exactly as they would for a user.
import { inject } from 'vitest';

process.env.AWS_ENDPOINT_URL = inject('awsEndpoint');
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The Pub/Sub client library talks to the emulator when this is set.
process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
// Google's auth library would otherwise look for the GCE metadata server (a link-local address
// and metadata.google.internal) before every Pub/Sub client's first call, and warn when it is
// not there: the emulator needs no credentials, and these tests reach nothing off this machine.
process.env.METADATA_SERVER_DETECTION ??= 'none';
