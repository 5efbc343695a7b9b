// Steps 01–08 against their neighbours, over the whole corpus: the steps that claim no
// functional change change nothing, and each intent's witness trace changes in exactly
// the events the intent names. Plus the observations each recorded assumption decides.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { byName, corpus, diffs, lines, obs, step } from './neighbours.ts';
import { explainDifferences } from '../../harness/intents.ts';
import type { Observation } from '../../harness/observation.ts';
import type { ObsEvent } from '../../src/kernel/context.ts';


/** Events of the trace's own threads (set-up left out) of one kind. */
function events(o: Observation, kind: string): ObsEvent[] {
  return o.events.filter((e) => e.kind === kind && e.thread !== 'setup');
}

function seamcalls(o: Observation): string[] {
  return events(o, 'seamcall').map((e) => `${String(e.name)} ${String(e.gpa ?? '')} ${String(e.level ?? '')} ${String(e.status)}`);
}

function results(o: Observation): string[] {
  return events(o, 'result').map((e) => `${String(e.op)}=${String(e.value)}`);
}

function bugs(o: Observation): string[] {
  return events(o, 'bug').map((e) => `${String(e.site)}: ${String(e.cond)}${e.silent ? ' (silent)' : ''}`);
}

describe('steps 01-08 are registered as expected', () => {
  it('slugs, commits and subjects', () => {
    const want: [string, string][] = [
      ['drop-link-external-spt', '12d595795de7'],
      ['wrap-sept-map-helpers', '176dcd88f4b4'],
      ['fold-set-external-spte-present', '78d23e299bba'],
      ['plumb-old-spte', '291bcb3a7583'],
      ['move-bug-ons-to-tdx', '6b1280a738f9'],
      ['move-lockdep-to-tdx', '40342185fd2b'],
      ['frozen-check-mmu-warn', 'c1d3af136fbf'],
      ['plumb-sp-into-handle-changed-spte', 'c1ec7f368d85'],
    ];
    want.forEach(([slug, commit], i) => {
      const m = step(i + 1).manifest;
      expect([m.slug, m.commit]).toEqual([slug, commit]);
      expect(m.v2Subject).toBe(`[PATCH v2 ${String(i + 1).padStart(2, '0')}/15] ${m.subject}`);
    });
  });

  it('the hook table loses link_external_spt at 01 and keeps the other three through 08', async () => {
    const decl = async (n: number): Promise<string[]> => {
      const m = (await import(pathToFileURL(join(step(n).dir, 'x86_ops.ts')).href)) as { kvm_x86_ops_decl: Record<string, string> };
      return Object.keys(m.kvm_x86_ops_decl).sort();
    };
    expect(await decl(0)).toContain('link_external_spt');
    for (let n = 1; n <= 8; n++) expect(await decl(n)).toEqual(['free_external_spt', 'remove_external_spte', 'set_external_spte']);
  });
});

// ---- no functional change (and no diagnostic change either) ----

describe.each([4, 8])('step %i changes no observation', (n) => {
  it('declares no intent', () => {
    expect(step(n).manifest.intents).toEqual([]);
  });
  it.each(corpus.map((t) => [t.name, t] as const))('%s is identical on step N-1 and N', (_name, t) => {
    expect(lines(diffs(t, n))).toEqual([]);
  });
});

// ---- step 01: only a bad child SP (which only the probes build) behaves differently ----

describe('step 1 (drop link_external_spt)', () => {
  const BAD_CHILD = ['link-child-with-wrong-gfn', 'link-child-without-external-page', 'age-mirror-spte-no-ad'];

  it.each(corpus.filter((t) => !BAD_CHILD.includes(t.name)).map((t) => [t.name, t] as const))('%s is identical on steps 0 and 1', (_name, t) => {
    expect(lines(diffs(t, 1))).toEqual([]);
  });

  it('v01-bad-child-sp-bugs-in-tdx: a child with the wrong gfn was linked after a WARN; now TDX bugs the VM and returns -EIO before SEPT.ADD', () => {
    const before = obs('link-child-with-wrong-gfn', 0);
    const after = obs('link-child-with-wrong-gfn', 1);
    expect(events(before, 'warn').map((e) => `${e.site}: ${e.cond}`)).toEqual(['get_external_spt: sp->gfn != gfn']);
    expect(before.events.filter((e) => e.thread === 'probe' && e.name === 'TDH.MEM.SEPT.ADD').map((e) => e.status)).toEqual(['TDX_SUCCESS']);
    expect(before.events.at(-1)).toMatchObject({ kind: 'result', value: '0' });
    expect(bugs(after)).toEqual(['tdx_spte_to_sept_pt: sp->gfn != gfn']);
    expect(after.events.filter((e) => e.name === 'TDH.MEM.SEPT.ADD' && e.thread === 'probe')).toEqual([]);
    expect(after.events.at(-1)).toMatchObject({ kind: 'result', value: '-EIO' });
    expect(after.final.mirror.some((m) => m.gpa === '0x200000')).toBe(false); // restored
  });

  it('v01-rwx-only-leaf-warning: an access-tracked mirror leaf warns under the RWX-only condition, nothing else changes', () => {
    expect(lines(diffs('age-mirror-spte-no-ad', 1))).toEqual([
      '- {"kind":"warn","site":"tdx_sept_set_private_spte","cond":"!is_shadow_present_pte(mirror_spte) || (mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK","silent":false,"op":"probe_age#0"}',
      '+ {"kind":"warn","site":"tdx_sept_set_private_spte","cond":"(mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK","silent":false,"op":"probe_age#0"}',
    ]);
  });

  it('v01-bad-child-sp-bugs-in-tdx: a child without an external page no longer reaches SEPT.ADD with a NULL page', () => {
    const before = obs('link-child-without-external-page', 0);
    const after = obs('link-child-without-external-page', 1);
    expect(before.events.find((e) => e.name === 'TDH.MEM.SEPT.ADD' && e.thread === 'probe')).toMatchObject({ page: 'NULL', status: 'TDX_OPERAND_INVALID' });
    expect(bugs(after)).toEqual(['tdx_spte_to_sept_pt: !sp->external_spt']);
    expect(after.events.filter((e) => e.name === 'TDH.MEM.SEPT.ADD' && e.thread === 'probe')).toEqual([]);
  });
});

// ---- step 02: no functional change; diagnostics follow the helpers they now sit in ----

describe('step 2 (wrap the map helpers)', () => {
  it.each(corpus.map((t) => [t.name, t] as const))('%s: functional layer identical', (_name, t) => {
    expect(lines(diffs(t, 2, 'functional'))).toEqual([]);
  });

  it('v02-map-diagnostics-renamed: a refused SEPT.ADD is reported from tdx_sept_map_nonleaf_spte, nothing else changes', () => {
    expect(lines(diffs('atomic-nonleaf-over-mirror-table', 2))).toEqual([
      '- {"kind":"bug","site":"tdx_sept_link_private_spt","cond":"TDX_BUG_ON(TDH_MEM_SEPT_ADD)","silent":true,"op":"probe_set_spte#0"}',
      '+ {"kind":"bug","site":"tdx_sept_map_nonleaf_spte","cond":"TDX_BUG_ON(TDH_MEM_SEPT_ADD)","silent":true,"op":"probe_set_spte#0"}',
    ]);
  });

  it('v02-map-diagnostics-renamed: the RWX warning of an access-tracked leaf now fires in tdx_sept_map_leaf_spte', () => {
    expect(lines(diffs('age-mirror-spte-no-ad', 2))).toEqual([
      '- {"kind":"warn","site":"tdx_sept_set_private_spte","cond":"(mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK","silent":false,"op":"probe_age#0"}',
      '+ {"kind":"warn","site":"tdx_sept_map_leaf_spte","cond":"(new_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK","silent":false,"op":"probe_age#0"}',
    ]);
  });

  it.each(corpus.filter((t) => !['atomic-nonleaf-over-mirror-table', 'age-mirror-spte-no-ad'].includes(t.name)).map((t) => [t.name, t] as const))('%s is identical on steps 1 and 2', (_name, t) => {
    expect(lines(diffs(t, 2))).toEqual([]);
  });
});

// ---- step 03: no functional change; one diagnostic moves with the folded body ----

describe('step 3 (fold set_external_spte_present)', () => {
  it.each(corpus.map((t) => [t.name, t] as const))('%s: functional layer identical', (_name, t) => {
    expect(lines(diffs(t, 3, 'functional'))).toEqual([]);
  });

  it('v03-old-present-bug-site: atomic-present-to-present-mirror moves the old-present KVM_BUG_ON, nothing else', () => {
    expect(lines(diffs('atomic-present-to-present-mirror', 3))).toEqual([
      '- {"kind":"bug","site":"set_external_spte_present","cond":"was_present","silent":false,"op":"probe_set_spte#0"}',
      '+ {"kind":"bug","site":"__tdp_mmu_set_spte_atomic","cond":"is_shadow_present_pte(iter->old_spte)","silent":false,"op":"probe_set_spte#0"}',
    ]);
  });

  it('assumption v03-two-bug-ons-kept-apart: present → present still goes on to PAGE.AUG and fails there with -EIO', () => {
    const o = obs('atomic-present-to-present-mirror', 3);
    const probe = o.events.filter((e) => e.thread === 'probe');
    expect(probe.map((e) => e.kind)).toEqual(['bug', 'vm', 'kick', 'seamcall', 'bug', 'result']);
    expect(seamcalls(o).at(-1)).toBe('TDH.MEM.PAGE.AUG 0x1000 1 TDX_EPT_ENTRY_STATE_INCORRECT');
    expect(results(o).at(-1)).toBe('probe_set_spte#0=-EIO');
  });

  it('the atomic-zap guard still returns -EBUSY from the TDP MMU', () => {
    const o = obs('atomic-zap-mirror-leaf', 3);
    expect(bugs(o)).toEqual(['__tdp_mmu_set_spte_atomic: !is_shadow_present_pte(new_spte)']);
    expect(results(o).at(-1)).toBe('probe_set_spte#0=-EBUSY');
  });
});

// ---- step 05: both KVM_BUG_ONs leave the TDP MMU for TDX ----

describe('step 5 (move KVM_BUG_ONs to TDX)', () => {
  it('v05-atomic-zap-bug-in-tdx: atomic-zap-mirror-leaf', () => {
    expect(lines(diffs('atomic-zap-mirror-leaf', 5))).toEqual([
      '- {"kind":"result","name":"probe_set_spte","op":"probe_set_spte#0","value":"-EBUSY"}',
      '+ {"kind":"result","name":"probe_set_spte","op":"probe_set_spte#0","value":"-EIO"}',
      '- {"kind":"bug","site":"__tdp_mmu_set_spte_atomic","cond":"!is_shadow_present_pte(new_spte)","silent":false,"op":"probe_set_spte#0"}',
      '+ {"kind":"bug","site":"tdx_sept_set_private_spte","cond":"is_shadow_present_pte(old_spte)","silent":false,"op":"probe_set_spte#0"}',
    ]);
    // no SEAMCALL either way, and the mirror leaf is restored after the freeze
    const [a, b] = [obs('atomic-zap-mirror-leaf', 4), obs('atomic-zap-mirror-leaf', 5)];
    expect(seamcalls(b)).toEqual(seamcalls(a));
    expect(b.final.mirror).toEqual(a.final.mirror);
    expect(b.final.mirror.some((m) => m.gpa === '0x1000' && m.level === 1 && m.kind === 'LEAF')).toBe(true);
  });

  it('v05-present-to-present-rejected-in-tdx: atomic-present-to-present-mirror loses its PAGE.AUG', () => {
    expect(lines(diffs('atomic-present-to-present-mirror', 5))).toEqual([
      '- {"kind":"seamcall","name":"TDH.MEM.PAGE.AUG","gpa":"0x1000","level":1,"page":"gmem@0x1","status":"TDX_EPT_ENTRY_STATE_INCORRECT","op":"probe_set_spte#0"}',
      '- {"kind":"bug","site":"__tdp_mmu_set_spte_atomic","cond":"is_shadow_present_pte(iter->old_spte)","silent":false,"op":"probe_set_spte#0"}',
      '- {"kind":"bug","site":"tdx_mem_page_aug","cond":"TDX_BUG_ON(TDH_MEM_PAGE_AUG)","silent":true,"op":"probe_set_spte#0"}',
      '+ {"kind":"bug","site":"tdx_sept_set_private_spte","cond":"is_shadow_present_pte(old_spte)","silent":false,"op":"probe_set_spte#0"}',
    ]);
    const o = obs('atomic-present-to-present-mirror', 5);
    expect(events(o, 'seamcall').filter((e) => e.thread === 'probe')).toEqual([]);
    expect(results(o).at(-1)).toBe('probe_set_spte#0=-EIO');
  });

  it('v05-present-to-present-rejected-in-tdx: a non-leaf over a present mirror table loses its SEPT.ADD', () => {
    const [a, b] = [obs('atomic-nonleaf-over-mirror-table', 4), obs('atomic-nonleaf-over-mirror-table', 5)];
    expect(seamcalls(a).at(-1)).toBe('TDH.MEM.SEPT.ADD 0x0 2 TDX_EPT_ENTRY_STATE_INCORRECT');
    expect(events(b, 'seamcall').filter((e) => e.thread === 'probe')).toEqual([]);
    expect(bugs(b)).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    // the mirror tree is the same but for the canonical page names the SEPT.ADD handed out
    const shape = (o: Observation): string[] => o.final.mirror.map((m) => `${m.gpa}/${m.level}/${m.kind}`);
    expect(shape(b)).toEqual(shape(a));
  });

  it('assumption v05-old-present-check-first: an atomic zap trips the old-present check, not the not-present one', () => {
    expect(bugs(obs('atomic-zap-mirror-leaf', 5))).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
  });
});

// ---- step 07: FROZEN no longer bypasses the mirror branch ----

describe('step 7 (FROZEN check becomes KVM_MMU_WARN_ON)', () => {
  it('v07-frozen-write-mmu-warn: a FROZEN write to the direct root only adds the warning', () => {
    expect(lines(diffs('atomic-set-frozen-direct', 7))).toEqual([
      '+ {"kind":"mmu_warn","site":"__tdp_mmu_set_spte_atomic","cond":"is_frozen_spte(new_spte)","silent":false,"op":"probe_set_spte#0"}',
    ]);
    expect(obs('atomic-set-frozen-direct', 7).final.direct.some((m) => m.kind === 'FROZEN')).toBe(true);
  });

  it('v07-frozen-mirror-write-goes-to-tdx: atomic-set-frozen-mirror is rejected by TDX and restored', () => {
    const ds = lines(diffs('atomic-set-frozen-mirror', 7));
    expect(ds).toEqual(expect.arrayContaining([
      '- {"kind":"tracepoint","name":"kvm_tdp_mmu_spte_changed","as_id":0,"gfn":"0x2","level":1,"old":"NONPRESENT","new":"FROZEN","op":"probe_set_spte#0"}',
      '- {"kind":"result","name":"probe_set_spte","op":"probe_set_spte#0","value":"0"}',
      '+ {"kind":"vm","state":"bugged","op":"probe_set_spte#0"}',
      '+ {"kind":"result","name":"probe_set_spte","op":"probe_set_spte#0","value":"-EIO"}',
      '- {"kind":"final","what":"mirror","key":"0x2000@L1","value":"FROZEN"}',
      '+ {"kind":"mmu_warn","site":"__tdp_mmu_set_spte_atomic","cond":"is_frozen_spte(new_spte)","silent":false,"op":"probe_set_spte#0"}',
      '+ {"kind":"bug","site":"tdx_sept_set_private_spte","cond":"!is_shadow_present_pte(new_spte)","silent":false,"op":"probe_set_spte#0"}',
    ]));
    const [a, b] = [obs('atomic-set-frozen-mirror', 6), obs('atomic-set-frozen-mirror', 7)];
    expect(a.final.mirror.some((m) => m.kind === 'FROZEN')).toBe(true);
    expect(b.final.mirror.some((m) => m.kind === 'FROZEN')).toBe(false);
    expect(b.final.vm.bugged).toBe(true);
    // rejected before any SEAMCALL
    expect(events(b, 'seamcall').filter((e) => e.thread === 'probe')).toEqual([]);
  });

  it('v07-frozen-over-mirror-table-rejected: remove-mirror-table-shared no longer tears the table down', () => {
    const [a, b] = [obs('remove-mirror-table-shared', 6), obs('remove-mirror-table-shared', 7)];
    const probe = (o: Observation): ObsEvent[] => o.events.filter((e) => e.thread === 'probe');
    expect(probe(a).filter((e) => e.kind === 'seamcall').length).toBeGreaterThan(500);
    expect(bugs(a)).toContain('handle_removed_pt: shared');
    expect(probe(b).map((e) => e.kind)).toEqual(['mmu_warn', 'bug', 'vm', 'kick', 'result']);
    expect(bugs(b)).toEqual(['tdx_sept_set_private_spte: is_shadow_present_pte(old_spte)']);
    expect(results(b).at(-1)).toBe('probe_set_spte#0=-EIO');
    expect(b.final.mirror.map((m) => `${m.gpa}/${m.level}/${m.kind}`)).toEqual(['0x0/4/NONLEAF', '0x0/3/NONLEAF', '0x0/2/NONLEAF', '0x1000/1/LEAF']);
    expect(b.final.sept.map((l) => l.gpa)).toEqual(['0x1000']);
  });

  it('assumption v01-not-present-check-in-tdx: the FROZEN value meets TDX\'s not-present KVM_BUG_ON (first visible here)', () => {
    expect(bugs(obs('atomic-set-frozen-mirror', 7))).toEqual(['tdx_sept_set_private_spte: !is_shadow_present_pte(new_spte)']);
  });
});

// ---- the assumptions of the no-change steps: their traces show the unchanged path ----

describe('assumptions on unchanged paths', () => {
  it('v02-helper-names-and-params: private-fault links three tables and maps the leaf on every step 0-8', () => {
    for (let n = 0; n <= 8; n++) {
      expect(seamcalls(obs('private-fault', n)), `step ${n}`).toEqual([
        'TDH.MEM.SEPT.ADD 0x0 4 TDX_SUCCESS', 'TDH.MEM.SEPT.ADD 0x0 3 TDX_SUCCESS', 'TDH.MEM.SEPT.ADD 0x0 2 TDX_SUCCESS',
        'TDH.MEM.PAGE.AUG 0x1000 1 TDX_SUCCESS',
      ]);
      expect(bugs(obs('private-fault', n)), `step ${n}`).toEqual([]);
    }
  });

  it('v06-scenario-comment-starts-here: the moved lockdep_assert_held(mmu_lock) fires only for the lockless aging probe around step 6', () => {
    const moved = (o: Observation): ObsEvent[] => events(o, 'lockdep').filter((e) => e.cond === 'lockdep_assert_held(mmu_lock)');
    for (const t of corpus.filter((x) => x.name !== 'age-mirror-spte-no-ad')) for (const n of [5, 6]) expect(moved(obs(t, n)), `${t.name} on ${n}`).toEqual([]);
  });

  it('v06-lockdep-assert-in-tdx: a lockless caller splats from tdx_sept_set_private_spte instead of __tdp_mmu_set_spte_atomic', () => {
    expect(lines(diffs('age-mirror-spte-no-ad', 6))).toEqual([
      '- {"kind":"lockdep","site":"__tdp_mmu_set_spte_atomic","cond":"lockdep_assert_held(mmu_lock)","op":"probe_age#0"}',
      '+ {"kind":"lockdep","site":"tdx_sept_set_private_spte","cond":"lockdep_assert_held(mmu_lock)","op":"probe_age#0"}',
    ]);
    for (const t of corpus.filter((x) => x.name !== 'age-mirror-spte-no-ad')) expect(lines(diffs(t, 6)), t.name).toEqual([]);
  });
});

// ---- the whole corpus, as `check` sees it ----

describe.each([1, 2, 3, 4, 5, 6, 7, 8])('step %i over the whole corpus', (n) => {
  it('every difference is explained by the step\'s intents, and every intent happens on each of its witnesses', () => {
    const intents = step(n).manifest.intents;
    const witnessed = new Set<string>();
    const credited = new Map<string, string[]>();
    for (const t of corpus) {
      const ex = explainDifferences(diffs(t, n), intents);
      expect(lines(ex.unexplained), `${t.name}`).toEqual([]);
      ex.intents.forEach((i) => witnessed.add(i));
      credited.set(t.name, ex.intents);
    }
    expect([...witnessed].sort()).toEqual(intents.map((i) => i.id).sort());
    for (const i of intents) {
      expect(i.witnesses.length, `${i.id} names a witness`).toBeGreaterThan(0);
      for (const w of i.witnesses) {
        expect(byName.has(w), `${i.id}: witness ${w} is a corpus trace`).toBe(true);
        expect(credited.get(w), `${i.id} happens on its witness ${w}`).toContain(i.id);
      }
    }
  });
});
