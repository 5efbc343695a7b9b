// Bounded interleavings, compared as outcome sets (explore --interleavings).
//
// For a trace with several threads, every schedule that deviates at most P times from
// the deterministic scheduler's own choice (delay bounding: a deviation is running
// another thread than the one the scheduler would run next; with two threads that is
// a preemption, or a different turn after a voluntary yield), enumerated depth first
// by stateless replay, in the manner of CHESS. Each step's schedules reach a set of
// outcomes: what each thread observed, in its own order (operation results, SEAMCALL
// statuses, diagnostics, tracepoints), how the run ended, and the final state.
// Neighbouring steps are compared as sets: an outcome that appears at step N (or
// disappears) must be explained by step N's intents against some outcome of step N-1
// (of step N); otherwise it is reported with the schedule that reaches it, as a pinned
// trace. A schedule that breaks an invariant, crashes, livelocks or deadlocks a step
// whose unscheduled run does not, is a race within that step, reported as well.
import type { StepModel } from '../versions/index.ts';
import { DEADLOCKED, VOLUNTARY, type Chooser, type ThreadRun } from '../src/kernel/sched.ts';
import { BLOCKED, setPreemptible } from '../src/kernel/context.ts';
import { checkPair, neededSteps, stepPairs, type CheckResult } from './check.ts';
import type { Observation } from './observation.ts';
import { replay } from './replay.ts';
import { resolveTrace, type Trace } from './trace.ts';

/**
 * The built-in concurrent traces `explore --interleavings` runs when given none: two
 * vCPUs faulting one GFN, and two neighbouring GFNs; a private fault racing a
 * conversion, a guest_memfd hole punch, a memslot deletion; aging racing a fault; an
 * atomic zap of a shared leaf racing a fault; the teardown racing faults. (The probe
 * atomic-zap-mirror-races-fault, an atomic zap of a mirror leaf that no caller makes,
 * is run when named: its findings are in the README.)
 */
export const CONCURRENT_TRACES = [
  'concurrent-faults-same-gfn',
  'concurrent-faults-neighbour-gfns',
  'fault-races-conversion',
  'fault-races-hole-punch',
  'fault-races-memslot-delete',
  'age-races-fault',
  'atomic-zap-direct-races-fault',
  'teardown',
];

/** Default bound on deviations from the scheduler's own choice. */
export const DEFAULT_PREEMPTIONS = 2;
/** Schedules per trace and step past which a run stops and says it is incomplete. */
export const DEFAULT_MAX_SCHEDULES = 20_000;

/** One decision point of a run: the choice made, and the others the bound still allowed. */
interface Point {
  chosen: number;
  /** The scheduler's own choice here. */
  dflt: number;
  /** Threads that could have run instead (runnable, not the default). */
  others: number[];
  /** Deviations up to (not including) this point. */
  deviations: number;
}

/**
 * The chooser of one run: follows `prefix`, then the scheduler's default, recording every
 * decision. The default: the thread that ran last, unless it finished, blocked or gave
 * the CPU up (a voluntary yield: then the next runnable thread after it in an
 * operation, round robin); the lowest-numbered runnable thread otherwise.
 */
function makeChooser(prefix: readonly number[], points: Point[], reduce: boolean): Chooser {
  let deviations = 0;
  let waiting = 0;
  return (runs: readonly ThreadRun[], last: ThreadRun | null, yielded: unknown): number => {
    const runnable: number[] = [];
    runs.forEach((r, i) => !r.done && !r.blocked && runnable.push(i));
    const lastIdx = last ? runs.indexOf(last) : -1;
    const alive = runs.filter((r) => !r.done).length;
    if (alive === 1 && points.length >= prefix.length) {
      // one thread left: no choice is left to make, and its yield points cost a resume of
      // every generator on its stack; a pinned replay of the choices so far runs it the
      // same way (the schedule has run out, the one thread left goes on)
      setPreemptible(false);
      return runs.findIndex((r) => !r.done);
    }
    if (runnable.length === 0) {
      // everyone left waits: each re-checks in turn; after two rounds it is a deadlock
      const live = runs.map((r, i) => (r.done ? -1 : i)).filter((i) => i >= 0);
      if (++waiting > 2 * live.length) return DEADLOCKED;
      const pick = live.find((i) => i > lastIdx) ?? live[0]!;
      points.push({ chosen: pick, dflt: pick, others: [], deviations });
      return pick;
    }
    waiting = 0;
    if (reduce && lastIdx >= 0 && yielded === 'read' && runnable.includes(lastIdx) && holdsMmuLockForWrite(runs[lastIdx]!)) {
      // an SPTE read under the write lock is no switch point (see readsUnderWriteLockCommute)
      const chosen = points.length < prefix.length ? prefix[points.length]! : lastIdx;
      points.push({ chosen, dflt: lastIdx, others: [], deviations });
      if (chosen !== lastIdx) deviations++;
      return chosen;
    }
    let dflt: number;
    let choices = runnable;
    if (lastIdx >= 0 && runnable.includes(lastIdx) && yielded !== BLOCKED) {
      if (typeof yielded === 'string' && VOLUNTARY.has(yielded)) {
        // a retry loop gives the CPU up: the next thread in an operation gets a turn and
        // re-checks what it waits for, as the scheduler does (waiting or not)
        const inOp = runs.map((r, i) => (i !== lastIdx && !r.done && r.thread.inOp ? i : -1)).filter((i) => i >= 0);
        dflt = inOp.find((i) => i > lastIdx) ?? inOp[0] ?? lastIdx;
        choices = [...new Set([...runnable, dflt])].sort((a, b) => a - b);
      } else dflt = lastIdx;
    } else dflt = runnable[0]!;
    const i = points.length;
    const chosen = i < prefix.length ? prefix[i]! : dflt;
    points.push({ chosen, dflt, others: choices.filter((x) => x !== dflt), deviations });
    if (chosen !== dflt) deviations++;
    return chosen;
  };
}

function holdsMmuLockForWrite(r: ThreadRun): boolean {
  for (const l of r.thread.writeLocks) if ((l as { name?: string }).name === 'mmu_lock') return true;
  return false;
}

/**
 * Whether a trace's SPTE reads under the write-held mmu_lock need not be switch points:
 * no thread can then write an SPTE (every SPTE writer takes mmu_lock, except aging, the
 * aging probe and the fast page fault, which needs A/D bits off), and a read changes
 * nothing, so running another thread just before such a read or just before the
 * reader's next write, SEAMCALL or lock operation (which stay switch points) reaches
 * the same outcomes. The reduction is off for traces with a lockless SPTE writer.
 */
export function readsUnderWriteLockCommute(trace: Trace): boolean {
  return trace.vm.adEnabled && !trace.threads.some((t) => t.ops.some((o) => o.op === 'age' || o.op === 'probe_age'));
}

/** What a schedule's run came to, with each thread's events in its own order. */
export interface Outcome {
  key: string;
  obs: Observation;
  /**
   * A schedule that reaches it with the fewest deviations (the first such, in
   * enumeration order), as a pinned schedule, and that number of deviations.
   */
  schedule: number[];
  deviations: number;
}

/** The outcome of one observation: events grouped by thread (each in its own order). */
export function outcomeOf(obs: Observation, threads: readonly string[]): Observation {
  const order = new Map(['setup', ...threads].map((t, i) => [t, i]));
  const rank = (t: unknown): number => order.get(String(t)) ?? order.size;
  const events = obs.events.map((e, i) => ({ e, i })).sort((x, y) => rank(x.e.thread) - rank(y.e.thread) || x.i - y.i).map((x) => x.e);
  return { ...obs, events };
}

export interface StepOutcomes {
  step: number;
  schedules: number;
  complete: boolean;
  outcomes: Outcome[];
}

/**
 * Every schedule of `trace` on `step` with at most `bound` deviations, depth first, each
 * replayed from the start; the distinct outcomes in order of first appearance.
 */
export function stepOutcomes(trace: Trace, step: StepModel, bound: number, maxSchedules = DEFAULT_MAX_SCHEDULES, onSchedule?: () => void, reduce = true): StepOutcomes {
  const { schedule: _pinned, ...unpinned } = trace;
  const t = unpinned as Trace;
  const reduced = reduce && readsUnderWriteLockCommute(t);
  const names = t.threads.map((th) => th.name);
  const byKey = new Map<string, Outcome>();
  const stack: number[][] = [[]];
  let schedules = 0;
  while (stack.length > 0) {
    if (schedules >= maxSchedules) return { step: step.manifest.step, schedules, complete: false, outcomes: [...byKey.values()] };
    const prefix = stack.pop()!;
    const points: Point[] = [];
    const obs = outcomeOf(replay(t, step, { chooser: makeChooser(prefix, points, reduced) }), names);
    schedules++;
    onSchedule?.();
    const key = JSON.stringify([obs.events, obs.final]);
    const end = points.at(-1);
    const deviations = end ? end.deviations + (end.chosen !== end.dflt ? 1 : 0) : 0;
    const seen = byKey.get(key);
    if (!seen || deviations < seen.deviations) byKey.set(key, { key, obs, schedule: points.map((p) => p.chosen), deviations });
    // every deviation after the prefix that the bound allows, pushed so that the
    // earliest runs next (a fixed order: the same outcomes, first schedules and counts)
    for (let j = points.length - 1; j >= prefix.length; j--) {
      const p = points[j]!;
      if (p.deviations + 1 > bound) continue;
      for (let o = p.others.length - 1; o >= 0; o--) stack.push([...points.slice(0, j).map((x) => x.chosen), p.others[o]!]);
    }
  }
  return { step: step.manifest.step, schedules, complete: true, outcomes: [...byKey.values()] };
}

/** An outcome one step reaches that its neighbour's intents do not account for. */
export interface OutcomeFinding {
  trace: string;
  /** 'appears': reachable at `step`, not explained from `base`'s; 'disappears': the other way. */
  change: 'appears' | 'disappears';
  base: number;
  step: number;
  /** The step whose schedule reaches the outcome, and that schedule as a pinned trace. */
  at: number;
  pinned: Trace;
  /** The closest comparison tried (the one with fewest unexplained differences). */
  closest: CheckResult | null;
}

/** A race within one step: a schedule that fails where the step's unscheduled run does not. */
export interface RaceWithin {
  trace: string;
  step: number;
  what: string;
  pinned: Trace;
}

export interface InterleavingReport {
  bound: number;
  traces: { name: string; threads: number; steps: StepOutcomes[] }[];
  findings: OutcomeFinding[];
  races: RaceWithin[];
  complete: boolean;
}

const FAILURES = new Set(['invariant', 'crash', 'livelock', 'deadlock', 'model-error']);

function failureKeys(obs: Observation): Set<string> {
  const out = new Set<string>();
  for (const e of obs.events) {
    if (!FAILURES.has(e.kind)) continue;
    const { thread: _t, op: _o, quiescent: _q, ...rest } = e;
    out.add(JSON.stringify(rest));
  }
  return out;
}

function pinnedTrace(trace: Trace, step: number, what: string, outcome: number, schedule: number[]): Trace {
  return {
    ...trace,
    name: `${trace.name}-${what}-s${String(step).padStart(2, '0')}-o${outcome}`,
    description: `${trace.description} The schedule that reaches it on step ${step} (explore --interleavings).`.trim(),
    schedule,
  };
}

/**
 * The outcomes of `mine` that `theirs` does not have and that the intents between the
 * steps do not explain against any outcome of `theirs` (`forward`: `mine` are the later
 * step's), each with the closest comparison tried.
 */
function unexplained(steps: readonly StepModel[], trace: string, baseStep: number, step: number, mine: readonly Outcome[], theirs: readonly Outcome[], forward: boolean): { o: Outcome; closest: CheckResult | null }[] {
  const keys = new Set(theirs.map((o) => o.key));
  const out: { o: Outcome; closest: CheckResult | null }[] = [];
  for (const o of mine) {
    if (keys.has(o.key)) continue;
    let closest: CheckResult | null = null;
    let ok = false;
    for (const t of theirs) {
      const r = forward ? checkPair(steps, trace, baseStep, step, t.obs, o.obs) : checkPair(steps, trace, baseStep, step, o.obs, t.obs);
      if (r.verdict !== 'unexpected') {
        ok = true;
        break;
      }
      const n = r.differences.filter((d) => d.intents.length === 0).length;
      if (!closest || n < closest.differences.filter((d) => d.intents.length === 0).length) closest = r;
    }
    if (!ok) out.push({ o, closest });
  }
  return out;
}

export function exploreInterleavingSets(
  traces: readonly Trace[],
  steps: readonly StepModel[],
  opts: { bound?: number; from?: number; to?: number; maxSchedules?: number; onSchedule?: () => void; reduce?: boolean } = {},
): InterleavingReport {
  const bound = opts.bound ?? DEFAULT_PREEMPTIONS;
  const pairs = stepPairs(steps, opts.from, opts.to);
  const needed = neededSteps(pairs);
  const report: InterleavingReport = { bound, traces: [], findings: [], races: [], complete: true };
  for (const trace of traces) {
    if (trace.threads.length < 2) continue;
    const per = new Map<number, StepOutcomes>();
    for (const s of needed) {
      const so = stepOutcomes(trace, s, bound, opts.maxSchedules, opts.onSchedule, opts.reduce ?? true);
      per.set(s.manifest.step, so);
      report.complete &&= so.complete;
      // races within the step: failures its unscheduled run does not show
      const { schedule: _p, ...unpinned } = trace;
      const known = failureKeys(replay(unpinned as Trace, s));
      for (const o of so.outcomes) {
        const fresh = [...failureKeys(o.obs)].filter((k) => !known.has(k));
        if (fresh.length > 0) report.races.push({ trace: trace.name, step: s.manifest.step, what: fresh.join('; '), pinned: pinnedTrace(trace, s.manifest.step, 'race', so.outcomes.indexOf(o), o.schedule) });
      }
    }
    report.traces.push({ name: trace.name, threads: trace.threads.length, steps: needed.map((s) => per.get(s.manifest.step)!) });
    for (const p of pairs) {
      const [b, n] = [p.base.manifest.step, p.step.manifest.step];
      const A = per.get(b)!.outcomes;
      const B = per.get(n)!.outcomes;
      for (const { o, closest } of unexplained(steps, trace.name, b, n, B, A, true)) {
        report.findings.push({ trace: trace.name, change: 'appears', base: b, step: n, at: n, pinned: pinnedTrace(trace, n, 'appears', B.indexOf(o), o.schedule), closest });
      }
      for (const { o, closest } of unexplained(steps, trace.name, b, n, A, B, false)) {
        report.findings.push({ trace: trace.name, change: 'disappears', base: b, step: n, at: b, pinned: pinnedTrace(trace, b, 'disappears', A.indexOf(o), o.schedule), closest });
      }
    }
  }
  return report;
}

/** The built-in concurrent traces. */
export function concurrentTraces(): Trace[] {
  return CONCURRENT_TRACES.map(resolveTrace);
}
