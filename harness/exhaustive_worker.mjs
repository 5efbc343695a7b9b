// Tinypool worker for `explore --exhaustive --workers N` (see harness/exhaustive_pool.ts).
// Plain JavaScript, because a worker thread does not inherit the tsx loader of the main
// thread: it registers tsx itself and loads the step folders of its run (workerData) as
// soon as it starts, then expands the chunks of prefixes it is given.
import { workerData } from 'node:worker_threads';

// tinypool hands a worker [its own data, the pool's workerData]
import { register } from 'tsx/esm/api';

register();
const { LevelExpander } = await import('./exhaustive.ts');
const { loadStepFrom } = await import('../versions/load.ts');

/** @type {{ dirs: string[], k: number, from: number, to: number }} */
const run = workerData[1];
const expander = Promise.all(run.dirs.map((d) => loadStepFrom(d))).then((steps) => new LevelExpander(steps, run.k, { from: run.from, to: run.to }));

/**
 * @param {{ prefixes: number[][], d: number, check: boolean[] }} task
 * @returns {Promise<import('./exhaustive.ts').ChildRecord[][]>}
 */
export default async function expand(task) {
  return (await expander).expand(task.prefixes, task.d, task.check);
}
