import { createRequire } from 'node:module';

/**
 * The CLI's version, from its package.json found by the package's own name: that works from the
 * workspace build and from any chunk of the packed bundle alike.
 */
export function cliVersion(): string {
  return (createRequire(import.meta.url)('@herald/cli/package.json') as { version: string }).version;
}
