// arch/x86/kvm/mmu/mmu.c around the TDP MMU of a TDX VM: root load and unload, the
// page-fault path (PFN resolution, staleness, MMIO), pre-finalize mapping, and the
// zaps that lead into the TDP MMU (range zap, attribute change, memslot, fast zap,
// VM teardown). The step's tdp_mmu.c is reached through step_kernel.ts.
import { ctx, type Gen } from './context.ts';
import { WARN_ON_ONCE } from './diag.ts';
import {
  gfn_to_memslot, host_gfn_to_pfn, KVM_BUG_ON, kvm_gmem_get_pfn, kvm_make_all_cpus_request, kvm_mem_is_private,
  KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, KVM_REQ_VM_DEAD, kvm_slot_has_gmem, kvm_test_request, type Kvm, type KvmMemorySlot,
  type KvmVcpu,
} from './kvm.ts';
import { lockdep_assert_held, mutex_lock, mutex_unlock, read_lock, read_unlock, write_lock, write_unlock } from './lock.ts';
import {
  EAGAIN, EFAULT, EIO, gpa_to_natural_gfn, KVM_DIRECT_ROOTS, KVM_FILTER_PRIVATE, KVM_FILTER_SHARED,
  RET_PF_CONTINUE, RET_PF_EMULATE, RET_PF_FIXED, RET_PF_INVALID, RET_PF_RETRY, RET_PF_SPURIOUS, type KvmGfnRange,
  type KvmPageFault, is_access_allowed, PFERR_FETCH_MASK, PFERR_PRESENT_MASK, PFERR_PRIVATE_ACCESS, PFERR_WRITE_MASK, ret_pf_name,
} from './mmu_internal.ts';
import {
  FROZEN_SPTE, is_access_track_spte, is_last_spte, is_mmu_writable_spte, is_shadow_present_pte, PG_LEVEL_4K, restore_acc_track_spte,
  shadow_accessed_mask, spte_ad_enabled, VMX_EPT_WRITABLE_MASK,
} from './spte.ts';
import { sptep_to_sp } from './mmu_page.ts';
import { rcu_read_lock, rcu_read_unlock } from './rcu.ts';
import { try_cmpxchg64, type Sptep } from './tdp_iter.ts';
import { trace_fast_page_fault } from './tracepoints.ts';
import { tdp_mmu } from './step_kernel.ts';
import {
  kvm_flush_remote_tlbs, kvm_flush_remote_tlbs_range, kvm_mmu_invalidate_end, kvm_mmu_invalidate_range_add,
  kvm_mmu_invalidate_start, mmu_invalidate_retry_gfn, mmu_invalidate_retry_gfn_unsafe,
} from './kvm_main.ts';

// ---------------------------------------------------------------- roots

/** mmu_alloc_direct_roots(): the mirror root first (if there is none), then the shared (direct) root. */
export function* kvm_mmu_load(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (!vcpu.mirror_root) yield* tdp_mmu(kvm).kvm_tdp_mmu_alloc_root(kvm, vcpu, true);
  yield* tdp_mmu(kvm).kvm_tdp_mmu_alloc_root(kvm, vcpu, false);
}

/** kvm_mmu_reload(): a vCPU whose direct root was freed loads a new one before entering. */
export function* kvm_mmu_reload(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (vcpu.root) return;
  yield* kvm_mmu_load(kvm, vcpu);
}

/** kvm_mmu_unload() → kvm_mmu_free_roots(): drop the vCPU's reference to its direct root. */
export function* kvm_mmu_unload(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (!vcpu.root) return;
  yield* read_lock(kvm.mmu_lock);
  tdp_mmu(kvm).kvm_tdp_mmu_put_root(kvm, vcpu.root);
  vcpu.root = null;
  yield* read_unlock(kvm.mmu_lock);
}

/** KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: free the direct root if it was invalidated (never the mirror). */
export function* kvm_mmu_free_obsolete_roots(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (vcpu.root && vcpu.root.role.invalid) yield* kvm_mmu_unload(kvm, vcpu);
}

/** kvm_mmu_destroy(): at vCPU destruction, after the direct root, the mirror root's reference goes. */
export function* kvm_mmu_destroy(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (!vcpu.mirror_root) return;
  yield* read_lock(kvm.mmu_lock);
  tdp_mmu(kvm).kvm_tdp_mmu_put_root(kvm, vcpu.mirror_root);
  vcpu.mirror_root = null;
  yield* read_unlock(kvm.mmu_lock);
}

// ---------------------------------------------------------------- page faults

/**
 * kvm_mmu_prepare_memory_fault_exit(): the fault goes to userspace as
 * KVM_EXIT_MEMORY_FAULT (the GPA without the shared bit), so the VMM can convert.
 */
function kvm_mmu_prepare_memory_fault_exit(fault: KvmPageFault): void {
  ctx().record({ kind: 'exit', reason: 'KVM_EXIT_MEMORY_FAULT', gpa: '0x' + (fault.gfn * 4096).toString(16), private: fault.is_private });
}

/** kvm_handle_noslot_fault(): a private access needs a slot; a shared one is MMIO. */
function kvm_handle_noslot_fault(fault: KvmPageFault): number {
  if (fault.is_private) {
    kvm_mmu_prepare_memory_fault_exit(fault);
    return -EFAULT;
  }
  // vcpu_cache_mmio_info(); the leaf becomes an MMIO SPTE (MMIO caching is on for TDX)
  fault.slot = null;
  fault.pfn = 0;
  fault.map_writable = false;
  return RET_PF_CONTINUE;
}

/**
 * kvm_mmu_faultin_pfn(): snapshot the invalidation sequence, then send a fault whose
 * private/shared view disagrees with the gfn's attribute to userspace, retry on a slot
 * being deleted or a range being invalidated, and resolve the PFN (guest_memfd for
 * private faults, the host page otherwise), checking for an invalidation once more.
 */
function kvm_mmu_faultin_pfn(kvm: Kvm, fault: KvmPageFault): number {
  fault.mmu_seq = kvm.mmu_invalidate_seq;

  if (fault.is_private !== kvm_mem_is_private(kvm, fault.gfn)) {
    kvm_mmu_prepare_memory_fault_exit(fault);
    return -EFAULT;
  }

  const slot = fault.slot;
  if (!slot) return kvm_handle_noslot_fault(fault);

  // a slot being deleted: the deletion waits for this vCPU (SRCU), so let it go on
  if (slot.invalid) return fault.prefetch ? -EAGAIN : RET_PF_RETRY;

  if (mmu_invalidate_retry_gfn_unsafe(kvm, fault.mmu_seq, fault.gfn)) return RET_PF_RETRY;

  // __kvm_mmu_faultin_pfn()
  if (fault.is_private) {
    if (!kvm_slot_has_gmem(slot)) {
      kvm_mmu_prepare_memory_fault_exit(fault);
      return -EFAULT;
    }
    const pfn = kvm_gmem_get_pfn(kvm, fault.gfn);
    if (pfn < 0) {
      kvm_mmu_prepare_memory_fault_exit(fault);
      return pfn;
    }
    fault.pfn = pfn;
  } else {
    fault.pfn = host_gfn_to_pfn(kvm, fault.gfn);
  }

  if (mmu_invalidate_retry_gfn_unsafe(kvm, fault.mmu_seq, fault.gfn)) return RET_PF_RETRY;
  return RET_PF_CONTINUE;
}

/**
 * is_page_fault_stale(): under mmu_lock, the direct root was invalidated (the mirror root
 * never is while vCPUs live), or an invalidation of the gfn began or ended since the
 * snapshot: the PFN may be gone, so do not map it.
 */
function is_page_fault_stale(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): boolean {
  if (vcpu.root && vcpu.root.role.invalid) return true;
  return fault.slot !== null && mmu_invalidate_retry_gfn(kvm, fault.mmu_seq, fault.gfn);
}

/**
 * page_fault_can_be_fast(): only a fault whose private/shared view matches the gfn, and
 * then a write to a present SPTE (it may be made writable), or, without A/D bits, any
 * access to an access-tracked (non-present to the CPU) SPTE. A TD's private faults are
 * reported not-present with A/D bits on: never fast.
 */
function page_fault_can_be_fast(kvm: Kvm, fault: KvmPageFault): boolean {
  if (fault.is_private !== kvm_mem_is_private(kvm, fault.gfn)) return false;
  if (!fault.present) return !kvm.ad_enabled;
  return fault.write;
}

/** fast_pf_fix_direct_spte(): one cmpxchg; a lost race is retried by the caller. */
function* fast_pf_fix_direct_spte(sptep: Sptep, old_spte: bigint, new_spte: bigint): Gen<boolean> {
  return yield* try_cmpxchg64(sptep, { v: old_spte }, new_spte);
}

/**
 * fast_page_fault(): without mmu_lock, on the vCPU's direct root, restore an
 * access-tracked SPTE or make a writable one writable, with one cmpxchg; RET_PF_INVALID
 * sends the fault down the slow path.
 */
function* fast_page_fault(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): Gen<number> {
  let ret = RET_PF_INVALID;
  let spte = FROZEN_SPTE;
  let level: number | null = null;
  let fixed = spte;
  let retry_count = 0;

  if (!page_fault_can_be_fast(kvm, fault)) return ret;

  rcu_read_lock(); // walk_shadow_page_lockless_begin()
  for (;;) {
    const last = yield* tdp_mmu(kvm).kvm_tdp_mmu_fast_pf_get_last_sptep(kvm, vcpu, fault.gfn);
    // no SPTE at all: as if FROZEN, so the slow path sorts it out
    if (WARN_ON_ONCE(last === null, 'fast_page_fault', '!sptep') || last === null) spte = FROZEN_SPTE;
    else spte = last.spte;
    if (last === null || !is_shadow_present_pte(spte)) break;

    const sp = sptep_to_sp(last.sptep);
    level = sp.role.level;
    if (!is_last_spte(spte, sp.role.level)) break;

    // already fixed by someone else (another vCPU, or the A/D assist): nothing to do
    if (is_access_allowed(fault, spte)) {
      ret = RET_PF_SPURIOUS;
      break;
    }

    let new_spte = spte;
    if (!spte_ad_enabled(spte) && is_access_track_spte(spte)) new_spte = restore_acc_track_spte(new_spte) | shadow_accessed_mask;
    if (fault.write && is_mmu_writable_spte(spte)) new_spte |= VMX_EPT_WRITABLE_MASK;

    if (new_spte === spte || !is_access_allowed(fault, new_spte)) break;

    if (yield* fast_pf_fix_direct_spte(last.sptep, spte, new_spte)) {
      fixed = new_spte;
      ret = RET_PF_FIXED;
      break;
    }
    if (++retry_count > 4) break; // pr_warn_once: too many retries
  }
  // the tracepoint shows the SPTE as it is now: the fixed value after a successful cmpxchg
  trace_fast_page_fault(fault.gfn, level, spte, ret === RET_PF_FIXED ? fixed : spte, ret_pf_name(ret));
  rcu_read_unlock();
  return ret;
}

function* kvm_tdp_mmu_page_fault(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): Gen<number> {
  let r = yield* fast_page_fault(kvm, vcpu, fault);
  if (r !== RET_PF_INVALID) return r;

  r = kvm_mmu_faultin_pfn(kvm, fault);
  if (r !== RET_PF_CONTINUE) return r;

  r = RET_PF_RETRY;
  yield* read_lock(kvm.mmu_lock);
  if (!is_page_fault_stale(kvm, vcpu, fault)) r = yield* tdp_mmu(kvm).kvm_tdp_mmu_map(kvm, vcpu, fault);
  yield* read_unlock(kvm.mmu_lock);
  return r;
}

/** kvm_mmu_do_page_fault()'s struct kvm_page_fault, from the error code. */
function new_fault(kvm: Kvm, gpa: number, error_code: number, prefetch: boolean): KvmPageFault {
  const gfn = gpa_to_natural_gfn(kvm, gpa);
  const has = (bit: number): boolean => Math.floor(error_code / bit) % 2 === 1;
  return {
    addr: gpa, gfn, is_private: has(PFERR_PRIVATE_ACCESS), write: has(PFERR_WRITE_MASK), prefetch,
    goal_level: PG_LEVEL_4K, req_level: PG_LEVEL_4K, huge_page_disallowed: false, slot: gfn_to_memslot(kvm, gfn), pfn: 0,
    map_writable: true, mmu_seq: 0, present: has(PFERR_PRESENT_MASK), exec: has(PFERR_FETCH_MASK),
  };
}

/**
 * kvm_mmu_page_fault() for an EPT violation (always a write: TDX reports private
 * violations as writes, and the model's shared faults are writes). RET_PF_EMULATE (an
 * MMIO SPTE was installed) goes to the emulator, which refuses to emulate for a TD and
 * resumes the guest; the result is kept as RET_PF_EMULATE so a trace shows it.
 */
export function* kvm_mmu_page_fault(kvm: Kvm, vcpu: KvmVcpu, gpa: number, error_code: number): Gen<number> {
  if (WARN_ON_ONCE(vcpu.root === null, 'kvm_mmu_page_fault', '!VALID_PAGE(vcpu->arch.mmu->root.hpa)')) return RET_PF_RETRY;
  const fault = new_fault(kvm, gpa, error_code, false);
  let r = yield* kvm_tdp_mmu_page_fault(kvm, vcpu, fault);
  // kvm_mmu_do_page_fault(): a private fault cannot be emulated
  if (r === RET_PF_EMULATE && fault.is_private) {
    kvm_mmu_prepare_memory_fault_exit(fault);
    r = -EFAULT;
  }
  if (KVM_BUG_ON(r === RET_PF_INVALID, kvm, 'kvm_mmu_page_fault', 'r == RET_PF_INVALID')) return -EIO;
  return r;
}

/** Maps a pre-determined guest_memfd PFN before finalize (PAGE.ADD via the mirror root). */
export function* kvm_tdp_mmu_map_private_pfn(kvm: Kvm, vcpu: KvmVcpu, gfn: number, pfn: number): Gen<number> {
  const fault = new_fault(kvm, gfn * 4096, PFERR_WRITE_MASK + PFERR_PRIVATE_ACCESS, true);
  fault.pfn = pfn;
  let r: number;

  lockdep_assert_held(kvm.slots_lock, 'kvm_tdp_mmu_map_private_pfn');
  lockdep_assert_held(kvm.gmem_invalidate_lock, 'kvm_tdp_mmu_map_private_pfn');

  do {
    if (kvm_test_request(KVM_REQ_VM_DEAD, vcpu)) return -EIO;
    yield 'cond_resched';
    yield* read_lock(kvm.mmu_lock);
    r = yield* tdp_mmu(kvm).kvm_tdp_mmu_map(kvm, vcpu, fault);
    yield* read_unlock(kvm.mmu_lock);
  } while (r === RET_PF_RETRY);

  if (r !== RET_PF_FIXED) return -EIO;
  return 0;
}

// ---------------------------------------------------------------- zaps

/** kvm_zap_gfn_range(): one write-locked invalidation of [start, end) on every valid root. */
export function* kvm_zap_gfn_range(kvm: Kvm, gfn_start: number, gfn_end: number): Gen {
  if (WARN_ON_ONCE(gfn_end <= gfn_start, 'kvm_zap_gfn_range', 'gfn_end <= gfn_start')) return;
  yield* write_lock(kvm.mmu_lock);
  kvm_mmu_invalidate_start(kvm);
  kvm_mmu_invalidate_range_add(kvm, gfn_start, gfn_end);
  const flush = yield* tdp_mmu(kvm).kvm_tdp_mmu_zap_leafs(kvm, gfn_start, gfn_end, false);
  if (flush) kvm_flush_remote_tlbs_range(kvm, gfn_start, gfn_end - gfn_start);
  kvm_mmu_invalidate_end(kvm);
  yield* write_unlock(kvm.mmu_lock);
}

/** kvm_unmap_gfn_range(): only inside an invalidation, or with memslots held still. */
export function* kvm_unmap_gfn_range(kvm: Kvm, range: KvmGfnRange): Gen<boolean> {
  if (kvm.mmu_invalidate_in_progress === 0 && kvm.slots_lock.owner !== ctx().current) {
    ctx().record({ kind: 'lockdep', site: 'kvm_unmap_gfn_range', cond: 'kvm->mmu_invalidate_in_progress || lockdep_is_held(&kvm->slots_lock)' });
  }
  return yield* tdp_mmu(kvm).kvm_tdp_mmu_unmap_gfn_range(kvm, range, false);
}

/** kvm_arch_pre_set_memory_attributes(): zap the side the range leaves. */
export function* kvm_arch_pre_set_memory_attributes(kvm: Kvm, range: KvmGfnRange, to_private: boolean): Gen<boolean> {
  range.attr_filter = to_private ? KVM_FILTER_SHARED : KVM_FILTER_PRIVATE;
  return yield* kvm_unmap_gfn_range(kvm, range);
}

/** kvm_age_gfn(): MMU-notifier aging, lockless, shared side only. */
export function* kvm_age_gfn(kvm: Kvm, range: KvmGfnRange): Gen<boolean> {
  return yield* tdp_mmu(kvm).kvm_tdp_mmu_age_gfn_range(kvm, range);
}

/**
 * kvm_arch_flush_shadow_memslot(): a TD's slot is never zapped with everything else
 * (the zap-all quirk is for default VMs only): both sides of the slot, then a flush.
 */
export function* kvm_arch_flush_shadow_memslot(kvm: Kvm, slot: KvmMemorySlot): Gen {
  yield* write_lock(kvm.mmu_lock);
  const flush = yield* kvm_unmap_gfn_range(kvm, {
    slot, start: slot.base_gfn, end: slot.base_gfn + slot.npages, may_block: true, attr_filter: KVM_FILTER_PRIVATE | KVM_FILTER_SHARED,
  });
  if (flush) kvm_flush_remote_tlbs(kvm);
  yield* write_unlock(kvm.mmu_lock);
}

/**
 * kvm_mmu_zap_all_fast() (the nx_huge_pages toggle, an MMIO generation wrap): external
 * page tables cannot be zapped this way, so only direct roots are invalidated; vCPUs
 * are told to drop them, and they are zapped under the read lock.
 */
export function* kvm_mmu_zap_all_fast(kvm: Kvm): Gen {
  yield* mutex_lock(kvm.slots_lock);
  lockdep_assert_held(kvm.slots_lock, 'kvm_mmu_zap_all_fast');
  yield* write_lock(kvm.mmu_lock);
  tdp_mmu(kvm).kvm_tdp_mmu_invalidate_roots(kvm, KVM_DIRECT_ROOTS);
  kvm_make_all_cpus_request(kvm, KVM_REQ_MMU_FREE_OBSOLETE_ROOTS);
  yield* write_unlock(kvm.mmu_lock);
  yield* tdp_mmu(kvm).kvm_tdp_mmu_zap_invalidated_roots(kvm, true);
  yield* mutex_unlock(kvm.slots_lock);
}

/** kvm_mmu_zap_all() (the MMU-notifier release): every direct root, valid or not; never the mirror. */
export function* kvm_mmu_zap_all(kvm: Kvm): Gen {
  yield* write_lock(kvm.mmu_lock);
  yield* tdp_mmu(kvm).kvm_tdp_mmu_zap_all(kvm);
  yield* write_unlock(kvm.mmu_lock);
}

/** kvm_mmu_uninit_vm(): the TDP MMU tears every remaining root down. */
export function* kvm_mmu_uninit_vm(kvm: Kvm): Gen {
  yield* tdp_mmu(kvm).kvm_mmu_uninit_tdp_mmu(kvm);
}
