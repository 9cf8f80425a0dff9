/**
 * Global set-up of the integration tests: makes sure the AWS and Pub/Sub emulators are
 * listening and tells the tests where. `HERALD_TEST_AWS_ENDPOINT` points the suite at an AWS
 * emulator already running (LocalStack, or moto started by hand), `PUBSUB_EMULATOR_HOST` at a
 * Pub/Sub emulator; otherwise moto_server and the Pub/Sub emulator are started here on free
 * loopback ports and stopped afterwards. A throwaway PostgreSQL cluster (initdb, pg_ctl) is always
 * started, for the delivery store. A missing emulator or PostgreSQL fails the run: never a skip.
 */
import type { TestProject } from 'vitest/node';
import {
  isLocalStack,
  type StartedEmulator,
  type StartedPostgres,
  startMoto,
  startPostgres,
  startPubSubEmulator,
} from '../support/processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
    /** `moto` or `localstack`: how sent emails are read back. */
    awsEmulator: 'moto' | 'localstack';
    /** host:port of the Pub/Sub emulator. */
    pubsubEmulatorHost: string;
    /** `postgres://…` of a throwaway PostgreSQL cluster (trust auth, loopback), for the delivery store. */
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: (StartedEmulator | StartedPostgres)[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((emulator) => emulator.stop()));
  };
  try {
    let endpoint = process.env.HERALD_TEST_AWS_ENDPOINT?.replace(/\/$/, '');
    if (!endpoint) {
      const moto = await startMoto();
      started.push(moto);
      endpoint = moto.address;
    }
    let pubsubHost = process.env.PUBSUB_EMULATOR_HOST;
    if (!pubsubHost) {
      const pubsub = await startPubSubEmulator();
      started.push(pubsub);
      pubsubHost = pubsub.address;
    }
    project.provide('awsEndpoint', endpoint);
    project.provide('awsEmulator', (await isLocalStack(endpoint)) ? 'localstack' : 'moto');
    project.provide('pubsubEmulatorHost', pubsubHost);
    const postgres = await startPostgres();
    started.push(postgres);
    project.provide('postgresUrl', postgres.url);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}
