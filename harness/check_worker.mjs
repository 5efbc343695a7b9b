// Tinypool worker for `check` (see harness/pool.ts). Plain JavaScript, because a worker
// thread does not inherit the tsx loader of the main thread: it registers tsx itself,
// then loads the harness and only the step folders it is asked to replay (each step
// model compiled and warmed up once, in one thread).
import { register } from 'tsx/esm/api';

register();
const { safeReplay } = await import('./check.ts');
const { loadStepFrom } = await import('../versions/load.ts');

/** @type {Map<string, Promise<import('../versions/index.ts').StepModel>>} */
const loaded = new Map();

function load(dir) {
  let p = loaded.get(dir);
  if (!p) {
    p = loadStepFrom(dir);
    loaded.set(dir, p);
  }
  return p;
}

/**
 * Replays every trace on every step folder given.
 * @param {{ dirs: string[], traces: import('./trace.ts').Trace[] }} task
 * @returns {Promise<{ step: number, replays: import('./check.ts').Replayed[] }[]>}
 */
export default async function run(task) {
  const out = [];
  for (const dir of task.dirs) {
    const step = await load(dir);
    out.push({ step: step.manifest.step, replays: task.traces.map((t) => safeReplay(t, step)) });
  }
  return out;
}
