// explore: random traces and interleavings (seeded; a failure prints a replayable trace).
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from './errors.ts';
import type { CliContext } from './commands.ts';
import { exploreInterleavings, type Counterexample } from '../../harness/explore.ts';
import { exploreRandomOnWorkers } from '../../harness/random_pool.ts';
import { parseJsonWith, readInputFile, resolveTrace, traceFileJson } from '../../harness/trace.ts';
import { formatDifference, pad2 } from '../../harness/report.ts';
import { progress } from './harness_commands.ts';
import { mergeExhaustive, type ExhaustivePart, type ExhaustiveReport } from '../../harness/exhaustive.ts';
import { exhaustivePartOnWorkers } from '../../harness/exhaustive_pool.ts';
import { exhaustivePartSchema } from '../../harness/report_schema.ts';
import { concurrentTraces, DEFAULT_MAX_SCHEDULES, DEFAULT_PREEMPTIONS, exploreInterleavingSets, type StepOutcomes } from '../../harness/interleavings.ts';

const MAX_PREEMPTIONS = 4;

/** The environment variable a CI burn-in sets the run count with. */
export const RUNS_ENV = 'TDX_DIFFTEST_EXPLORE_RUNS';
const MAX_RUNS = 10_000_000;

function parseCount(raw: string, what: string): number {
  if (!/^\d+$/.test(raw)) throw new InputError(`${what} must be a whole number, got "${raw}"`);
  return Number(raw);
}

/** Longer sequences run for hours even pruned (K = 5 and 6: see the README). */
const MAX_EXHAUSTIVE_K = 6;
const MAX_WORKERS = 64;
const MAX_SHARDS = 1000;

/** --from / --to as step numbers of the registry. */
function stepRange(ctx: CliContext, opts: { from?: string; to?: string }): { from?: number; to?: number } {
  const step = (raw: string, what: string): number => {
    const n = parseCount(raw, what);
    if (n >= ctx.steps.length) throw new InputError(`${what} ${n} is not a step (steps are 0 to ${ctx.steps.length - 1})`);
    return n;
  };
  return { ...(opts.from !== undefined ? { from: step(opts.from, '--from') } : {}), ...(opts.to !== undefined ? { to: step(opts.to, '--to') } : {}) };
}

/** --workers: threads, this one included (default 1). */
function parseWorkers(raw: string | undefined): number {
  const workers = raw !== undefined ? parseCount(raw, '--workers') : 1;
  if (workers < 1 || workers > MAX_WORKERS) throw new InputError(`--workers must be from 1 to ${MAX_WORKERS}, got ${workers}`);
  return workers;
}

/** A found trace: written to `out` (with the command that takes it) or printed; exit 1. */
function emitTrace(ctx: CliContext, name: string, json: string, out: string | undefined, take = (f: string) => `check it with: tdx-difftest check ${f}`): void {
  if (out) {
    writeFileSync(out, json);
    ctx.out(`trace ${name} written to ${out}; ${take(out)}\n`);
  } else ctx.out(json);
  ctx.setExit(1);
}

interface ExhaustiveOpts { from?: string; to?: string; out?: string; workers?: string; shard?: string; json?: boolean; timeBudget?: string }

/** "I/N" (1-based, as CI matrices number their jobs) → 0-based index and count. */
function parseShard(raw: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m) throw new InputError(`--shard must be I/N (this machine's share, 1 to N), got "${raw}"`);
  const [i, n] = [Number(m[1]), Number(m[2])];
  if (n < 1 || n > MAX_SHARDS || i < 1 || i > n) throw new InputError(`--shard ${raw}: I must be from 1 to N, N from 1 to ${MAX_SHARDS}`);
  return { index: i - 1, count: n };
}

async function exhaustiveCommand(ctx: CliContext, raw: string, opts: ExhaustiveOpts): Promise<void> {
  const k = parseCount(raw, '--exhaustive');
  if (k < 1 || k > MAX_EXHAUSTIVE_K) throw new InputError(`--exhaustive must be from 1 to ${MAX_EXHAUSTIVE_K}, got ${k}`);
  const range = stepRange(ctx, opts);
  const workers = parseWorkers(opts.workers);
  const shard = opts.shard !== undefined ? parseShard(opts.shard) : { index: 0, count: 1 };
  const budget = opts.timeBudget !== undefined ? parseCount(opts.timeBudget, '--time-budget') : undefined;
  const bar = progress('explore', 'sequences');
  const part = await exhaustivePartOnWorkers(ctx.steps, {
    k, ...range, shard,
    ...(budget !== undefined ? { deadline: Date.now() + budget * 1000 } : {}),
    onProgress: (done, total) => bar.tick(done, total),
  }, ctx.realFolders ? workers : 1);
  bar.end();
  if (opts.json) {
    // a shard's part, for `explore merge`
    ctx.out(JSON.stringify(part) + '\n');
    return;
  }
  if (shard.count > 1) ctx.out(`shard ${shard.index + 1}/${shard.count} only: merge every shard's --json output with \`explore merge\`\n`);
  renderExhaustive(ctx, mergeExhaustive([part]), opts.out);
}

/** The text of an exhaustive run's report: the same for a run on one machine and for merged shards. */
function renderExhaustive(ctx: CliContext, r: ExhaustiveReport, out: string | undefined): void {
  ctx.out(`explore --exhaustive ${r.k}: ${r.sequences} sequences of up to ${r.k} of ${r.alphabet} operations, each over ${r.steps} step pair${r.steps === 1 ? '' : 's'}\n`);
  ctx.out(`  ${r.traces} traces replayed and checked, ${r.states} distinct states before the last operation, ${r.prunedPrefixes} prefixes not extended (state seen before, or every run ended): ${(r.sequences / Math.max(1, r.traces)).toFixed(1)}x fewer traces\n`);
  if (!r.complete) ctx.out(`  INCOMPLETE: stopped by the time budget; ${r.covered} of ${r.sequences} sequences covered\n`);
  if (r.unexpected.length === 0) {
    ctx.out(r.complete ? 'no unexpected difference\n' : 'no unexpected difference in what was covered\n');
    return;
  }
  ctx.out(`${r.unexpected.length} trace${r.unexpected.length === 1 ? '' : 's'} with an unexpected difference; the shortest:\n`);
  for (const u of r.unexpected.slice(0, 10)) ctx.out(`  ${u.trace.name}: step${u.results.length === 1 ? '' : 's'} ${u.results.map((x) => x.step).join(', ')}\n`);
  const first = r.unexpected[0]!.trace;
  emitTrace(ctx, first.name, traceFileJson(first), out);
}

/** `explore merge PART…`: the shards' parts of one exhaustive run, as the report of the whole run. */
function mergeCommand(ctx: CliContext, files: string[], opts: { out?: string }): void {
  const parts = files.map((f) => parseJsonWith(readInputFile(f, 'shard output', 256 * 1024 * 1024), f, exhaustivePartSchema) as ExhaustivePart);
  let report: ExhaustiveReport;
  try {
    report = mergeExhaustive(parts);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  if (report.missingShards.length > 0) throw new InputError(`shard${report.missingShards.length === 1 ? '' : 's'} ${report.missingShards.join(', ')} of ${parts[0]!.shard.count} missing: give every shard's output`);
  renderExhaustive(ctx, report, opts.out);
}

/** "38 (379) on steps 00-15", or one group per run of steps with the same counts. */
function outcomeRuns(steps: readonly StepOutcomes[]): string {
  const groups: { from: number; to: number; text: string }[] = [];
  for (const s of steps) {
    const text = `${s.outcomes.length}${s.complete ? '' : '+'} (${s.schedules})`;
    const last = groups.at(-1);
    if (last && last.text === text) last.to = s.step;
    else groups.push({ from: s.step, to: s.step, text });
  }
  return groups.map((g) => `${g.text} on step${g.from === g.to ? ` ${pad2(g.from)}` : `s ${pad2(g.from)}-${pad2(g.to)}`}`).join(', ');
}

/** `explore --interleavings [TRACE…]`: bounded schedules of each trace, outcome sets compared across steps. */
function interleavingsCommand(ctx: CliContext, traceArgs: string[], opts: { from?: string; to?: string; out?: string; preemptions?: string; reduction?: boolean }): void {
  const bound = opts.preemptions !== undefined ? parseCount(opts.preemptions, '--preemptions') : DEFAULT_PREEMPTIONS;
  if (bound > MAX_PREEMPTIONS) throw new InputError(`--preemptions must be from 0 to ${MAX_PREEMPTIONS}, got ${bound}`);
  const range = stepRange(ctx, opts);
  const traces = traceArgs.length > 0 ? traceArgs.map(resolveTrace) : concurrentTraces();
  const single = traces.filter((t) => t.threads.length < 2).map((t) => t.name);
  if (single.length > 0) throw new InputError(`${single.join(', ')}: one thread only, nothing to interleave`);
  const bar = progress('explore', 'schedules');
  let done = 0;
  const r = exploreInterleavingSets(traces, ctx.steps, { bound, ...range, reduce: opts.reduction !== false, onSchedule: () => bar.tick(++done, done) });
  bar.end();
  const steps = r.traces[0]?.steps.map((s) => s.step) ?? [];
  const schedules = r.traces.reduce((a, t) => a + t.steps.reduce((b, s) => b + s.schedules, 0), 0);
  ctx.out(`explore --interleavings: ${r.traces.length} trace${r.traces.length === 1 ? '' : 's'}, every schedule with at most ${bound} deviation${bound === 1 ? '' : 's'} from the scheduler's own choice, on steps ${steps.map(pad2).join(' ')}\n`);
  ctx.out(`  ${schedules} schedules in all${opts.reduction === false ? '' : ' (SPTE reads under the write-held mmu_lock are no switch points where no lockless writer runs)'}\n`);
  ctx.out('distinct outcomes (schedules) per trace, by step:\n');
  for (const t of r.traces) ctx.out(`  ${t.name}: ${outcomeRuns(t.steps)}\n`);
  if (!r.complete) ctx.out(`  INCOMPLETE: "+" marks a step that reached the schedule limit (${DEFAULT_MAX_SCHEDULES}); lower --preemptions\n`);
  ctx.out(`(the outcomes of neighbouring steps compared as sets, each difference explained by the intents or reported)\n`);
  if (r.findings.length === 0 && r.races.length === 0) {
    ctx.out('no outcome appears or disappears that the intents do not explain; no race within a step\n');
    return;
  }
  for (const f of r.findings.slice(0, 10)) {
    ctx.out(`X ${f.trace}, step ${pad2(f.step)} vs ${pad2(f.base)}: an outcome ${f.change} that the intents do not explain (reached on step ${f.at} by the schedule of ${f.pinned.name})\n`);
    for (const d of (f.closest?.differences ?? []).filter((x) => x.intents.length === 0).slice(0, 6)) ctx.out(`    ${formatDifference(d)}\n`);
  }
  for (const x of r.races.slice(0, 10)) ctx.out(`X ${x.trace}, step ${pad2(x.step)}: race within the step (${x.what}); schedule in ${x.pinned.name}\n`);
  const first = r.findings[0]?.pinned ?? r.races[0]!.pinned;
  emitTrace(ctx, first.name, traceFileJson(first), opts.out, (f) => `replay it with: tdx-difftest replay ${f} --step N`);
}

export function registerExploreCommand(program: Command, ctx: CliContext): void {
  const explore = program
    .command('explore')
    .description('random traces (seeded, shrunk to a minimal counterexample) checked against the intents, or random schedules of one trace checked for races')
    .option('--seed <n>', 'random seed (printed; default: derived from the time)')
    .option('--runs <n>', `how many traces or schedules to try (default: $${RUNS_ENV}, else 100)`)
    .option('--interleave <trace>', 'explore pinned schedules of this trace instead of random traces')
    .option('--exhaustive <k>', 'every trace of up to K operations over the documented alphabet, instead of random traces')
    .argument('[traces...]', 'with --interleavings: the traces (default: the built-in concurrent traces)')
    .option('--interleavings', 'every schedule of each trace with at most --preemptions deviations, outcome sets compared across steps')
    .option('--preemptions <p>', `with --interleavings: deviations from the scheduler's own choice (default ${DEFAULT_PREEMPTIONS})`)
    .option('--no-reduction', 'with --interleavings: every yield point is a switch point (to audit the reduction)')
    .option('--from <n>', 'first step to check')
    .option('--to <n>', 'last step to check')
    .option('--out <file>', 'write the counterexample trace here')
    .option('--workers <n>', 'with random traces or --exhaustive: threads, this one included (default 1); the result is the same with any number')
    .option('--shard <i/n>', 'with --exhaustive: this machine\'s share of a run split across N machines (merge the --json outputs with `explore merge`)')
    .option('--json', 'with --exhaustive: print this shard\'s part as JSON (schema exhaustive-part), for `explore merge`')
    .option('--time-budget <seconds>', 'with --exhaustive: stop starting new work after this long and report what was covered')
    .action(async (traceArgs: string[], opts: { seed?: string; runs?: string; interleave?: string; exhaustive?: string; from?: string; to?: string; out?: string; interleavings?: boolean; preemptions?: string; reduction?: boolean } & ExhaustiveOpts) => {
      if (opts.interleavings) {
        interleavingsCommand(ctx, traceArgs, opts);
        return;
      }
      if (traceArgs.length > 0) throw new InputError(`traces (${traceArgs.join(', ')}) go with --interleavings`);
      if (opts.exhaustive !== undefined) {
        await exhaustiveCommand(ctx, opts.exhaustive, opts);
        return;
      }
      for (const o of ['shard', 'json', 'timeBudget'] as const) if (opts[o] !== undefined) throw new InputError(`--${o === 'timeBudget' ? 'time-budget' : o} goes with --exhaustive`);
      if (opts.workers !== undefined && opts.interleave) throw new InputError('--workers goes with random traces or --exhaustive, not --interleave');
      const workers = parseWorkers(opts.workers);
      const seed = opts.seed !== undefined ? parseCount(opts.seed, '--seed') : Date.now() % 2 ** 31;
      // a long CI burn-in sets the count in its environment, not on every command line
      const runs = opts.runs !== undefined ? parseCount(opts.runs, '--runs') : process.env[RUNS_ENV] !== undefined ? parseCount(process.env[RUNS_ENV]!, RUNS_ENV) : 100;
      if (runs < 1 || runs > MAX_RUNS) throw new InputError(`the run count must be from 1 to ${MAX_RUNS}, got ${runs}`);
      const range = stepRange(ctx, opts);
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
        const found: Counterexample | null = await exploreRandomOnWorkers(ctx.steps, { seed, runs, ...range, onRun }, ctx.realFolders ? workers : 1);
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
      emitTrace(ctx, name, json, opts.out);
    });
  explore
    .command('merge')
    .description('the --json outputs of every shard of one `explore --exhaustive --shard` run, as the report of the whole run')
    .argument('<part...>', 'each shard\'s output file')
    .option('--out <file>', 'write the shortest counterexample trace here')
    .action((files: string[], opts: { out?: string }) => mergeCommand(ctx, files, opts));
}
