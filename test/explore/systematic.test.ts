// Systematic exploration: exhaustive small scope (sharded, on workers) and bounded
// interleavings compared as outcome sets. Each finds a deliberately broken step that the
// hand-written corpus misses (one sequential, one that needs a race) and writes a trace
// that reproduces it; on the real steps both report nothing unexpected.
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { runCheck } from '../../harness/check.ts';
import { exhaustivePart, exhaustiveTrace, exploreExhaustive, mergeExhaustive } from '../../harness/exhaustive.ts';
import { exhaustivePartOnWorkers } from '../../harness/exhaustive_pool.ts';
import { exploreRandom } from '../../harness/explore.ts';
import { exploreRandomOnWorkers } from '../../harness/random_pool.ts';
import { concurrentTraces, exploreInterleavingSets, outcomeOf, stepOutcomes } from '../../harness/interleavings.ts';
import { replay } from '../../harness/replay.ts';
import { loadCorpus, parseTrace, resolveTrace, traceFileJson } from '../../harness/trace.ts';
import { exhaustivePartSchema } from '../../harness/report_schema.ts';
import { makeBroken, withBroken } from '../broken/broken.ts';

const HOOK = 120_000;

describe('explore --exhaustive: sharding and workers', () => {
  it('shards merge into exactly the one-machine report; a missing or doubled shard is refused', async () => {
    const whole = await exhaustivePart(STEPS, { k: 2, from: 14, to: 15 });
    const parts = await Promise.all([0, 1, 2].map((index) => exhaustivePart(STEPS, { k: 2, from: 14, to: 15, shard: { index, count: 3 } })));
    for (const p of parts) expect(exhaustivePartSchema.safeParse(JSON.parse(JSON.stringify(p))).success).toBe(true);
    expect(parts.reduce((a, p) => a + p.traces, 0)).toBe(whole.traces);
    expect(JSON.stringify(mergeExhaustive(parts))).toBe(JSON.stringify(mergeExhaustive([whole])));
    expect(mergeExhaustive([parts[0]!, parts[2]!]).missingShards).toEqual([2]);
    expect(mergeExhaustive([parts[0]!, parts[2]!]).complete).toBe(false);
    expect(() => mergeExhaustive([parts[0]!, parts[0]!])).toThrow(/given twice/);
    expect(() => mergeExhaustive([whole, { ...parts[1]!, k: 3 }])).toThrow(/another run/);
  }, HOOK);

  it('two threads give byte for byte the report of one', async () => {
    const one = await exhaustivePartOnWorkers(STEPS, { k: 2, from: 8, to: 10 }, 1);
    const two = await exhaustivePartOnWorkers(STEPS, { k: 2, from: 8, to: 10 }, 2);
    expect(JSON.stringify(two)).toBe(JSON.stringify(one));
  }, HOOK);

  it('a time budget that has run out stops the run and says so', async () => {
    const r = await exploreExhaustive(STEPS, { k: 3, from: 15, to: 15, deadline: Date.now() - 1 });
    expect(r.complete).toBe(false);
    expect(r.covered).toBeLessThan(r.sequences);
  });
});

describe('a sequential bug the corpus misses', () => {
  it('is found by explore --exhaustive 2, shortest first, as a trace that check fails', async () => {
    const broken = await makeBroken({
      name: 'zap-leafs-skips-mirror-15',
      step: 15,
      file: 'tdp_mmu.ts',
      find: 'for (const root of tdp_mmu_roots_of_type(kvm, KVM_VALID_ROOTS)) flush = yield* tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);',
      replace: 'for (const root of tdp_mmu_roots_of_type(kvm, KVM_DIRECT_ROOTS)) flush = yield* tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);',
      why: 'kvm_zap_gfn_range() zaps only the direct roots: private leaves stay mapped',
    });
    const steps = withBroken(broken);
    expect(runCheck({ traces: loadCorpus(), steps, from: 15, to: 15 }).exitCode).toBe(0);
    const r = await exploreExhaustive(steps, { k: 2, from: 15, to: 15 });
    expect(r.unexpected.length).toBeGreaterThan(0);
    const first = r.unexpected[0]!.trace;
    expect(first.threads[0]!.ops.map((o) => o.op)).toEqual(['fault', 'zap_gfn_range']);
    // the written file is a trace `check` reads and fails
    const back = parseTrace(traceFileJson(first), 'written');
    expect(runCheck({ traces: [back], steps, from: 15, to: 15, coverage: false }).exitCode).toBe(1);
    expect(runCheck({ traces: [back], steps: STEPS, from: 15, to: 15, coverage: false }).exitCode).toBe(0);

    // random traces find it too, and on two threads give byte for byte the one-thread
    // result: the same first failing run (seed 3: run 18, past the first chunk), shrunk alike
    for (const seed of [1, 3]) {
      const one = exploreRandom(steps, { seed, runs: 300, from: 15, to: 15 });
      expect(one, `seed ${seed}`).not.toBeNull();
      const two = await exploreRandomOnWorkers(steps, { seed, runs: 300, from: 15, to: 15 }, 2);
      expect(two?.json).toBe(one!.json);
      expect(two?.found).toEqual(one!.found);
      if (seed === 3) expect(one!.found.run).toBeGreaterThan(16);
    }
  }, HOOK);
});

describe('explore --interleavings', () => {
  const same = resolveTrace('concurrent-faults-same-gfn');

  it('bound 0 is one schedule; the bound grows the set; the same bound gives the same outcomes', () => {
    expect(stepOutcomes(same, STEPS[0]!, 0).schedules).toBe(1);
    const one = stepOutcomes(same, STEPS[0]!, 1);
    const two = stepOutcomes(same, STEPS[0]!, 2);
    expect(two.schedules).toBeGreaterThan(one.schedules);
    expect(two.outcomes.length).toBeGreaterThan(one.outcomes.length);
    expect(JSON.stringify(stepOutcomes(same, STEPS[0]!, 2))).toBe(JSON.stringify(two));
  });

  it('every outcome is reached again by replaying its schedule as a pinned trace', () => {
    for (const name of ['concurrent-faults-same-gfn', 'fault-races-memslot-delete', 'teardown']) {
      const t = resolveTrace(name);
      const r = stepOutcomes(t, STEPS[15]!, 2);
      for (const o of r.outcomes) {
        const again = outcomeOf(replay({ ...t, schedule: o.schedule }, STEPS[15]!), t.threads.map((x) => x.name));
        expect(JSON.stringify([again.events, again.final]), `${name}: ${o.deviations} deviations`).toBe(o.key);
      }
    }
  }, HOOK);

  it('the read reduction reaches the same outcomes as every switch point', () => {
    for (const name of ['fault-races-conversion', 'fault-races-hole-punch', 'concurrent-faults-neighbour-gfns']) {
      const t = resolveTrace(name);
      const keys = (reduce: boolean): string[] => stepOutcomes(t, STEPS[9]!, 2, undefined, undefined, reduce).outcomes.map((o) => o.key).sort();
      expect(keys(true), name).toEqual(keys(false));
    }
  }, HOOK);

  it('finds nothing unexpected on the real steps 08..10 over the built-in concurrent traces', () => {
    const r = exploreInterleavingSets(concurrentTraces(), STEPS, { from: 8, to: 10 });
    expect(r.complete).toBe(true);
    expect(r.findings).toEqual([]);
    expect(r.races).toEqual([]);
  }, HOOK);

  it('the mirror atomic-zap probe: outcomes steps 05 and 09 reach that no intent explains (a finding, README)', () => {
    const r = exploreInterleavingSets([resolveTrace('atomic-zap-mirror-races-fault')], STEPS, { from: 5, to: 5 });
    expect(r.findings.some((f) => f.step === 5 && f.change === 'appears')).toBe(true);
  }, HOOK);

  it('finds a race-only bug the corpus misses, as a pinned trace that check fails', async () => {
    // (a lost cmpxchg reported as success was the bug here until the link race this
    // search found joined the corpus, which now catches it: concurrent-faults-same-gfn-link-race)
    const broken = await makeBroken({
      name: 'race-frozen-upper-entry-15',
      step: 15,
      file: 'tdp_mmu.ts',
      find: 'if (is_frozen_spte(iter.old_spte)) break walk;',
      replace: 'if (is_frozen_spte(iter.old_spte) && iter.level === fault.goal_level) break walk;',
      why: 'a fault backs off from a FROZEN entry only at the goal level: above it, it links its own table over another fault\'s frozen one',
    });
    const steps = withBroken(broken);
    // the corpus catches it only through the trace this search contributed
    const found = 'concurrent-faults-same-gfn-frozen-table';
    expect(runCheck({ traces: loadCorpus(), steps, from: 15, to: 15 }).exitCode).toBe(1);
    expect(runCheck({ traces: loadCorpus().filter((t) => t.name !== found), steps, from: 15, to: 15 }).exitCode).toBe(0);
    const r = exploreInterleavingSets([resolveTrace('concurrent-faults-same-gfn')], steps, { from: 15, to: 15 });
    const appears = r.findings.filter((f) => f.change === 'appears' && f.step === 15);
    expect(appears.length).toBeGreaterThan(0);
    // the fewest deviations reach it; the written trace is one check reads and fails
    const pinned = parseTrace(traceFileJson(appears[0]!.pinned), 'written');
    expect(pinned.schedule!.length).toBeGreaterThan(0);
    expect(runCheck({ traces: [pinned], steps, from: 15, to: 15, coverage: false }).exitCode).toBe(1);
  }, HOOK);
});

it('exhaustiveTrace names a trace after its operations', () => {
  expect(exhaustiveTrace([0, 15]).name).toBe('exhaustive-0-15');
});
