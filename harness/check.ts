// The main job: every trace × every step in range, each step compared with the step
// before it, each comparison classified against the step's intents; then intent
// coverage over all results.
import { InputError } from '../src/cli/errors.ts';
import type { StepModel } from '../versions/index.ts';
import { compare, type LayerChoice } from './compare.ts';
import { explainRange, explainThrough, intentCoverage, intentsBetween, coverageGaps, type CoverageEntry, type ExplainedDifference, type Verdict } from './intents.ts';
import { emptyFinal, type Observation } from './observation.ts';
import { replay } from './replay.ts';
import type { Trace } from './trace.ts';

export interface StepRef {
  step: number;
  /** The step folder's slug (vNN-<slug>): stable across rewordings of the subject. */
  slug: string;
  subject: string;
  commit: string | null;
}

/** One trace on one step, compared with the step before it. */
export interface CheckResult {
  trace: string;
  step: number;
  /** The step it is compared with (the previous step in the registry). */
  base: number;
  verdict: Verdict;
  /** Ids of the intents that explain at least one difference. */
  intents: string[];
  /** Every difference, each with the intents explaining it (empty list: unexpected). */
  differences: ExplainedDifference[];
  /** Invariant violations in this step's observation (also listed among the differences when new). */
  invariants: number;
  /** jsdiff gave up on a minimal diff for this pair (see compare.ts). */
  approximate?: boolean;
  /** The replay of this step threw (a model bug): the message. */
  error?: string;
  /** Intents of this step whose witness this trace is, but whose change did not happen here. */
  missing?: string[];
  /**
   * Injected SEAMCALL answers in this step's observation that the real module cannot
   * give (outside its contract): the kernel was facing an impossible answer.
   */
  outsideContract?: string[];
  /** Where an unexpected result first diverges: the operation, and every operation's results on both steps. */
  firstDivergence?: FirstDivergence;
  /** This step only undoes the unexpected change of the step before (said once, there). */
  undoes?: number;
}

/** The operation the first unexplained difference belongs to, and the operations around it. */
export interface FirstDivergence {
  thread: string;
  op: string;
  /** Every operation of the trace in the order it returned, with its result on both steps. */
  ops: { thread: string; op: string; base: string; step: string }[];
}

export interface CheckReport {
  /** The steps checked (the matrix columns), each compared with its predecessor. */
  steps: StepRef[];
  from: number;
  to: number;
  traces: string[];
  results: CheckResult[];
  /**
   * Whether intent coverage was counted (over the whole corpus, or when asked): over a
   * few traces of one's own most intents have no witness, which says nothing.
   */
  coverageCounted: boolean;
  coverage: CoverageEntry[];
  gaps: CoverageEntry[];
  counts: Record<Verdict, number>;
  /** 0: nothing unexpected and every intent in range witnessed; 1 otherwise. */
  exitCode: 0 | 1;
}

/** A step to check and the step it is compared with. */
export interface StepPair {
  base: StepModel;
  step: StepModel;
}

export function stepRef(s: StepModel): StepRef {
  return { step: s.manifest.step, slug: s.manifest.slug, subject: s.manifest.subject, commit: s.manifest.commit };
}

function sortedSteps(steps: readonly StepModel[]): StepModel[] {
  return [...steps].sort((a, b) => a.manifest.step - b.manifest.step);
}

function parseBound(raw: string | number | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  if (!/^\d+$/.test(text)) throw new InputError(`${name} must be a whole number, got "${raw}"`);
  return Number(text);
}

/**
 * The steps numbered from..to that have a predecessor, each paired with it. Step 0
 * is the base and is never a column itself (`--from 0` means "from the first step").
 * Throws InputError for a malformed bound, a step that does not exist, or an empty
 * range.
 */
export function stepPairs(steps: readonly StepModel[], fromRaw?: string | number, toRaw?: string | number): StepPair[] {
  const sorted = sortedSteps(steps);
  if (sorted.length === 0) throw new InputError('no steps are registered');
  const first = sorted[0]!.manifest.step;
  const last = sorted[sorted.length - 1]!.manifest.step;
  const from = parseBound(fromRaw, '--from');
  const to = parseBound(toRaw, '--to');
  for (const [v, name] of [[from, '--from'], [to, '--to']] as const) {
    if (v !== undefined && v > last) throw new InputError(`${name} ${v}: no such step (steps are ${first} to ${last})`);
  }
  const lo = Math.max(from ?? first + 1, first + 1);
  const hi = to ?? last;
  const pairs: StepPair[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const n = sorted[i]!.manifest.step;
    if (n >= lo && n <= hi) pairs.push({ base: sorted[i - 1]!, step: sorted[i]! });
  }
  if (pairs.length === 0) {
    if (sorted.length === 1) throw new InputError(`empty step range: only step ${first} exists, there is nothing to compare it with`);
    throw new InputError(`empty step range: no step from ${from ?? lo} to ${hi} (steps are ${first} to ${last}; each is compared with the one before)`);
  }
  return pairs;
}


/**
 * replay(), but a model that throws outside the scheduler (a bug in the model, not a
 * behaviour) yields an observation with one 'model-error' event instead of stopping
 * the whole check.
 */
export function safeReplay(trace: Trace, step: StepModel): Replayed {
  const t0 = performance.now();
  let r: Replayed;
  try {
    r = { obs: replay(trace, step) };
  } catch (e) {
    r = modelError(trace.name, step, e);
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

/** The replay of a model that threw outside the scheduler: one 'model-error' event. */
export function modelError(trace: string, step: StepModel, e: unknown): Replayed {
  const message = e instanceof Error ? e.message : String(e);
  return {
    obs: { step: step.manifest.step, trace, events: [{ kind: 'model-error', message, thread: null }], final: emptyFinal('model-error') },
    error: message,
  };
}

/** Compares two observations of one trace and explains the result with the steps' intents. */
export function checkPair(
  steps: readonly StepModel[],
  trace: string,
  base: number,
  step: number,
  a: Observation,
  b: Observation,
  layer: LayerChoice = 'both',
): CheckResult {
  const cmp = compare(a, b, { layer });
  const ex = explainRange(steps, base, step, cmp.differences, layer);
  const r: CheckResult = {
    trace,
    step,
    base,
    verdict: ex.verdict,
    intents: ex.intents,
    differences: ex.differences,
    invariants: b.events.filter((e) => e.kind === 'invariant').length,
  };
  if (cmp.approximate) r.approximate = true;
  return r;
}

/** One replay: its observation, and the error message when the model threw. */
export interface Replayed {
  obs: Observation;
  error?: string;
  /** How long it took, wherever it ran (JUnit case times only: never part of a report's data). */
  seconds?: number;
}

const OUTSIDE = "outside the module's contract: ";

/** The SEAMCALL answers of an observation that were injected and that the real module cannot give. */
export function outsideContract(obs: Observation): string[] {
  const out = new Set<string>();
  for (const e of obs.events) {
    if (typeof e.injected === 'string' && e.injected.startsWith(OUTSIDE)) out.add(`${String(e.name)} ${String(e.status)}: ${e.injected.slice(OUTSIDE.length)}`);
  }
  return [...out];
}

/** The operations of both replays (aligned by thread and label) around the diverging one. */
function firstDivergence(e: Record<string, unknown>, a: Observation, b: Observation): FirstDivergence {
  const results = (o: Observation): Map<string, string> =>
    new Map(o.events.filter((x) => x.kind === 'result' && x.thread !== 'setup').map((x) => [`${String(x.thread)}\u0000${String(x.op)}`, String(x.value)]));
  const ra = results(a);
  const rb = results(b);
  const order: string[] = [];
  for (const k of [...ra.keys(), ...rb.keys()]) if (!order.includes(k)) order.push(k);
  return {
    thread: String(e.thread),
    op: String(e.op),
    ops: order.map((k) => {
      const [thread, op] = k.split('\u0000') as [string, string];
      return { thread, op, base: ra.get(k) ?? '(not reached)', step: rb.get(k) ?? '(not reached)' };
    }),
  };
}

/** The result of one pair from the two replays of one trace. */
export function pairResult(steps: readonly StepModel[], trace: string, p: StepPair, a: Replayed, b: Replayed): CheckResult {
  const r = checkPair(steps, trace, p.base.manifest.step, p.step.manifest.step, a.obs, b.obs);
  const impossible = outsideContract(b.obs);
  if (impossible.length > 0) r.outsideContract = impossible;
  const first = r.differences.find((d) => d.intents.length === 0 && d.event.kind !== 'final');
  if (first) r.firstDivergence = firstDivergence(first.event, a.obs, b.obs);
  if (b.error !== undefined) {
    r.error = b.error;
    r.verdict = 'unexpected';
  }
  return r;
}

/**
 * One trace over the given step pairs: each needed step replayed once, each pair
 * compared. `onReplay` is called after each replay (progress).
 */
export function checkTrace(trace: Trace, steps: readonly StepModel[], pairs: readonly StepPair[], onReplay?: () => void): CheckResult[] {
  return checkReplayed(trace.name, steps, pairs, (s) => {
    const r = safeReplay(trace, s);
    onReplay?.();
    return r;
  });
}

/** The pairs of one trace from its replays, each step's asked for once from `replayOf`. */
export function checkReplayed(trace: string, steps: readonly StepModel[], pairs: readonly StepPair[], replayOf: (s: StepModel) => Replayed): CheckResult[] {
  const cache = new Map<number, Replayed>();
  const get = (s: StepModel): Replayed => {
    let r = cache.get(s.manifest.step);
    if (!r) cache.set(s.manifest.step, (r = replayOf(s)));
    return r;
  };
  const results = pairs.map((p) => {
    const t0 = performance.now();
    const r = pairResult(steps, trace, p, get(p.base), get(p.step));
    // the time of this case: its step's replay and the comparison (for JUnit; not part of
    // the report's data, which stays the same from run to run)
    Object.defineProperty(r, 'seconds', { value: (get(p.step).seconds ?? 0) + (performance.now() - t0) / 1000, enumerable: false });
    return r;
  });
  markUndos(steps, pairs, results, (s) => cache.get(s.manifest.step));
  return results;
}

/**
 * Step N+1 only undoes step N's unexpected change when, compared with step N-1 directly,
 * it shows nothing unexpected: each operation is explained by N's intents, by N+1's, or
 * by one rewrite of each in turn through some correct step N (explainThrough). That is
 * the usual shape of one broken step in a series; the report then says so once, at
 * step N.
 */
function markUndos(steps: readonly StepModel[], pairs: readonly StepPair[], results: CheckResult[], replayOf: (s: StepModel) => Replayed | undefined): void {
  for (let i = 1; i < pairs.length; i++) {
    const [prev, cur] = [results[i - 1]!, results[i]!];
    if (pairs[i]!.base !== pairs[i - 1]!.step || prev.verdict !== 'unexpected' || cur.verdict !== 'unexpected') continue;
    if (prev.error !== undefined || cur.error !== undefined || (cur.missing?.length ?? 0) > 0) continue;
    const a = replayOf(pairs[i - 1]!.base);
    const b = replayOf(pairs[i]!.step);
    if (!a || !b || b.error !== undefined) continue;
    const across = explainThrough(steps, prev.base, prev.step, cur.step, compare(a.obs, b.obs).differences, prev.differences);
    if (across.verdict !== 'unexpected') cur.undoes = prev.step;
  }
}

/** The steps a list of pairs replays, in step order. */
export function neededSteps(pairs: readonly StepPair[]): StepModel[] {
  const byNumber = new Map<number, StepModel>();
  for (const p of pairs) {
    byNumber.set(p.base.manifest.step, p.base);
    byNumber.set(p.step.manifest.step, p.step);
  }
  return [...byNumber.values()].sort((a, b) => a.manifest.step - b.manifest.step);
}

/** Every result, from replays made elsewhere: `replays.get(step)[i]` is trace i on that step. */
export function resultsFromReplays(steps: readonly StepModel[], pairs: readonly StepPair[], traces: readonly Trace[], replays: ReadonlyMap<number, readonly Replayed[]>): CheckResult[] {
  return traces.flatMap((t, i) => checkReplayed(t.name, steps, pairs, (s) => {
    const r = replays.get(s.manifest.step)?.[i];
    if (!r) throw new Error(`no replay of ${t.name} on step ${s.manifest.step}`);
    return r;
  }));
}

/** How many replays a check of these traces over these pairs needs. */
export function replayCount(traces: number, pairs: readonly StepPair[]): number {
  return traces * neededSteps(pairs).length;
}

/** Assembles the report (coverage, counts, exit code) from per-trace results. */
export function buildReport(steps: readonly StepModel[], pairs: readonly StepPair[], traces: readonly string[], results: readonly CheckResult[], countCoverage = true): CheckReport {
  const from = pairs[0]!.step.manifest.step;
  const to = pairs[pairs.length - 1]!.step.manifest.step;
  // coverage counts the intents of every step in range, including steps a gap in the
  // registry skipped over (their intents explain the pair that spans them)
  const coverage = countCoverage ? intentCoverage(steps, pairs[0]!.base.manifest.step + 1, to, results) : [];
  const gaps = coverageGaps(coverage);
  const checked = requireWitnessed(steps, pairs, traces, results);
  const counts: Record<Verdict, number> = { same: 0, intended: 0, unexpected: 0 };
  for (const r of checked) counts[r.verdict]++;
  const order = new Map(traces.map((t, i) => [t, i]));
  const sorted = [...checked].sort((x, y) => (order.get(x.trace)! - order.get(y.trace)!) || x.step - y.step);
  return {
    steps: pairs.map((p) => stepRef(p.step)),
    from,
    to,
    traces: [...traces],
    results: sorted,
    coverageCounted: countCoverage,
    coverage,
    gaps,
    counts,
    exitCode: counts.unexpected === 0 && gaps.length === 0 ? 0 : 1,
  };
}

/**
 * Intended changes must happen: every intent of a checked step names witness traces,
 * and on each witness that is being checked the intent must explain something at its
 * step. A result where it does not becomes unexpected, with the intent in `missing`.
 */
export function requireWitnessed(steps: readonly StepModel[], pairs: readonly StepPair[], traces: readonly string[], results: readonly CheckResult[]): CheckResult[] {
  const checkedTraces = new Set(traces);
  const byKey = new Map(results.map((r) => [`${r.trace}\u0000${r.step}`, r] as const));
  const out = new Map<CheckResult, CheckResult>();
  for (const p of pairs) {
    const hi = p.step.manifest.step;
    for (const intent of intentsBetween(steps, p.base.manifest.step, hi)) {
      for (const w of intent.witnesses) {
        const r = checkedTraces.has(w) ? byKey.get(`${w}\u0000${hi}`) : undefined;
        if (!r || r.intents.includes(intent.id)) continue;
        const cur = out.get(r) ?? { ...r, missing: [...(r.missing ?? [])] };
        cur.missing!.push(intent.id);
        cur.verdict = 'unexpected';
        out.set(r, cur);
      }
    }
  }
  return results.map((r) => out.get(r) ?? r);
}

export interface CheckOptions {
  traces: readonly Trace[];
  steps: readonly StepModel[];
  from?: string | number;
  to?: string | number;
  /** Called as replays finish: (done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Count intent coverage (default true; the CLI counts it over the whole corpus or when asked). */
  coverage?: boolean;
}

/** Traces must have distinct names: results are keyed by trace name. */
export function checkDistinctNames(traces: readonly Trace[]): void {
  const seen = new Set<string>();
  for (const t of traces) {
    if (seen.has(t.name)) throw new InputError(`two traces are named "${t.name}": give each trace once`);
    seen.add(t.name);
  }
}

/** The whole check, in this process. */
export function runCheck(opts: CheckOptions): CheckReport {
  const pairs = stepPairs(opts.steps, opts.from, opts.to);
  checkDistinctNames(opts.traces);
  const total = replayCount(opts.traces.length, pairs);
  let done = 0;
  const results: CheckResult[] = [];
  for (const t of opts.traces) {
    results.push(...checkTrace(t, opts.steps, pairs, () => opts.onProgress?.(++done, total)));
  }
  return buildReport(opts.steps, pairs, opts.traces.map((t) => t.name), results, opts.coverage ?? true);
}
