import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '@herald/core';
import { describe, expect, it } from 'vitest';
import { root } from './helpers/cli.js';

describe('README', () => {
  it('shows a configuration example that validates', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const config = parseConfig(example as string, { env: {} });
    expect(config.type).toBe('aws');
    expect(config.emailer.defaultRecipients).toEqual(['platform@company.com']);
  });
});
