import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 8,
  slug: 'plumb-sp-into-handle-changed-spte',
  subject: 'KVM: x86/mmu: Plumb "sp" _pointer_ into the TDP MMU\'s handle_changed_spte()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: 'c1ec7f368d85',
  v2Subject: '[PATCH v2 08/15] KVM: x86/mmu: Plumb "sp" _pointer_ into the TDP MMU\'s handle_changed_spte()',
  touches: ['handle_removed_pt', 'handle_changed_spte', 'tdp_mmu_set_spte_atomic', 'tdp_mmu_set_spte', 'tdp_mmu_iter_set_spte'],
  // No functional change: handle_changed_spte() derives as_id from the SP that holds the
  // SPTE (always the root's as_id), and tdp_mmu_set_spte() loses its as_id parameter.
  intents: [],
  assumptions: [],
};
