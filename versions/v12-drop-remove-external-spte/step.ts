import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 12,
  slug: 'drop-remove-external-spte',
  subject: 'KVM: TDX: Drop kvm_x86_ops.remove_external_spte()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '6eae9ce9461c',
  v2Subject: '[PATCH v2 12/15] KVM: TDX: Drop kvm_x86_ops.remove_external_spte()',
  touches: [
    'remove_external_spte',
    'handle_removed_pt',
    '__handle_changed_spte',
    'tdp_mmu_set_spte',
    'tdx_sept_remove_private_spte',
    'tdx_sept_set_private_spte',
    'tdx_hardware_setup',
  ],
  intents: [
    {
      id: 'v12-leaf-zap-inside-handle-changed-spte',
      summary: 'A write-lock zap of a mirror leaf is removed from the S-EPT by set_external_spte() inside __handle_changed_spte(), before the tracepoint, instead of by remove_external_spte() after handle_changed_spte(): same BLOCK/TRACK/REMOVE/WBINVD, the spte-changed tracepoint (old LEAF, new NONPRESENT) now follows them. A pure reorder: every tracepoint that moves is found unchanged on the other side.',
      witnesses: ['convert-private-to-shared', 'memslot-delete', 'reclaim-fails', 'teardown', 'zap-private-range', 'zap-private-vcpu-in-guest'],
      rewrites: [
        {
          op: ANY('a reorder: every operation that zaps a mirror leaf under the write lock'),
          events: [],
          moves: [{ kind: 'tracepoint', from: { name: 'kvm_tdp_mmu_spte_changed', level: '1', old: 'LEAF', new: 'NONPRESENT' }, to: {} }],
        },
      ],
    },
    {
      id: 'v12-failed-leaf-removal-not-booked',
      summary: 'A leaf removal that TDX refuses (KVM_BUG_ON(!hkid) at teardown, or BLOCK/TRACK failing with the VM bugged by TDX) now returns -EIO: __handle_changed_spte() returns before the tracepoint and the stats, and the handle_changed_spte() wrapper KVM_BUG_ON()s silently (TDX already bugged the VM, so no new VM-bugged/VM_DEAD kick). The S-EPT calls of the refused removal are unchanged.',
      witnesses: ['teardown-leaf-left', 'teardown-two-leaves-left', 'zap-track-stays-busy', 'zap-track-busy-two-leaves'],
      rewrites: [
        {
          // teardown: the leaf child of a table torn down after the HKID is released
          op: 'destroy',
          events: [
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the refused leaf, whatever gfn the torn-down table held'), level: 1, old: 'LEAF', new: 'FROZEN' },
            { side: 'added', kind: 'bug', site: 'handle_changed_spte', cond: '__handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, shared)', silent: true },
          ],
          // the refused leaf stays counted: one more 4K leaf per refused removal
          final: [{ side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', delta: 1 }],
          repeats: 'one refused removal per leaf the torn-down tables still hold',
        },
        {
          // a write-lock zap whose removal TDX gives up on (TRACK stays busy), from any
          // operation that zaps private leaves under the write lock
          op: ['gmem_invalidate', 'gmem_release', 'zap_gfn_range', 'convert_to_shared', 'memslot_delete', 'fast_zap'],
          events: [
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the refused leaf, whatever gfn the zapped range held'), level: 1, old: 'LEAF', new: 'NONPRESENT' },
            { side: 'added', kind: 'bug', site: 'handle_changed_spte', cond: '__handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, shared)', silent: true },
          ],
          // the refused leaf stays counted: one more 4K leaf per refused removal
          final: [{ side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', delta: 1 }],
          // the other leaves the same zap removes are traced after their removal now
          // (v12-leaf-zap-inside-handle-changed-spte): the same tracepoints, reordered
          moves: [{ kind: 'tracepoint', from: { name: 'kvm_tdp_mmu_spte_changed', level: '1', old: 'LEAF', new: 'NONPRESENT' }, to: {}, optional: 'a zap of the refused leaf alone' }],
          repeats: 'one refused removal per leaf of the range whose TRACK stays busy',
        },
      ],
    },
    {
      id: 'v12-atomic-leaf-zap-removes',
      summary: 'An atomic (read-lock) zap of a mirror leaf is no longer refused by TDX\'s KVM_BUG_ON(old present) with -EIO: the dispatcher sends it to the leaf removal, which runs BLOCK/TRACK/REMOVE/WBINVD under the read lock (lockdep splats) and succeeds (result 0, VM not bugged, leaf traced and uncounted).',
      witnesses: ['atomic-zap-mirror-leaf'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)', silent: false },
            { side: 'removed', kind: 'vm', state: 'bugged' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('the zapped leaf'), level: 1, status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'kick', request: 'KVM_REQ_OUTSIDE_GUEST_MODE' },
            { side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.REMOVE', gpa: ANY('the zapped leaf'), level: 1, status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'seamcall', name: 'TDH.PHYMEM.PAGE.WBINVD', page: ANY('the page of the zapped leaf'), status: 'TDX_SUCCESS' },
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the zapped leaf'), level: 1, old: 'LEAF', new: 'NONPRESENT' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '0' },
            // two in the removal routine before BLOCK, one before REMOVE; two in tdx_track()
            { side: 'added', kind: 'lockdep', site: 'tdx_sept_remove_private_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 3 },
            { side: 'added', kind: 'lockdep', site: 'tdx_track', cond: 'lockdep_assert_held_write(mmu_lock)', count: 2 },
          ],
          // the zapped leaf is no longer counted, however many leaves the trace maps
          final: [{ side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', delta: -1 }],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
        { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
        { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
        { side: 'removed', kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' },
        { side: 'removed', kind: 'final', what: 'sept', key: '0x1000@L1', value: 'PENDING gmem@0x1' },
        { side: 'removed', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x1', value: 'held' },
      ],
    },
    {
      id: 'v12-set-spte-mirror-block-gone',
      summary: 'tdp_mmu_set_spte() loses its mirror block (KVM_BUG_ON(new present) plus remove_external_spte()): a write-lock write of a present mirror leaf is mapped by the hook and stays mapped, without bugging the VM and without the BLOCK/TRACK/REMOVE/WBINVD that tore it down again.',
      witnesses: ['nonatomic-map-mirror-leaf'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: 'tdp_mmu_set_spte', cond: 'is_shadow_present_pte(new_spte)', silent: false },
            { side: 'removed', kind: 'vm', state: 'bugged' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('the written leaf'), level: 1, status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'kick', request: 'KVM_REQ_OUTSIDE_GUEST_MODE' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.PAGE.REMOVE', gpa: ANY('the written leaf'), level: 1, status: 'TDX_SUCCESS' },
            // remove_external_spte() looked the page up from the new SPTE: not a page TDX knew
            { side: 'removed', kind: 'seamcall', name: 'TDH.PHYMEM.PAGE.WBINVD', page: 'unknown', status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'invariant', rule: 'mirror-leaf-without-sept' },
          ],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
        { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
        { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
        { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
        { side: 'added', kind: 'final', what: 'sept', key: '0x2000@L1', value: 'PENDING gmem@0x2' },
        { side: 'added', kind: 'final', what: 'pages.heldByModule', key: 'gmem@0x2', value: 'held' },
      ],
    },
    {
      id: 'v12-child-removal-through-hook',
      summary: 'handle_removed_pt() removes the leaf children of a mirror table through handle_changed_spte() with new = FROZEN_SPTE (the hook) instead of remove_external_spte(): the 511 non-present children of a table holding one leaf no longer reach TDX at all (no failing BLOCK, no TDX_BUG_ON), the present leaf is removed (same S-EPT calls) and now traced and uncounted; the VM is now bugged later, by free_external_spt() on the live TD, whose KVM_BUG_ON turns loud.',
      witnesses: ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'remove-mirror-table-shared'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'lockdep', site: 'remove_external_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 512 },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('each non-present child entry of the removed table'), level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT', count: 511 },
            { side: 'removed', kind: 'lockdep', site: 'tdx_sept_remove_private_spte', cond: 'lockdep_assert_held_write(mmu_lock)', count: 1022 },
            // the first failing BLOCK bugged the VM, the other 510 fire silently
            { side: 'removed', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', silent: false },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', silent: true, count: 510 },
            // the present leaf child also went to the hook, which refused it (old present) on the already bugged VM
            { side: 'removed', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)', silent: true },
            { side: 'removed', kind: 'bug', site: 'handle_changed_spte', cond: '__handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, shared)', silent: true },
            { side: 'added', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the present leaf child of the removed table'), level: 1, old: 'LEAF', new: 'FROZEN' },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_free_private_spt', cond: 'is_hkid_assigned(kvm_tdx)', silent: true },
            { side: 'added', kind: 'bug', site: 'tdx_sept_free_private_spt', cond: 'is_hkid_assigned(kvm_tdx)', silent: false },
          ],
          // the VM is bugged once either way, now by free_external_spt() instead of the first failing BLOCK
          moves: [
            { kind: 'vm', from: { state: 'bugged' }, to: {} },
            { kind: 'kick', from: { request: 'KVM_REQ_VM_DEAD' }, to: {} },
          ],
        },
      ],
      final: [
        { side: 'removed', kind: 'final', what: 'stats', key: 'leaves4k', value: '1' },
        { side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', value: '0' },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v12-remove-returns-int',
      point: 'Which step makes tdx_sept_remove_private_spte() return int (series.md: 12, [I, high]).',
      choice: '12: every failure exit returns -EIO, success returns 0 after the reset, and the dispatcher returns its result for any present old value; so a removal refused at teardown skips the tracepoint and the stats decrement and hits the wrapper\'s (silent) KVM_BUG_ON().',
      reason: 'RFC v5 34/45, the direct ancestor of 12, makes exactly this void→int change, and once the routine is reached through the int-returning set_external_spte() it must report failure; 11 is a hoist and 13 a rename.',
      trace: 'teardown-leaf-left',
    },
    {
      id: 'v12-scenario-comment',
      point: 'When the lock/scenario comment above tdx_sept_set_private_spte() gets its final (1)/(2)/(3) form listing leaf removal.',
      choice: 'Here, together with the dispatch of present old values to the removal routine (a comment: no observable effect; the trace shows the new third scenario, leaf removal under the exclusive lock, going through the dispatcher).',
      reason: 'The final wording lists leaf removal, which only exists from 12 on.',
      trace: 'zap-private-range',
    },
  ],
};
