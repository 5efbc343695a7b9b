// Each corpus trace on the series base: the specific events the kernel would produce.
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { replay } from '../../harness/replay.ts';
import { loadCorpus, resolveTrace } from '../../harness/trace.ts';
import type { Observation } from '../../harness/observation.ts';
import type { ObsEvent } from '../../src/kernel/context.ts';

function run(name: string): Observation {
  return replay(resolveTrace(name), STEPS[0]!);
}

/** The SEAMCALLs of the trace's own threads (not set-up), as "NAME gpa level status". */
function seamcalls(o: Observation): string[] {
  return o.events
    .filter((e) => e.kind === 'seamcall' && e.thread !== 'setup')
    .map((e) => [e.name, e.gpa ?? '', e.level ?? '', e.status].join(' ').replace(/ +/g, ' '));
}

function kinds(o: Observation, kind: string): ObsEvent[] {
  return o.events.filter((e) => e.kind === kind);
}

function results(o: Observation): string[] {
  return kinds(o, 'result').filter((e) => e.thread !== 'setup').map((e) => `${e.op}=${e.value}`);
}

const ZAP = (gpa: string): string[] => [
  `TDH.MEM.RANGE.BLOCK ${gpa} 1 TDX_SUCCESS`, 'TDH.MEM.TRACK TDX_SUCCESS', `TDH.MEM.PAGE.REMOVE ${gpa} 1 TDX_SUCCESS`, 'TDH.PHYMEM.PAGE.WBINVD TDX_SUCCESS',
];
const LINK3 = ['TDH.MEM.SEPT.ADD 0x0 4 TDX_SUCCESS', 'TDH.MEM.SEPT.ADD 0x0 3 TDX_SUCCESS', 'TDH.MEM.SEPT.ADD 0x0 2 TDX_SUCCESS'];

describe('corpus on step 0 (series base)', () => {
  it('private-fault: three SEPT.ADD then PAGE.AUG, all successful', () => {
    const o = run('private-fault');
    expect(seamcalls(o)).toEqual([...LINK3, 'TDH.MEM.PAGE.AUG 0x1000 1 TDX_SUCCESS']);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED']);
    expect(o.final.sept).toEqual([{ gpa: '0x1000', level: 1, state: 'PENDING', page: o.final.mirror.find((m) => m.level === 1)!.page }]);
    expect(o.final.septPages).toHaveLength(3);
    expect(kinds(o, 'bug').length + kinds(o, 'warn').length + kinds(o, 'lockdep').length).toBe(0);
  });

  it('shared-fault: the direct root maps the page, no SEAMCALL, mirror untouched', () => {
    const o = run('shared-fault');
    expect(seamcalls(o)).toEqual([]);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED']);
    expect(o.final.direct.filter((d) => d.kind === 'LEAF').map((d) => d.gpa)).toEqual(['0x800010000000']);
    expect(o.final.mirror).toEqual([]);
  });

  it('populate-finalize: PAGE.ADD with a source page before TDH.MR.FINALIZE', () => {
    const o = run('populate-finalize');
    expect(seamcalls(o)).toEqual([...LINK3, 'TDH.MEM.PAGE.ADD 0x2000 TDX_SUCCESS', 'TDH.MR.FINALIZE TDX_SUCCESS']);
    const add = o.events.find((e) => e.name === 'TDH.MEM.PAGE.ADD')!;
    expect(add.src).toBe('src');
    expect(results(o)).toEqual(['populate#0=0', 'finalize#1=0']);
    expect(o.final.sept[0]!.state).toBe('MAPPED');
    expect(o.final.vm.td).toBe('TD_STATE_RUNNABLE');
  });

  it('private-fault-busy: AUG busy once, the fault retries locally and succeeds', () => {
    const o = run('private-fault-busy');
    expect(seamcalls(o)).toEqual([...LINK3, 'TDH.MEM.PAGE.AUG 0x1000 1 TDX_OPERAND_BUSY', 'TDH.MEM.PAGE.AUG 0x1000 1 TDX_SUCCESS']);
    expect(kinds(o, 'tracepoint').filter((e) => e.name === 'kvm_mmu_spte_requested')).toHaveLength(2);
    expect(results(o)).toEqual(['inject_busy#0=armed', 'fault#1=RET_PF_FIXED']);
    expect(o.final.vm.bugged).toBe(false);
  });

  it('zap-private-range: BLOCK, TRACK, kick, REMOVE, WBINVD for each page, then one remote TLB flush', () => {
    const o = run('zap-private-range');
    const zap = o.events.filter((e) => e.thread === 'host' && (e.kind === 'seamcall' || e.kind === 'kick'));
    expect(zap.map((e) => (e.kind === 'kick' ? `kick ${e.request}` : e.name))).toEqual([
      'TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'kick KVM_REQ_OUTSIDE_GUEST_MODE', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD',
      'TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'kick KVM_REQ_OUTSIDE_GUEST_MODE', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD',
      // kvm_zap_gfn_range(): a present leaf of a valid root went, so kvm_flush_remote_tlbs()
      'kick KVM_REQ_TLB_FLUSH',
    ]);
    expect(seamcalls(o).slice(-8)).toEqual([...ZAP('0x1000'), ...ZAP('0x2000')]);
    expect(o.final.sept).toEqual([]);
    expect(o.final.mirror.filter((m) => m.kind === 'LEAF')).toEqual([]);
    expect(o.final.septPages).toHaveLength(3); // tables stay while the TD lives
  });

  it('zap-private-vcpu-in-guest: the kick takes the in-guest vCPU out before REMOVE', () => {
    const o = run('zap-private-vcpu-in-guest');
    const kick = o.events.find((e) => e.kind === 'kick' && e.request === 'KVM_REQ_OUTSIDE_GUEST_MODE')!;
    expect(kick.vcpus).toEqual([0]);
    expect(seamcalls(o)).toContain('TDH.MEM.PAGE.REMOVE 0x1000 1 TDX_SUCCESS');
    expect(results(o).at(-1)).toBe('fault#1=RET_PF_FIXED');
  });

  it('convert-private-to-shared: the private leaf is removed, the shared alias maps', () => {
    const o = run('convert-private-to-shared');
    expect(seamcalls(o).slice(4)).toEqual(ZAP('0x1000'));
    expect(o.final.sept).toEqual([]);
    expect(o.final.direct.filter((d) => d.kind === 'LEAF').map((d) => d.gpa)).toEqual(['0x800000001000']);
  });

  it('memslot-delete: both private leaves removed and the shared leaf zapped', () => {
    const o = run('memslot-delete');
    expect(o.events.filter((e) => e.thread === 'host-delete' && e.kind === 'seamcall').map((e) => e.name)).toEqual([
      ...['TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD'],
      ...['TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD'],
    ]);
    expect(o.final.direct.filter((d) => d.kind === 'LEAF')).toEqual([]);
  });

  it('teardown: every S-EPT page the trace added is reclaimed and freed after the grace period', () => {
    const o = run('teardown');
    const added = o.events.filter((e) => e.name === 'TDH.MEM.SEPT.ADD').map((e) => e.page);
    const isSept = (e: ObsEvent): boolean => String(e.page).startsWith('sept.');
    const reclaimed = o.events.filter((e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && e.status === 'TDX_SUCCESS' && isSept(e)).map((e) => e.page);
    expect(added).toHaveLength(4);
    expect([...reclaimed].sort()).toEqual([...added].sort());
    const freedExternal = kinds(o, 'free').filter((e) => e.what === 'external_spt').map((e) => e.page);
    expect([...freedExternal].sort()).toEqual([...added].sort());
    // on the base, the RCU callbacks run only after the last RECLAIM
    const lastReclaim = o.events.findLastIndex((e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && isSept(e));
    const firstFree = o.events.findIndex((e) => e.kind === 'free' && e.what === 'external_spt');
    expect(firstFree).toBeGreaterThan(lastReclaim);
    expect(o.final.pages.leaked).toEqual([]);
    expect(o.final.septPages).toEqual([]);
    expect(kinds(o, 'invariant')).toEqual([]);
    expect(o.final.vm.hkid).toBe(false);
    // kvm_destroy_vm(): the vCPU's TDCX pages and TDVPR (tdx_vcpu_free) before the S-EPT
    // pages; the TD's TDCS pages, then the TDR and its WBINVD (global KeyID) last
    const tail = o.events.filter((e) => e.kind === 'seamcall').slice(-6).map((e) => `${e.name} ${e.page}`);
    expect(tail).toEqual([
      'TDH.PHYMEM.PAGE.RECLAIM tdcs', 'TDH.PHYMEM.PAGE.RECLAIM tdcs#2', 'TDH.PHYMEM.PAGE.RECLAIM tdcs#3', 'TDH.PHYMEM.PAGE.RECLAIM tdcs#4',
      'TDH.PHYMEM.PAGE.RECLAIM tdr', 'TDH.PHYMEM.PAGE.WBINVD tdr',
    ]);
    const vcpuPages = o.events.filter((e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && /^td(cx|vpr)/.test(String(e.page))).map((e) => e.page);
    expect(vcpuPages).toEqual(['tdcx', 'tdcx#2', 'tdcx#3', 'tdcx#4', 'tdcx#5', 'tdvpr']);
    expect(o.final.pages.heldByModule).toEqual([]);
    expect(o.final.vm.td).toBe('TD_STATE_UNINITIALIZED');
  });

  it('teardown-leaf-left: removing the leaf after HKID release bugs the VM; the S-EPT leaf stays', () => {
    const o = run('teardown-leaf-left');
    const bug = kinds(o, 'bug');
    // the guest page the module still holds keeps the TDR from being reclaimed: WARN (no VM to bug)
    expect(bug.map((b) => `${b.site}: ${b.cond}`)).toEqual([
      'tdx_sept_remove_private_spte: !is_hkid_assigned(to_kvm_tdx(kvm))', '__tdx_reclaim_page: TDX_BUG_ON(TDH_PHYMEM_PAGE_RECLAIM)',
    ]);
    expect(o.events.find((e) => e.page === 'tdr')).toMatchObject({ name: 'TDH.PHYMEM.PAGE.RECLAIM', status: 'TDX_TD_ASSOCIATED_PAGES_EXIST' });
    expect(o.events.filter((e) => e.name === 'TDH.MEM.RANGE.BLOCK')).toEqual([]);
    expect(o.final.vm.bugged).toBe(true);
    expect(o.final.sept.map((s) => s.gpa)).toEqual(['0x1000']);
    expect(kinds(o, 'invariant').map((e) => e.rule)).toEqual(['sept-leaf-without-mirror']);
    expect(o.events.filter((e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && String(e.page).startsWith('sept.'))).toHaveLength(3);
  });

  it('reclaim-fails: the TDP MMU WARNs and leaks the S-EPT page', () => {
    const o = run('reclaim-fails');
    const failed = o.events.find((e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && e.status !== 'TDX_SUCCESS')!;
    expect(failed.status).toBe('TDX_PAGE_METADATA_INCORRECT');
    expect(kinds(o, 'warn').map((w) => w.site)).toEqual(['handle_removed_pt']);
    // the leaked S-EPT page then keeps the TDR from being reclaimed (the same WARN_ONCE site: silent)
    expect(kinds(o, 'bug').map((w) => `${w.site} ${w.silent}`)).toEqual(['__tdx_reclaim_page false', '__tdx_reclaim_page true']);
    expect(o.final.vm.bugged).toBe(false); // TDX_BUG_ON with a NULL VM only warns
    expect(o.final.pages.leaked).toEqual([{ page: failed.page, what: 'external_spt' }]);
  });

  it('age-shared: the shared leaf was young; the private GPA is never aged', () => {
    const o = run('age-shared');
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'fault#1=RET_PF_FIXED', 'age#0=young', 'age#1=old']);
    expect(o.final.direct.find((d) => d.kind === 'LEAF')!.accessed).toBe(false);
    expect(o.final.mirror.find((d) => d.kind === 'LEAF')!.accessed).toBe(true);
  });

  it('concurrent-faults-same-gfn: vCPU 1 meets the FROZEN leaf, retries, and finds it mapped', () => {
    const o = run('concurrent-faults-same-gfn');
    const requested = o.events.filter((e) => e.name === 'kvm_mmu_spte_requested');
    expect(requested.filter((e) => e.thread === 'vcpu1').length).toBeGreaterThan(1);
    expect(o.events.filter((e) => e.name === 'TDH.MEM.PAGE.AUG')).toHaveLength(1);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'fault#0=RET_PF_SPURIOUS']);
  });

  it('atomic-zap-mirror-leaf: KVM_BUG_ON in __tdp_mmu_set_spte_atomic, -EBUSY, nothing removed', () => {
    const o = run('atomic-zap-mirror-leaf');
    expect(kinds(o, 'bug').map((b) => `${b.site}: ${b.cond}`)).toEqual(['__tdp_mmu_set_spte_atomic: !is_shadow_present_pte(new_spte)']);
    expect(results(o).at(-1)).toBe('probe_set_spte#0=-EBUSY');
    expect(o.final.sept).toHaveLength(1);
  });

  it('atomic-set-frozen-mirror: a plain cmpxchg, no S-EPT call, the mirror entry stays FROZEN', () => {
    const o = run('atomic-set-frozen-mirror');
    expect(o.events.filter((e) => e.thread === 'probe' && e.kind !== 'result' && e.kind !== 'tracepoint')).toEqual([]);
    expect(o.final.mirror.find((m) => m.gpa === '0x2000')!.kind).toBe('FROZEN');
  });

  it('age-mirror-spte: with A/D bits the Accessed bit is cleared silently', () => {
    const o = run('age-mirror-spte');
    expect(kinds(o, 'warn')).toEqual([]);
    expect(o.final.mirror.find((m) => m.kind === 'LEAF')!.accessed).toBe(false);
  });

  it('atomic-present-to-present-mirror: KVM_BUG_ON(was_present), AUG on a mapped entry fails, -EIO', () => {
    const o = run('atomic-present-to-present-mirror');
    expect(kinds(o, 'bug').map((b) => `${b.site}:${b.silent}`)).toEqual(['set_external_spte_present:false', 'tdx_mem_page_aug:true']);
    const aug = o.events.filter((e) => e.name === 'TDH.MEM.PAGE.AUG');
    expect(aug.at(-1)!.status).toBe('TDX_EPT_ENTRY_STATE_INCORRECT');
    expect(results(o).at(-1)).toBe('probe_set_spte#0=-EIO');
    expect(o.final.mirror.find((m) => m.kind === 'LEAF')).toBeDefined();
  });

  it('replays are deterministic to the byte', () => {
    for (const t of ['teardown', 'concurrent-faults-same-gfn', 'reclaim-fails']) {
      expect(JSON.stringify(run(t))).toBe(JSON.stringify(run(t)));
    }
  });
});

describe('yield points skipped without a pinned schedule', () => {
  it('change no observation (every corpus trace, first and last step)', () => {
    for (const s of [STEPS[0]!, STEPS[STEPS.length - 1]!]) {
      for (const t of loadCorpus()) {
        const fast = JSON.stringify(replay(t, s));
        const full = JSON.stringify(replay(t, s, { yieldLog: [] }));
        expect(fast, `${t.name} on step ${s.manifest.step}`).toBe(full);
      }
    }
  });
});

describe('zap error path on step 0', () => {
  it('zap-track-stays-busy: TRACK busy twice bugs the VM, REMOVE fails tracking, the S-EPT leaf stays', () => {
    const o = run('zap-track-stays-busy');
    expect(o.events.filter((e) => e.name === 'TDH.MEM.TRACK').map((e) => e.status)).toEqual(['TDX_OPERAND_BUSY', 'TDX_OPERAND_BUSY']);
    expect(kinds(o, 'bug').map((b) => `${b.site}:${b.silent}`)).toEqual(['tdx_track:false', 'tdx_sept_remove_private_spte:true']);
    expect(o.events.find((e) => e.name === 'TDH.MEM.PAGE.REMOVE')!.status).toBe('TDX_TLB_TRACKING_NOT_DONE');
    expect(o.final.sept.map((s) => s.state)).toEqual(['PENDING_BLOCKED']);
    // the hole punch frees the folio all the same: the module still maps it (memory corruption)
    expect(kinds(o, 'invariant').map((e) => `${e.rule} ${e.site ?? ''}`)).toEqual(['free-while-owned truncate_inode_pages_range', 'sept-leaf-without-mirror ']);
  });
});
