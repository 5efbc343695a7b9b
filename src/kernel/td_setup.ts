// What the VMM did before a trace starts: KVM_TDX_INIT_VM and KVM_TDX_INIT_VCPU
// (tdx_td_init(), tdx_td_vcpu_init()) gave the module the TD's control pages. Those
// SEAMCALLs are the same for every step and are not part of an observation; the pages
// are, when teardown reclaims them.
import { ctx } from './context.ts';
import type { Kvm } from './kvm.ts';
import { alloc_page } from './page_alloc.ts';

/**
 * The modelled module's metadata: TDCS pages per TD (tdcs_base_size / 4K) and TDVPS
 * pages per vCPU (tdvps_base_size / 4K: the TDVPR and the TDCX pages).
 */
export const TDCS_NR_PAGES = 4;
export const TDVPS_NR_PAGES = 6;

function give(pfn: number, type: 'TDR' | 'TDCS' | 'TDVPR' | 'TDCX'): number {
  const r = ctx().hw.addControlPage(pfn, type);
  if (r.status !== 0n) throw new Error(`TD set-up: the module refused ${type} page ${pfn}`);
  return pfn;
}

export function td_setup(kvm: Kvm): void {
  kvm.tdx.tdr_page = give(alloc_page('tdr'), 'TDR');
  for (let i = 0; i < TDCS_NR_PAGES; i++) kvm.tdx.tdcs_pages.push(give(alloc_page('tdcs'), 'TDCS'));
  for (const vcpu of kvm.vcpus) {
    vcpu.tdx.tdvpr_page = give(alloc_page('tdvpr'), 'TDVPR');
    for (let i = 0; i < TDVPS_NR_PAGES - 1; i++) vcpu.tdx.tdcx_pages.push(give(alloc_page('tdcx'), 'TDCX'));
  }
}
