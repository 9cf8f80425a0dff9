import { createRequire } from 'node:module';

/** The version the packed command was built as (scripts/pack.mjs defines it); absent in the workspace build. */
declare const HERALD_PACKED_VERSION: string | undefined;

/**
 * The CLI's version. The packed command has it built in, so printing it reads no file; the
 * workspace build reads its package.json, found by the package's own name.
 */
export function cliVersion(): string {
  if (typeof HERALD_PACKED_VERSION === 'string') return HERALD_PACKED_VERSION;
  return (createRequire(import.meta.url)('@herald/cli/package.json') as { version: string }).version;
}
