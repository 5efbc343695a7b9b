import { ANY, type StepManifest } from '../../src/step_types.ts';

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
  // Links issue the same SEPT.ADD with the same errnos; what changes is a bad child SP,
  // which only the probes build (no kernel path does).
  intents: [
    {
      id: 'v01-rwx-only-leaf-warning',
      summary: 'The leaf path\'s WARN_ON_ONCE in tdx_sept_set_private_spte() keeps only its RWX test (a not-present value is rejected before it by the new KVM_BUG_ON): a leaf without full RWX still warns, under the shorter condition.',
      witnesses: ['age-mirror-spte-no-ad'],
      rewrites: [
        {
          // aging a mirror leaf without A/D bits writes an access-tracked (non-RWX) value
          op: ANY('a rename of a diagnostic site: whatever operation reaches it'),
          events: [],
          // the same firing, under the shorter condition; none added or lost
          moves: [
            {
              kind: 'warn',
              from: { site: 'tdx_sept_set_private_spte', cond: '!is_shadow_present_pte(mirror_spte) || (mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK' },
              to: { cond: '(mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK' },
            },
          ],
        },
      ],
    },
    {
      id: 'v01-bad-child-sp-bugs-in-tdx',
      summary: 'A non-leaf mirror SPTE whose child SP has no external page or the wrong gfn now bugs the VM in tdx_spte_to_sept_pt() before TDH.MEM.SEPT.ADD; before, the TDP MMU only warned (wrong gfn: linked anyway, the link succeeded) or KVM_BUG_ON(!external_spt) and issued a SEPT.ADD the module refused.',
      witnesses: ['link-child-with-wrong-gfn', 'link-child-without-external-page'],
      rewrites: [
        {
          // child SP with the wrong gfn: the warning + successful link become a VM bug and -EIO
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'warn', site: 'get_external_spt', cond: 'sp->gfn != gfn' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.SEPT.ADD', gpa: '0x200000', level: 2, status: 'TDX_SUCCESS' },
            { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x200', level: 2, old: 'NONPRESENT', new: 'NONLEAF' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '0' },
            { side: 'added', kind: 'bug', site: 'tdx_spte_to_sept_pt', cond: 'sp->gfn != gfn' },
            { side: 'added', kind: 'vm', state: 'bugged' },
            { side: 'added', kind: 'kick', request: 'KVM_REQ_VM_DEAD' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
          ],
          // the wrong-gfn link no longer happens: the VM is bugged and dead, the mirror entry
          // stays non-present, and the child's S-EPT page is never handed to the module
          final: [
            { side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
            { side: 'removed', kind: 'final', what: 'vm', key: 'dead', value: 'false' },
            { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
            { side: 'added', kind: 'final', what: 'vm', key: 'dead', value: 'true' },
            { side: 'removed', kind: 'final', what: 'mirror', key: '0x200000@L2', value: 'NONLEAF mirror.L1@0x400' },
            { side: 'removed', kind: 'final', what: 'septPages', key: 'sept.L1@0x400', value: 'S-EPT page' },
            { side: 'removed', kind: 'final', what: 'pages.heldByModule', key: 'sept.L1@0x400', value: 'held' },
          ],
        },
        {
          // child SP without an external page: the TDP MMU's KVM_BUG_ON and the refused
          // SEPT.ADD become TDX's KVM_BUG_ON before any SEAMCALL (VM already bugged, result unchanged)
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: 'set_external_spte_present', cond: '!external_spt' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.SEPT.ADD', gpa: '0x200000', level: 2, status: 'TDX_OPERAND_INVALID' },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_link_private_spt', cond: 'TDX_BUG_ON(TDH_MEM_SEPT_ADD)' },
            { side: 'added', kind: 'bug', site: 'tdx_spte_to_sept_pt', cond: '!sp->external_spt' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v01-not-present-check-in-tdx',
      point: 'Whether TDX\'s KVM_BUG_ON(!is_shadow_present_pte(new)) → -EIO in tdx_sept_set_private_spte() was added by 01 or only by 05.',
      choice: 'Added by 01, before the leaf/non-leaf dispatch; the leaf WARN_ON_ONCE is reduced to the RWX test because the not-present half can no longer fire.',
      reason: 'v2 01\'s note says the patch was moved first so that the atomic-zap change can later be propagated via .set_external_spte(), which needs TDX to reject a non-present value already. Until 05 the TDP MMU filters non-present values (and FROZEN bypasses the hook until 07), so the check is first observable when 07 sends FROZEN to TDX.',
      trace: 'atomic-set-frozen-mirror',
    },
    {
      id: 'v01-bad-child-sp-check-in-01',
      point: 'Whether the three KVM_BUG_ONs on the child SP (no external page, level, gfn) arrive with the link routine in 01 (they replace get_external_spt()\'s WARN_ON_ONCEs) or later.',
      choice: 'In 01, in tdx_spte_to_sept_pt(), returning NULL → -EIO before any SEAMCALL.',
      reason: 'series.md: the helper with its three KVM_BUG_ONs comes with the link routine\'s move into the set_external_spte path, which is what 01 does; the probes build such children on purpose.',
      trace: 'link-child-with-wrong-gfn',
    },
  ],
};
