/** The value at a key path of a tree that has not been validated; undefined where it breaks off. */
export function valueAt(tree: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>((node, key) => (isMapping(node) ? node[key] : undefined), tree);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
