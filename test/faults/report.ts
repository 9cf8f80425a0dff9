/**
 * Global set-up of the fault-injection suite's report: tells every scenario where to record its
 * figures, and once the whole run is over prints one table of all of them. With
 * `HERALD_FAULTS_RESULTS=DIR` the figures are kept in DIR; otherwise in a temporary directory
 * that is removed after the table is printed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { formatTable, readFigures } from './figures.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where each fault scenario writes its figures. */
    faultsResultsDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kept = process.env.HERALD_FAULTS_RESULTS;
  const directory = kept ?? (await mkdtemp(join(tmpdir(), 'herald-faults-')));
  project.provide('faultsResultsDir', directory);
  return async () => {
    const figures = await readFigures(directory);
    if (figures.length > 0) {
      const where = kept ? `\n(figures kept in ${directory})` : '';
      process.stdout.write(`\nFault injection: counted at the receiving end\n\n${formatTable(figures)}\n${where}\n`);
    }
    if (!kept) await rm(directory, { recursive: true, force: true });
  };
}
