// Tinypool worker for `explore --workers N` with random traces (see harness/random_pool.ts).
// Plain JavaScript, because a worker thread does not inherit the tsx loader of the main
// thread: it registers tsx itself and loads the step folders of its run (workerData) as
// soon as it starts, then makes and checks the runs it is given.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { firstUnexpected, randomTraces } = await import('./explore.ts');
const { loadStepFrom } = await import('../versions/load.ts');

// tinypool hands a worker [its own data, the pool's workerData]
/** @type {{ dirs: string[], seed: number, from?: number, to?: number }} */
const run = workerData[1];
const steps = Promise.all(run.dirs.map((d) => loadStepFrom(d)));

/**
 * Checks runs start … start + count - 1; stops at the first with an unexpected verdict.
 * @param {{ start: number, count: number }} task
 * @returns {Promise<{ first: number, checked: number }>} the offset of that run (-1: none), and how many were checked
 */
export default async function check(task) {
  const all = await steps;
  const traces = randomTraces(run.seed, task.start, task.count);
  for (let i = 0; i < traces.length; i++) {
    if (firstUnexpected([traces[i]], all, run.from, run.to) === 0) return { first: i, checked: i + 1 };
  }
  return { first: -1, checked: traces.length };
}
