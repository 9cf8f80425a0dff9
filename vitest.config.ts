import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

// Tests import the packages' TypeScript sources directly, so unit tests need no build.
const alias = {
  '@herald/core': src('core'),
  '@herald/publisher': src('publisher'),
  '@herald/emailer': src('emailer'),
  '@herald/channels': src('channels'),
  '@herald/processor': src('processor'),
  '@herald/server': src('server'),
  '@herald/cli': src('cli'),
};

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
