// arch/x86/kvm/x86.c (and the KVM_RUN / VM-destruction paths of kvm_main.c) around a
// TD: what a vCPU does before it enters the guest, and the order in which a VM is torn
// down when its last reference goes.
import type { Gen } from './context.ts';
import { kvm_check_request, KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, KVM_REQ_TLB_FLUSH, KVM_REQ_VM_DEAD, type Kvm, type KvmVcpu } from './kvm.ts';
import { EIO } from './mmu_internal.ts';
import { kvm_mmu_destroy, kvm_mmu_free_obsolete_roots, kvm_mmu_reload, kvm_mmu_uninit_vm, kvm_mmu_unload, kvm_mmu_zap_all } from './mmu.ts';
import { tdx } from './step_kernel.ts';

/**
 * vcpu_enter_guest() up to the entry: the requests that matter to the MMU, then a direct
 * root if the vCPU has none. A TLB flush request is INVEPT for a TD (tdx_flush_tlb_all),
 * no SEAMCALL. Returns 1 to enter, or -EIO for a dead VM.
 */
export function* vcpu_enter_guest_prepare(kvm: Kvm, vcpu: KvmVcpu): Gen<number> {
  if (kvm_check_request(KVM_REQ_VM_DEAD, vcpu)) return -EIO;
  if (kvm_check_request(KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, vcpu)) yield* kvm_mmu_free_obsolete_roots(kvm, vcpu);
  kvm_check_request(KVM_REQ_TLB_FLUSH, vcpu);
  yield* kvm_mmu_reload(kvm, vcpu);
  return 1;
}

/** kvm_arch_pre_destroy_vm() → vm_pre_destroy(): the HKID release, once. */
export function* kvm_arch_pre_destroy_vm(kvm: Kvm): Gen {
  if (kvm.pre_destroyed) return;
  kvm.pre_destroyed = true;
  yield* tdx(kvm).tdx_mmu_release_hkid(kvm);
}

/**
 * kvm_destroy_vm() once the last file (VM, vCPUs, guest_memfd) is closed: the HKID is
 * released (vm_pre_destroy), the MMU notifier's release zaps the direct roots, each vCPU
 * drops its direct root, frees its TDX pages and drops its mirror root, the TDP MMU tears
 * down what is left, and the TD's control pages are reclaimed.
 */
export function* kvm_destroy_vm(kvm: Kvm): Gen {
  yield* kvm_arch_pre_destroy_vm(kvm);
  yield* kvm_mmu_zap_all(kvm);
  for (const vcpu of kvm.vcpus) {
    yield* kvm_mmu_unload(kvm, vcpu);
    yield* tdx(kvm).tdx_vcpu_free(kvm, vcpu);
    yield* kvm_mmu_destroy(kvm, vcpu);
  }
  yield* kvm_mmu_uninit_vm(kvm);
  yield* tdx(kvm).tdx_vm_destroy(kvm);
}
