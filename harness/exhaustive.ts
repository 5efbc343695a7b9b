// Exhaustive small scope: every trace of up to K operations over a documented alphabet,
// each replayed on every step and checked against the intents as `check` would, in a
// fixed order, so that the same K gives the same report. (First form: no state-hash
// pruning yet, so every trace is replayed from scratch; see README.)
import { checkTrace, stepPairs, type CheckResult } from './check.ts';
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
export function exhaustiveTrace(seq: readonly number[]): Trace {
  return parseTrace(JSON.stringify({ name: `exhaustive-${seq.join('-')}`, vm: VM, threads: [{ name: 'vcpu0', ops: seq.map((i) => ALPHABET[i]) }], budget: 20_000 }), '<exhaustive>');
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
  traces: number;
  steps: number;
  /** Unexpected results, the shortest traces first (each trace's name says its operations). */
  unexpected: { trace: Trace; results: CheckResult[] }[];
}

export function exploreExhaustive(steps: readonly StepModel[], opts: { k: number; from?: number; to?: number; onTrace?: () => void; alphabet?: readonly Record<string, unknown>[] }): ExhaustiveReport {
  const pairs = stepPairs(steps, opts.from, opts.to);
  const n = (opts.alphabet ?? ALPHABET).length;
  const unexpected: ExhaustiveReport['unexpected'] = [];
  let traces = 0;
  for (const seq of sequences(n, opts.k)) {
    const trace = exhaustiveTrace(seq);
    traces++;
    const bad = checkTrace(trace, steps, pairs).filter((r) => r.verdict === 'unexpected');
    if (bad.length > 0) unexpected.push({ trace, results: bad });
    opts.onTrace?.();
  }
  return { k: opts.k, alphabet: n, traces, steps: pairs.length, unexpected };
}
