// `explore --exhaustive --workers N` on N threads, this one included: each level's
// prefixes are taken in order from one queue by N - 1 tinypool workers (chunks; each
// loads the step folders once, as soon as it starts) and by this thread (one at a time); the
// records are merged back in prefix order, so the result is the same as in one thread.
import Tinypool from 'tinypool';
import type { StepModel } from '../versions/index.ts';
import { stepPairs } from './check.ts';
import { exhaustiveRun, LevelExpander, type ChildRecord, type ExhaustiveOptions, type ExhaustivePart } from './exhaustive.ts';

/** Chunks per worker and level: small enough to balance, large enough to amortise a task. */
const CHUNKS_PER_THREAD = 16;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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
        // workers take chunks, two at a time each so that one is queued while the other
        // runs (this thread hands them out only between its own prefixes); this thread
        // takes one prefix at a time
        const size = Math.max(1, Math.ceil(prefixes.length / (workers * CHUNKS_PER_THREAD)));
        const out: (ChildRecord[] | undefined)[] = new Array(prefixes.length);
        let next = 0;
        const take = (n: number): [number, number] | null => {
          if (next >= prefixes.length || late()) return null;
          const at = next;
          next = Math.min(prefixes.length, next + n);
          return [at, next];
        };
        const worker = async (): Promise<void> => {
          for (let r = take(size); r !== null; r = take(size)) {
            const [a, b] = r;
            const got = (await pool.run({ prefixes: prefixes.slice(a, b), d, check: check.slice(a, b) })) as ChildRecord[][];
            got.forEach((x, i) => (out[a + i] = x));
          }
        };
        const here = async (): Promise<void> => {
          for (let r = take(1); r !== null; r = take(1)) {
            out[r[0]] = local.expand(prefixes.slice(r[0], r[1]), d, check.slice(r[0], r[1]))[0]!;
            await nextTurn();
          }
        };
        await Promise.all([here(), ...Array.from({ length: 2 * workers }, worker)]);
        return out;
      },
      { from, to, steps: pairs.length },
    );
  } finally {
    await pool?.destroy();
  }
}
