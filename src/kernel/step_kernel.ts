// What a step folder links into the shared kernel: the functions of its tdp_mmu.c and
// tdx.c that the paths the series never touches (mmu.c, kvm_main.c, guest_memfd.c, x86.c
// and the trace-op glue) call. In the kernel these are direct calls resolved by the
// linker; here the step's modules are handed to the VM when it is created, so that the
// shared paths live once in src/ and a step folder holds only what its commit changes.
import type { Gen } from './context.ts';
import type { Kvm, KvmVcpu } from './kvm.ts';
import type { KvmGfnRange, KvmPageFault } from './mmu_internal.ts';
import type { KvmMmuPage } from './mmu_page.ts';
import type { Sptep, TdpIter } from './tdp_iter.ts';
import type { EptViolationExit } from './vmx_common.ts';

/** The tdp_mmu.c entry points (and the probes of its internals) a step exports. */
export interface TdpMmuApi {
  kvm_mmu_uninit_tdp_mmu(kvm: Kvm): Gen;
  kvm_tdp_mmu_put_root(kvm: Kvm, root: KvmMmuPage): void;
  kvm_tdp_mmu_alloc_root(kvm: Kvm, vcpu: KvmVcpu, mirror: boolean): Gen<KvmMmuPage>;
  kvm_tdp_mmu_zap_leafs(kvm: Kvm, start: number, end: number, flush: boolean): Gen<boolean>;
  kvm_tdp_mmu_zap_all(kvm: Kvm): Gen;
  kvm_tdp_mmu_zap_invalidated_roots(kvm: Kvm, shared: boolean): Gen;
  kvm_tdp_mmu_invalidate_roots(kvm: Kvm, root_types: number): void;
  kvm_tdp_mmu_map(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): Gen<number>;
  kvm_tdp_mmu_unmap_gfn_range(kvm: Kvm, range: KvmGfnRange, flush: boolean): Gen<boolean>;
  kvm_tdp_mmu_age_gfn_range(kvm: Kvm, range: KvmGfnRange): Gen<boolean>;
  kvm_tdp_mmu_fast_pf_get_last_sptep(kvm: Kvm, vcpu: KvmVcpu, gfn: number): Gen<{ sptep: Sptep; spte: bigint } | null>;
  probe_set_spte(kvm: Kvm, root: KvmMmuPage, gfn: number, level: number, shared: boolean,
    make_new: (kvm: Kvm, iter: TdpIter) => bigint): Gen<string>;
  probe_new_child_table(kvm: Kvm, iter: TdpIter, defect?: 'none' | 'no-external' | 'bad-gfn'): bigint;
  probe_age_spte(kvm: Kvm, root: KvmMmuPage, gfn: number): Gen<string>;
}

/** The tdx.c functions a step exports: hook installation and the TDX ioctl/exit paths. */
export interface TdxApi {
  tdx_hardware_setup(kvm: Kvm): void;
  tdx_vm_ioctl(kvm: Kvm, cmd: 'KVM_TDX_FINALIZE_VM'): Gen<number>;
  tdx_vcpu_unlocked_ioctl(kvm: Kvm, vcpu: KvmVcpu, cmd: 'KVM_TDX_INIT_MEM_REGION', gpa: number): Gen<number>;
  tdx_vcpu_pre_run(kvm: Kvm, vcpu: KvmVcpu): number;
  tdx_vcpu_run(kvm: Kvm, vcpu: KvmVcpu): Gen<string>;
  tdx_handle_ept_violation(kvm: Kvm, vcpu: KvmVcpu, gpa: number, exit: EptViolationExit): Gen<number>;
  tdx_mmu_release_hkid(kvm: Kvm): Gen;
  tdx_vcpu_free(kvm: Kvm, vcpu: KvmVcpu): Gen;
  tdx_vm_destroy(kvm: Kvm): Gen;
}

export interface StepKernel {
  tdp_mmu: TdpMmuApi;
  tdx: TdxApi;
}

/** The step's tdp_mmu.c, as linked into this VM. */
export function tdp_mmu(kvm: Kvm): TdpMmuApi {
  return linked(kvm).tdp_mmu;
}

/** The step's tdx.c, as linked into this VM. */
export function tdx(kvm: Kvm): TdxApi {
  return linked(kvm).tdx;
}

function linked(kvm: Kvm): StepKernel {
  if (!kvm.step) throw new Error('no step kernel linked into this VM');
  return kvm.step;
}
