// Replay throughput on step 0: trace operations per second with recording and bare
// (nothing recorded), over the built-in corpus. The two are measured in alternating
// rounds after a warm-up and their medians compared, so that neither gains from running
// second (a warm JIT, a grown heap). Per-step figures: bench/explore.ts replay.
import { performance } from 'node:perf_hooks';
import { STEPS } from '../versions/index.ts';
import { replay } from '../harness/replay.ts';
import { loadCorpus } from '../harness/trace.ts';

const rounds = Number(process.argv[2] ?? 30);
const corpus = loadCorpus();
const step = STEPS[0]!;
const opsPerRound = corpus.reduce((n, t) => n + t.threads.reduce((m, th) => m + th.ops.length, 0), 0);

const round = (record: boolean): number => {
  const t0 = performance.now();
  for (const t of corpus) replay(t, step, { record });
  return (performance.now() - t0) / 1000;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

round(true);
round(false); // warm-up
const rec: number[] = [];
const bare: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    rec.push(round(true));
    bare.push(round(false));
  } else {
    bare.push(round(false));
    rec.push(round(true));
  }
}
const recorded = opsPerRound / median(rec);
const bareOps = opsPerRound / median(bare);
console.log(`corpus: ${corpus.length} traces, ${opsPerRound} trace ops per round, ${rounds} alternating rounds each, step 0`);
console.log(`recording: ${recorded.toFixed(0)} trace-ops/s (median round)`);
console.log(`bare:      ${bareOps.toFixed(0)} trace-ops/s (median round)`);
console.log(`ratio recording/bare: ${(recorded / bareOps).toFixed(3)}`);
