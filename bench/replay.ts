// Replay throughput on step 0: trace operations per second with recording and bare
// (nothing recorded), over the built-in corpus, both measured in this run.
import { performance } from 'node:perf_hooks';
import { STEPS } from '../versions/index.ts';
import { replay } from '../harness/replay.ts';
import { loadCorpus } from '../harness/trace.ts';

const rounds = Number(process.argv[2] ?? 30);
const corpus = loadCorpus();
const step = STEPS[0]!;
const opsPerRound = corpus.reduce((n, t) => n + t.threads.reduce((m, th) => m + th.ops.length, 0), 0);

function measure(record: boolean): number {
  for (const t of corpus) replay(t, step, { record }); // warm-up
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) for (const t of corpus) replay(t, step, { record });
  const secs = (performance.now() - t0) / 1000;
  return (rounds * opsPerRound) / secs;
}

const recorded = measure(true);
const bare = measure(false);
console.log(`corpus: ${corpus.length} traces, ${opsPerRound} trace ops per round, ${rounds} rounds, step 0`);
console.log(`recording: ${recorded.toFixed(0)} trace-ops/s (${((recorded / opsPerRound)).toFixed(1)} corpus rounds/s)`);
console.log(`bare:      ${bare.toFixed(0)} trace-ops/s`);
console.log(`ratio recording/bare: ${(recorded / bare).toFixed(3)}`);
