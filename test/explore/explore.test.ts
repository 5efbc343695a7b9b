// explore: seeded, deterministic, and it finds (and shrinks) a behaviour change no intent explains.
import { describe, expect, it } from 'vitest';
import { STEPS, type StepModel } from '../../versions/index.ts';
import { exploreInterleavings, exploreRandom } from '../../harness/explore.ts';
import { ALPHABET, exploreExhaustive, sequences } from '../../harness/exhaustive.ts';
import { parseTrace, resolveTrace } from '../../harness/trace.ts';
import { makeBroken } from '../broken/broken.ts';
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
    // named after seed and run (two can be checked together), with the command that finds it again
    expect(found!.trace.name).toBe(`explored-s7-r${found!.found.run}`);
    expect(found!.trace.description).toMatch(/^found by `tdx-difftest explore --seed 7 --runs 200` \(run \d+, fast-check path [\d:]+, shrunk \d+ times\)$/);
    expect(parseTrace(found!.json, 'explored').name).toBe(found!.trace.name);
  });

  it('is deterministic for a seed', () => {
    const a = exploreRandom([base, broken], { seed: 11, runs: 50 });
    const b = exploreRandom([base, broken], { seed: 11, runs: 50 });
    expect(a?.json).toBe(b?.json);
  });

  it('reports nothing when the steps agree', () => {
    expect(exploreRandom([base, { ...base, manifest: { ...base.manifest, step: 1 } }], { seed: 3, runs: 20 })).toBeNull();
  });

  it('finds no race in the real base model on the concurrent-fault trace', () => {
    expect(exploreInterleavings(resolveTrace('concurrent-faults-same-gfn'), [base], { seed: 5, runs: 30 })).toBeNull();
  });

  it('finds no race in a private fault racing a conversion, a hole punch or a memslot deletion (the staleness protocol)', () => {
    const ends = [STEPS[0]!, STEPS[STEPS.length - 1]!];
    for (const name of ['fault-races-conversion', 'fault-during-conversion', 'fault-races-hole-punch', 'fault-races-memslot-delete']) {
      expect(exploreInterleavings(resolveTrace(name), ends, { seed: 1, runs: 60 }), name).toBeNull();
    }
  });

  it('lets a thread blocked behind a spinning one re-check its lock (no false livelock)', () => {
    // seed 3 once drove a vCPU to spin on a stale fault while the queued reader that
    // blocked the invalidation's end was never re-checked
    expect(exploreInterleavings(resolveTrace('zap-private-vcpu-in-guest'), [STEPS[0]!], { seed: 3, runs: 150 })).toBeNull();
  });

  it('finds the race of a model that calls the S-EPT hook without freezing the mirror SPTE', async () => {
    const dropFreeze = await makeBroken({
      name: 'explore-drop-freeze',
      step: 0,
      file: 'tdp_mmu.ts',
      find: /\n[ \t]*if \(!\(yield\* try_cmpxchg64\(sptep, old_spte, FROZEN_SPTE\)\)\) return -EBUSY;\n/,
      replace: '\n',
      why: 'no freeze before the hook',
    });
    const race = exploreInterleavings(resolveTrace('concurrent-faults-same-gfn'), [dropFreeze], { seed: 5, runs: 100 });
    expect(race).not.toBeNull();
    expect(race!.trace.schedule!.length).toBeGreaterThan(0);
    expect(race!.findings.map((f) => f.what)).toContain('vm-bugged');
    // the same schedule replays to the same finding
    const again = exploreInterleavings(race!.trace, [dropFreeze], { seed: 5, runs: 100 })!;
    expect(again.findings).toEqual(race!.findings);
    expect(again.trace.schedule).toEqual(race!.trace.schedule);
    // the written trace says how it was found and how to find it again, with hex GPAs
    expect(race!.trace.name).toBe(`concurrent-faults-same-gfn-race-s5-r${race!.found.run}`);
    expect(race!.trace.description).toContain('tdx-difftest explore --interleave concurrent-faults-same-gfn --seed 5 --runs 100');
    expect(race!.json).toContain('"gpa": "0x1000"');
    expect(race!.found.path).toMatch(/^\d+(:\d+)*$/);
  });
});

describe('explore --exhaustive', () => {
  it('enumerates every sequence up to K, shortest first, in a fixed order', () => {
    const all = [...sequences(3, 2)].map((x) => x.join(''));
    expect(all).toEqual(['0', '1', '2', '00', '01', '02', '10', '11', '12', '20', '21', '22']);
  });

  it('finds the shortest trace a broken step changes unexplained, the same every time', async () => {
    const a = await exploreExhaustive([base, broken], { k: 2 });
    expect(a.sequences).toBe(ALPHABET.length + ALPHABET.length ** 2);
    // pruned: a prefix whose state was seen (or whose runs all ended) is not extended
    expect(a.traces).toBeLessThan(a.sequences);
    expect(a.traces).toBe(ALPHABET.length + a.states * ALPHABET.length);
    expect(a.unexpected.length).toBeGreaterThan(0);
    // the single hole punch is the shortest witness
    const gi = ALPHABET.findIndex((o) => o.op === 'gmem_invalidate');
    expect(a.unexpected[0]!.trace.name).toBe(`exhaustive-${gi}`);
    expect(a.unexpected.every((u) => u.trace.threads[0]!.ops.some((o) => o.op === 'gmem_invalidate'))).toBe(true);
    const b = await exploreExhaustive([base, broken], { k: 2 });
    expect(b.unexpected.map((u) => u.trace.name)).toEqual(a.unexpected.map((u) => u.trace.name));
  });

  it('finds nothing unexpected on the real steps 08..10 for K = 1', async () => {
    expect((await exploreExhaustive(STEPS, { k: 1, from: 8, to: 10 })).unexpected).toEqual([]);
  });
});
