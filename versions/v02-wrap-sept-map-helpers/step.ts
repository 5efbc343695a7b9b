import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 2,
  slug: 'wrap-sept-map-helpers',
  subject: 'KVM: TDX: Wrap mapping of leaf and non-leaf S-EPT entries into helpers',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '176dcd88f4b4',
  v2Subject: '[PATCH v2 02/15] KVM: TDX: Wrap mapping of leaf and non-leaf S-EPT entries into helpers',
  touches: [
    'tdx_sept_link_private_spt',
    'tdx_sept_map_nonleaf_spte',
    'tdx_sept_map_leaf_spte',
    'tdx_sept_set_private_spte',
  ],
  // No functional change: the same checks run in the same order, only split into helpers.
  // The split does rename the functions two diagnostics fire in (diagnostic layer only).
  intents: [
    {
      id: 'v02-map-diagnostics-renamed',
      summary: 'Diagnostic only: with the link routine renamed to tdx_sept_map_nonleaf_spte() and the leaf body moved into tdx_sept_map_leaf_spte(), their TDX_BUG_ON / WARN_ON_ONCE fire under the new function names; same conditions, same SEAMCALLs, same results.',
      witnesses: ['age-mirror-spte-no-ad', 'atomic-nonleaf-over-mirror-table'],
      rewrites: [
        {
          // renames: each firing moves to the new helper, none is gained or lost
          op: ANY('a rename of a diagnostic site: whatever operation reaches it'),
          events: [],
          moves: [
            // aging a mirror leaf without A/D bits: the leaf RWX warning moves into the leaf helper
            { kind: 'warn', from: { site: 'tdx_sept_set_private_spte', cond: '(mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK' }, to: { site: 'tdx_sept_map_leaf_spte', cond: '(new_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK' }, optional: 'only a leaf write without full RWX warns' },
            // a refused SEPT.ADD is reported by the renamed non-leaf helper
            { kind: 'bug', from: { site: 'tdx_sept_link_private_spt', cond: 'TDX_BUG_ON(TDH_MEM_SEPT_ADD)' }, to: { site: 'tdx_sept_map_nonleaf_spte' }, optional: 'only a refused SEPT.ADD bugs the VM' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v02-helper-names-and-params',
      point: 'Whether the link routine\'s rename to tdx_sept_map_nonleaf_spte() lands in 02, and what the new helpers call their SPTE parameter.',
      choice: 'Both helpers (tdx_sept_map_nonleaf_spte(), the renamed link routine, and the new tdx_sept_map_leaf_spte()) are created here with the end state\'s (kvm, gfn, level, new_spte); the dispatcher keeps mirror_spte until 04 renames it.',
      reason: 'The v2 cover confirms the rename for v2, and 02 is the patch that introduces the map_* naming; taking the end-state parameter name here means 04 only renames the dispatcher\'s parameter. The rename shows where a SEPT.ADD failure is reported: atomic-nonleaf-over-mirror-table\'s TDX_BUG_ON(TDH_MEM_SEPT_ADD) moves from tdx_sept_link_private_spt to tdx_sept_map_nonleaf_spte at this step, with the same SEAMCALL and result.',
      trace: 'atomic-nonleaf-over-mirror-table',
    },
  ],
};
