import { describe, expect, it } from 'vitest';
import { reachOf } from '../../../../test/helpers/import-graph.js';

const folderOf = (file: string) => /^packages\/core\/src\/([^/]+)\//.exec(file)?.[1];
const coreFoldersReached = (entry: string) =>
  new Set([...reachOf(entry).files].map(folderOf).filter((folder) => folder !== undefined));

describe("core's entries", () => {
  it('load in one direction: contract ← runtime ← templates ← config', () => {
    expect(coreFoldersReached('@herald/core')).toEqual(new Set(['contract']));
    expect(coreFoldersReached('@herald/core/runtime')).toEqual(new Set(['runtime', 'contract']));
    expect(coreFoldersReached('@herald/core/templates')).toEqual(new Set(['templates', 'contract']));
    expect(coreFoldersReached('@herald/core/config')).toEqual(new Set(['config', 'templates', 'runtime', 'contract']));
  });

  it('keep YAML and Handlebars out of the event contract and the runtime utilities', () => {
    for (const entry of ['@herald/core', '@herald/core/runtime']) {
      const { packages } = reachOf(entry);
      expect(packages, entry).not.toContain('yaml');
      expect(packages, entry).not.toContain('handlebars');
    }
    expect(reachOf('@herald/core/templates').packages).toContain('handlebars');
    expect(reachOf('@herald/core/config').packages).toContain('yaml');
  });
});

describe('the publisher', () => {
  it('loads neither YAML nor Handlebars, and a cloud SDK only when that transport is used', () => {
    const { packages, lazyPackages } = reachOf('@herald/publisher');
    expect([...packages].filter((name) => ['yaml', 'handlebars', 'html-to-text'].includes(name))).toEqual([]);
    expect(packages).not.toContain('@google-cloud/pubsub');
    expect(lazyPackages).toContain('@google-cloud/pubsub');
  });
});

/**
 * Client libraries and drivers a deployment may not use, each loaded by `import()` (or, from a
 * synchronous API, a `require`) where it is first needed: a sandbox run or a validate loads none
 * of them until its config makes it send through one.
 */
const ON_FIRST_USE: Record<string, readonly string[]> = {
  '@herald/core/templates': ['html-to-text'],
  '@herald/core/config': ['html-to-text'],
  '@herald/publisher': ['@aws-sdk/client-sns', '@google-cloud/pubsub'],
  '@herald/emailer': ['@aws-sdk/client-ses', '@aws-sdk/client-sesv2', 'nodemailer', '@google-cloud/pubsub'],
  '@herald/store': ['libsql', 'pg'],
  '@herald/processor': [
    '@aws-sdk/client-sqs',
    '@aws-sdk/client-ses',
    '@aws-sdk/client-sesv2',
    '@google-cloud/pubsub',
    'nodemailer',
    'libsql',
    'pg',
    'html-to-text',
  ],
  '@herald/server': [
    '@aws-sdk/client-sqs',
    '@aws-sdk/client-ses',
    '@aws-sdk/client-sesv2',
    '@aws-sdk/client-sns',
    '@google-cloud/pubsub',
    'nodemailer',
    'libsql',
    'pg',
    'html-to-text',
    'prom-client',
  ],
};

const isClientLibrary = (name: string) =>
  name.startsWith('@aws-sdk/') ||
  name.startsWith('@google-cloud/') ||
  ['nodemailer', 'libsql', 'pg', 'html-to-text', 'prom-client'].includes(name);

describe('client libraries and drivers', () => {
  it.each(Object.entries(ON_FIRST_USE))('%s loads each only on first use', (entry, onFirstUse) => {
    const { packages, lazyPackages } = reachOf(entry);
    expect([...packages].filter(isClientLibrary), entry).toEqual([]);
    expect([...lazyPackages].filter(isClientLibrary).sort(), entry).toEqual([...onFirstUse].sort());
  });
});

describe('OpenTelemetry', () => {
  it('is loaded by no package entry: only a process with tracing on loads it', () => {
    const entries = [...Object.keys(ON_FIRST_USE), '@herald/core', '@herald/core/runtime', '@herald/channels'];
    for (const entry of entries) {
      const { packages } = reachOf(entry);
      expect(
        [...packages].filter((name) => name.startsWith('@opentelemetry/')),
        entry,
      ).toEqual([]);
    }
    expect(reachOf('@herald/core/tracing').packages).toContain('@opentelemetry/api');
  });
});
