// Steps 09–15 against their neighbours, over the whole corpus: each intent's witness trace
// changes between N−1 and N in exactly the events the intent names, the steps that claim
// no functional change change nothing (13: nothing but the name a splat prints), the
// observations the recorded assumptions decide, and the end state of the series on a
// teardown. Each block is skipped until its step folder is registered.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { byName, corpus, diffs, lines, obs, step } from './neighbours.ts';
import { explainDifferences } from '../../harness/intents.ts';
import type { Observation } from '../../harness/observation.ts';
import type { ObsEvent } from '../../src/kernel/context.ts';

const VERSIONS = join(dirname(fileURLToPath(import.meta.url)), '../../versions');
const FOLDERS: Record<number, string> = {
  9: 'v09-centralize-external-propagation',
  10: 'v10-drop-shared-zap-bug-on',
  11: 'v11-hoist-remove-private-spte',
  12: 'v12-drop-remove-external-spte',
  13: 'v13-rename-remove-leaf-spte',
  14: 'v14-free-external-spt-error-handling',
  15: 'v15-free-external-spt-in-tdx',
};
/** True when step n's folder is in versions/ (and so in the registry). */
const registered = (n: number): boolean => existsSync(join(VERSIONS, FOLDERS[n]!)) && STEPS.length > n;


/** Events of the trace's own threads (set-up left out), of one kind or of any kind. */
function events(o: Observation, kind?: string): ObsEvent[] {
  return o.events.filter((e) => (kind === undefined || e.kind === kind) && e.thread !== 'setup');
}

function seamcalls(o: Observation): string[] {
  return events(o, 'seamcall').map((e) => `${String(e.name)} ${String(e.gpa ?? e.page ?? '')} ${String(e.level ?? '')} ${String(e.status)}`.replace(/ +/g, ' '));
}

function results(o: Observation): string[] {
  return events(o, 'result').map((e) => `${String(e.op)}=${String(e.value)}`);
}

function diag(o: Observation, kind: 'bug' | 'warn' | 'lockdep' | 'mmu_warn'): string[] {
  return events(o, kind).map((e) => `${String(e.site)}: ${String(e.cond)}${e.silent ? ' (silent)' : ''}`);
}

function count(list: string[], item: string): number {
  return list.filter((x) => x === item).length;
}

/** The spte-changed tracepoints as "gfn/Llevel OLD>NEW". */
function traced(o: Observation): string[] {
  return events(o, 'tracepoint').filter((e) => e.name === 'kvm_tdp_mmu_spte_changed').map((e) => `${String(e.gfn)}/L${String(e.level)} ${String(e.old)}>${String(e.new)}`);
}

/**
 * Every difference on every corpus trace is explained by step n's intents, each intent is
 * witnessed, and (as check requires) each intent happens on every witness trace it names.
 */
function explainedOverCorpus(n: number): void {
  const s = step(n);
  const witnessed = new Set<string>();
  const credited = new Map<string, string[]>();
  for (const t of corpus) {
    const ex = explainDifferences(diffs(t, n), s.manifest.intents);
    expect(lines(ex.unexplained), `${t.name}: ${n - 1} → ${n}`).toEqual([]);
    for (const id of ex.intents) witnessed.add(id);
    credited.set(t.name, ex.intents);
  }
  expect([...witnessed].sort()).toEqual(s.manifest.intents.map((i) => i.id).sort());
  for (const i of s.manifest.intents) {
    expect(i.witnesses.length, `${i.id} names a witness`).toBeGreaterThan(0);
    for (const w of i.witnesses) {
      expect(byName.has(w), `${i.id}: witness ${w} is a corpus trace`).toBe(true);
      expect(credited.get(w), `${i.id} happens on its witness ${w}`).toContain(i.id);
    }
  }
}

describe.skipIf(!registered(9))('step 09: centrally propagate to-present/atomic zap updates', () => {
  it('every corpus difference 08 → 09 is one of its intents, each witnessed', () => explainedOverCorpus(9));

  it('v09-bookkeeping-after-external-update: a removed table is traced after its children (teardown)', () => {
    const host = (n: number): string[] => traced(obs('teardown', n)).filter((x) => x.includes('NONLEAF>'));
    expect(host(8)).toEqual(['0x0/L3 NONLEAF>NONPRESENT', '0x0/L2 NONLEAF>FROZEN', '0x200/L2 NONLEAF>FROZEN', '0x0/L4 NONLEAF>NONPRESENT']);
    expect(host(9)).toEqual(['0x0/L2 NONLEAF>FROZEN', '0x200/L2 NONLEAF>FROZEN', '0x0/L3 NONLEAF>NONPRESENT', '0x0/L4 NONLEAF>NONPRESENT']);
    // the SEAMCALLs themselves do not change
    expect(seamcalls(obs('teardown', 9))).toEqual(seamcalls(obs('teardown', 8)));
  });

  it('v09-frozen-warn-moves-to-set-spte-atomic / v09-frozen-mirror-write-not-propagated (atomic-set-frozen-mirror)', () => {
    const [a, b] = [obs('atomic-set-frozen-mirror', 8), obs('atomic-set-frozen-mirror', 9)];
    expect(diag(a, 'mmu_warn')).toEqual(['__tdp_mmu_set_spte_atomic: is_frozen_spte(new_spte)']);
    expect(diag(b, 'mmu_warn')).toEqual(['tdp_mmu_set_spte_atomic: is_frozen_spte(new_spte)']);
    expect(diag(a, 'bug')).toEqual(['tdx_sept_set_private_spte: !is_shadow_present_pte(new_spte)']);
    expect(diag(b, 'bug')).toEqual([]);
    expect(results(a).at(-1)).toBe('probe_set_spte#0=-EIO');
    expect(results(b).at(-1)).toBe('probe_set_spte#0=0');
    // traced from the non-present → non-present branch (the v3 fix), and left FROZEN
    expect(traced(b)).toContain('0x2/L1 NONPRESENT>FROZEN');
    expect(traced(a)).not.toContain('0x2/L1 NONPRESENT>FROZEN');
    expect(b.final.mirror.find((m) => m.gpa === '0x2000')?.kind).toBe('FROZEN');
    expect(a.final.mirror.find((m) => m.gpa === '0x2000')).toBeUndefined();
  });

  it('v09-unchanged-mirror-value-not-propagated (atomic-present-to-present-mirror)', () => {
    const [a, b] = [obs('atomic-present-to-present-mirror', 8), obs('atomic-present-to-present-mirror', 9)];
    expect(diag(a, 'bug')).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    expect(diag(b, 'bug')).toEqual([]);
    expect([results(a).at(-1), results(b).at(-1)]).toEqual(['probe_set_spte#0=-EIO', 'probe_set_spte#0=0']);
    expect([a.final.vm.bugged, b.final.vm.bugged]).toEqual([true, false]);
    expect(seamcalls(b)).toEqual(seamcalls(a));
  });

  it('v09-age-mirror-warns (age-mirror-spte)', () => {
    const [a, b] = [obs('age-mirror-spte', 8), obs('age-mirror-spte', 9)];
    expect(diag(a, 'warn')).toEqual([]);
    expect(diag(b, 'warn')).toEqual(['kvm_tdp_mmu_age_spte: is_mirror_sptep(iter->sptep)']);
    const leaf = (o: Observation): boolean | undefined => o.final.mirror.find((m) => m.level === 1)?.accessed;
    expect([leaf(a), leaf(b)]).toEqual([false, true]);
  });

  it('v09-to-present-propagated-in-any-lock-mode / assumption v09-set-spte-keeps-mirror-bug-on (nonatomic-map-mirror-leaf)', () => {
    const [a, b] = [obs('nonatomic-map-mirror-leaf', 8), obs('nonatomic-map-mirror-leaf', 9)];
    const probe = (o: Observation): string[] => events(o, 'seamcall').filter((e) => e.thread === 'probe').map((e) => `${String(e.name)} ${String(e.status)}`);
    expect(probe(a)).toEqual(['TDH.MEM.RANGE.BLOCK TDX_EPT_ENTRY_STATE_INCORRECT']);
    expect(probe(b)).toEqual(['TDH.MEM.PAGE.AUG TDX_SUCCESS', 'TDH.MEM.RANGE.BLOCK TDX_SUCCESS', 'TDH.MEM.TRACK TDX_SUCCESS', 'TDH.MEM.PAGE.REMOVE TDX_SUCCESS', 'TDH.PHYMEM.PAGE.WBINVD TDX_SUCCESS']);
    // tdp_mmu_set_spte()'s mirror KVM_BUG_ON(new present) is still there at 09
    expect(diag(b, 'bug')[0]).toBe('tdp_mmu_set_spte: is_shadow_present_pte(new_spte)');
  });

  it('v09-atomic-table-zap-tears-down (atomic-zap-mirror-nonleaf)', () => {
    const [a, b] = [obs('atomic-zap-mirror-nonleaf', 8), obs('atomic-zap-mirror-nonleaf', 9)];
    expect(diag(a, 'bug')).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    expect(results(a).at(-1)).toBe('probe_set_spte#0=-EIO');
    expect(results(b).at(-1)).toBe('probe_set_spte#0=0');
    const bb = diag(b, 'bug');
    expect(bb[0]).toBe('handle_removed_pt: shared');
    expect(count(bb, 'handle_removed_pt: shared (silent)')).toBe(511);
    expect(bb).toContain('tdx_sept_set_private_spte: is_shadow_present_pte(old_spte) (silent)');
    expect(bb).toContain('tdx_sept_free_private_spt: is_hkid_assigned(kvm_tdx) (silent)');
    expect(diag(b, 'lockdep')).toContain('remove_external_spte: lockdep_assert_held_write(mmu_lock)');
    expect(seamcalls(b)).toContain('TDH.MEM.PAGE.REMOVE 0x1000 1 TDX_SUCCESS');
    expect(diag(b, 'warn')).toEqual(['handle_removed_pt: kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)']);
  });

  it('assumption v09-hook-condition: an atomic leaf zap reaches TDX, -EIO, mirror restored (atomic-zap-mirror-leaf)', () => {
    const b = obs('atomic-zap-mirror-leaf', 9);
    expect(diag(b, 'bug')).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    expect(results(b).at(-1)).toBe('probe_set_spte#0=-EIO');
    expect(b.final.mirror.find((m) => m.gpa === '0x1000')?.kind).toBe('LEAF');
    expect(diffs('atomic-zap-mirror-leaf', 9)).toEqual([]);
  });

  it('assumption v09-write-lock-zaps-bypass-hook: ordinary zaps are unchanged (zap-private-range)', () => {
    expect(lines(diffs('zap-private-range', 9))).toEqual([]);
  });
});

describe.skipIf(!registered(10))('step 10: drop KVM_BUG_ON() on shared lock to zap child external PTEs', () => {
  it('every corpus difference 09 → 10 is one of its intents, each witnessed', () => explainedOverCorpus(10));

  it('v10-no-bug-on-shared-child-zap: only the KVM_BUG_ON(shared) firings go, the same SEAMCALLs stay (atomic-zap-mirror-nonleaf)', () => {
    const [a, b] = [obs('atomic-zap-mirror-nonleaf', 9), obs('atomic-zap-mirror-nonleaf', 10)];
    expect(diag(a, 'bug').filter((x) => x.startsWith('handle_removed_pt: shared'))).toHaveLength(512);
    expect(diag(b, 'bug').filter((x) => x.startsWith('handle_removed_pt: shared'))).toEqual([]);
    expect(seamcalls(b)).toEqual(seamcalls(a));
    expect(diag(b, 'lockdep')).toEqual(diag(a, 'lockdep'));
    // the VM is now bugged by the first failing BLOCK (of the non-present child at gfn 0)
    expect(diag(b, 'bug')[0]).toBe('tdx_sept_remove_private_spte: TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)');
    expect(b.final).toEqual(a.final);
  });

  it('a trace without a shared-lock removal of a mirror table is unchanged', () => {
    for (const t of corpus) {
      if (diag(obs(t, 9), 'bug').some((x) => x.startsWith('handle_removed_pt: shared'))) continue;
      expect(lines(diffs(t, 10)), t.name).toEqual([]);
    }
  });
});

describe.skipIf(!registered(11))('step 11: hoist tdx_sept_remove_private_spte() (code motion only)', () => {
  it('declares no intent and changes no function body', () => {
    expect(step(11).manifest.intents).toEqual([]);
    expect(step(11).manifest.touches).toEqual([]);
  });

  it('every corpus trace observes exactly the same on 10 and 11', () => {
    for (const t of corpus) expect(lines(diffs(t, 11)), t.name).toEqual([]);
  });

  it('assumption v11-remove-stays-void: a refused removal is still traced and counted (teardown-leaf-left)', () => {
    const o = obs('teardown-leaf-left', 11);
    expect(diag(o, 'bug')).toEqual([
      'tdx_sept_remove_private_spte: !is_hkid_assigned(to_kvm_tdx(kvm))', '__tdx_reclaim_page: TDX_BUG_ON(TDH_PHYMEM_PAGE_RECLAIM)',
    ]);
    expect(traced(o)).toContain('0x1/L1 LEAF>FROZEN');
    expect(o.final.stats.leaves4k).toBe(0);
  });
});

describe.skipIf(!registered(12))('step 12: drop kvm_x86_ops.remove_external_spte()', () => {
  it('every corpus difference 11 → 12 is one of its intents, each witnessed', () => explainedOverCorpus(12));

  it('v12-leaf-zap-inside-handle-changed-spte: same SEAMCALLs, the tracepoint now follows them (zap-private-range)', () => {
    const [a, b] = [obs('zap-private-range', 11), obs('zap-private-range', 12)];
    expect(seamcalls(b)).toEqual(seamcalls(a));
    const host = (o: Observation): string[] => events(o).filter((e) => e.thread === 'host' && (e.kind === 'seamcall' || e.kind === 'tracepoint'))
      .map((e) => (e.kind === 'seamcall' ? String(e.name) : `trace ${String(e.gfn)}`));
    const zap = ['TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD'];
    expect(host(a)).toEqual(['trace 0x1', ...zap, 'trace 0x2', ...zap]);
    expect(host(b)).toEqual([...zap, 'trace 0x1', ...zap, 'trace 0x2']);
  });

  it('v12-failed-leaf-removal-not-booked / assumption v12-remove-returns-int (teardown-leaf-left)', () => {
    const [a, b] = [obs('teardown-leaf-left', 11), obs('teardown-leaf-left', 12)];
    expect(traced(a)).toContain('0x1/L1 LEAF>FROZEN');
    expect(traced(b)).not.toContain('0x1/L1 LEAF>FROZEN');
    expect([a.final.stats.leaves4k, b.final.stats.leaves4k]).toEqual([0, 1]);
    expect(diag(b, 'bug')).toEqual([
      'tdx_sept_remove_private_spte: !is_hkid_assigned(to_kvm_tdx(kvm))',
      'handle_changed_spte: __handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, shared) (silent)',
      '__tdx_reclaim_page: TDX_BUG_ON(TDH_PHYMEM_PAGE_RECLAIM)',
    ]);
    expect(seamcalls(b)).toEqual(seamcalls(a));
  });

  it('v12-atomic-leaf-zap-removes: removal under the read lock with lockdep splats (atomic-zap-mirror-leaf)', () => {
    const [a, b] = [obs('atomic-zap-mirror-leaf', 11), obs('atomic-zap-mirror-leaf', 12)];
    expect(diag(a, 'bug')).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    expect(diag(b, 'bug')).toEqual([]);
    const probe = (o: Observation): string[] => events(o, 'seamcall').filter((e) => e.thread === 'probe').map((e) => `${String(e.name)} ${String(e.status)}`);
    expect(probe(a)).toEqual([]);
    expect(probe(b)).toEqual(['TDH.MEM.RANGE.BLOCK TDX_SUCCESS', 'TDH.MEM.TRACK TDX_SUCCESS', 'TDH.MEM.PAGE.REMOVE TDX_SUCCESS', 'TDH.PHYMEM.PAGE.WBINVD TDX_SUCCESS']);
    expect(diag(b, 'lockdep')).toContain('tdx_sept_remove_private_spte: lockdep_assert_held_write(mmu_lock)');
    expect(diag(b, 'lockdep')).toContain('tdx_track: lockdep_assert_held_write(mmu_lock)');
    expect([results(a).at(-1), results(b).at(-1)]).toEqual(['probe_set_spte#0=-EIO', 'probe_set_spte#0=0']);
    expect(b.final.sept).toEqual([]);
  });

  it('v12-set-spte-mirror-block-gone (nonatomic-map-mirror-leaf)', () => {
    const [a, b] = [obs('nonatomic-map-mirror-leaf', 11), obs('nonatomic-map-mirror-leaf', 12)];
    expect(diag(a, 'bug')).toContain('tdp_mmu_set_spte: is_shadow_present_pte(new_spte)');
    expect(diag(b, 'bug')).toEqual([]);
    expect(b.final.sept.map((e) => e.gpa)).toEqual(['0x1000', '0x2000']);
    expect(b.final.vm.bugged).toBe(false);
  });

  it('v12-child-removal-through-hook: non-present children no longer reach TDX (atomic-zap-mirror-nonleaf)', () => {
    const [a, b] = [obs('atomic-zap-mirror-nonleaf', 11), obs('atomic-zap-mirror-nonleaf', 12)];
    const failedBlocks = (o: Observation): number => seamcalls(o).filter((x) => x.startsWith('TDH.MEM.RANGE.BLOCK') && x.endsWith('TDX_EPT_ENTRY_STATE_INCORRECT')).length;
    expect([failedBlocks(a), failedBlocks(b)]).toEqual([511, 0]);
    expect(traced(b)).toContain('0x1/L1 LEAF>FROZEN');
    expect(diag(b, 'lockdep')).not.toContain('remove_external_spte: lockdep_assert_held_write(mmu_lock)');
  });
});

describe.skipIf(!registered(13))('step 13: rename tdx_sept_remove_private_spte() (no functional change)', () => {
  it('the functional layer is identical on every corpus trace', () => {
    for (const t of corpus) expect(lines(diffs(t, 13, 'functional')), t.name).toEqual([]);
  });

  it('diagnostics differ only in the renamed site, and only in v13-splat-site-renamed', () => {
    for (const t of corpus) {
      for (const d of diffs(t, 13, 'diagnostic')) {
        const e = d.event as ObsEvent;
        expect(e.site, t.name).toBe(d.side === 'removed' ? 'tdx_sept_remove_private_spte' : 'tdx_sept_remove_leaf_spte');
      }
    }
    explainedOverCorpus(13);
    const rename = (x: string): string => x.replace('tdx_sept_remove_private_spte', 'tdx_sept_remove_leaf_spte');
    expect(diag(obs('teardown-leaf-left', 12), 'bug').map(rename)).toEqual(diag(obs('teardown-leaf-left', 13), 'bug'));
  });
});

describe.skipIf(!registered(14))('step 14: move error handling inside free_external_spt()', () => {
  it('every corpus difference 13 → 14 is one of its intents, each witnessed', () => explainedOverCorpus(14));

  it('v14-no-generic-free-warn / assumption v14-tdx-nulls-on-failure (reclaim-fails)', () => {
    const [a, b] = [obs('reclaim-fails', 13), obs('reclaim-fails', 14)];
    expect(diag(a, 'warn')).toEqual(['handle_removed_pt: kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)']);
    expect(diag(b, 'warn')).toEqual([]);
    // same SEAMCALLs, the failed page is still leaked, a reclaim failure still does not bug the VM
    expect(seamcalls(b)).toEqual(seamcalls(a));
    expect(b.final.pages.leaked).toEqual(a.final.pages.leaked);
    expect(b.final.pages.leaked.map((p) => p.what)).toEqual(['external_spt']);
    expect(b.final.vm.bugged).toBe(false);
  });
});

describe.skipIf(!registered(15))('step 15: move external page table freeing to TDX code', () => {
  it('every corpus difference 14 → 15 is one of its intents, each witnessed', () => explainedOverCorpus(15));

  /** For each RECLAIM of the trace, what comes right after it: the free of that page, or something else. */
  function afterReclaim(o: Observation): string[] {
    const ev = events(o).filter((e) => e.kind === 'seamcall' || e.kind === 'free' || e.kind === 'tracepoint');
    const out: string[] = [];
    ev.forEach((e, i) => {
      if (e.kind !== 'seamcall' || e.name !== 'TDH.PHYMEM.PAGE.RECLAIM' || !String(e.page).startsWith('sept.')) return;
      const next = ev[i + 1];
      const freed = next?.kind === 'free' && next.page === e.page && next.what === 'external_spt';
      out.push(`${String(e.status)}: ${freed ? `freed by ${String(next!.site)}` : 'not freed here'}`);
    });
    return out;
  }

  it('v15-sept-page-freed-after-reclaim: end state on a teardown, every S-EPT page freed right after its RECLAIM', () => {
    const [a, b] = [obs('teardown', 14), obs('teardown', 15)];
    expect(afterReclaim(a)).toEqual(Array(4).fill('TDX_SUCCESS: not freed here'));
    expect(afterReclaim(b)).toEqual(Array(4).fill('TDX_SUCCESS: freed by tdx_sept_free_private_spt'));
    // the RCU callbacks then free only the page tables themselves, without the new WARN
    const rcu = events(b, 'free').filter((e) => e.what === 'external_spt' && e.site !== 'tdx_sept_free_private_spt');
    expect(rcu).toEqual([]);
    expect(events(b, 'free').filter((e) => e.what === 'spt').every((e) => e.site === '__tdp_mmu_free_sp')).toBe(true);
    expect(diag(b, 'warn')).toEqual([]);
    expect(b.final.pages.leaked).toEqual([]);
    expect(b.final.septPages).toEqual([]);
    expect(seamcalls(b)).toEqual(seamcalls(a));
  });

  it('a page whose RECLAIM failed is still leaked, not freed (reclaim-fails)', () => {
    const b = obs('reclaim-fails', 15);
    expect(afterReclaim(b)).toEqual(['TDX_PAGE_METADATA_INCORRECT: not freed here', 'TDX_SUCCESS: freed by tdx_sept_free_private_spt', 'TDX_SUCCESS: freed by tdx_sept_free_private_spt']);
    expect(b.final.pages.leaked.map((p) => p.what)).toEqual(['external_spt']);
    expect(diag(b, 'warn')).toEqual([]);
  });

  it('v15-free-helpers-split: a never-linked SP frees its S-EPT page through tdp_mmu_free_unused_sp() (private-fault-sept-add-busy)', () => {
    const [a, b] = [obs('private-fault-sept-add-busy', 14), obs('private-fault-sept-add-busy', 15)];
    const frees = (o: Observation): string[] => events(o, 'free').map((e) => `${String(e.site)} ${String(e.what)}`);
    expect(frees(a)).toEqual(['tdp_mmu_free_sp external_spt', 'tdp_mmu_free_sp spt']);
    expect(frees(b)).toEqual(['tdp_mmu_free_unused_sp external_spt', '__tdp_mmu_free_sp spt']);
    expect(seamcalls(b)).toEqual(seamcalls(a));
  });
});

describe.skipIf(!registered(15))('steps 09-15 are registered as expected', () => {
  it('slugs, commits and subjects', () => {
    const want: [string, string][] = [
      ['centralize-external-propagation', '28c77a037804'],
      ['drop-shared-zap-bug-on', '41367d77ee4e'],
      ['hoist-remove-private-spte', 'c74893aa56f4'],
      ['drop-remove-external-spte', '6eae9ce9461c'],
      ['rename-remove-leaf-spte', '0cef26b537ff'],
      ['free-external-spt-error-handling', 'b35bda696e44'],
      ['free-external-spt-in-tdx', '110d4d263450'],
    ];
    want.forEach(([slug, commit], i) => {
      const m = step(i + 9).manifest;
      expect([m.slug, m.commit]).toEqual([slug, commit]);
      expect(m.v2Subject).toBe(`[PATCH v2 ${String(i + 9).padStart(2, '0')}/15] ${m.subject}`);
    });
  });
});

// Present so the file has a test while the folders are still staged.
it('steps 09-15: registry check', () => {
  for (let n = 9; n <= 15; n++) if (registered(n)) expect(step(n).manifest.step).toBe(n);
});
