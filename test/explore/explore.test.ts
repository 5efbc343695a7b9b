// explore: seeded, deterministic, and it finds (and shrinks) a behaviour change no intent explains.
import { describe, expect, it } from 'vitest';
import { STEPS, type StepModel } from '../../versions/index.ts';
import { exploreInterleavings, exploreRandom } from '../../harness/explore.ts';
import { resolveTrace } from '../../harness/trace.ts';
import type { Gen } from '../../src/kernel/context.ts';
import type { Kvm } from '../../src/kernel/kvm.ts';
import type { TraceOp } from '../../src/trace_types.ts';

const base = STEPS[0]!;

/** Step 0 again, as "step 1", except that guest_memfd invalidation reports another result. */
const broken: StepModel = {
  ...base,
  manifest: { ...base.manifest, step: 1, slug: 'broken', intents: [] },
  entry: {
    ...base.entry,
    *run(kvm: Kvm, op: TraceOp): Gen<string> {
      const r = yield* base.entry.run(kvm, op);
      return op.op === 'gmem_invalidate' ? '-EIO' : r;
    },
  },
};

describe('explore', () => {
  it('finds an unexplained difference and shrinks the trace', () => {
    const found = exploreRandom([base, broken], { seed: 7, runs: 200 });
    expect(found).not.toBeNull();
    const ops = found!.trace.threads.flatMap((t) => t.ops);
    expect(ops.some((o) => o.op === 'gmem_invalidate')).toBe(true);
    expect(ops.length).toBeLessThanOrEqual(4);
    expect(found!.unexpected.map((r) => r.step)).toEqual([1]);
    expect(JSON.parse(found!.json).threads.length).toBeGreaterThan(0); // replayable JSON
  });

  it('is deterministic for a seed', () => {
    const a = exploreRandom([base, broken], { seed: 11, runs: 50 });
    const b = exploreRandom([base, broken], { seed: 11, runs: 50 });
    expect(a?.json).toBe(b?.json);
  });

  it('reports nothing when the steps agree', () => {
    expect(exploreRandom([base, { ...base, manifest: { ...base.manifest, step: 1 } }], { seed: 3, runs: 20 })).toBeNull();
  });

  it('explores schedules of a multi-thread trace', () => {
    const t = resolveTrace('concurrent-faults-same-gfn');
    expect(exploreInterleavings(t, [base, { ...base, manifest: { ...base.manifest, step: 1 } }], { seed: 5, runs: 20 })).toBeNull();
    const found = exploreInterleavings(resolveTrace('zap-private-range'), [base, broken], { seed: 5, runs: 20 });
    expect(found?.trace.schedule).toBeDefined();
  });
});
