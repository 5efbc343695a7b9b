import { ANY, type StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 15,
  slug: 'free-external-spt-in-tdx',
  subject: 'KVM: TDX: Move external page table freeing to TDX code',
  author: 'Sean Christopherson <seanjc@google.com>',
  commit: '110d4d263450',
  v2Subject: '[PATCH v2 15/15] KVM: TDX: Move external page table freeing to TDX code',
  touches: [
    'tdp_mmu_free_sp',
    '__tdp_mmu_free_sp',
    'tdp_mmu_free_unused_sp',
    'tdp_mmu_free_sp_rcu_callback',
    'kvm_tdp_mmu_map',
    'tdx_sept_free_private_spt',
  ],
  intents: [
    {
      id: 'v15-sept-page-freed-after-reclaim',
      summary: 'TDX frees each S-EPT page right after its successful RECLAIM, under the write lock, instead of the RCU callback freeing it after a grace period; a page whose reclaim failed is still leaked. At teardown this comes with the split of tdp_mmu_free_sp() (v15-free-helpers-split): the RCU callback frees each SP\'s own page table through __tdp_mmu_free_sp().',
      witnesses: ['reclaim-fails', 'teardown', 'teardown-leaf-left'],
      rewrites: [
        {
          // teardown frees every SP: both changes of this patch happen in the same operation
          op: 'destroy',
          events: [],
          // each page is still freed once, the same page (a leaked page stays unfreed on both sides)
          moves: [
            { kind: 'free', from: { site: 'tdp_mmu_free_sp', what: 'external_spt' }, to: { site: 'tdx_sept_free_private_spt' }, reorders: 'each S-EPT page is now freed right after its RECLAIM, before the page tables of the SPs around it' },
            { kind: 'free', from: { site: 'tdp_mmu_free_sp', what: 'spt' }, to: { site: '__tdp_mmu_free_sp' } },
          ],
        },
      ],
    },
    {
      id: 'v15-free-helpers-split',
      summary: 'tdp_mmu_free_sp() splits into __tdp_mmu_free_sp() (the SP\'s own page table and header, used by the RCU callback) and tdp_mmu_free_unused_sp() (also the never-used external page, used when a link fails in the fault path).',
      witnesses: ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'private-fault-sept-add-busy', 'remove-mirror-table-shared'],
      rewrites: [
        {
          // a rename of the freeing site: each page is freed once, the same page, by whatever
          // operation frees an SP (a removed table, a failed link, a root freed after its last user)
          op: ANY('every operation that frees a shadow page'),
          events: [],
          moves: [
            { kind: 'free', from: { site: 'tdp_mmu_free_sp', what: 'spt' }, to: { site: '__tdp_mmu_free_sp' } },
            // the never-used external page of an SP whose link failed
            { kind: 'free', from: { site: 'tdp_mmu_free_sp', what: 'external_spt' }, to: { site: 'tdp_mmu_free_unused_sp' }, optional: 'only an SP whose link failed has an unused external page to free' },
          ],
        },
      ],
    },
  ],
  assumptions: [
    {
      id: 'v15-rcu-callback-warn-unreachable',
      point: 'The new WARN_ON_ONCE(sp->external_spt) in tdp_mmu_free_sp_rcu_callback() (an SP reaching the RCU free with its external page still attached).',
      choice: 'Modelled, but declared as no intent: TDX\'s free_external_spt() now always ends by NULLing the pointer, and the mirror root has no external page, so no trace can make it fire; the teardown shows every S-EPT page freed (or leaked) before the RCU callbacks run, with no WARN.',
      reason: 'An intent no corpus trace can witness would be a permanent coverage gap.',
      trace: 'teardown',
    },
  ],
};
