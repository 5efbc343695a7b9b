// The parts of arch/x86/kvm/mmu/mmu.c (and the kvm_main.c callers) that lead into
// the TDP MMU for a TDX VM: faults, populate, zaps, conversions, aging, teardown.
import type { Gen } from './context.ts';
import {
  gfn_to_memslot, host_gfn_to_pfn, KVM_BUG_ON, kvm_check_request, kvm_gmem_get_pfn, kvm_mem_is_private,
  KVM_REQ_VM_DEAD, type Kvm, type KvmMemorySlot, type KvmVcpu,
} from './kvm.ts';
import { lockdep_assert_held, mutex_lock, mutex_unlock, read_lock, read_unlock, write_lock, write_unlock } from './lock.ts';
import {
  EFAULT, EINTR, EIO, gpa_to_natural_gfn, KVM_DIRECT_ROOTS, KVM_FILTER_PRIVATE, KVM_FILTER_SHARED, kvm_is_addr_direct,
  RET_PF_FIXED, RET_PF_INVALID, RET_PF_RETRY, type KvmGfnRange, type KvmPageFault,
} from './mmu_internal.ts';
import { PG_LEVEL_4K } from './spte.ts';
import { WARN_ON_ONCE } from './diag.ts';
import { tdp_mmu } from './step_kernel.ts';

/** mmu_alloc_direct_roots(): the mirror root first, then the shared (direct) root. */
export function* kvm_mmu_load(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (!vcpu.mirror_root) yield* tdp_mmu(kvm).kvm_tdp_mmu_alloc_root(kvm, vcpu, true);
  if (!vcpu.root) yield* tdp_mmu(kvm).kvm_tdp_mmu_alloc_root(kvm, vcpu, false);
}

/** kvm_mmu_destroy() → kvm_mmu_unload(): drop the vCPU's references to its roots. */
export function* kvm_mmu_destroy(kvm: Kvm, vcpu: KvmVcpu): Gen {
  yield* read_lock(kvm.mmu_lock);
  if (vcpu.mirror_root) tdp_mmu(kvm).kvm_tdp_mmu_put_root(kvm, vcpu.mirror_root);
  if (vcpu.root) tdp_mmu(kvm).kvm_tdp_mmu_put_root(kvm, vcpu.root);
  vcpu.mirror_root = null;
  vcpu.root = null;
  yield* read_unlock(kvm.mmu_lock);
}

/** Resolves the PFN: guest_memfd for private faults, the host page for shared ones. */
function kvm_mmu_faultin_pfn(kvm: Kvm, fault: KvmPageFault): number {
  const slot = gfn_to_memslot(kvm, fault.gfn);
  if (slot && slot.invalid) return RET_PF_RETRY;
  // a private access to shared memory (or the reverse) exits to userspace
  if (fault.is_private !== kvm_mem_is_private(kvm, fault.gfn)) return -EFAULT;
  fault.slot = slot;
  if (fault.is_private) fault.pfn = kvm_gmem_get_pfn(kvm, fault.gfn);
  else if (slot) fault.pfn = host_gfn_to_pfn(kvm, fault.gfn);
  return 0; // RET_PF_CONTINUE
}

function* kvm_tdp_mmu_page_fault(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): Gen<number> {
  let r = kvm_mmu_faultin_pfn(kvm, fault);
  if (r !== 0) return r;

  yield* read_lock(kvm.mmu_lock);
  r = yield* tdp_mmu(kvm).kvm_tdp_mmu_map(kvm, vcpu, fault);
  yield* read_unlock(kvm.mmu_lock);
  return r;
}

function new_fault(kvm: Kvm, gpa: number, prefetch: boolean): KvmPageFault {
  return {
    addr: gpa, gfn: gpa_to_natural_gfn(kvm, gpa), is_private: !kvm_is_addr_direct(kvm, gpa), write: true, prefetch,
    goal_level: PG_LEVEL_4K, req_level: PG_LEVEL_4K, huge_page_disallowed: false, slot: null, pfn: 0, map_writable: true,
  };
}

export function* kvm_mmu_page_fault(kvm: Kvm, vcpu: KvmVcpu, gpa: number): Gen<number> {
  if (WARN_ON_ONCE(vcpu.root === null, 'kvm_mmu_page_fault', '!VALID_PAGE(vcpu->arch.mmu->root.hpa)')) return RET_PF_RETRY;
  const r = yield* kvm_tdp_mmu_page_fault(kvm, vcpu, new_fault(kvm, gpa, false));
  if (KVM_BUG_ON(r === RET_PF_INVALID, kvm, 'kvm_mmu_page_fault', 'r == RET_PF_INVALID')) return -EIO;
  return r;
}

/** Maps a pre-determined guest_memfd PFN before finalize (PAGE.ADD via the mirror root). */
export function* kvm_tdp_mmu_map_private_pfn(kvm: Kvm, vcpu: KvmVcpu, gfn: number, pfn: number): Gen<number> {
  const fault = new_fault(kvm, gfn * 4096, true);
  fault.slot = gfn_to_memslot(kvm, gfn);
  fault.pfn = pfn;
  let r: number;

  lockdep_assert_held(kvm.slots_lock, 'kvm_tdp_mmu_map_private_pfn');
  lockdep_assert_held(kvm.gmem_invalidate_lock, 'kvm_tdp_mmu_map_private_pfn');

  do {
    if (kvm_check_request(KVM_REQ_VM_DEAD, vcpu)) return -EIO;
    yield 'cond_resched';
    yield* read_lock(kvm.mmu_lock);
    r = yield* tdp_mmu(kvm).kvm_tdp_mmu_map(kvm, vcpu, fault);
    yield* read_unlock(kvm.mmu_lock);
  } while (r === RET_PF_RETRY);

  if (r !== RET_PF_FIXED) return -EIO;
  return 0;
}

export function* kvm_zap_gfn_range(kvm: Kvm, gfn_start: number, gfn_end: number): Gen {
  if (WARN_ON_ONCE(gfn_end <= gfn_start, 'kvm_zap_gfn_range', 'gfn_end <= gfn_start')) return;
  yield* write_lock(kvm.mmu_lock);
  yield* tdp_mmu(kvm).kvm_tdp_mmu_zap_leafs(kvm, gfn_start, gfn_end, false);
  yield* write_unlock(kvm.mmu_lock);
}

export function* kvm_unmap_gfn_range(kvm: Kvm, range: KvmGfnRange): Gen<boolean> {
  return yield* tdp_mmu(kvm).kvm_tdp_mmu_unmap_gfn_range(kvm, range, false);
}

function gfn_range(slot: KvmMemorySlot | null, start: number, end: number, filter: number): KvmGfnRange {
  return { slot, start, end, may_block: true, attr_filter: filter };
}

/** guest_memfd invalidation (punch hole, release): zap the private side under the write lock. */
export function* kvm_gmem_invalidate_begin(kvm: Kvm, start: number, end: number): Gen {
  yield* write_lock(kvm.mmu_lock);
  yield* kvm_unmap_gfn_range(kvm, gfn_range(gfn_to_memslot(kvm, start), start, end, KVM_FILTER_PRIVATE));
  yield* write_unlock(kvm.mmu_lock);
}

/** KVM_SET_MEMORY_ATTRIBUTES: unmap the side the range is leaving, then flip the attribute. */
export function* kvm_vm_set_mem_attributes(kvm: Kvm, start: number, end: number, to_private: boolean): Gen {
  yield* write_lock(kvm.mmu_lock);
  yield* kvm_unmap_gfn_range(kvm, gfn_range(gfn_to_memslot(kvm, start), start, end, to_private ? KVM_FILTER_SHARED : KVM_FILTER_PRIVATE));
  for (let gfn = start; gfn < end; gfn++) {
    if (to_private) kvm.shared_gfns.delete(gfn);
    else kvm.shared_gfns.add(gfn);
  }
  yield* write_unlock(kvm.mmu_lock);
}

/** MMU-notifier invalidation of host memory: only the shared side is affected. */
export function* kvm_mmu_notifier_invalidate_range_start(kvm: Kvm, start: number, end: number): Gen {
  yield* write_lock(kvm.mmu_lock);
  yield* kvm_unmap_gfn_range(kvm, gfn_range(gfn_to_memslot(kvm, start), start, end, KVM_FILTER_SHARED));
  yield* write_unlock(kvm.mmu_lock);
}

/** MMU-notifier aging: lockless, shared side only. */
export function* kvm_age_gfn(kvm: Kvm, start: number, end: number): Gen<boolean> {
  return yield* tdp_mmu(kvm).kvm_tdp_mmu_age_gfn_range(kvm, gfn_range(gfn_to_memslot(kvm, start), start, end, KVM_FILTER_SHARED));
}

/** Memslot deletion: both sides of the slot, under the write lock. */
export function* kvm_mmu_zap_memslot(kvm: Kvm, slot: KvmMemorySlot): Gen {
  slot.invalid = true;
  yield* write_lock(kvm.mmu_lock);
  yield* kvm_unmap_gfn_range(kvm, gfn_range(slot, slot.base_gfn, slot.base_gfn + slot.npages, KVM_FILTER_PRIVATE | KVM_FILTER_SHARED));
  yield* write_unlock(kvm.mmu_lock);
  const i = kvm.memslots.indexOf(slot);
  if (i >= 0) kvm.memslots.splice(i, 1);
}

/** Fast zap: external page tables cannot be zapped this way, so only direct roots. */
export function* kvm_mmu_zap_all_fast(kvm: Kvm): Gen {
  yield* mutex_lock(kvm.slots_lock);
  lockdep_assert_held(kvm.slots_lock, 'kvm_mmu_zap_all_fast');
  yield* write_lock(kvm.mmu_lock);
  tdp_mmu(kvm).kvm_tdp_mmu_invalidate_roots(kvm, KVM_DIRECT_ROOTS);
  yield* write_unlock(kvm.mmu_lock);
  yield* tdp_mmu(kvm).kvm_tdp_mmu_zap_invalidated_roots(kvm, true);
  yield* mutex_unlock(kvm.slots_lock);
}

/** kvm_arch_destroy_vm(): vCPUs drop their roots, then the TDP MMU tears everything down. */
export function* kvm_arch_destroy_vm(kvm: Kvm): Gen {
  for (const vcpu of kvm.vcpus) yield* kvm_mmu_destroy(kvm, vcpu);
  yield* tdp_mmu(kvm).kvm_mmu_uninit_tdp_mmu(kvm);
}
