// Speed of `mutate`: mutants per second on a fixed sample, against a baseline measured in
// the same run (one full replay of the corpus on the real step, warm), so that the cost of
// building, importing and cold-running each mutant copy is visible as a ratio.
//
//   npx tsx bench/mutate.ts [--step N] [--limit N] [--seed S]
import { safeReplay } from '../harness/check.ts';
import { runMutate } from '../harness/mutate.ts';
import { loadCorpus } from '../harness/trace.ts';
import { STEPS } from '../versions/index.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const step = arg('--step', 7);
const limit = arg('--limit', 12);
const seed = arg('--seed', 1);
const traces = loadCorpus();
const real = STEPS[step]!;

for (const t of traces) safeReplay(t, real); // warm
const t0 = performance.now();
for (const t of traces) safeReplay(t, real);
const corpusMs = performance.now() - t0;

const t1 = performance.now();
const r = await runMutate({ steps: STEPS, traces, only: [step], seed, limit });
const mutateMs = performance.now() - t1;
const per = mutateMs / r.mutants.length;

console.log(`step ${step}, seed ${seed}, ${r.mutants.length} mutants, ${traces.length} traces`);
console.log(`baseline: corpus replay on the real step (warm)  ${corpusMs.toFixed(0)} ms`);
console.log(`mutate:   ${(r.mutants.length / (mutateMs / 1000)).toFixed(2)} mutants/s, ${per.toFixed(0)} ms per mutant = ${(per / corpusMs).toFixed(1)}x the baseline`);
console.log(`          ${r.total.killed} killed, ${r.total.noChange} no change, ${r.total.masked} masked`);
