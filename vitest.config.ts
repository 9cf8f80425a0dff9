import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

// Tests import the packages' TypeScript sources directly, so unit tests need no build. Core's
// root entry is its event contract; its other entries are subpaths (`@herald/core/config`).
const alias = [
  { find: /^@herald\/core$/, replacement: `${packagesDir}core/src/contract/index.ts` },
  { find: /^@herald\/core\/errors$/, replacement: `${packagesDir}core/src/contract/errors.ts` },
  { find: /^@herald\/core\/(runtime|templates|config|tracing)$/, replacement: `${packagesDir}core/src/$1/index.ts` },
  {
    find: /^@herald\/(publisher|emailer|channels|store|processor|server|cli)$/,
    replacement: `${packagesDir}$1/src/index.ts`,
  },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: 'unit', include: ['packages/*/tests/unit/**/*.test.ts'] },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/*/tests/integration/**/*.test.ts', 'test/**/*.test.ts'],
          globalSetup: ['test/setup/services.ts', 'test/faults/report.ts'],
          setupFiles: ['test/setup/emulator-env.ts'],
          // Generous: CI runs two workers beside the emulators on two cores.
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
