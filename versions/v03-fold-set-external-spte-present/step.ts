import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 3,
  slug: 'fold-set-external-spte-present',
  subject: 'KVM: x86/mmu: Fold set_external_spte_present() into its sole caller',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '78d23e299bba',
  v2Subject: '[PATCH v2 03/15] KVM: x86/mmu: Fold set_external_spte_present() into its sole caller',
  touches: ['set_external_spte_present', '__tdp_mmu_set_spte_atomic'],
  // No functional change. The fold does move one diagnostic: the KVM_BUG_ON on a
  // present old mirror SPTE now fires in __tdp_mmu_set_spte_atomic(), the function
  // that holds the inlined body (diagnostic layer only).
  intents: [
    {
      id: 'v03-old-present-bug-site',
      summary: 'Diagnostic only: KVM_BUG_ON(old mirror SPTE present) moves with the folded body from set_external_spte_present() into __tdp_mmu_set_spte_atomic(), and so does the lockdep assertion; same VM bug, same SEAMCALLs, same result.',
      witnesses: ['age-mirror-spte-no-ad', 'atomic-nonleaf-over-mirror-table', 'atomic-present-to-present-mirror'],
      rewrites: [
        {
          // renames: the KVM_BUG_ON on a present old SPTE (and, without mmu_lock, the lockdep
          // splat) move into __tdp_mmu_set_spte_atomic(); none is gained or lost
          op: ANY('a rename of a diagnostic site: whatever operation reaches it'),
          events: [],
          moves: [
            { kind: 'bug', from: { site: 'set_external_spte_present', cond: 'was_present' }, to: { site: '__tdp_mmu_set_spte_atomic', cond: 'is_shadow_present_pte(iter->old_spte)' } },
            { kind: 'lockdep', from: { site: 'set_external_spte_present', cond: 'lockdep_assert_held(mmu_lock)' }, to: { site: '__tdp_mmu_set_spte_atomic' }, optional: 'only a caller without mmu_lock (aging) splats' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v03-two-bug-ons-kept-apart',
      point: 'After the fold, whether the "new not present" and "old present" KVM_BUG_ONs were merged into one early return (RFC v5 06 returned -EBUSY for both) or kept as before.',
      choice: 'Kept apart, in this order: KVM_BUG_ON(!present(new)) → -EBUSY (with the atomic-zap comment), then KVM_BUG_ON(present(old)) without a return, then lockdep_assert_held(), freeze, set_external_spte(), restore or commit.',
      reason: 'The log says "no functional change intended", which a merged early return would break: a present→present write would stop with -EBUSY before reaching TDX instead of going on to PAGE.AUG and failing there with -EIO.',
      trace: 'atomic-present-to-present-mirror',
    },
  ],
};
