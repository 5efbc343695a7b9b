import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 11,
  slug: 'hoist-remove-private-spte',
  subject: 'KVM: TDX: Hoist tdx_sept_remove_private_spte() above set_private_spte()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: 'c74893aa56f4',
  v2Subject: '[PATCH v2 11/15] KVM: TDX: Hoist tdx_sept_remove_private_spte() above set_private_spte()',
  // code motion only: tdx_track() and tdx_sept_remove_private_spte() move, no body changes
  touches: [],
  // no functional change
  intents: [],
  assumptions: [
    {
      id: 'v11-remove-stays-void',
      point: 'Whether the hoist already makes tdx_sept_remove_private_spte() return int.',
      choice: 'No: it stays void at 11 (moved together with tdx_track(), bodies untouched); 12 makes it return int. A removal that fails at teardown therefore still lets the TDP MMU trace the change and drop the leaf from the stats.',
      reason: 'RFC v5 33/45, the origin of this patch, kept void, and the subject says only "hoist"; the int return is needed only once 12 calls it from the int-returning dispatcher.',
      trace: 'teardown-leaf-left',
    },
  ],
};
