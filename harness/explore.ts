// Exploration beyond the corpus: seeded random traces (fast-check generates and shrinks
// them) and random interleavings of a given trace's threads. A counterexample is a trace
// on which some step differs from the step before it in a way its intents do not
// explain; it is shrunk to a minimal one and printed as a replayable trace file.
import fc from 'fast-check';
import type { StepModel } from '../versions/index.ts';
import { checkTrace, stepPairs, type CheckResult } from './check.ts';
import type { Observation } from './observation.ts';
import { replay } from './replay.ts';
import { parseTrace, type Trace, traceFileJson } from './trace.ts';

const SHARED = 0x800000000000;
/** A small address space so that random operations meet each other. */
const PRIVATE_GPAS = [0x1000, 0x2000, 0x200000];
const SHARED_GPAS = [0x10000000, 0x10001000].map((g) => g + SHARED);

const gpaHex = (g: number): string => '0x' + g.toString(16);

function opArb(vcpus: number): fc.Arbitrary<Record<string, unknown>> {
  const vcpu = fc.integer({ min: 0, max: vcpus - 1 });
  const priv = fc.constantFrom(...PRIVATE_GPAS).map(gpaHex);
  const any = fc.constantFrom(...PRIVATE_GPAS, ...SHARED_GPAS).map(gpaHex);
  const range = fc.record({ gpa: priv, npages: fc.constantFrom(1, 2, 512) });
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('fault'), vcpu, gpa: any }) },
    { weight: 2, arbitrary: range.map((r) => ({ op: 'gmem_invalidate', ...r })) },
    { weight: 1, arbitrary: range.map((r) => ({ op: 'convert_to_shared', ...r })) },
    { weight: 1, arbitrary: range.map((r) => ({ op: 'convert_to_private', ...r })) },
    { weight: 1, arbitrary: range.map((r) => ({ op: 'zap_gfn_range', ...r })) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('mmu_notifier_unmap'), gpa: fc.constantFrom(...SHARED_GPAS.map((g) => g - SHARED)).map(gpaHex), npages: fc.constant(1) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('age'), gpa: fc.constant(gpaHex(0x10000000)), npages: fc.constant(2) }) },
    { weight: 1, arbitrary: fc.constant({ op: 'fast_zap' }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('vcpu_enter'), vcpu }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('vcpu_exit'), vcpu }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('accept'), vcpu, gpa: priv }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('inject_busy'),
        seamcall: fc.constantFrom('TDH.MEM.PAGE.AUG', 'TDH.MEM.SEPT.ADD', 'TDH.MEM.RANGE.BLOCK', 'TDH.MEM.PAGE.REMOVE', 'TDH.MEM.TRACK'),
        count: fc.constantFrom(1, 2),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'memslot_delete', slot: 0 }) },
  );
}

/** Random well-formed traces: a runnable TD, 1–2 vCPUs, 1–3 threads, optionally a teardown at the end. */
export function traceArb(): fc.Arbitrary<Trace> {
  return fc.integer({ min: 1, max: 2 }).chain((vcpus) =>
    fc.record({
      threads: fc.array(fc.array(opArb(vcpus), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
      teardown: fc.boolean(),
    }).map(({ threads, teardown }) => {
      const ts = threads.map((ops, i) => ({ name: `t${i}`, ops }));
      if (teardown) ts.push({ name: 'teardown', ops: [{ op: 'gmem_release' }, { op: 'release_hkid' }, { op: 'destroy' }] });
      const json = {
        name: 'explored',
        vm: { vcpus, memslots: [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: '0x10000000', npages: 16, gmem: false }] },
        threads: ts,
        budget: 20_000,
      };
      return parseTrace(JSON.stringify(json), '<generated>');
    }),
  );
}

/** How fast-check found and shrank a counterexample, and how to get it again. */
export interface FoundBy {
  /** The failing run (1-based) before shrinking. */
  run: number;
  /** fast-check's replay path (its `path` option). */
  path: string;
  shrinks: number;
  /** The command line that finds it again. */
  command: string;
}

export interface Counterexample {
  seed: number;
  trace: Trace;
  /** The trace as JSON a user can save and replay. */
  json: string;
  unexpected: CheckResult[];
  found: FoundBy;
}

function rangeArgs(opts: { from?: number; to?: number }): string {
  return `${opts.from !== undefined ? ` --from ${opts.from}` : ''}${opts.to !== undefined ? ` --to ${opts.to}` : ''}`;
}

function foundBy(details: { numRuns: number; counterexamplePath: string | null; numShrinks: number }, command: string, run = details.numRuns): FoundBy {
  return { run, path: details.counterexamplePath ?? '', shrinks: details.numShrinks, command };
}

function unexpectedOf(trace: Trace, steps: readonly StepModel[], from?: number, to?: number): CheckResult[] {
  return checkTrace(trace, steps, stepPairs(steps, from, to)).filter((r) => r.verdict === 'unexpected');
}

const toJson = traceFileJson;

export interface RandomOptions {
  seed: number;
  runs: number;
  from?: number;
  to?: number;
  /** Called for each trace tried, shrinking included (progress). */
  onRun?: () => void;
}

function randomProperty(steps: readonly StepModel[], opts: RandomOptions) {
  return fc.property(traceArb(), (t) => {
    opts.onRun?.();
    return unexpectedOf(t, steps, opts.from, opts.to).length === 0;
  });
}

/** The counterexample of fast-check's details of a failure first seen at run `run` (1-based). */
function randomCounterexample(steps: readonly StepModel[], opts: RandomOptions, details: fc.RunDetails<[Trace]>, run: number): Counterexample | null {
  if (!details.failed || !details.counterexample) return null;
  const found = foundBy(details, `tdx-difftest explore --seed ${opts.seed} --runs ${opts.runs}${rangeArgs(opts)}`, run);
  // named after how it was found, so that two of them can be checked together
  const trace: Trace = {
    ...details.counterexample[0],
    name: `explored-s${opts.seed}-r${found.run}`,
    description: `found by \`${found.command}\` (run ${found.run}, fast-check path ${found.path}, shrunk ${found.shrinks} times)`,
  };
  return { seed: opts.seed, trace, json: toJson(trace), unexpected: unexpectedOf(trace, steps, opts.from, opts.to), found };
}

/** Random traces against the series; the first failure, shrunk, or null. */
export function exploreRandom(steps: readonly StepModel[], opts: RandomOptions): Counterexample | null {
  const details = fc.check(randomProperty(steps, opts), { seed: opts.seed, numRuns: opts.runs, endOnFailure: false });
  return randomCounterexample(steps, opts, details, details.numRuns);
}

/**
 * The traces exploreRandom tries as runs `start` … `start + count - 1` (0-based), made
 * without making the ones before (fast-check's sample from a path), so that threads can
 * each make and check their own.
 */
export function randomTraces(seed: number, start: number, count: number): Trace[] {
  return fc.sample(traceArb(), { seed, numRuns: count, ...(start > 0 ? { path: String(start) } : {}) });
}

/** The index of the first of `traces` with an unexpected verdict, or -1. */
export function firstUnexpected(traces: readonly Trace[], steps: readonly StepModel[], from?: number, to?: number): number {
  return traces.findIndex((t) => unexpectedOf(t, steps, from, to).length > 0);
}

/**
 * What exploreRandom returns when run `index` (0-based) is its first failure: that run
 * again, shrunk as exploreRandom shrinks it (fast-check's replay path).
 */
export function counterexampleAt(steps: readonly StepModel[], opts: RandomOptions, index: number): Counterexample | null {
  const details = fc.check(randomProperty(steps, opts), { seed: opts.seed, numRuns: opts.runs, endOnFailure: false, path: String(index) });
  return randomCounterexample(steps, opts, details, index + 1);
}

/** What a schedule broke on one step that the unscheduled run of the same step does not show. */
export interface RaceFinding {
  step: number;
  /** 'invariant', 'crash', 'livelock', 'deadlock', 'model-error' or 'vm-bugged'. */
  what: string;
  detail: string;
}

export interface RaceCounterexample {
  seed: number;
  trace: Trace;
  json: string;
  findings: RaceFinding[];
  found: FoundBy;
}

const FAILURE_KINDS = new Set(['invariant', 'crash', 'livelock', 'deadlock', 'model-error']);

function failures(o: Observation): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of o.events) {
    if (!FAILURE_KINDS.has(e.kind)) continue;
    const { thread: _t, page: _p, ...rest } = e;
    out.set(JSON.stringify(rest), e.kind);
  }
  if (o.final.vm.bugged) out.set('vm-bugged', 'vm-bugged');
  return out;
}

/**
 * Random pinned schedules for a trace with several threads, looking for races: a
 * schedule under which some step ends in an invariant violation, a BUG(), a livelock,
 * a deadlock or a bugged VM that the step's unscheduled run does not. (A schedule
 * counts yield points, and the steps differ in where theirs are, so the same schedule
 * is a different interleaving on each step: each step is judged against itself.)
 */
export function exploreInterleavings(trace: Trace, steps: readonly StepModel[], opts: { seed: number; runs: number; from?: number; to?: number; onRun?: () => void }): RaceCounterexample | null {
  if (trace.threads.length < 2) return null;
  const lo = opts.from ?? 0;
  const hi = opts.to ?? steps.length - 1;
  const inRange = steps.filter((s) => s.manifest.step >= lo && s.manifest.step <= hi);
  const { schedule: _pinned, ...unpinned } = trace;
  const base = new Map(inRange.map((s) => [s.manifest.step, failures(replay(unpinned as Trace, s))]));
  const findingsOf = (schedule: number[]): RaceFinding[] => {
    const out: RaceFinding[] = [];
    for (const s of inRange) {
      const known = base.get(s.manifest.step)!;
      for (const [key, what] of failures(replay({ ...trace, schedule }, s))) if (!known.has(key)) out.push({ step: s.manifest.step, what, detail: key });
    }
    return out;
  };
  const schedArb = fc.array(fc.integer({ min: 0, max: trace.threads.length - 1 }), { minLength: 1, maxLength: 200 });
  const details = fc.check(fc.property(schedArb, (sch) => {
    opts.onRun?.();
    return findingsOf(sch).length === 0;
  }), { seed: opts.seed, numRuns: opts.runs });
  if (!details.failed || !details.counterexample) return null;
  const schedule = details.counterexample[0];
  const found = foundBy(details, `tdx-difftest explore --interleave ${trace.name} --seed ${opts.seed} --runs ${opts.runs}${rangeArgs(opts)}`);
  const t: Trace = {
    ...trace,
    name: `${trace.name}-race-s${opts.seed}-r${found.run}`,
    description: `${trace.description} Race found by \`${found.command}\` (run ${found.run}, fast-check path ${found.path}, shrunk ${found.shrinks} times).`.trim(),
    schedule,
  };
  return { seed: opts.seed, trace: t, json: toJson(t), findings: findingsOf(schedule), found };
}
