// Exploration benchmarks. Every figure is measured in this run; variants that are
// compared are interleaved (A B B A …) after a warm-up and their medians reported, so
// that the order of measuring cannot bias a ratio. Sections (default: all):
//   replay        trace-ops/s per step, recording and bare, over the corpus
//   random        random traces × steps per second (explore --seed 1)
//   exhaustive    explore --exhaustive 3: traces/s, states/s, pruning ratio
//   interleavings schedules/s per built-in concurrent trace (step 0, bound 2)
//   workers       explore --exhaustive 4 on 2 threads against 1, and the machine's own
//                 ceiling: two independent processes against one (about 5 minutes)
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { STEPS } from '../versions/index.ts';
import { replay } from '../harness/replay.ts';
import { loadCorpus } from '../harness/trace.ts';
import { exploreRandom } from '../harness/explore.ts';
import { exploreExhaustive } from '../harness/exhaustive.ts';
import { exploreRandomOnWorkers } from '../harness/random_pool.ts';
import { exhaustivePartOnWorkers } from '../harness/exhaustive_pool.ts';
import { concurrentTraces, stepOutcomes } from '../harness/interleavings.ts';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const seconds = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const secondsAsync = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Runs `variants` round after round, alternating their order; returns each one's seconds. */
async function interleaved(rounds: number, variants: (() => Promise<unknown> | unknown)[], warmUp = true): Promise<number[][]> {
  if (warmUp) for (const v of variants) await v();
  const out = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i);
    for (const i of order) out[i]!.push(await secondsAsync(async () => variants[i]!()));
  }
  return out;
}

async function replaySection(): Promise<void> {
  const corpus = loadCorpus();
  const ops = corpus.reduce((n, t) => n + t.threads.reduce((m, th) => m + th.ops.length, 0), 0);
  const passes = 4; // corpus passes per round: a round long enough to time
  console.log(`replay: ${corpus.length} traces, ${passes * ops} trace ops per round, median of 7 interleaved rounds per step`);
  console.log('  step  recording ops/s  bare ops/s  recording/bare');
  const all: number[] = [];
  for (const step of STEPS) {
    const pass = (record: boolean) => (): void => {
      for (let p = 0; p < passes; p++) for (const t of corpus) replay(t, step, { record });
    };
    const [rec, bare] = await interleaved(7, [pass(true), pass(false)]);
    const r = (passes * ops) / median(rec!);
    const b = (passes * ops) / median(bare!);
    all.push(r);
    console.log(`  ${String(step.manifest.step).padStart(4)}  ${fmt(r).padStart(15)}  ${fmt(b).padStart(10)}  ${(r / b).toFixed(3).padStart(14)}`);
  }
  console.log(`  median over the steps, recording: ${fmt(median(all))} trace-ops/s`);
}

async function randomSection(): Promise<void> {
  const runs = 100;
  const t = await interleaved(3, [() => exploreRandom(STEPS, { seed: 1, runs })]);
  const s = median(t[0]!);
  console.log(`random: ${runs} traces × ${STEPS.length} steps in ${s.toFixed(2)} s (median of 3): ${fmt((runs * STEPS.length) / s)} trace-steps/s, ${fmt(runs / s, 1)} traces/s`);
  // on two threads (worker start-up included: no warm-up), A B then B A
  const more = 400;
  const [one, two] = await interleaved(2, [
    () => exploreRandomOnWorkers(STEPS, { seed: 1, runs: more }, 1),
    () => exploreRandomOnWorkers(STEPS, { seed: 1, runs: more }, 2),
  ], false);
  console.log(`  ${more} traces, 1 thread ${median(one!).toFixed(1)} s, 2 threads ${median(two!).toFixed(1)} s (means of 2, A B B A): ${(median(one!) / median(two!)).toFixed(2)}x, ${fmt(more / median(two!), 1)} traces/s on 2 threads`);
}

async function exhaustiveSection(): Promise<void> {
  let report = await exploreExhaustive(STEPS, { k: 3 });
  const t = await interleaved(3, [async () => (report = await exploreExhaustive(STEPS, { k: 3 }))]);
  const s = median(t[0]!);
  console.log(`exhaustive K=3: ${report.sequences} sequences, ${report.traces} traces checked, ${report.states} states, pruning ${(report.sequences / report.traces).toFixed(1)}x`);
  console.log(`  ${s.toFixed(2)} s (median of 3): ${fmt(report.traces / s)} traces/s (each on ${STEPS.length} steps), ${fmt(report.states / s)} states/s`);
}

async function interleavingsSection(): Promise<void> {
  console.log('interleavings (step 0, at most 2 deviations, median of 3):');
  for (const t of concurrentTraces()) {
    let n = 0;
    const ts = await interleaved(3, [() => (n = stepOutcomes(t, STEPS[0]!, 2).schedules)]);
    const s = median(ts[0]!);
    console.log(`  ${t.name.padEnd(34)} ${String(n).padStart(6)} schedules  ${fmt(n / s).padStart(8)} schedules/s`);
  }
}

const self = fileURLToPath(import.meta.url);

/** K for the workers section: long enough that worker start-up is not the figure. */
const WORKERS_K = 4;

/** One explore --exhaustive WORKERS_K in a child process (the machine-ceiling probe); resolves with its seconds. */
function child(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--import', 'tsx', self, '--child'], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`child exited ${code}`))));
  });
}

async function workersSection(): Promise<void> {
  // two rounds, A B then B A, with no separate warm-up: a worker's start-up is part of its cost
  const [one, two] = await interleaved(2, [
    () => exhaustivePartOnWorkers(STEPS, { k: WORKERS_K }, 1),
    () => exhaustivePartOnWorkers(STEPS, { k: WORKERS_K }, 2),
  ], false);
  console.log(`workers: explore --exhaustive ${WORKERS_K}, 1 thread ${median(one!).toFixed(1)} s, 2 threads ${median(two!).toFixed(1)} s (means of 2, A B B A): ${(median(one!) / median(two!)).toFixed(2)}x`);
  // the ceiling: the same work twice in two independent processes, against once alone
  const alone: number[] = [];
  const pair: number[] = [];
  for (let r = 0; r < 1; r++) {
    alone.push(await child());
    const t0 = performance.now();
    await Promise.all([child(), child()]);
    pair.push((performance.now() - t0) / 1000);
  }
  console.log(`  machine ceiling: one process ${median(alone).toFixed(1)} s, two at once ${median(pair).toFixed(1)} s: ${((2 * median(alone)) / median(pair)).toFixed(2)}x the work per second`);
}

if (process.argv.includes('--child')) {
  await exploreExhaustive(STEPS, { k: WORKERS_K });
  process.exit(0);
}
const sections: Record<string, () => Promise<void>> = { replay: replaySection, random: randomSection, exhaustive: exhaustiveSection, interleavings: interleavingsSection, workers: workersSection };
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length > 0 ? wanted : Object.keys(sections)) {
  const run = sections[name];
  if (!run) {
    console.error(`unknown section ${name}: one of ${Object.keys(sections).join(', ')}`);
    process.exit(2);
  }
  await run();
}
