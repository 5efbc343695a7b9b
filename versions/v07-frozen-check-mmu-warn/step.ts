import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 7,
  slug: 'frozen-check-mmu-warn',
  subject: 'KVM: x86/tdp_mmu: Morph !is_frozen_spte() check into a KVM_MMU_WARN_ON()',
  author: 'Rick Edgecombe <rick.p.edgecombe@intel.com>',
  commit: 'c1d3af136fbf',
  v2Subject: '[PATCH v2 07/15] KVM: x86/tdp_mmu: Morph !is_frozen_spte() check into a KVM_MMU_WARN_ON()',
  touches: ['__tdp_mmu_set_spte_atomic'],
  intents: [
    {
      id: 'v07-frozen-write-mmu-warn',
      summary: 'An atomic write of FROZEN_SPTE now trips KVM_MMU_WARN_ON(is_frozen_spte(new_spte)) in __tdp_mmu_set_spte_atomic() (CONFIG_KVM_PROVE_MMU). Into a direct SPTE the warning is the whole change (this rewrite); into a mirror SPTE the same warning fires together with the TDX path the write now takes, so those groups are explained by v07-frozen-mirror-write-goes-to-tdx and v07-frozen-over-mirror-table-rejected, whose rewrites include it.',
      witnesses: ['atomic-set-frozen-direct'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'added', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
          ],
        },
      ],
    },
    {
      id: 'v07-frozen-mirror-write-goes-to-tdx',
      summary: 'FROZEN_SPTE written atomically to a non-present mirror SPTE trips the new KVM_MMU_WARN_ON and no longer slips past the mirror branch as a plain cmpxchg: it is frozen, handed to TDX, rejected by the not-present KVM_BUG_ON (-EIO, VM bugged and dead) and restored, so the mirror entry never holds FROZEN and no spte_changed trace is emitted.',
      witnesses: ['atomic-set-frozen-mirror'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'added', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('whatever GFN the probe writes FROZEN to'), level: 1, old: 'NONPRESENT', new: 'FROZEN' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '0' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: '!is_shadow_present_pte(new_spte)' },
            { side: 'added', kind: 'vm', state: 'bugged' },
            { side: 'added', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
          ],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
        { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
        { side: 'removed', kind: 'final', what: 'mirror', key: '0x2000@L1', value: 'FROZEN' },
      ],
    },
    {
      id: 'v07-frozen-over-mirror-table-rejected',
      summary: 'FROZEN_SPTE written atomically over a present mirror table (L2, of 4K leaves) trips the new KVM_MMU_WARN_ON and no longer tears the table down under the read lock (handle_removed_pt(shared): KVM_BUG_ON(shared) and a remove_external_spte lockdep splat for each of the 512 entries, BLOCK/TRACK/REMOVE/WBINVD of its one mapped leaf, RANGE.BLOCK refused for every empty entry, free_external_spt refused on a live TD, the table page freed); TDX rejects it on the present old SPTE with -EIO and the table, its leaf and the S-EPT leaf stay.',
      witnesses: ['remove-mirror-table-shared'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'added', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '0' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
            // the table entry itself is no longer frozen
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('whatever GFN the probe freezes'), level: 2, old: 'NONLEAF', new: 'FROZEN' },
            // handle_removed_pt(shared) no longer runs: once per entry of the 512-entry table
            { side: 'removed', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', count: 512 },
            { side: 'removed', kind: 'lockdep', site: 'remove_external_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 512 },
            // 2 per empty entry (its own + RANGE.BLOCK's tdh_do_no_vcpus), 3 for the leaf (+ PAGE.REMOVE's)
            { side: 'removed', kind: 'lockdep', site: 'tdx_sept_remove_private_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 1025 },
            // … per empty entry (511: all but the one mapped leaf): frozen, then RANGE.BLOCK refused
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('each empty child entry of the table'), level: 1, old: 'NONPRESENT', new: 'FROZEN', count: 511 },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('each empty child entry of the table'), level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT', count: 511 },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', count: 511 },
            // … the one mapped leaf: frozen, then BLOCK, TRACK (+ kick), REMOVE, WBINVD
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the GFN of the leaf the table maps'), level: 1, old: 'LEAF', new: 'FROZEN' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('the GPA of the leaf the table maps'), level: 1, status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'lockdep', site: 'tdx_track', cond: 'lockdep_assert_held_write(mmu_lock)', count: 2 }, // its own + its tdh_do_no_vcpus
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_OUTSIDE_GUEST_MODE' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.PAGE.REMOVE', gpa: ANY('the GPA of the leaf the table maps'), level: 1, status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.PHYMEM.PAGE.WBINVD', page: ANY('the page of the leaf the table maps'), status: 'TDX_SUCCESS' },
            // … then the table itself: free_external_spt refused on a live TD, the page freed
            { side: 'removed', kind: 'bug', site: 'tdx_sept_free_private_spt', cond: 'is_hkid_assigned(kvm_tdx)' },
            { side: 'removed', kind: 'warn', site: 'handle_removed_pt', cond: 'kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)' },
            { side: 'removed', kind: 'free', site: 'tdp_mmu_free_sp', what: 'spt' },
          ],
        },
      ],
      // the table stays linked (FROZEN no longer replaces it) and keeps its leaf
      final: [
        { side: 'removed', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'FROZEN' },
        { side: 'added', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'NONLEAF mirror.L1@0x0' },
        { side: 'added', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
        { side: 'added', kind: 'final', what: 'sept', key: '0x1000@L1', value: 'PENDING gmem@0x1' },
        { side: 'added', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x1', value: 'held' },
        { side: 'removed', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '2' },
        { side: 'added', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '3' },
        { side: 'removed', kind: 'final', what: 'stats', key: 'leaves4k', value: '0' },
        { side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', value: '1' },
      ],
    },
  ],
  assumptions: [],
};
