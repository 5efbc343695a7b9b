// `explore --exhaustive --workers N` on N threads, this one included: each level's
// prefixes are taken in order from one queue by N - 1 tinypool workers (chunks; each
// loads the step folders once, as soon as it starts) and by this thread (one at a time); the
// records are merged back in prefix order, so the result is the same as in one thread.
import Tinypool from 'tinypool';
import type { StepModel } from '../versions/index.ts';
import { stepPairs } from './check.ts';
import { dealInOrder } from './deal.ts';
import { exhaustiveRun, LevelExpander, type ChildRecord, type ExhaustiveOptions, type ExhaustivePart } from './exhaustive.ts';

/** Chunks per worker and level: small enough to balance, large enough to amortise a task. */
const CHUNKS_PER_THREAD = 16;

/**
 * A part of the exhaustive run on `threads` threads (1: this one only). With more, the
 * steps must be step folders (their `dir`), which the workers load; a custom alphabet
 * runs in this thread.
 */
export async function exhaustivePartOnWorkers(steps: readonly StepModel[], opts: ExhaustiveOptions, threads: number): Promise<ExhaustivePart> {
  const pairs = stepPairs(steps, opts.from, opts.to);
  const from = pairs[0]?.step.manifest.step ?? 0;
  const to = pairs.at(-1)?.step.manifest.step ?? 0;
  const dirs = steps.map((s) => s.dir);
  const workers = opts.alphabet !== undefined ? 0 : Math.max(0, threads - 1);
  const pool = workers > 0
    ? new Tinypool({ filename: new URL('./exhaustive_worker.mjs', import.meta.url).href, minThreads: workers, maxThreads: workers, concurrentTasksPerWorker: 2, workerData: { dirs, k: opts.k, from, to } })
    : null;
  const local = new LevelExpander(steps, opts.k, opts, opts.alphabet);
  const inThread = local.runner(opts.deadline);
  try {
    return await exhaustiveRun(
      opts,
      async (prefixes, d, check) => {
        if (!pool) return inThread(prefixes, d, check);
        const late = (): boolean => opts.deadline !== undefined && Date.now() > opts.deadline;
        // workers take chunks, this thread one prefix at a time
        const size = Math.max(1, Math.ceil(prefixes.length / (workers * CHUNKS_PER_THREAD)));
        const out: (ChildRecord[] | undefined)[] = new Array(prefixes.length);
        await dealInOrder(
          prefixes.length,
          workers,
          size,
          late,
          async (a, b) => {
            const got = (await pool.run({ prefixes: prefixes.slice(a, b), d, check: check.slice(a, b) })) as ChildRecord[][];
            got.forEach((x, i) => (out[a + i] = x));
          },
          (i) => (out[i] = local.expand(prefixes.slice(i, i + 1), d, check.slice(i, i + 1))[0]!),
        );
        return out;
      },
      { from, to, steps: pairs.length },
    );
  } finally {
    await pool?.destroy();
  }
}
