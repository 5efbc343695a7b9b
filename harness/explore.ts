// Exploration beyond the corpus: seeded random traces (fast-check generates and shrinks
// them) and random interleavings of a given trace's threads. A counterexample is a trace
// on which some step differs from the step before it in a way its intents do not
// explain; it is shrunk to a minimal one and printed as a replayable trace file.
import fc from 'fast-check';
import type { StepModel } from '../versions/index.ts';
import { checkTrace, stepPairs, type CheckResult } from './check.ts';
import { parseTrace, type Trace } from './trace.ts';

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
      if (teardown) ts.push({ name: 'teardown', ops: [{ op: 'gmem_invalidate', gpa: '0x0', npages: 4096 }, { op: 'release_hkid' }, { op: 'destroy' }] });
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

export interface Counterexample {
  seed: number;
  trace: Trace;
  /** The trace as JSON a user can save and replay. */
  json: string;
  unexpected: CheckResult[];
}

function unexpectedOf(trace: Trace, steps: readonly StepModel[], from?: number, to?: number): CheckResult[] {
  return checkTrace(trace, steps, stepPairs(steps, from, to)).filter((r) => r.verdict === 'unexpected');
}

function toJson(t: Trace): string {
  return JSON.stringify(t, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v), 2) + '\n';
}

/** Random traces against the series; the first failure, shrunk, or null. */
export function exploreRandom(steps: readonly StepModel[], opts: { seed: number; runs: number; from?: number; to?: number }): Counterexample | null {
  const details = fc.check(
    fc.property(traceArb(), (t) => unexpectedOf(t, steps, opts.from, opts.to).length === 0),
    { seed: opts.seed, numRuns: opts.runs, endOnFailure: false },
  );
  if (!details.failed || !details.counterexample) return null;
  const trace = details.counterexample[0];
  return { seed: opts.seed, trace, json: toJson(trace), unexpected: unexpectedOf(trace, steps, opts.from, opts.to) };
}

/** Random pinned schedules for a trace with several threads; the first that breaks an intent, shrunk. */
export function exploreInterleavings(trace: Trace, steps: readonly StepModel[], opts: { seed: number; runs: number; from?: number; to?: number }): Counterexample | null {
  if (trace.threads.length < 2) return null;
  const schedArb = fc.array(fc.integer({ min: 0, max: trace.threads.length - 1 }), { minLength: 1, maxLength: 200 });
  const withSchedule = (schedule: number[]): Trace => ({ ...trace, schedule });
  const details = fc.check(
    fc.property(schedArb, (s) => unexpectedOf(withSchedule(s), steps, opts.from, opts.to).length === 0),
    { seed: opts.seed, numRuns: opts.runs },
  );
  if (!details.failed || !details.counterexample) return null;
  const t = withSchedule(details.counterexample[0]);
  return { seed: opts.seed, trace: t, json: toJson(t), unexpected: unexpectedOf(t, steps, opts.from, opts.to) };
}
