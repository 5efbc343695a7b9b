import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 10,
  slug: 'drop-shared-zap-bug-on',
  subject: 'KVM: x86/mmu: Drop KVM_BUG_ON() on shared lock to zap child external PTEs',
  author: 'Rick Edgecombe <rick.p.edgecombe@intel.com>',
  commit: '41367d77ee4e',
  v2Subject: '[PATCH v2 10/15] KVM: x86/mmu: Drop KVM_BUG_ON() on shared lock to zap child external PTEs',
  touches: ['handle_removed_pt'],
  intents: [
    {
      id: 'v10-no-bug-on-shared-child-zap',
      summary: 'handle_removed_pt() no longer KVM_BUG_ON()s when it removes the children of a mirror table under the shared lock (only lockdep guards the lock mode from now on); on the never-taken atomic table zap the VM is bugged later, by the first failing TDX call (its TDX_BUG_ON turns loud), and the same SEAMCALLs are issued.',
      witnesses: ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'remove-mirror-table-shared'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            // KVM_BUG_ON(shared) fired once per child entry of the removed table (512): the first loud, the rest silent
            { side: 'removed', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', silent: false },
            { side: 'removed', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', silent: true, count: 511 },
            // the VM is now bugged by the failing RANGE.BLOCK: that firing turns loud
            { side: 'removed', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', silent: true },
            { side: 'added', kind: 'bug', site: 'tdx_sept_remove_private_spte', cond: 'TDX_BUG_ON(TDH_MEM_RANGE_BLOCK)', silent: false },
          ],
          // the failing BLOCK itself is unchanged; it now comes before the VM is bugged
          moves: [{ kind: 'seamcall', from: { name: 'TDH.MEM.RANGE.BLOCK', status: 'TDX_EPT_ENTRY_STATE_INCORRECT' }, to: {} }],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v10-remove-call-stays',
      point: 'How 10 and 12 split the removal of handle_removed_pt()\'s per-child mirror block (series.md: [I] for the split).',
      choice: 'Only KVM_BUG_ON(shared) goes at 10; the remove_external_spte() call stays until 12, so an atomic table zap still removes each child through the helper (lockdep splats, BLOCK on every child) at 10 and 11.',
      reason: 'The subject names only the KVM_BUG_ON(); 12 is the patch that deletes remove_external_spte(), and 10 exists to make 12 a pure move of child removal into __handle_changed_spte().',
      trace: 'atomic-zap-mirror-nonleaf',
    },
  ],
};
