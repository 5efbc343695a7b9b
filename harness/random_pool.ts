// `explore --workers N` for random traces, on N threads, this one included. Each thread
// makes its own runs (fast-check samples run i without making the ones before) and
// checks them; chunks are handed out in run order, and none is started past the first
// failure known. Every run before the first failure is checked, so the first failure is
// the one the sequential search meets first; it is then shrunk in this thread from its
// fast-check path, exactly as exploreRandom shrinks it: the result is the same, byte for
// byte, with any number of threads.
import Tinypool from 'tinypool';
import type { StepModel } from '../versions/index.ts';
import { dealInOrder } from './deal.ts';
import { counterexampleAt, exploreRandom, firstUnexpected, randomTraces, type Counterexample, type RandomOptions } from './explore.ts';

/** Runs per worker task: enough to amortise the message, few enough to stop soon after a failure. */
const CHUNK = 16;

/** exploreRandom on `threads` threads (1: this one only; the steps must be step folders). */
export async function exploreRandomOnWorkers(steps: readonly StepModel[], opts: RandomOptions, threads: number): Promise<Counterexample | null> {
  const workers = Math.max(0, threads - 1);
  if (workers === 0) return exploreRandom(steps, opts);
  const pool = new Tinypool({
    filename: new URL('./random_worker.mjs', import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: 2,
    workerData: { dirs: steps.map((s) => s.dir), seed: opts.seed, from: opts.from, to: opts.to },
  });
  let first = Infinity;
  const tick = (n: number): void => {
    for (let i = 0; i < n; i++) opts.onRun?.();
  };
  try {
    await dealInOrder(
      opts.runs,
      workers,
      CHUNK,
      (next) => next >= first,
      async (a, b) => {
        const got = (await pool.run({ start: a, count: b - a })) as { first: number; checked: number };
        tick(got.checked);
        if (got.first >= 0) first = Math.min(first, a + got.first);
      },
      (i) => {
        tick(1);
        if (firstUnexpected(randomTraces(opts.seed, i, 1), steps, opts.from, opts.to) >= 0) first = Math.min(first, i);
      },
    );
  } finally {
    await pool.destroy();
  }
  return first === Infinity ? null : counterexampleAt(steps, opts, first);
}
