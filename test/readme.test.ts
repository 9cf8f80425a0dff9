import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { root } from './helpers/cli.js';

describe('README', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

  it('shows configuration examples that all validate', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const example of examples) expect(() => parseConfig(example, { env: {} })).not.toThrow();
  });

  it("shows FlyteAdmin's AWS block beside Herald's own settings", () => {
    const config = parseConfig(examples.find((e) => e.includes('type: aws')) as string, { env: {} });
    expect(config.type).toBe('aws');
    expect(config.emailer.defaultRecipients).toEqual(['platform@company.com']);
  });
});
