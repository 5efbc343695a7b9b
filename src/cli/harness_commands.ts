// check / diff / bisect / matrix: the commands of the differential harness.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { createTwoFilesPatch } from 'diff';
import type { CliContext } from './commands.ts';
import { InputError } from './errors.ts';
import { kernelBisectExitCode } from './link_commands.ts';
import type { StepModel } from '../../versions/index.ts';
import { behavesLikeBase, bisectExitCode, bisectTrace, explainTraceRange, findStep } from '../../harness/bisect.ts';
import { checkDistinctNames, runCheck, stepPairs, type CheckReport } from '../../harness/check.ts';
import { finalEvents, type LayerChoice } from '../../harness/compare.ts';
import { draftGroups, formatDraft } from '../../harness/draft.ts';
import { toJunit } from '../../harness/junit.ts';
import { toKtap } from '../../harness/ktap.ts';
import { formatMail } from '../../harness/mail.ts';
import { checkHtml, matrixHtml } from '../../harness/html.ts';
import { openRepo, resolveRev } from '../../harness/link/index.ts';
import { packageVersion } from './version.ts';
import { hostname } from 'node:os';
import { CHECK_REPORT_SCHEMA_ID, SCHEMAS } from '../../harness/report_schema.ts';
import { OPERATORS, type Operator } from '../../harness/mutate_operators.ts';
import { buildMatrix, formatChangesText, formatMatrixText, matrixChanges } from '../../harness/matrix.ts';
import { layerOf, type Observation } from '../../harness/observation.ts';
import { runCheckPool } from '../../harness/pool.ts';
import { formatCheckText, formatDifference, formatEventCompact, paint, toJson, wantColor, type Style, pad2 } from '../../harness/report.ts';
import { loadCorpus, resolveTrace, type Trace } from '../../harness/trace.ts';


function parseLayer(raw: string | undefined): LayerChoice {
  if (raw === undefined) return 'both';
  if (raw === 'functional' || raw === 'diagnostic' || raw === 'both') return raw;
  throw new InputError(`--layer must be "functional" or "diagnostic", got "${raw}"`);
}

function layerName(l: LayerChoice): string {
  return l === 'both' ? 'both layers' : `${l} layer`;
}

/** A step argument of diff: the number of a registered step, else InputError. */
function stepArg(raw: string, steps: readonly StepModel[], what: string): StepModel {
  const s = findStep(steps, raw);
  if (!s) {
    const nums = steps.map((x) => x.manifest.step);
    throw new InputError(`${what} must be a step number from ${Math.min(...nums)} to ${Math.max(...nums)}, got "${raw}"`);
  }
  return s;
}

function stdoutStyle(plain: boolean): Style {
  return { color: !plain && wantColor(process.stdout) };
}

/** A progress line on stderr, only when stderr is a terminal. */
export function progress(label: string, unit = 'replays'): { tick: (done: number, total: number) => void; end: () => void } {
  if (!process.stderr.isTTY) return { tick: () => {}, end: () => {} };
  let last = 0;
  let shown = false;
  return {
    tick: (done, total) => {
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r${label}: ${done}/${total} ${unit}`);
    },
    end: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/**
 * Waits until everything written to stdout so far is handed to the OS. main() ends
 * with process.exit(), which drops what a pipe has not taken yet: without this,
 * `check --json | jq` would read the first 64 KiB only.
 */
export function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.write('', () => resolve());
  });
}

/** Observation rendered one event per line (then the final state, one entry per line). */
export function observationLines(obs: Observation, layer: LayerChoice = 'both'): string[] {
  const lines: string[] = [];
  for (const e of obs.events) if (layer === 'both' || layerOf(e.kind) === layer) lines.push(formatEventCompact(e));
  if (layer !== 'diagnostic') for (const e of finalEvents(obs.final)) lines.push(formatEventCompact(e));
  return lines;
}

interface CheckOpts {
  from?: string;
  to?: string;
  json?: boolean;
  junit?: string;
  text?: boolean;
  jobs?: string;
  coverage?: boolean;
  full?: boolean;
  ktap?: boolean;
  mail?: boolean;
  kernel?: string;
  html?: string;
}

/**
 * In-process by default. `--jobs N` (N > 1) has N - 1 worker threads replay part of the
 * steps beside the main thread (harness/pool.ts); measured with bench/check.ts on the
 * 2-core machine (23 traces x 16 steps) it is slower end to end (3.6 s against 3.3 s):
 * each worker pays tsx's start-up and warms up its share of the step models cold,
 * which costs more than the replays it takes over.
 */
/** More threads than this is a typo, not a machine. */
const MAX_JOBS = 256;

async function doCheck(ctx: CliContext, traceArgs: string[], opts: CheckOpts): Promise<void> {
  const traces: Trace[] = traceArgs.length > 0 ? traceArgs.map(resolveTrace) : loadCorpus();
  if (traces.length === 0) throw new InputError('no traces to check');
  checkDistinctNames(traces);
  stepPairs(ctx.steps, opts.from, opts.to); // validate the range before any work
  let jobs = 1;
  if (opts.jobs !== undefined) {
    if (!/^\d+$/.test(opts.jobs) || Number(opts.jobs) < 1 || Number(opts.jobs) > MAX_JOBS) {
      throw new InputError(`--jobs must be a whole number from 1 to ${MAX_JOBS}, got "${opts.jobs}"`);
    }
    jobs = Number(opts.jobs);
  }
  const bar = progress('check');
  const startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, '');
  const t0 = performance.now();
  let report: CheckReport;
  try {
    // workers load the real registry themselves: a modified one (tests) stays in-process
    const usePool = jobs > 1 && ctx.realFolders === true;
    // coverage is a property of the corpus: over one's own traces it is counted only when asked
    const coverage = traceArgs.length === 0 || opts.coverage === true;
    report = usePool
      ? await runCheckPool({ traces, steps: ctx.steps, from: opts.from, to: opts.to, workers: jobs - 1, onProgress: bar.tick, coverage })
      : runCheck({ traces, steps: ctx.steps, from: opts.from, to: opts.to, onProgress: bar.tick, coverage });
  } finally {
    bar.end();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (opts.html !== undefined) writeHtml(opts.html, checkHtml(report));
  if (opts.junit !== undefined) {
    try {
      writeFileSync(opts.junit, toJunit(report, { timeSeconds: seconds, timestamp: startedAt, hostname: hostname() }));
    } catch (e) {
      throw new InputError(`--junit ${opts.junit}: cannot write the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (opts.json) ctx.out(toJson({ schema: CHECK_REPORT_SCHEMA_ID, ...report }) + '\n');
  else if (opts.ktap) ctx.out(toKtap(report));
  else if (opts.mail) {
    let kernel: { path: string; head: string } | undefined;
    if (opts.kernel !== undefined) {
      const repo = await openRepo(opts.kernel);
      kernel = { path: opts.kernel, head: await resolveRev(repo, 'HEAD') };
    }
    ctx.out(formatMail(report, traces, ctx.steps, { version: packageVersion(), ...(kernel ? { kernel } : {}) }));
  }
  else ctx.out(formatCheckText(report, stdoutStyle(Boolean(opts.text)), 80, Boolean(opts.full)));
  ctx.setExit(report.exitCode);
}

interface DiffOpts {
  layer?: string;
  json?: boolean;
}

function diffCommand(ctx: CliContext, traceArg: string, aRaw: string, bRaw: string, opts: DiffOpts): void {
  const layer = parseLayer(opts.layer);
  const a = stepArg(aRaw, ctx.steps, 'step A');
  const b = stepArg(bRaw, ctx.steps, 'step B');
  const trace = resolveTrace(traceArg);
  const an = a.manifest.step;
  const bn = b.manifest.step;
  const range = explainTraceRange(trace, ctx.steps, an, bn, layer);
  const oa = range.a;
  const ob = range.b;
  const ex = range.explanation;
  const cmp = { differences: ex.differences, approximate: range.approximate };
  const patch = createTwoFilesPatch(
    `step-${pad2(an)}`, `step-${pad2(bn)}`,
    observationLines(oa, layer).join('\n') + '\n', observationLines(ob, layer).join('\n') + '\n',
    a.manifest.subject, b.manifest.subject, { context: 3 },
  );
  if (opts.json) {
    ctx.out(toJson({ trace: trace.name, a: an, b: bn, layer, verdict: ex.verdict, intents: ex.intents, differences: ex.differences, approximate: cmp.approximate, patch }) + '\n');
    return;
  }
  const style = stdoutStyle(false);
  const lo = Math.min(an, bn);
  const hi = Math.max(an, bn);
  const out: string[] = [];
  const span = lo === hi ? 'no step' : lo + 1 === hi ? `step ${pad2(hi)}` : `steps ${pad2(lo + 1)}..${pad2(hi)}`;
  out.push(`diff ${trace.name}: step ${pad2(an)} -> step ${pad2(bn)} (${layerName(layer)}; each difference credited to the step of ${span} that made it and explained by that step's intents${an > bn ? ', sides reversed' : ''})`);
  if (cmp.differences.length === 0) {
    out.push('the observations are the same');
    ctx.out(out.join('\n') + '\n');
    return;
  }
  out.push(patch.trimEnd());
  out.push('');
  out.push(`differences (${cmp.differences.length}):`);
  for (const d of ex.differences) out.push('  ' + formatDifference(d, style));
  out.push(ex.verdict === 'intended'
    ? `verdict: intended (${ex.intents.join(', ')})`
    : `verdict: unexpected (${ex.unexplained.length} not explained${ex.intents.length > 0 ? `; explained by ${ex.intents.join(', ')}` : ''})`);
  ctx.out(out.join('\n') + '\n');
}

interface MutateOpts {
  step?: string[];
  seed: string;
  operators?: string;
  limit?: string;
  jobs?: string;
  mutant?: string[];
  json?: boolean;
  explore?: string;
}

function wholeNumber(raw: string, name: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InputError(`${name} must be a whole number, got "${raw}"`);
  return Number(raw.trim());
}

async function mutateCommand(ctx: CliContext, opts: MutateOpts): Promise<void> {
  const seed = wholeNumber(opts.seed, '--seed');
  const limit = opts.limit === undefined ? undefined : wholeNumber(opts.limit, '--limit');
  const jobs = !ctx.realFolders ? 0 : opts.jobs === undefined ? availableParallelism() : wholeNumber(opts.jobs, '--jobs');
  const only = opts.step?.map((s) => stepArg(s, ctx.steps, '--step').manifest.step);
  let operators: Operator[] | undefined;
  if (opts.operators !== undefined) {
    operators = opts.operators.split(',').map((o) => o.trim()).filter((o) => o !== '') as Operator[];
    const bad = operators.find((o) => !(OPERATORS as readonly string[]).includes(o));
    if (bad !== undefined || operators.length === 0) throw new InputError(`--operators: unknown operator "${bad ?? ''}" (operators are ${OPERATORS.join(', ')})`);
  }
  // loaded here: mutate needs the TypeScript parser, which every other command can do without
  const { formatMutateText, runMutate } = await import('../../harness/mutate.ts');
  const p = progress('mutate', 'mutants');
  const explore = opts.explore === undefined ? undefined : wholeNumber(opts.explore, '--explore');
  if (explore !== undefined && (explore < 1 || explore > 4)) throw new InputError(`--explore must be from 1 to 4, got ${explore}`);
  const report = await runMutate({ steps: ctx.steps, traces: loadCorpus(), seed, ...(only ? { only } : {}), ...(operators ? { operators } : {}), ...(limit !== undefined ? { limit } : {}), ...(opts.mutant ? { ids: opts.mutant } : {}), ...(explore !== undefined ? { explore } : {}), jobs, onMutant: (d, t) => p.tick(d, t) });
  p.end();
  ctx.out(opts.json ? toJson(report) + '\n' : formatMutateText(report));
  ctx.setExit(report.total.masked > 0 ? 1 : 0);
}

interface BisectOpts {
  layer?: string;
  json?: boolean;
  exitCode?: boolean;
  step?: string;
  kernel?: string;
}

async function bisectCommand(ctx: CliContext, traceArg: string, opts: BisectOpts): Promise<void> {
  const layer = parseLayer(opts.layer);
  const trace = resolveTrace(traceArg);
  if (opts.exitCode) {
    if (opts.kernel !== undefined) {
      const code = await kernelBisectExitCode({
        kernelPath: opts.kernel,
        steps: ctx.steps,
        behavesLikeBase: (n) => behavesLikeBase(trace, ctx.steps, n, layer),
      }).catch((e: unknown) => {
        if (e instanceof Error && /is not registered/.test(e.message)) return 125 as const;
        throw e;
      });
      ctx.out(code === 125 ? 'HEAD maps to no registered step: skip\n' : code === 0 ? `behaves like step 0 on ${trace.name}\n` : `differs from step 0 on ${trace.name}\n`);
      ctx.setExit(code);
      return;
    }
    if (opts.step === undefined) throw new InputError('--exit-code needs --step N (or --kernel PATH)');
    const code = bisectExitCode(trace, ctx.steps, opts.step, layer);
    ctx.out(code === 125 ? `${opts.step} is not a step: skip\n` : `step ${opts.step} ${code === 0 ? 'behaves like' : 'differs from'} step 0 on ${trace.name} (${layerName(layer)})\n`);
    ctx.setExit(code);
    return;
  }
  if (opts.step !== undefined || opts.kernel !== undefined) throw new InputError('--step and --kernel go with --exit-code');
  const changes = bisectTrace(trace, ctx.steps, layer);
  if (opts.json) {
    ctx.out(toJson(changes) + '\n');
    return;
  }
  const style = stdoutStyle(false);
  const out: string[] = [];
  if (changes.length === 0) out.push(`no step changes the observation of ${trace.name} (${layerName(layer)})`);
  else out.push(`${trace.name} (${layerName(layer)}): ${changes.length} step${changes.length === 1 ? ' changes' : 's change'} the observation`);
  for (const c of changes) {
    out.push('');
    const why = c.verdict === 'intended' ? `intended (${c.intents.join(', ')})` : paint('unexpected', 'red', style) + (c.intents.length > 0 ? ` (partly explained by ${c.intents.join(', ')})` : '');
    out.push(`step ${pad2(c.step)} (vs ${pad2(c.base)}) ${c.subject}`);
    out.push(`  ${why}`);
    for (const d of c.differences) out.push('    ' + formatDifference(d, style));
  }
  ctx.out(out.join('\n') + '\n');
}

function writeHtml(file: string, html: string): void {
  try {
    writeFileSync(file, html);
  } catch (e) {
    throw new InputError(`--html ${file}: cannot write the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function matrixCommand(ctx: CliContext, opts: { json?: boolean; changes?: boolean; html?: string }): void {
  const m = buildMatrix(ctx.steps);
  if (opts.html !== undefined) writeHtml(opts.html, matrixHtml(m));
  const style = stdoutStyle(false);
  if (opts.changes) {
    const changes = matrixChanges(m);
    ctx.out(opts.json ? toJson({ steps: m.steps, changes }) + '\n' : formatChangesText(m, changes, style));
    return;
  }
  ctx.out(opts.json ? toJson(m) + '\n' : formatMatrixText(m, style));
}

export function registerHarnessCommands(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('replay the corpus (or the given traces) on every step; verdict per trace and step, intent coverage')
    .argument('[traces...]', 'trace names or files (default: the built-in corpus)')
    .option('--from <n>', 'first step to check (each step is compared with the one before it)')
    .option('--to <m>', 'last step to check')
    .option('--json', 'print one JSON object: steps, results, coverage')
    .option('--junit <file>', 'also write JUnit XML to FILE (one testcase per trace x step)')
    .option('--text', 'plain text without colour, at most 80 columns')
    .option('--jobs <n>', 'threads in all, main included (default 1: in-process, the fastest here)')
    .option('--coverage', 'count intent coverage over the given traces too (always counted over the built-in corpus)')
    .option('--mail', 'print a mail-ready report: what was tested, each unexpected change with its step, first divergence, inline trace and Fixes: line')
    .option('--kernel <path>', 'with --mail: the kernel git tree tested (its HEAD goes in the mail)')
    .option('--html <file>', 'also write the verdict grid as one self-contained HTML page (each cell links to its differences)')
    .option('--ktap', 'print KTAP version 1 (a subtest per trace, a result per step; intended: # XFAIL; a coverage gap: # ERROR)')
    .option('--full', 'list every difference of a failing case, explained ones too (default: the unexplained ones, at most 8)')
    .action(async (traceArgs: string[], opts: CheckOpts) => {
      await doCheck(ctx, traceArgs, opts);
      await flushStdout();
    });

  program
    .command('schema')
    .description(`a published JSON Schema (draft 2020-12): ${Object.keys(SCHEMAS).join(' or ')}`)
    .argument('<name>', Object.keys(SCHEMAS).join(' | '))
    .action((name: string) => {
      const make = SCHEMAS[name];
      if (!make) throw new InputError(`schema: "${name}" is not one of ${Object.keys(SCHEMAS).join(', ')}`);
      ctx.out(JSON.stringify(make(), null, 2) + '\n');
    });

  program
    .command('diff')
    .description("unified diff of two steps' observations of a trace, with the differences and the intents explaining them")
    .argument('<trace>', 'trace name or file')
    .argument('<a>', 'step A')
    .argument('<b>', 'step B')
    .option('--layer <layer>', 'functional or diagnostic (default both)')
    .option('--json', 'print one JSON object')
    .action(async (traceArg: string, aRaw: string, bRaw: string, opts: DiffOpts) => {
      diffCommand(ctx, traceArg, aRaw, bRaw, opts);
      await flushStdout();
    });

  program
    .command('bisect')
    .description("every step at which a trace's observation changes, with the differences and the explaining intent")
    .argument('<trace>', 'trace name or file')
    .option('--layer <layer>', 'functional or diagnostic (default both)')
    .option('--json', 'print one JSON array')
    .option('--exit-code', 'exit 0 when step N behaves like step 0 on the trace, 1 when not, 125 when N is not a step')
    .option('--step <n>', 'the step for --exit-code')
    .option('--kernel <path>', 'with --exit-code: map the HEAD of this kernel git tree to a step (git bisect run)')
    .action(async (traceArg: string, opts: BisectOpts) => {
      await bisectCommand(ctx, traceArg, opts);
      await flushStdout();
    });

  program
    .command('mutate')
    .description('mutation testing of the step models: killed, no change, or masked (changed but explained by an intent)')
    .option('--step <n...>', 'steps to mutate (default all)')
    .option('--seed <s>', 'seed that picks and orders the mutants', '1')
    .option('--operators <list>', `comma-separated operators (default all: ${OPERATORS.join(',')})`)
    .option('--limit <n>', 'mutants per step (default all)')
    .option('--mutant <id...>', 'only these mutants (ids as a report prints them)')
    .option('--jobs <n>', 'worker threads, each replaced after a batch of mutants (default: the cores; 0: in this thread)')
    .option('--json', 'print one JSON object')
    .option('--explore <k>', 'also explore each mutant the corpus does not see: --exhaustive K, then --interleavings (what exploration adds)')
    .action(async (opts: MutateOpts) => {
      await mutateCommand(ctx, opts);
      await flushStdout();
    });

  program
    .command('draft-intent')
    .description("the differences step N makes on the traces, grouped by trace operation, as exact rewrite patterns to start a manifest's intents from")
    .argument('<step>', 'the step (compared with the one before it)')
    .argument('[traces...]', 'trace names or files (default: the built-in corpus)')
    .action(async (stepRaw: string, traceArgs: string[]) => {
      const step = stepArg(stepRaw, ctx.steps, 'step');
      const traces = traceArgs.length > 0 ? traceArgs.map(resolveTrace) : loadCorpus();
      ctx.out(formatDraft(draftGroups(traces, ctx.steps, step.manifest.step)));
      await flushStdout();
    });

  program
    .command('matrix')
    .description('the transition table (old SPTE x new SPTE x lock x root) on every step')
    .option('--json', 'print one JSON object')
    .option('--changes', 'only the cells that change from one step to the next')
    .option('--html <file>', 'also write the matrix as one self-contained HTML page')
    .action(async (opts: { json?: boolean; changes?: boolean; html?: string }) => {
      matrixCommand(ctx, opts);
      await flushStdout();
    });
}
