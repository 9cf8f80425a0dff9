import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where each of Herald's own import specifiers lives in the source tree. */
function heraldEntry(specifier: string): string | undefined {
  const core = /^@herald\/core(?:\/(runtime|templates|config|tracing|errors))?$/.exec(specifier);
  if (core?.[1] === 'errors') return join(repoRoot, 'packages/core/src/contract/errors.ts');
  if (core) return join(repoRoot, 'packages/core/src', core[1] ?? 'contract', 'index.ts');
  const pkg = /^@herald\/([a-z-]+)$/.exec(specifier);
  return pkg ? join(repoRoot, 'packages', pkg[1] as string, 'src/index.ts') : undefined;
}

// Imports that load code when the module runs: `import type` and `export type` are erased.
const RUNTIME_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
// Herald's sources are ES modules: `require` exists only where made with createRequire, which
// they use inside a function, to load a CommonJS package on first use from a synchronous API.
const LAZY_REQUIRE = /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

/** What loading one module loads, as Node would: Herald's source files and outside packages. */
export interface Reach {
  /** Herald source files, relative to the repository. */
  readonly files: ReadonlySet<string>;
  /** Outside packages (`yaml`, `handlebars`, `node:fs` …) loaded statically. */
  readonly packages: ReadonlySet<string>;
  /** Outside packages loaded only through `import()` (or `require()`), when a code path needs them. */
  readonly lazyPackages: ReadonlySet<string>;
}

/**
 * Follows every import that runs code from `entry` (a file relative to the repository, or a
 * `@herald/…` specifier) through Herald's sources, reading them as text.
 */
export function reachOf(entry: string): Reach {
  const start = heraldEntry(entry) ?? join(repoRoot, entry);
  const files = new Set<string>();
  const packages = new Set<string>();
  const lazyPackages = new Set<string>();
  const visit = (file: string): void => {
    const key = relative(repoRoot, file);
    if (files.has(key)) return;
    files.add(key);
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
    const follow = (specifier: string, lazy: boolean): void => {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
        if (existsSync(target)) visit(target);
        return;
      }
      const own = heraldEntry(specifier);
      if (own) visit(own);
      else (lazy ? lazyPackages : packages).add(packageName(specifier));
    };
    for (const match of text.matchAll(RUNTIME_IMPORT)) follow(match[1] as string, false);
    for (const match of text.matchAll(DYNAMIC_IMPORT)) follow(match[1] as string, true);
    for (const match of text.matchAll(LAZY_REQUIRE)) follow(match[1] as string, true);
  };
  visit(start);
  return { files, packages, lazyPackages };
}

/** `@aws-sdk/client-sns/foo` → `@aws-sdk/client-sns`; `yaml/util` → `yaml`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}
