// Speed of the main job: the full check (built-in corpus × every step), in-process and
// across a worker pool, against a baseline measured in the same run.
//
//   npx tsx bench/check.ts [--runs N]
//
// Rows:
// - baseline: bare replays (nothing recorded, nothing compared) of every trace on every
//   step the check needs: the floor the check cannot beat in one process;
// - in-process: runCheck() as `check` runs it by default;
// - pool: runCheckPool(), the main thread plus tinypool worker threads (each registering
//   tsx and importing its share of the step folders);
// - CLI end to end: `tsx src/cli/main.ts check --json` in a child process, as `npm start`
//   runs it (start-up, model compilation, check, JSON), and `tsx src/cli/main.ts steps`
//   for the start-up alone.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replayCount, runCheck, stepPairs } from '../harness/check.ts';
import { runCheckPool } from '../harness/pool.ts';
import { replay } from '../harness/replay.ts';
import { loadCorpus } from '../harness/trace.ts';
import { STEPS } from '../versions/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Math.max(1, Number(process.argv[runsArg + 1]) || 3) : 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function measure(fn: () => unknown | Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(fn));
  return median(xs);
}

const traces = loadCorpus();
const pairs = STEPS.length > 1 ? stepPairs(STEPS) : [];
const cells = traces.length * pairs.length;
const replays = pairs.length > 0 ? replayCount(traces.length, pairs) : traces.length * STEPS.length;
const cores = availableParallelism();

console.log(`corpus: ${traces.length} traces; steps: ${STEPS.length} (${pairs.length} compared); ${cells} trace x step verdicts from ${replays} replays; ${cores} cores; median of ${RUNS} runs`);

const rows: [string, number, string][] = [];
// warm the JIT once so that the first row is not penalised
for (const t of traces) for (const s of STEPS) replay(t, s, { record: false });

const bare = await measure(() => {
  for (const t of traces) for (const s of STEPS) replay(t, s, { record: false });
});
rows.push(['baseline: bare replays', bare, `${((traces.length * STEPS.length) / (bare / 1000)).toFixed(0)} replays/s`]);

if (pairs.length > 0) {
  const inproc = await measure(() => runCheck({ traces, steps: STEPS }));
  rows.push(['check in-process', inproc, `${(cells / (inproc / 1000)).toFixed(0)} traces x steps/s`]);
  // the pool's workers start cold on every run; the in-process row above is warm after
  // its first run, so the fair comparison is the end-to-end CLI rows below
  const pooled = await measure(() => runCheckPool({ traces, steps: STEPS }));
  rows.push(['check pool (main + 1 worker)', pooled, `${(cells / (pooled / 1000)).toFixed(0)} traces x steps/s (workers cold each run)`]);
} else {
  rows.push(['check', NaN, 'only step 0 is registered: nothing to compare']);
}

const cli = (args: string[]): number => {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, stdio: 'ignore' });
    xs.push(performance.now() - t0);
  }
  return median(xs);
};
const startup = cli(['steps']);
rows.push(['CLI start-up (steps)', startup, 'tsx + compiling every step model']);
if (pairs.length > 0) {
  const full = cli(['check', '--json']);
  rows.push(['CLI check end to end', full, `${(cells / (full / 1000)).toFixed(0)} traces x steps/s (target: <= 5000 ms)`]);
  const jobs = Math.max(2, cores);
  const fullPool = cli(['check', '--json', '--jobs', String(jobs)]);
  rows.push([`CLI check --jobs ${jobs}`, fullPool, `${(cells / (fullPool / 1000)).toFixed(0)} traces x steps/s (main + ${jobs - 1} worker${jobs > 2 ? 's' : ''})`]);
}

for (const [name, ms, note] of rows) console.log(`${name.padEnd(28)} ${Number.isNaN(ms) ? '     -' : `${ms.toFixed(0).padStart(6)} ms`}  ${note}`);
