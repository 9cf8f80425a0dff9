// The generated `.d.ts` names int64 fields with a global `Long` type (the old @types/long v4
// style). long@5's CommonJS typings declare that global (`export as namespace Long`); pull them
// in here, or every int64 would quietly be `any` in a program that has no other route to them.
// (A `declare global { type Long = … }` shim instead clashes with that global wherever
// @google-cloud/pubsub's typings bring it in, as they do in this package.)
/// <reference types="long" resolution-mode="require" preserve="true" />
import { createRequire } from 'node:module';
import type * as FlyteIdlModule from '@flyteorg/flyteidl/gen/pb-js/flyteidl.js';

/**
 * The one place Herald loads Flyte's protobuf definitions: `@flyteorg/flyteidl` 1.16.5, a
 * protobufjs static module (encode/decode/verify only, no fromObject/toObject, so no protojson).
 *
 * The package is CommonJS with no `main` or `exports` and an opaque UMD wrapper, so a named ESM
 * import fails at run time; only the deep path `gen/pb-js/flyteidl.js` loads, and its exports
 * are exactly `{ flyteidl, google }`.
 */

/** The loaded module: `flyteidl()` gives `{ flyteidl, google }`, each a namespace of classes. */
export type FlyteIdl = typeof FlyteIdlModule;

let loaded: FlyteIdl | undefined;

/**
 * Flyte's generated classes, loaded on first call and kept. Loading is deferred because the
 * file is 3.4 MB and takes about 110 ms to evaluate, which users of Herald's own event format
 * should not pay at start-up.
 * @example flyteidl().flyteidl.admin.WorkflowExecutionEventRequest.decode(bytes)
 */
export function flyteidl(): FlyteIdl {
  loaded ??= createRequire(import.meta.url)('@flyteorg/flyteidl/gen/pb-js/flyteidl.js') as FlyteIdl;
  return loaded;
}
