import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 5,
  slug: 'move-bug-ons-to-tdx',
  subject: 'KVM: TDX: Move KVM_BUG_ON()s in __tdp_mmu_set_spte_atomic() to TDX code',
  author: 'Rick Edgecombe <rick.p.edgecombe@intel.com>',
  commit: '6b1280a738f9',
  v2Subject: '[PATCH v2 05/15] KVM: TDX: Move KVM_BUG_ON()s in __tdp_mmu_set_spte_atomic() to TDX code',
  touches: ['__tdp_mmu_set_spte_atomic', 'tdx_sept_set_private_spte'],
  intents: [
    {
      id: 'v05-atomic-zap-bug-in-tdx',
      summary: 'Atomic zap of a mirror SPTE (leaf or table): the KVM_BUG_ON moves from __tdp_mmu_set_spte_atomic() (new not present) to tdx_sept_set_private_spte() (old present), and the write now fails with -EIO instead of -EBUSY; no SEAMCALL is made either way.',
      witnesses: ['atomic-zap-mirror-leaf', 'atomic-zap-mirror-nonleaf'],
      rewrites: [
        {
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: '!is_shadow_present_pte(new_spte)' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
            { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EBUSY' },
            { side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
          ],
        },
      ],
    },
    {
      id: 'v05-present-to-present-rejected-in-tdx',
      summary: 'Atomic present → present write of a mirror SPTE: instead of a KVM_BUG_ON in the TDP MMU followed by a doomed PAGE.AUG (or SEPT.ADD) that the module refuses, TDX bugs the VM on the present old SPTE and returns -EIO before any SEAMCALL (the VM was already bugged and the write already failed with -EIO, so result and VM state are unchanged).',
      witnesses: ['age-mirror-spte-no-ad', 'atomic-nonleaf-over-mirror-table', 'atomic-present-to-present-mirror'],
      rewrites: [
        {
          // aging a present mirror leaf without A/D bits: the access-tracked value also
          // tripped the leaf path's RWX warning, which is no longer reached
          op: 'probe_age',
          events: [
            { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'is_shadow_present_pte(iter->old_spte)' },
            { side: 'removed', kind: 'warn', site: 'tdx_sept_map_leaf_spte', cond: '(new_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: '0x1000', level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT' },
            { side: 'removed', kind: 'bug', site: 'tdx_mem_page_aug', cond: 'TDX_BUG_ON(TDH_MEM_PAGE_AUG)' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
          ],
        },
        {
          // a present leaf over a present mirror leaf: no doomed PAGE.AUG
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'is_shadow_present_pte(iter->old_spte)' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: '0x1000', level: 1, status: 'TDX_EPT_ENTRY_STATE_INCORRECT' },
            { side: 'removed', kind: 'bug', site: 'tdx_mem_page_aug', cond: 'TDX_BUG_ON(TDH_MEM_PAGE_AUG)' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
          ],
        },
        {
          // a non-leaf over a present mirror table: no doomed SEPT.ADD
          op: 'probe_set_spte',
          events: [
            { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'is_shadow_present_pte(iter->old_spte)' },
            { side: 'removed', kind: 'seamcall', name: 'TDH.MEM.SEPT.ADD', gpa: '0x0', level: 2, status: 'TDX_EPT_ENTRY_STATE_INCORRECT' },
            { side: 'removed', kind: 'bug', site: 'tdx_sept_map_nonleaf_spte', cond: 'TDX_BUG_ON(TDH_MEM_SEPT_ADD)' },
            { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'is_shadow_present_pte(old_spte)' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v05-old-present-check-first',
      point: 'Where TDX\'s new KVM_BUG_ON(old SPTE present) sits relative to the not-present check added in 01, and whether the two are one merged condition.',
      choice: 'A KVM_BUG_ON of its own, returning -EIO, placed first in tdx_sept_set_private_spte(), before KVM_BUG_ON(!is_shadow_present_pte(new_spte)).',
      reason: 'Step 12 replaces exactly this check with "old present → remove the leaf", and in the end state that old-present handling precedes the not-present check; a separate check keeps that later replacement a one-line change. With this order an atomic zap (old present, new not present) fires the old-present check; the other order would fire the not-present one.',
      trace: 'atomic-zap-mirror-leaf',
    },
  ],
};
