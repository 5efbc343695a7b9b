// Tinypool worker for `mutate` (see harness/mutate.ts): registers tsx (a worker thread
// does not inherit the main thread's loader), loads the real steps, and runs one batch
// of mutants of one step. The pool replaces the worker after each batch.
import { register } from 'tsx/esm/api';

register();
const { runBatch } = await import('./mutate.ts');
const { STEPS } = await import('../versions/index.ts');

/** @param {import('./mutate.ts').MutantBatch} batch */
export default async function run(batch) {
  return runBatch(STEPS, batch);
}
