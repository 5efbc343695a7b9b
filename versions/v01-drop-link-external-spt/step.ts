import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 1,
  slug: 'drop-link-external-spt',
  subject: 'KVM: TDX: Drop kvm_x86_ops.link_external_spt()',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '12d595795de7',
  v2Subject: '[PATCH v2 01/15] KVM: TDX: Drop kvm_x86_ops.link_external_spt()',
  touches: [
    'get_external_spt',
    'set_external_spte_present',
    'tdx_spte_to_sept_pt',
    'tdx_sept_link_private_spt',
    'tdx_sept_set_private_spte',
    'tdx_hardware_setup',
  ],
  // Every reachable change of this patch is invisible: links issue the same SEPT.ADD with
  // the same errnos. The one real change (a bad child SP now bugs the VM in TDX and fails
  // with -EIO before SEPT.ADD) cannot be reached by any trace: see the assumption below.
  intents: [],
  assumptions: [
    {
      id: 'v01-not-present-check-in-tdx',
      point: 'Whether TDX\'s KVM_BUG_ON(!is_shadow_present_pte(new)) → -EIO in tdx_sept_set_private_spte() was added by 01 or only by 05.',
      choice: 'Added by 01, before the leaf/non-leaf dispatch; the leaf WARN_ON_ONCE is reduced to the RWX test because the not-present half can no longer fire.',
      reason: 'v2 01\'s note says the patch was moved first so that the atomic-zap change can later be propagated via .set_external_spte(), which needs TDX to reject a non-present value already. Until 05 the TDP MMU filters non-present values (and FROZEN bypasses the hook until 07), so the check is first observable when 07 sends FROZEN to TDX.',
      trace: 'atomic-set-frozen-mirror',
    },
    {
      id: 'v01-bad-child-sp-unreachable',
      point: 'A non-leaf mirror SPTE whose child SP has no external page, the wrong level or the wrong gfn: base WARNs in get_external_spt() and links anyway; 01 bugs the VM in tdx_spte_to_sept_pt() and returns -EIO before TDH.MEM.SEPT.ADD (the mirror entry is restored).',
      choice: 'Modelled as series.md says (three KVM_BUG_ONs returning NULL → -EIO), declared as no intent because no trace can build such a child: faults and the probe both initialise the child from the iterator (level − 1, iter gfn) and give mirror children an external page.',
      reason: 'An intent no corpus trace can witness would be a permanent coverage gap; the reachable link path (good child) is unchanged, which private-fault shows (same three SEPT.ADDs).',
      trace: 'private-fault',
    },
  ],
};
