// Exhaustive small scope: every trace of up to K operations over a documented alphabet,
// each replayed on every step and checked against the intents as `check` would, in the
// manner of an explicit-state model checker: breadth first (shortest traces first, then
// in lexicographic order), each trace forked from its prefix's machines instead of
// replayed, and a prefix whose machines (on every step at once) are in a state already
// seen is not extended, since what follows it was explored from the first.
import { checkReplayed, modelError, neededSteps, stepPairs, type CheckResult, type Replayed, type StepPair } from './check.ts';
import { ReplaySession } from './replay.ts';
import { parseTrace, type Trace } from './trace.ts';
import type { StepModel } from '../versions/index.ts';

/**
 * The alphabet: one vCPU of a runnable TD; private GFNs 1 and 2 (their leaves share
 * every page table), the shared page of a host-memory slot; faults, conversions both
 * ways, a hole punch, a range zap, an MMU-notifier unmap and aging, guest entry, exit and
 * ACCEPT, a BUSY injection for AUG and TRACK, and the teardown (HKID release, destroy).
 */
export const ALPHABET: readonly Record<string, unknown>[] = [
  { op: 'fault', gpa: '0x1000' },
  { op: 'fault', gpa: '0x2000' },
  { op: 'fault', gpa: '0x800010000000' },
  { op: 'convert_to_shared', gpa: '0x1000' },
  { op: 'convert_to_private', gpa: '0x1000' },
  { op: 'gmem_invalidate', gpa: '0x1000', npages: 2 },
  { op: 'zap_gfn_range', gpa: '0x1000', npages: 2 },
  { op: 'mmu_notifier_unmap', gpa: '0x10000000' },
  { op: 'age', gpa: '0x10000000' },
  { op: 'vcpu_enter' },
  { op: 'vcpu_exit' },
  { op: 'accept', gpa: '0x1000' },
  { op: 'inject_busy', seamcall: 'TDH.MEM.PAGE.AUG', count: 1 },
  { op: 'inject_busy', seamcall: 'TDH.MEM.TRACK', count: 1 },
  { op: 'release_hkid' },
  { op: 'destroy' },
];

const VM = { memslots: [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: '0x10000000', npages: 16, gmem: false }] };

/** The trace of the operation indices `seq` (one thread), named after them. */
export function exhaustiveTrace(seq: readonly number[], alphabet: readonly Record<string, unknown>[] = ALPHABET): Trace {
  return parseTrace(JSON.stringify({ name: `exhaustive-${seq.join('-')}`, vm: VM, threads: [{ name: 'vcpu0', ops: seq.map((i) => alphabet[i]) }], budget: 20_000 }), '<exhaustive>');
}

/** Every sequence of length 1..k over n symbols, shortest first, then in lexicographic order. */
export function* sequences(n: number, k: number): Generator<number[]> {
  for (let len = 1; len <= k; len++) {
    const seq = new Array<number>(len).fill(0);
    for (;;) {
      yield [...seq];
      let i = len - 1;
      while (i >= 0 && seq[i] === n - 1) seq[i--] = 0;
      if (i < 0) break;
      seq[i]!++;
    }
  }
}

export interface ExhaustiveReport {
  k: number;
  alphabet: number;
  /** Sequences of up to K operations: what an unpruned run would replay. */
  sequences: number;
  /** Traces replayed and checked. */
  traces: number;
  /** Distinct states (of all checked steps' machines together) reached by prefixes shorter than K. */
  states: number;
  /** Prefixes not extended: their state was seen before, or every step's run had ended. */
  prunedPrefixes: number;
  steps: number;
  /** Unexpected results, the shortest traces first (each trace's name says its operations). */
  unexpected: { trace: Trace; results: CheckResult[] }[];
}

/** One step's machine after a prefix, or the error its model threw. */
interface Line {
  step: StepModel;
  session: ReplaySession | null;
  error?: Replayed;
}

function advance(line: Line, op: Record<string, unknown>, index: number, name: string): Line {
  if (!line.session) return line;
  const session = line.session.fork();
  try {
    session.runOp('vcpu0', op as never, index);
    return { step: line.step, session };
  } catch (e) {
    return { step: line.step, session: null, error: modelError(name, line.step, e) };
  }
}

export function exploreExhaustive(steps: readonly StepModel[], opts: { k: number; from?: number; to?: number; onTrace?: (done: number, total: number) => void; alphabet?: readonly Record<string, unknown>[] }): ExhaustiveReport {
  const pairs: readonly StepPair[] = stepPairs(steps, opts.from, opts.to);
  const alphabet = opts.alphabet ?? ALPHABET;
  const n = alphabet.length;
  const k = opts.k;
  const unexpected: ExhaustiveReport['unexpected'] = [];
  const below = (d: number): number => Array.from({ length: k - d }, (_, i) => n ** (i + 1)).reduce((a, b) => a + b, 0);
  const total = below(0);
  const ops = alphabet.map((op) => parseTrace(JSON.stringify({ name: 'op', vm: VM, threads: [{ name: 'vcpu0', ops: [op] }] }), '<alphabet>').threads[0]!.ops[0]!);
  const vmTrace = exhaustiveTrace([0]);
  const roots: Line[] = neededSteps(pairs).map((step) => ({ step, session: ReplaySession.start(vmTrace, step) }));
  const keyOf = (lines: readonly Line[]): string | null => {
    const keys: string[] = [];
    for (const l of lines) {
      if (!l.session) keys.push('error');
      else {
        const key = l.session.stateKey();
        if (key === null) return null;
        keys.push(key);
      }
    }
    return keys.join(',');
  };
  const seen = new Set<string>([keyOf(roots) ?? '']);
  let frontier: number[][] = [[]];
  let traces = 0;
  let pruned = 0;
  let skipped = 0;
  for (let d = 1; d <= k; d++) {
    const next: number[][] = [];
    for (const prefix of frontier) {
      let lines = roots;
      prefix.forEach((a, i) => (lines = lines.map((l) => advance(l, ops[a]!, i, ''))));
      for (let a = 0; a < n; a++) {
        const seq = [...prefix, a];
        const trace = exhaustiveTrace(seq, alphabet);
        const child = lines.map((l) => advance(l, ops[a]!, d - 1, trace.name));
        const byStep = new Map(child.map((l) => [l.step.manifest.step, l]));
        traces++;
        const results = checkReplayed(trace.name, steps, pairs, (s) => {
          const l = byStep.get(s.manifest.step)!;
          return l.session ? { obs: l.session.observe(trace) } : { ...l.error!, obs: { ...l.error!.obs, trace: trace.name } };
        });
        const bad = results.filter((r) => r.verdict === 'unexpected');
        if (bad.length > 0) unexpected.push({ trace, results: bad });
        if (d < k) {
          const key = child.every((l) => !l.session || l.session.ended) ? 'ended' : keyOf(child);
          if (key !== null && (key === 'ended' || seen.has(key))) {
            pruned++;
            skipped += below(d);
          } else {
            if (key !== null) seen.add(key);
            next.push(seq);
          }
        }
        opts.onTrace?.(traces + skipped, total);
      }
    }
    frontier = next;
  }
  return { k, alphabet: n, sequences: total, traces, states: seen.size, prunedPrefixes: pruned, steps: pairs.length, unexpected };
}
