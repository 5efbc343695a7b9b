import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 4,
  slug: 'plumb-old-spte',
  subject: 'KVM: x86/mmu: Plumb param "old_spte" into kvm_x86_ops.set_external_spte()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '291bcb3a7583',
  v2Subject: '[PATCH v2 04/15] KVM: x86/mmu: Plumb param "old_spte" into kvm_x86_ops.set_external_spte()',
  touches: ['__tdp_mmu_set_spte_atomic', 'tdx_sept_set_private_spte'],
  // No functional change: TDX accepts old_spte (the pre-freeze value) but does not use it yet.
  intents: [],
  assumptions: [],
};
