/**
 * A second process racing for claims: opens the store at argv[2] as owner argv[3], marks
 * itself ready in the directory argv[4] and waits until `racers` (argv[5]) are, then claims
 * deliveries e0…eN-1 (N = argv[6]) of one destination ten per tick, a few milliseconds apart, in ascending order or,
 * with argv[7] = `descending`, the other way round (so racers meet and contend), and prints
 * each outcome as one JSON line.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '../../src/index.js';

const [url = '', owner = '', barrier = '', racers = '2', count = '0', order = 'ascending'] = process.argv.slice(2);
const store = await openStore({ url, owner });
await writeFile(join(barrier, owner), '');
const deadline = Date.now() + 30_000;
while ((await readdir(barrier)).length < Number(racers) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 1));
}
const ids = Array.from({ length: Number(count) }, (_, i) => `e${i}`);
if (order === 'descending') ids.reverse();
const outcomes: Record<string, string> = {};
for (let i = 0; i < ids.length; i += 10) {
  const slice = ids.slice(i, i + 10);
  const results = await Promise.all(
    slice.map((eventId) => store.claim({ eventId, destination: 'channel:oncall', label: "slack 'oncall'" }, 60_000)),
  );
  for (const [j, id] of slice.entries()) outcomes[id] = results[j]?.outcome ?? 'missing';
  // Paced: a batch takes well under a millisecond, so without a pause one racer could be done
  // before the other, started a moment later on a busy machine, claims anything.
  await new Promise((resolve) => setTimeout(resolve, 3));
}
await store.close();
process.stdout.write(`${JSON.stringify(outcomes)}\n`);
