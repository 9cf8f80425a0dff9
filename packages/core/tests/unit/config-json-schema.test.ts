import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from '@herald/core/config';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { expandEnv } from '../../src/config/env.js';
import { isMapping } from '../../src/config/tree.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const SCHEMA_FILE = 'schema/herald.schema.json';
const committed = JSON.parse(readFileSync(join(root, SCHEMA_FILE), 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: true }).compile(committed);

/** The errors the committed JSON Schema finds in a config, as `instancePath keyword`, or [] when valid. */
function jsonSchemaErrors(config: unknown): string[] {
  return validate(config) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.keyword}`);
}

const examples = readdirSync(join(root, 'examples')).filter((name) => name.endsWith('.yaml'));
/** Configs users copy: the examples, the Kubernetes overlays, FlyteAdmin's documented blocks. */
const configFiles = [
  ...examples.map((name) => `examples/${name}`),
  'deploy/kubernetes/base/herald.yaml',
  'deploy/kubernetes/overlays/aws/herald.yaml',
  'deploy/kubernetes/overlays/gcp/herald.yaml',
  ...readdirSync(join(root, 'packages/core/tests/fixtures')).map((name) => `packages/core/tests/fixtures/${name}`),
];

describe(SCHEMA_FILE, () => {
  it('is what the config schema generates today (run `pnpm schema` after changing it)', () => {
    expect(committed).toEqual(configJsonSchema());
  });

  it.each(configFiles)('accepts %s as written, ${VAR} references included, and once they are expanded', (file) => {
    const written = YAML.parse(readFileSync(join(root, file), 'utf8')) as unknown;
    expect(jsonSchemaErrors(written)).toEqual([]);
    const { value: expanded } = expandEnv(written, {}, []);
    expect(jsonSchemaErrors(expanded)).toEqual([]);
  });

  it('accepts every Herald config shown in the README and docs/', () => {
    const docs = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];
    const blocks = docs
      .flatMap((doc) =>
        [...readFileSync(join(root, doc), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => ({
          doc,
          config: YAML.parse(m[1] as string) as unknown,
        })),
      )
      .filter(({ config }) => isMapping(config) && ('herald' in config || 'notifications' in config));
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const { doc, config } of blocks)
      expect({ doc, errors: jsonSchemaErrors(config) }).toEqual({ doc, errors: [] });
  });

  it.each(examples)('is named by the first line of examples/%s, for yaml-language-server', (name) => {
    const first = readFileSync(join(root, 'examples', name), 'utf8').split('\n')[0];
    expect(first).toBe(`# yaml-language-server: $schema=../${SCHEMA_FILE}`);
  });

  it('refuses a misspelt key in a nested section, a rule and a channel', () => {
    expect(jsonSchemaErrors({ herald: { processor: { maxInFligth: 4 } } })).toEqual([
      '/herald/processor additionalProperties',
    ]);
    expect(
      jsonSchemaErrors({ herald: { rules: [{ name: 'r', email: ['a@example.com'], match: { workflw: 'x' } }] } }),
    ).toEqual(['/herald/rules/0/match additionalProperties']);
    expect(jsonSchemaErrors({ herald: { channels: { alerts: { type: 'slack', txt: 'hi' } } } })).toContain(
      '/herald/channels/alerts oneOf',
    );
  });

  it("accepts other top-level keys (FlyteAdmin's own settings) and values the loader converts", () => {
    expect(
      jsonSchemaErrors({
        server: { httpPort: 8088 },
        notifications: { emailer: { emailServerConfig: { smtpPort: '587', smtpSkipTLSVerify: 'true' } } },
        herald: { processor: { maxInFlight: '${MAX_IN_FLIGHT:-8}' }, http: { listen: '' } },
      }),
    ).toEqual([]);
  });

  it('refuses a wrong value where the loader would too', () => {
    expect(jsonSchemaErrors({ notifications: { type: 'carrier-pigeon' } })).toContain('/notifications/type anyOf');
    expect(jsonSchemaErrors({ herald: { processor: { maxInFlight: 'many' } } })).toContain(
      '/herald/processor/maxInFlight anyOf',
    );
    expect(jsonSchemaErrors({ herald: { rules: [{ email: ['a@example.com'] }] } })).toEqual([
      '/herald/rules/0 required',
    ]);
  });
});
