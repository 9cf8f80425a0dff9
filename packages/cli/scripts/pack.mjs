#!/usr/bin/env node
// Packs the `herald` command for npm: `node packages/cli/scripts/pack.mjs [--out DIR]` (or
// `pnpm pack:cli`) builds the workspace, bundles the CLI with every workspace package and pure
// JavaScript dependency into dist/ (one chunk per command, loaded when that command runs), and
// writes DIR/herald-cli-VERSION.tgz. `npm install -g` of that tarball is the whole install.
//
// Why a bundle: reading hundreds of small modules dominated start-up (the AWS SDK, zod and
// yaml alone are ~1,000 files), and node_modules held every SDK's CommonJS, ESM and type
// copies. What stays a real dependency is what cannot be bundled faithfully: native code
// (libsql), packages that read their own files at run time (the Pub/Sub client's protos,
// Flyte's generated protobufs and the protobufjs they require), the PostgreSQL driver (its
// optional native binding is looked up at run time), pino (its worker-thread transports), and
// what Herald itself requires at run time from synchronous code paths (html-to-text for text
// bodies, prom-client for metrics): a bundler cannot see through createRequire.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const cliDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(cliDir, '../..');
const coreDir = join(repoRoot, 'packages/core');
const { values } = parseArgs({ options: { out: { type: 'string', default: join(repoRoot, 'build') } } });
const outDir = resolve(values.out);
const stage = join(repoRoot, 'build/cli-package');

/** Dependencies left out of the bundle and installed from the registry (see above for why). */
const EXTERNAL = [
  'libsql',
  'pg',
  '@google-cloud/pubsub',
  '@flyteorg/flyteidl',
  'protobufjs',
  'long',
  'pino',
  'pino-pretty',
  'html-to-text',
  'prom-client',
];

const cliPackage = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8'));

/** The version range a workspace package declares for an outside dependency. */
function declaredRange(name) {
  for (const dir of readdirSync(join(repoRoot, 'packages'))) {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'packages', dir, 'package.json'), 'utf8'));
    const range = pkg.dependencies?.[name];
    if (range && !range.startsWith('workspace:')) return range;
  }
  throw new Error(`no workspace package depends on ${name}; remove it from EXTERNAL`);
}

execFileSync('pnpm', ['exec', 'tsc', '-b'], { cwd: repoRoot, stdio: 'inherit' });
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

/**
 * Two dependencies of the start-up path, trimmed for start-up's sake (every command loads them):
 * commander loads child_process (and with it net and dgram) only to run external subcommands,
 * which `herald` has none of: it gets child_process on first use instead. Handlebars uses the
 * source-map library only when asked for source maps, which Herald never asks for, and falls
 * back to its own plain code generator without it, as it does in a browser.
 */
const startUpTrims = {
  name: 'start-up-trims',
  setup(build) {
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'on-first-use' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });",
      loader: 'js',
    }));
    build.onResolve({ filter: /^source-map$/ }, (args) =>
      /[\\/]handlebars[\\/]/.test(args.importer) ? { path: 'source-map', namespace: 'left-out' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    // yaml's ES module build (the one its package gives bundlers for browsers; it uses nothing of
    // Node) rather than its CommonJS one: the bundle then keeps only the parser Herald calls.
    build.onResolve({ filter: /^yaml$/ }, () => ({
      path: join(
        dirname(createRequire(join(coreDir, 'package.json')).resolve('yaml/package.json')),
        'browser/index.js',
      ),
    }));
  },
};

await build({
  absWorkingDir: cliDir,
  plugins: [startUpTrims],
  define: { HERALD_PACKED_VERSION: JSON.stringify(cliPackage.version) },
  entryPoints: {
    main: 'dist/main.js',
    index: 'dist/index.js',
    // The worker thread that renders templates carried on events: core starts it from the file
    // beside its own code, which in the bundle is a chunk (checked below).
    'chunks/event-template-thread': '../core/dist/templates/event-template-thread.js',
  },
  outdir: join(stage, 'dist'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: EXTERNAL,
  // ES module builds first (the AWS SDK's dist-es): a CommonJS module loaded by import() would
  // become a chunk with a default export only, and the SDK's named exports would be missing.
  mainFields: ['module', 'main'],
  // Identifiers stay readable so a stack trace in a bug report names real functions.
  minifyWhitespace: true,
  minifySyntax: true,
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: {
    js: "import{createRequire as __heraldRequire}from'node:module';const require=__heraldRequire(import.meta.url);",
  },
  legalComments: 'linked',
  logLevel: 'warning',
  // Handlebars' entry registers a require.extensions hook for .hbs files; Herald never uses it.
  logOverride: { 'unsupported-require-call': 'silent' },
});

// A file started by URL must sit where the code starting it looks for it: only chunks start
// the template thread, never the entry files one directory up.
for (const file of readdirSync(join(stage, 'dist')).filter((name) => name.endsWith('.js'))) {
  if (readFileSync(join(stage, 'dist', file), 'utf8').includes('event-template-thread.js')) {
    throw new Error(`dist/${file} starts the template thread from dist/, but the thread is in dist/chunks/`);
  }
}

const published = {
  name: cliPackage.name,
  version: cliPackage.version,
  description: cliPackage.description,
  license: cliPackage.license,
  repository: cliPackage.repository,
  keywords: cliPackage.keywords,
  type: 'module',
  bin: cliPackage.bin,
  exports: {
    '.': './dist/index.js',
    './package.json': './package.json',
    './schema/herald.schema.json': './schema/herald.schema.json',
  },
  files: ['bin', 'dist', 'schema'],
  engines: cliPackage.engines,
  dependencies: Object.fromEntries(EXTERNAL.map((name) => [name, declaredRange(name)])),
};
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
cpSync(join(cliDir, 'bin'), join(stage, 'bin'), { recursive: true });
cpSync(join(cliDir, 'README.md'), join(stage, 'README.md'));
cpSync(join(repoRoot, 'LICENSE'), join(stage, 'LICENSE'));
// The config file's JSON Schema, where an editor can find it once installed
// (node_modules/@herald/cli/schema/herald.schema.json); `herald config schema` prints the same.
cpSync(join(repoRoot, 'schema/herald.schema.json'), join(stage, 'schema/herald.schema.json'));

mkdirSync(outDir, { recursive: true });
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], { cwd: stage, encoding: 'utf8' }),
)[0];
console.log(join(outDir, packed.filename));
