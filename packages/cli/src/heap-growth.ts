import { setFlagsFromString } from 'node:v8';

/**
 * Node sizes the heap's limit from the machine's memory, and V8 lets garbage pile up toward it:
 * draining a backlog, `herald run` reached 270 MB of RSS while keeping ~30 MB alive. Unless the
 * heap was sized by whoever started node (NODE_OPTIONS or node's own flags, as the container and
 * the Kubernetes manifests do), the heap grows by at most half at a time instead. Unlike the
 * limit, V8 reads this factor at every full collection, so setting it once running takes effect.
 * Only a long-running command needs it; the others end before their heap has grown.
 */
export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env, execArgv = process.execArgv): void {
  const heapFlags = `${env.NODE_OPTIONS ?? ''} ${execArgv.join(' ')}`;
  if (!/--(max-old-space-size|heap-growing-percent|max-heap-size)\b/.test(heapFlags)) {
    setFlagsFromString('--heap-growing-percent=50');
  }
}
