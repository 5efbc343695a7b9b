import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 14,
  slug: 'free-external-spt-error-handling',
  subject: 'KVM: x86: Move error handling inside free_external_spt()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: 'b35bda696e44',
  v2Subject: '[PATCH v2 14/15] KVM: x86: Move error handling inside free_external_spt()',
  touches: ['handle_removed_pt', 'tdx_sept_free_private_spt'],
  intents: [
    {
      id: 'v14-no-generic-free-warn',
      summary: 'free_external_spt() becomes void (kvm, sp) and TDX leaks the S-EPT page itself (NULLing sp->external_spt) when the HKID is still assigned or RECLAIM fails: the TDP MMU\'s WARN on a failed free disappears; the page is still leaked, the same SEAMCALL is issued.',
      witnesses: ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'reclaim-fails', 'remove-mirror-table-shared', 'flushvp-not-done'],
      rewrites: [
        {
          // one failed free: an S-EPT table removed by the atomic zap (HKID still assigned)
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'warn', site: 'handle_removed_pt', cond: 'kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)' },
          ],
        },
        {
          // at teardown, one WARN fewer per S-EPT table whose free fails: the one whose
          // RECLAIM fails, or every one when the HKID could not be released
          op: 'destroy',
          events: [
            { side: 'removed', kind: 'warn', site: 'handle_removed_pt', cond: 'kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)', count: 'some' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v14-tdx-nulls-on-failure',
      point: 'The exact form of tdx_sept_free_private_spt() at 14 (series.md: "condition → NULL" is [I], from RFC v5 09).',
      choice: 'if (KVM_BUG_ON(hkid assigned) || tdx_reclaim_page(...)) sp->external_spt = NULL; otherwise the pointer stays and the RCU callback frees the page as before (15 moves that free into TDX).',
      reason: 'It keeps 14 a pure move of the TDP MMU\'s error handling; a failed RECLAIM leaks the page without the generic WARN, and (NULL VM in TDX_BUG_ON_3) without bugging the VM.',
      trace: 'reclaim-fails',
    },
  ],
};
