// Starts event-template-thread.ts when Herald runs from its TypeScript sources (vitest, tsx):
// Node cannot load .ts in a worker by itself. The built package runs event-template-thread.js.
import { tsImport } from 'tsx/esm/api';

await tsImport('./event-template-thread.ts', import.meta.url);
