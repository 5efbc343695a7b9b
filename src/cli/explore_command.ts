// explore: random traces and interleavings (seeded; a failure prints a replayable trace).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from './errors.ts';
import type { CliContext } from './commands.ts';
import { exploreInterleavings, exploreRandom, type Counterexample } from '../../harness/explore.ts';
import { resolveTrace, traceFileJson } from '../../harness/trace.ts';
import { formatDifference } from '../../harness/report.ts';
import { progress } from './harness_commands.ts';
import { ALPHABET, exploreExhaustive } from '../../harness/exhaustive.ts';

/** The environment variable a CI burn-in sets the run count with. */
export const RUNS_ENV = 'TDX_DIFFTEST_EXPLORE_RUNS';
const MAX_RUNS = 10_000_000;

function parseCount(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) throw new InputError(`${what} must be a whole number, got "${raw}"`);
  return Number(raw);
}

/** Longer sequences run for hours even pruned (K = 5 and 6: see the README). */
const MAX_EXHAUSTIVE_K = 6;

function exhaustiveCommand(ctx: CliContext, raw: string, opts: { from?: string; to?: string; out?: string }): void {
  const k = parseCount(raw, '--exhaustive');
  if (k < 1 || k > MAX_EXHAUSTIVE_K) throw new InputError(`--exhaustive must be from 1 to ${MAX_EXHAUSTIVE_K}, got ${k}`);
  const step = (r: string, what: string): number => {
    const n = parseCount(r, what);
    if (n >= ctx.steps.length) throw new InputError(`${what} ${n} is not a step (steps are 0 to ${ctx.steps.length - 1})`);
    return n;
  };
  const range = { ...(opts.from !== undefined ? { from: step(opts.from, '--from') } : {}), ...(opts.to !== undefined ? { to: step(opts.to, '--to') } : {}) };
  const bar = progress('explore', 'sequences');
  const r = exploreExhaustive(ctx.steps, { k, ...range, onTrace: (done, total) => bar.tick(done, total) });
  bar.end();
  ctx.out(`explore --exhaustive ${k}: ${r.sequences} sequences of up to ${k} of ${r.alphabet} operations, each over ${r.steps} step pair${r.steps === 1 ? '' : 's'}\n`);
  ctx.out(`  ${r.traces} traces replayed and checked, ${r.states} distinct states before the last operation, ${r.prunedPrefixes} prefixes not extended (state seen before, or every run ended): ${(r.sequences / r.traces).toFixed(1)}x fewer traces\n`);
  if (r.unexpected.length === 0) {
    ctx.out('no unexpected difference\n');
    return;
  }
  ctx.out(`${r.unexpected.length} trace${r.unexpected.length === 1 ? '' : 's'} with an unexpected difference; the shortest:\n`);
  for (const u of r.unexpected.slice(0, 10)) ctx.out(`  ${u.trace.name}: step${u.results.length === 1 ? '' : 's'} ${u.results.map((x) => x.step).join(', ')}\n`);
  const first = r.unexpected[0]!.trace;
  const json = traceFileJson(first);
  if (opts.out) {
    writeFileSync(opts.out, json);
    ctx.out(`trace ${first.name} written to ${opts.out}; check it with: tdx-difftest check ${opts.out}\n`);
  } else ctx.out(json);
  ctx.setExit(1);
}

export function registerExploreCommand(program: Command, ctx: CliContext): void {
  program
    .command('explore')
    .description('random traces (seeded, shrunk to a minimal counterexample) checked against the intents, or random schedules of one trace checked for races')
    .option('--seed <n>', 'random seed (printed; default: derived from the time)')
    .option('--runs <n>', `how many traces or schedules to try (default: $${RUNS_ENV}, else 100)`)
    .option('--interleave <trace>', 'explore pinned schedules of this trace instead of random traces')
    .option('--exhaustive <k>', 'every trace of up to K operations over the documented alphabet, instead of random traces')
    .option('--from <n>', 'first step to check')
    .option('--to <n>', 'last step to check')
    .option('--out <file>', 'write the counterexample trace here')
    .action((opts: { seed?: string; runs?: string; interleave?: string; exhaustive?: string; from?: string; to?: string; out?: string }) => {
      if (opts.exhaustive !== undefined) {
        exhaustiveCommand(ctx, opts.exhaustive, opts);
        return;
      }
      const seed = opts.seed !== undefined ? parseCount(opts.seed, '--seed') : Date.now() % 2 ** 31;
      // a long CI burn-in sets the count in its environment, not on every command line
      const runs = opts.runs !== undefined ? parseCount(opts.runs, '--runs') : process.env[RUNS_ENV] !== undefined ? parseCount(process.env[RUNS_ENV]!, RUNS_ENV) : 100;
      if (runs < 1 || runs > MAX_RUNS) throw new InputError(`the run count must be from 1 to ${MAX_RUNS}, got ${runs}`);
      const step = (raw: string, what: string): number => {
        const n = parseCount(raw, what);
        if (n >= ctx.steps.length) throw new InputError(`${what} ${n} is not a step (steps are 0 to ${ctx.steps.length - 1})`);
        return n;
      };
      const range = { ...(opts.from !== undefined ? { from: step(opts.from, '--from') } : {}), ...(opts.to !== undefined ? { to: step(opts.to, '--to') } : {}) };
      ctx.out(`explore: seed ${seed}, ${runs} ${opts.interleave ? `schedules of ${opts.interleave}` : 'random traces'}\n`);
      let json: string;
      let name: string;
      // a progress line on a terminal (runs so far, shrinking included), nothing in a pipe
      const bar = progress('explore', 'runs');
      let done = 0;
      const onRun = (): void => bar.tick(++done, Math.max(done, runs));
      if (opts.interleave) {
        const race = exploreInterleavings(resolveTrace(opts.interleave), ctx.steps, { seed, runs, ...range, onRun });
        bar.end();
        if (!race) {
          ctx.out('no race: no schedule broke an invariant, crashed, livelocked, deadlocked or bugged the VM where the unscheduled run does not\n');
          return;
        }
        ctx.out(`race (again with: ${race.found.command}; run ${race.found.run}, path ${race.found.path}, shrunk ${race.found.shrinks} times):\n`);
        for (const f of race.findings.slice(0, 12)) ctx.out(`  step ${f.step}: ${f.what} ${f.detail}\n`);
        json = race.json;
        name = race.trace.name;
      } else {
        const found: Counterexample | null = exploreRandom(ctx.steps, { seed, runs, ...range, onRun });
        bar.end();
        if (!found) {
          ctx.out('no counterexample: every difference was explained by the steps\' intents\n');
          return;
        }
        ctx.out(`counterexample (again with: ${found.found.command}; run ${found.found.run}, path ${found.found.path}, shrunk ${found.found.shrinks} times):\n`);
        for (const r of found.unexpected) {
          ctx.out(`  step ${r.step} vs ${r.base}: unexpected\n`);
          for (const d of r.differences.filter((x) => x.intents.length === 0).slice(0, 8)) ctx.out(`    ${formatDifference(d)}\n`);
        }
        json = found.json;
        name = found.trace.name;
      }
      if (opts.out) {
        writeFileSync(opts.out, json);
        ctx.out(`trace ${name} written to ${opts.out}; check it with: tdx-difftest check ${opts.out}\n`);
      } else {
        ctx.out(json);
      }
      ctx.setExit(1);
    });
}
