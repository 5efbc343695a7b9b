import { describe, expect, it } from 'vitest';
import { formatMutateText, mutationSites, runMutate, sample, summaryLine } from '../../harness/mutate.ts';
import { resolveTrace } from '../../harness/trace.ts';
import { STEPS } from '../../versions/index.ts';

const SRC = `function* f(kvm: Kvm, x: number): Gen<number> {
  if (KVM_BUG_ON(x > 1 && x !== 2, kvm, 's', 'c')) return -EIO;
  WARN_ON_ONCE(x < 0, 's', 'c');
  yield* g(kvm);
  h();
  return 0;
}
`;

describe('mutation sites', () => {
  const sites = mutationSites(3, 'tdx.ts', SRC);
  const ops = (op: string): string[] => sites.filter((m) => m.operator === op).map((m) => `${m.original} -> ${m.replacement}`);
  it('finds each operator where it applies', () => {
    expect(ops('delete-diagnostic')).toEqual([
      "KVM_BUG_ON(x > 1 && x !== 2, kvm, 's', 'c') -> Boolean(x > 1 && x !== 2)",
      "WARN_ON_ONCE(x < 0, 's', 'c'); -> ;",
    ]);
    expect(ops('swap-logical')).toEqual(['&& -> ||']);
    expect(ops('flip-comparison')).toEqual(['> -> <=', '!== -> ===', '< -> >=']);
    expect(ops('change-errno')).toEqual(['-EIO -> -16 /* -EBUSY */']);
    expect(ops('delete-early-return')).toEqual(['return -EIO; -> ;']);
    expect(ops('delete-call')).toEqual(['yield* g(kvm); -> ;', 'h(); -> ;']);
    expect(ops('negate-condition')).toHaveLength(1);
    // the last return is not early; declarations and returns are never swapped
    expect(sites.every((m) => m.fn === 'f' && m.step === 3)).toBe(true);
    expect(new Set(sites.map((m) => m.id)).size).toBe(sites.length);
  });
  it('a seed picks the same sample every time, another seed another order', () => {
    const a = sample(sites, 7, 4).map((m) => m.id);
    expect(sample(sites, 7, 4).map((m) => m.id)).toEqual(a);
    expect(sample(sites, 8).map((m) => m.id)).not.toEqual(sample(sites, 7).map((m) => m.id));
  });
});

describe('mutate', () => {
  it('classifies mutants of a real step deterministically, and kills the ones the corpus sees', async () => {
    const traces = ['atomic-set-frozen-direct', 'atomic-set-frozen-mirror', 'zap-private-range', 'private-fault'].map(resolveTrace);
    const opts = { steps: STEPS, traces, only: [7], seed: 3, limit: 6, operators: ['delete-diagnostic', 'delete-call', 'change-errno'] as const };
    const a = await runMutate({ ...opts, operators: [...opts.operators] });
    const b = await runMutate({ ...opts, operators: [...opts.operators] });
    expect(formatMutateText(a)).toBe(formatMutateText(b));
    expect(a.mutants).toHaveLength(6);
    expect(a.total.masked).toBe(0);
    expect(a.total.killed + a.total.noChange).toBe(6);
    for (const m of a.mutants) {
      if (m.status === 'killed') expect(m.catchers.length + (m.error ? 1 : 0)).toBeGreaterThan(0);
      if (m.status === 'no-change') expect(m.changed).toEqual([]);
    }
    expect(formatMutateText(a).trimEnd().split('\n').pop()).toBe(summaryLine(a.total));
    // worker threads, two mutants a batch: the same report, byte for byte
    const c = await runMutate({ ...opts, operators: [...opts.operators], jobs: 2, batch: 2 });
    expect(JSON.stringify(c)).toBe(JSON.stringify(a));
  }, 180_000);

  it('--explore: exploration finds a mutant the corpus does not see, and says which trace', async () => {
    // a range zap's walk condition with || for &&: converting GFN 1 while only GFN 2 is
    // mapped shows it (exhaustive-1-3), no corpus trace does
    const id = 'v12/tdp_mmu.ts:323:swap-logical:1';
    const r = await runMutate({ steps: STEPS, traces: ['convert-private-to-shared', 'private-fault'].map(resolveTrace), ids: [id], seed: 1, explore: 2 });
    const m = r.mutants[0]!;
    expect(m.fn).toBe('tdp_mmu_zap_leafs');
    expect(m.original).toBe('&&');
    expect(m.status).toBe('no-change');
    expect(m.explored).toMatch(/^exhaustive-/);
    expect(r.total.explored).toBe(1);
    expect(formatMutateText(r)).toMatch(/1 no change \(1 found by exploring\)/);
  }, 180_000);
});

describe('mutants a full run once reported masked', () => {
  it('are killed: a base reordering, a dropped rcu_barrier(), renamed frees in another order', async () => {
    const ids = ['v00/tdp_mmu.ts:211:swap-statements:1', 'v15/tdp_mmu.ts:47:delete-call:1', 'v15/tdp_mmu.ts:57:swap-statements:1'];
    const traces = ['link-child-without-external-page', 'teardown', 'private-fault-sept-add-busy'].map(resolveTrace);
    const r = await runMutate({ steps: STEPS, traces, seed: 1, ids });
    expect(r.mutants.map((m) => [m.id, m.status])).toEqual(ids.map((id) => [id, 'killed']));
  }, 120_000);
});
