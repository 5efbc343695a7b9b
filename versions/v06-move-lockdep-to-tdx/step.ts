import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 6,
  slug: 'move-lockdep-to-tdx',
  subject: 'KVM: TDX: Move lockdep assert in __tdp_mmu_set_spte_atomic() to TDX code',
  author: 'Rick Edgecombe <rick.p.edgecombe@intel.com>',
  commit: '40342185fd2b',
  v2Subject: '[PATCH v2 06/15] KVM: TDX: Move lockdep assert in __tdp_mmu_set_spte_atomic() to TDX code',
  touches: ['__tdp_mmu_set_spte_atomic', 'tdx_sept_set_private_spte'],
  // Lockdep-only: the same lockdep_assert_held(mmu_lock) now runs in TDX, after the
  // freeze instead of before it. Only a caller without mmu_lock (aging a mirror SPTE
  // with A/D bits off) sees it: the splat names its new site.
  intents: [
    {
      id: 'v06-lockdep-assert-in-tdx',
      summary: 'The lockdep_assert_held(mmu_lock) of the mirror path moves from __tdp_mmu_set_spte_atomic() into tdx_sept_set_private_spte(): a lockless caller splats once, from TDX.',
      witnesses: ['age-mirror-spte-no-ad'],
      rewrites: [
        {
          // aging a mirror SPTE with A/D bits off is the only caller without mmu_lock
          op: ANY('a rename of a diagnostic site: whatever operation reaches it'),
          events: [],
          moves: [{ kind: 'lockdep', from: { site: '__tdp_mmu_set_spte_atomic', cond: 'lockdep_assert_held(mmu_lock)' }, to: { site: 'tdx_sept_set_private_spte' } }],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v06-scenario-comment-starts-here',
      point: 'In which step the lock/scenario comment above tdx_sept_set_private_spte() first appeared (06, 12 or 13).',
      choice: 'It starts here, listing the two cases this step allows — (1) non-present → present leaf and (2) non-present → present non-leaf, both under the shared lock — next to the lockdep assert this step moves in; 12 gives it its final form with leaf removal as (3).',
      reason: 'The v2 cover says v2 added the expected lock and valid scenarios there, and this is the step that moves the lock assertion into that function. A comment changes no observation: private-fault runs both listed cases, identically before and after.',
      trace: 'private-fault',
    },
  ],
};
