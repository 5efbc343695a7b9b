import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 13,
  slug: 'rename-remove-leaf-spte',
  subject: 'KVM: TDX: Rename tdx_sept_remove_private_spte() to show it\'s for leaf SPTEs',
  author: 'Yan Zhao <yan.y.zhao@intel.com>',
  commit: '0cef26b537ff',
  v2Subject: '[PATCH v2 13/15] KVM: TDX: Rename tdx_sept_remove_private_spte() to show it\'s for leaf SPTEs',
  touches: ['tdx_sept_remove_private_spte', 'tdx_sept_remove_leaf_spte', 'tdx_sept_set_private_spte'],
  // No functional change. The one observable difference is diagnostic: a splat names the
  // function it fires in, and that function has a new name.
  intents: [
    {
      id: 'v13-splat-site-renamed',
      summary: 'Diagnostics raised inside the removal routine (KVM_BUG_ON, TDX_BUG_ON, lockdep) now name tdx_sept_remove_leaf_spte instead of tdx_sept_remove_private_spte; nothing else changes.',
      witnesses: ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-leaf', 'atomic-zap-mirror-nonleaf', 'remove-mirror-table-shared', 'teardown-leaf-left', 'zap-track-stays-busy'],
      // a rename moves each firing (same cond, same silence), never adds or drops one
      rewrites: [
        {
          // the atomic zaps (lockdep), the teardown of a leaf left behind (KVM_BUG_ON(!hkid)), a failing PAGE.REMOVE (TDX_BUG_ON)
          op: ANY('a rename of a diagnostic site: whatever operation reaches it'),
          events: [],
          moves: [
            { kind: 'bug', from: { site: 'tdx_sept_remove_private_spte' }, to: { site: 'tdx_sept_remove_leaf_spte' }, optional: 'an operation that only splats lockdep there fires no KVM_BUG_ON' },
            { kind: 'lockdep', from: { site: 'tdx_sept_remove_private_spte' }, to: { site: 'tdx_sept_remove_leaf_spte' }, optional: 'an operation under the right lock splats no lockdep there' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v13-splat-names-follow-rename',
      point: 'Whether a rename-only patch may change observations: a diagnostic\'s site is the enclosing kernel function, whose name changes here.',
      choice: 'The model reports the kernel\'s real site, so the KVM_BUG_ON(!hkid) of a leaf left at teardown now names tdx_sept_remove_leaf_spte; the functional layer (SEAMCALLs, results, final state) is identical on every trace.',
      reason: 'A kernel splat prints the function it fires in; keeping the old name in the model would misreport the 7.2 kernel.',
      trace: 'teardown-leaf-left',
    },
  ],
};
