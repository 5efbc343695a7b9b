// Parallel `check`: tinypool worker threads replay part of the steps while the main
// thread replays the rest; the main thread then compares and classifies everything.
//
// Split by step, not by trace: most of a cold check's time is compiling and warming up
// the step models (sixteen copies of the KVM code), so a worker that replays every
// trace on half of the steps warms up half of the code, where a worker that replays
// half of the traces on every step would warm up all of it again. Each worker
// registers tsx and imports only its step folders (harness/check_worker.mjs); that
// start-up (about a second) overlaps with the main thread's own replays.
//
// Only steps that are real folders can run in a worker (the worker imports the
// folder through versions/load.ts); synthetic registries (tests) run in-process.
import Tinypool from 'tinypool';
import type { StepModel } from '../versions/index.ts';
import {
  buildReport, checkDistinctNames, neededSteps, resultsFromReplays, safeReplay, stepPairs, type CheckReport, type Replayed,
} from './check.ts';
import type { Trace } from './trace.ts';
import { nextTurn } from './deal.ts';

export interface PoolCheckOptions {
  traces: readonly Trace[];
  steps: readonly StepModel[];
  from?: string | number;
  to?: string | number;
  /** Worker threads besides the main thread (default 1: two cores in all). */
  workers?: number;
  /** Share of the steps the workers replay, from the newest step down (default 0.5). */
  workerShare?: number;
  /** Called as replays finish: (done, total). */
  onProgress?: (done: number, total: number) => void;
  coverage?: boolean;
}

/** The whole check, with `workers` worker threads replaying part of the steps. */
export async function runCheckPool(opts: PoolCheckOptions): Promise<CheckReport> {
  const pairs = stepPairs(opts.steps, opts.from, opts.to);
  checkDistinctNames(opts.traces);
  const needed = neededSteps(pairs);
  const workers = Math.max(1, opts.workers ?? 1);
  const share = Math.min(1, Math.max(0, opts.workerShare ?? 0.5));
  const nWorker = Math.min(needed.length, Math.round(needed.length * share));
  const mine = needed.slice(0, needed.length - nWorker);
  const theirs = needed.slice(needed.length - nWorker);
  const total = needed.length * opts.traces.length;
  let done = 0;
  const tick = (n: number): void => {
    done += n;
    opts.onProgress?.(done, total);
  };

  const replays = new Map<number, Replayed[]>();
  const pool = theirs.length > 0
    ? new Tinypool({ filename: new URL('./check_worker.mjs', import.meta.url).href, minThreads: workers, maxThreads: workers })
    : null;
  try {
    // one task per worker, each a contiguous run of steps
    const chunk = Math.ceil(theirs.length / workers);
    const tasks: Promise<void>[] = [];
    for (let i = 0; i < theirs.length; i += chunk) {
      const dirs = theirs.slice(i, i + chunk).map((s) => s.dir);
      tasks.push(
        (pool!.run({ dirs, traces: opts.traces }) as Promise<{ step: number; replays: Replayed[] }[]>).then((parts) => {
          for (const p of parts) {
            replays.set(p.step, p.replays);
            tick(p.replays.length);
          }
        }),
      );
    }
    // the main thread's share, yielding between steps so the pool can hand out its tasks
    for (const s of mine) {
      await nextTurn();
      replays.set(s.manifest.step, opts.traces.map((t) => safeReplay(t, s)));
      tick(opts.traces.length);
    }
    await Promise.all(tasks);
  } finally {
    await pool?.destroy();
  }
  const results = resultsFromReplays(opts.steps, pairs, opts.traces, replays);
  return buildReport(opts.steps, pairs, opts.traces.map((t) => t.name), results, opts.coverage ?? true);
}
