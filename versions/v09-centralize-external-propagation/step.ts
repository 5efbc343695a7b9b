import { ANY, type EventPattern, type StepManifest } from '../../src/step_types.ts';

// The atomic change of a present mirror table entry: until 08 TDX refused it (KVM_BUG_ON,
// -EIO); now it succeeds. Shared by the three rewrites of v09-atomic-table-zap-tears-down.
const TDX_REFUSAL_GONE: EventPattern[] = [
  { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
  { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
  { side: 'added', kind: 'result', name: 'probe_set_spte', value: '0' },
];

// The teardown, under the read lock, of the witness table (level 2 at GFN 0, one present
// leaf at GFN 0x1, 511 empty entries): each child frozen and traced, sent through the hook
// (the present leaf: TDX KVM_BUG_ON, not traced) and through remove_external_spte()
// (lockdep splats; BLOCK refused for the empty entries; BLOCK, TRACK, REMOVE and WBINVD for
// the leaf), KVM_BUG_ON(shared) per child, free_external_spt() refused on a live TD.
const TEARDOWN_OF_WITNESS_TABLE: EventPattern[] = [
  { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('each non-present child entry of the torn-down table'), level: 1, old: 'NONPRESENT', new: 'FROZEN', count: 511 },
  { side: 'added', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('each non-present child entry of the torn-down table'), level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT', count: 511 },
  { side: 'added', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', count: 511 },
  { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
  { side: 'added', kind: 'bug', site: 'handle_changed_spte', cond: '__handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, shared)' },
  { side: 'added', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: '0x1000', level: 1, status: 'TDX_SUCCESS' },
  { side: 'added', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
  { side: 'added', kind: 'kick', request: 'KVM_REQ_OUTSIDE_GUEST_MODE' },
  { side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.REMOVE', gpa: '0x1000', level: 1, status: 'TDX_SUCCESS' },
  { side: 'added', kind: 'seamcall', name: 'TDH.PHYMEM.PAGE.WBINVD', page: 'gmem@0x1', status: 'TDX_SUCCESS' },
  { side: 'added', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', count: 512 },
  { side: 'added', kind: 'lockdep', site: 'remove_external_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 512 },
  { side: 'added', kind: 'lockdep', site: 'tdx_sept_remove_private_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 1025 },
  { side: 'added', kind: 'lockdep', site: 'tdx_track', cond: 'lockdep_assert_held_write(mmu_lock)', count: 2 },
  { side: 'added', kind: 'bug', site: 'tdx_sept_free_private_spt', cond: 'is_hkid_assigned(kvm_tdx)' },
  { side: 'added', kind: 'warn', site: 'handle_removed_pt', cond: 'kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)' },
  { side: 'added', kind: 'free', site: 'tdp_mmu_free_sp', what: 'spt', page: 'mirror.L1@0x0' },
];

export const manifest: StepManifest = {
  step: 9,
  slug: 'centralize-external-propagation',
  subject: 'KVM: x86/tdp_mmu: Centrally propagate to-present/atomic zap updates to external PTEs',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '28c77a037804',
  v2Subject: '[PATCH v2 09/15] KVM: x86/tdp_mmu: Centrally propagate to-present/atomic zap updates to external PTEs',
  touches: [
    '__handle_changed_spte',
    'handle_changed_spte',
    '__tdp_mmu_set_spte_atomic',
    'tdp_mmu_set_spte_atomic',
    'kvm_tdp_mmu_age_spte',
  ],
  intents: [
    {
      id: 'v09-bookkeeping-after-external-update',
      summary: 'The spte-changed tracepoint (and the page stats) of a change now come after the child-table teardown and the external update: a removed table is traced after its children (the same tracepoint, moved), a failed external update is not traced; a non-present to non-present change keeps its tracepoint in the early-return branch (the v3 fix). On its own (no other change in the operation) this shows as a pure reorder of the tracepoints of removed tables.',
      witnesses: ['reclaim-fails', 'teardown', 'teardown-leaf-left'],
      rewrites: [
        {
          // VM teardown (write lock): each removed table's tracepoint moves from before its
          // children's teardown to after it; nothing is gained or lost
          op: ANY('a reorder: every operation that removes a page table under the write lock'),
          events: [],
          moves: [{ kind: 'tracepoint', from: { name: 'kvm_tdp_mmu_spte_changed', old: 'NONLEAF' }, to: {} }],
        },
      ],
    },
    {
      id: 'v09-frozen-warn-moves-to-set-spte-atomic',
      summary: 'KVM_MMU_WARN_ON(is_frozen_spte(new_spte)) moves from __tdp_mmu_set_spte_atomic() to tdp_mmu_set_spte_atomic(), because the former now writes FROZEN_SPTE itself to freeze mirror entries. (Where the same operation also changes otherwise, the move is part of that intent\'s rewrite: v09-frozen-mirror-write-not-propagated, v09-atomic-table-zap-tears-down.)',
      witnesses: ['atomic-set-frozen-direct'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'added', kind: 'mmu_warn', site: 'tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
          ],
        },
      ],
    },
    {
      id: 'v09-frozen-mirror-write-not-propagated',
      summary: 'An atomic write of FROZEN_SPTE over a non-present mirror SPTE is a non-present to non-present change: __handle_changed_spte() traces it and returns before the hook, so TDX no longer bugs the VM with -EIO and the mirror entry is left FROZEN (as in the end state). The same operation shows the frozen-value warning\'s move (v09-frozen-warn-moves-to-set-spte-atomic).',
      witnesses: ['atomic-set-frozen-mirror'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: '!is_shadow_present_pte(new_spte)' },
            { side: 'removed', kind: 'vm', state: 'bugged' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '0' },
            // the non-present to non-present change is traced in the early-return branch
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x2', level: 1, old: 'NONPRESENT', new: 'FROZEN' },
            { side: 'removed', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'added', kind: 'mmu_warn', site: 'tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
          ],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
        { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
        { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
        { side: 'added', kind: 'final', what: 'mirror', key: '0x2000@L1', value: 'FROZEN' },
      ],
    },
    {
      id: 'v09-unchanged-mirror-value-not-propagated',
      summary: 'An atomic write of the value a present mirror leaf already holds returns early in __handle_changed_spte() (old == new): the hook is not called, so TDX\'s KVM_BUG_ON(old present) no longer fires and the write succeeds.',
      witnesses: ['atomic-present-to-present-mirror'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
            { side: 'removed', kind: 'vm', state: 'bugged' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '0' },
          ],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
        { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
        { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
      ],
    },
    {
      id: 'v09-age-mirror-warns',
      summary: 'kvm_tdp_mmu_age_spte() WARN_ON_ONCE()s on a mirror SPTE and leaves it alone (aging bypasses the external update); before, the Accessed bit of the mirror leaf was cleared behind TDX\'s back.',
      witnesses: ['age-mirror-spte', 'age-mirror-spte-no-ad'],
      rewrites: [
        {
          // A/D bits on: the Accessed bit used to be cleared (and traced) behind TDX's back;
          // now only the warning
          op: 'probe_age',
          events: [
            { side: 'added', kind: 'warn', site: 'kvm_tdp_mmu_age_spte', cond: 'is_mirror_sptep(iter->sptep)' },
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x1', level: 1, old: 'LEAF', new: 'LEAF' },
          ],
          final: [
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 not-accessed' },
            { side: 'added', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
          ],
        },
        {
          // A/D bits off: the access-tracked value used to reach TDX without mmu_lock, which
          // bugged the VM there; now nothing past the warning happens
          op: 'probe_age',
          events: [
            { side: 'added', kind: 'warn', site: 'kvm_tdp_mmu_age_spte', cond: 'is_mirror_sptep(iter->sptep)' },
            { side: 'removed', kind: 'lockdep', site: 'tdx_sept_set_private_spte', cond: 'lockdep_assert_held(mmu_lock)' },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
            { side: 'removed', kind: 'vm', state: 'bugged' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
          ],
          final: [
            { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
            { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
            { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
            { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
          ],
        },
      ],
    },
    {
      id: 'v09-to-present-propagated-in-any-lock-mode',
      summary: 'A to-present mirror change reaches set_external_spte() from __handle_changed_spte() whatever the lock mode: a write-lock write of a present leaf now maps it in the S-EPT (PAGE.AUG) before tdp_mmu_set_spte()\'s KVM_BUG_ON(new present) and remove_external_spte(), whose removal then finds the page and succeeds.',
      witnesses: ['nonatomic-map-mirror-leaf'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: '0x2000', level: 1, page: 'gmem@0x2', status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: '0x2000', level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT' },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: '0x2000', level: 1, status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'kick', request: 'KVM_REQ_OUTSIDE_GUEST_MODE' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.REMOVE', gpa: '0x2000', level: 1, status: 'TDX_SUCCESS' },
            // the trace names the leaf's frame 'unknown' (the probe wrote a PFN no gmem page owns)
            { side: 'added', kind: 'seamcall', name: 'TDH.PHYMEM.PAGE.WBINVD', page: 'unknown', status: 'TDX_SUCCESS' },
          ],
        },
      ],
    },
    {
      id: 'v09-atomic-table-zap-tears-down',
      summary: 'An atomic zap (or freeze, or replacement by another table: WARN_ON_ONCE(pfn_changed)) of a present non-leaf mirror SPTE no longer reaches TDX (which refused it with -EIO): __handle_changed_spte() tears the child table down with shared=true while the parent is frozen, each child going through the hook (present leaf: TDX KVM_BUG_ON, the failed update not traced; non-present: frozen and traced) and remove_external_spte() under the read lock (lockdep splats, SEAMCALLs; BLOCK fails on the non-present children), KVM_BUG_ON(shared) firing, free_external_spt() refusing on a live TD; the zap itself succeeds and is traced after the teardown. The witness tables (a level-2 table at GFN 0 whose only present child is a leaf at GFN 0x1) fix every count.',
      witnesses: ['atomic-zap-mirror-nonleaf', 'atomic-nonleaf-over-mirror-table', 'remove-mirror-table-shared'],
      rewrites: [
        {
          // atomic zap: NONLEAF -> NONPRESENT
          op: 'probe_set_spte',
          events: [
            // step 08: TDX refused the zap
            ...TDX_REFUSAL_GONE,
            // the parent change is traced once its table is torn down
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x0', level: 2, old: 'NONLEAF', new: 'NONPRESENT' },
            // the teardown of its 512 children
            ...TEARDOWN_OF_WITNESS_TABLE,
          ],
          final: [
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'NONLEAF mirror.L1@0x0' },
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
            { side: 'removed', kind: 'final', what: 'sept', key: '0x1000@L1', value: 'PENDING gmem@0x1' },
            { side: 'removed', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x1', value: 'held' },
            { side: 'removed', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '3' },
            { side: 'added', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '2' },
          ],
        },
        {
          // replacement by another table: NONLEAF -> NONLEAF, WARN_ON_ONCE(pfn_changed)
          op: 'probe_set_spte',
          events: [
            ...TDX_REFUSAL_GONE,
            { side: 'added', kind: 'warn', site: '__handle_changed_spte', cond: 'pfn_changed' },
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x0', level: 2, old: 'NONLEAF', new: 'NONLEAF' },
            ...TEARDOWN_OF_WITNESS_TABLE,
          ],
          final: [
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'NONLEAF mirror.L1@0x0' },
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
            { side: 'added', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'NONLEAF mirror.L1@0x0#2' },
            { side: 'removed', kind: 'final', what: 'sept', key: '0x1000@L1', value: 'PENDING gmem@0x1' },
            { side: 'removed', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x1', value: 'held' },
            { side: 'removed', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '4' },
            { side: 'added', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '3' },
          ],
        },
        {
          // freeze of the table entry: NONLEAF -> FROZEN, with the frozen-value warning's move
          // (v09-frozen-warn-moves-to-set-spte-atomic) in the same operation
          op: 'probe_set_spte',
          events: [
            ...TDX_REFUSAL_GONE,
            { side: 'removed', kind: 'mmu_warn', site: '__tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'added', kind: 'mmu_warn', site: 'tdp_mmu_set_spte_atomic', cond: 'is_frozen_spte(new_spte)' },
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x0', level: 2, old: 'NONLEAF', new: 'FROZEN' },
            ...TEARDOWN_OF_WITNESS_TABLE,
          ],
          final: [
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'NONLEAF mirror.L1@0x0' },
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
            { side: 'added', kind: 'final', what: 'mirror', key: '0x0@L2', value: 'FROZEN' },
            { side: 'removed', kind: 'final', what: 'sept', key: '0x1000@L1', value: 'PENDING gmem@0x1' },
            { side: 'removed', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x1', value: 'held' },
            { side: 'removed', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '3' },
            { side: 'added', kind: 'final', what: 'stats', key: 'tdp_mmu_pages', value: '2' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v09-hook-condition',
      point: 'The exact condition under which __handle_changed_spte() calls set_external_spte() at step 09 (series.md: [U]; only the end state\'s bare "mirror SP" is known).',
      choice: 'is_mirror_sp(sp) && (is_present || shared): to-present changes in any lock mode and every atomic (shared) change; write-lock zaps keep going through remove_external_spte() in tdp_mmu_set_spte() and handle_removed_pt() until 12.',
      reason: 'The cover letter says 09 centralises to-present and atomic-zap changes and 12 "all changes"; sending write-lock zaps to the hook at 09 would hit TDX\'s KVM_BUG_ON(old present) from 05 on every ordinary zap and break bisection. An atomic zap of a mirror leaf therefore reaches TDX, which bugs the VM and returns -EIO; the mirror entry is restored and the error returned to the caller.',
      trace: 'atomic-zap-mirror-leaf',
    },
    {
      id: 'v09-write-lock-zaps-bypass-hook',
      point: 'Whether write-lock leaf zaps reach set_external_spte() at 09.',
      choice: 'No: the hook condition is false for a non-present new value under the write lock, so zap traces issue the same BLOCK/TRACK/REMOVE/WBINVD through remove_external_spte(), after the tracepoint, exactly as at 08.',
      reason: 'Same bisectability argument as v09-hook-condition; zap-private-range is unchanged between 08 and 09.',
      trace: 'zap-private-range',
    },
    {
      id: 'v09-set-spte-keeps-mirror-bug-on',
      point: 'Whether tdp_mmu_set_spte() keeps its mirror KVM_BUG_ON(is_shadow_present_pte(new_spte)) and remove_external_spte() call until 12.',
      choice: 'Kept until 12 (series.md [I]): a write-lock write of a present mirror leaf is mapped by the hook at 09, then bugs the VM in tdp_mmu_set_spte() and is removed again by remove_external_spte().',
      reason: 'Patch 12 is the one that drops remove_external_spte() and with it the only reason for that block; 09\'s diffstat and log do not mention tdp_mmu_set_spte().',
      trace: 'nonatomic-map-mirror-leaf',
    },
    {
      id: 'v09-np-to-np-trace',
      point: 'Whether a non-present to non-present change is traced once the tracepoint moves below the external update (v2 dropped it, v3 restored it).',
      choice: 'Merged = v3: the early-return branch for non-present to non-present changes emits the tracepoint itself.',
      reason: 'series.md: v3 is "v2 rebased plus a fix for a missing trace call"; the end state has the second trace call in that branch. A FROZEN write over a non-present mirror SPTE shows it.',
      trace: 'atomic-set-frozen-mirror',
    },
  ],
};
