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
