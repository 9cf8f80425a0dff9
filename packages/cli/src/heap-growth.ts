import { setFlagsFromString } from 'node:v8';

/**
 * Heap flags given to node by whoever started it (NODE_OPTIONS or node's own arguments), with
 * V8's other spelling (`--max_old_space_size`) written as the one matched below.
 */
function heapFlagsGiven(env: NodeJS.ProcessEnv, execArgv: readonly string[]): string {
  return `${env.NODE_OPTIONS ?? ''} ${execArgv.join(' ')}`.replaceAll('_', '-');
}

/**
 * Node sizes the heap's limit from the machine's memory, and V8 lets garbage pile up toward it:
 * draining a backlog, `herald run` reached 270 MB of RSS while keeping ~30 MB alive. Unless the
 * heap was sized by whoever started node (NODE_OPTIONS or node's own flags, as the container and
 * the Kubernetes manifests do), the heap grows by at most half at a time instead. Unlike the
 * limit, V8 reads this factor at every full collection, so setting it once running takes effect.
 * Only a long-running command needs it; the others end before their heap has grown.
 */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env, execArgv = process.execArgv): void {
  if (!/--(max-old-space-size|heap-growing-percent|max-heap-size)\b/.test(heapFlagsGiven(env, execArgv))) {
    setFlagsFromString('--heap-growing-percent=50');
  }
}

/** V8's own factor: the young generation doubles when a collection finds it too small. */
const SEMI_SPACE_GROWTH_FACTOR = 2;

/**
 * Keeps the young generation at its initial size while the processor starts, and returns what
 * lets it grow again once it has. Starting allocates long-lived things in bursts (modules,
 * schemas, compiled templates, the store's statements), which V8 takes for a busy program: it
 * grew the young generation to 8 MB, and an idle processor kept those pages (a sandbox `herald
 * run` sat at ~74 MB of RSS instead of ~69). What start-up allocates is promoted either way;
 * under a backlog the young generation grows as before, which keeps collecting cheap. V8 reads
 * this factor each time it grows the young generation, so setting it while running takes effect.
 * Nothing is changed when the young generation was sized by whoever started node.
 */
export function holdYoungGenerationWhileStarting(
  env: NodeJS.ProcessEnv = process.env,
  execArgv = process.execArgv,
): () => void {
  if (/--(max-semi-space-size|min-semi-space-size|semi-space-growth-factor)\b/.test(heapFlagsGiven(env, execArgv))) {
    return () => {};
  }
  setFlagsFromString('--semi-space-growth-factor=1');
  let released = false;
  return () => {
    if (released) return;
    released = true;
    setFlagsFromString(`--semi-space-growth-factor=${SEMI_SPACE_GROWTH_FACTOR}`);
  };
}
