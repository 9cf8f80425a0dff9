import { createRequire } from 'node:module';

// Built-ins loaded when first asked for rather than imported: importing a built-in as an ES
// module builds every one of its exports (`node:crypto` builds Web Crypto's), which each command
// paid at start-up, `herald validate` too, though only a few code paths use them.
const load = createRequire(import.meta.url);

/** `node:crypto`, loaded on first use. */
export function nodeCrypto(): typeof import('node:crypto') {
  return load('node:crypto');
}

/** `node:util`, loaded on first use. */
export function nodeUtil(): typeof import('node:util') {
  return load('node:util');
}
