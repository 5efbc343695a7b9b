// virt/kvm/kvm_main.c (and kvm_host.h) around the TDP MMU: ioctl entry on a dead VM,
// SRCU over memslots, the MMU-notifier invalidation protocol that faults check for
// staleness, KVM_SET_MEMORY_ATTRIBUTES, memslot deletion and remote TLB flushes.
import { BLOCKED, ctx, type Gen } from './context.ts';
import { WARN_ON_ONCE } from './diag.ts';
import {
  INVALID_GFN, KVM_BUG_ON, kvm_make_all_cpus_request, kvm_mem_is_private, KVM_REQ_TLB_FLUSH,
  type Kvm, type KvmMemorySlot,
} from './kvm.ts';
import { lockdep_assert_held_write, mutex_lock, mutex_unlock, write_lock, write_unlock } from './lock.ts';
import { EINVAL, EIO, KVM_FILTER_SHARED, type KvmGfnRange } from './mmu_internal.ts';
import { kvm_age_gfn, kvm_arch_flush_shadow_memslot, kvm_arch_pre_set_memory_attributes, kvm_unmap_gfn_range } from './mmu.ts';

/** kvm_vm_ioctl() / kvm_vcpu_ioctl(): nothing reaches a dead VM's ioctls but -EIO. */
export function* kvm_ioctl(kvm: Kvm, ioctl: () => Gen<number>): Gen<number> {
  if (kvm.vm_dead) return -EIO;
  return yield* ioctl();
}

// ---------------------------------------------------------------- SRCU (kvm->srcu)

export interface SrcuIdx {
  readonly thread: string;
}

export function srcu_read_lock(kvm: Kvm): SrcuIdx {
  const idx = { thread: ctx().current.name };
  kvm.srcu_readers.add(idx);
  return idx;
}

export function srcu_read_unlock(kvm: Kvm, idx: SrcuIdx): void {
  kvm.srcu_readers.delete(idx);
}

/** Waits for every read-side section that began before the call (later ones do not count). */
export function* synchronize_srcu_expedited(kvm: Kvm): Gen {
  const before = [...kvm.srcu_readers];
  yield 'synchronize_srcu';
  while (before.some((r) => kvm.srcu_readers.has(r))) yield BLOCKED;
}

// ---------------------------------------------------------------- the invalidation protocol

/** kvm_mmu_invalidate_start() (7.1: _begin): faults on the range from now on are stale. */
export function kvm_mmu_invalidate_start(kvm: Kvm): void {
  lockdep_assert_held_write(kvm.mmu_lock, 'kvm_mmu_invalidate_start');
  kvm.mmu_invalidate_in_progress++;
  if (kvm.mmu_invalidate_in_progress === 1) {
    kvm.mmu_invalidate_range_start = INVALID_GFN;
    kvm.mmu_invalidate_range_end = INVALID_GFN;
  }
}

/** kvm_mmu_invalidate_range_add(): the in-progress range grows to cover [start, end). */
export function kvm_mmu_invalidate_range_add(kvm: Kvm, start: number, end: number): void {
  lockdep_assert_held_write(kvm.mmu_lock, 'kvm_mmu_invalidate_range_add');
  WARN_ON_ONCE(kvm.mmu_invalidate_in_progress === 0, 'kvm_mmu_invalidate_range_add', '!kvm->mmu_invalidate_in_progress');
  if (kvm.mmu_invalidate_range_start === INVALID_GFN) {
    kvm.mmu_invalidate_range_start = start;
    kvm.mmu_invalidate_range_end = end;
  } else {
    kvm.mmu_invalidate_range_start = Math.min(kvm.mmu_invalidate_range_start, start);
    kvm.mmu_invalidate_range_end = Math.max(kvm.mmu_invalidate_range_end, end);
  }
}

/** kvm_mmu_invalidate_end(): the sequence count moves on; a fault that snapshotted it before retries. */
export function kvm_mmu_invalidate_end(kvm: Kvm): void {
  const site = 'kvm_mmu_invalidate_end';
  lockdep_assert_held_write(kvm.mmu_lock, site);
  kvm.mmu_invalidate_seq++;
  kvm.mmu_invalidate_in_progress--;
  KVM_BUG_ON(kvm.mmu_invalidate_in_progress < 0, kvm, site, 'kvm->mmu_invalidate_in_progress < 0');
  WARN_ON_ONCE(kvm.mmu_invalidate_range_start === INVALID_GFN, site, 'kvm->mmu_invalidate_range_start == INVALID_GPA');
}

/** mmu_invalidate_retry_gfn(): with mmu_lock held, has an invalidation of gfn begun or ended since mmu_seq? */
export function mmu_invalidate_retry_gfn(kvm: Kvm, mmu_seq: number, gfn: number): boolean {
  if (kvm.mmu_invalidate_in_progress > 0) {
    // an invalidation that added no range yet covers everything
    if (WARN_ON_ONCE(kvm.mmu_invalidate_range_start === INVALID_GFN, 'mmu_invalidate_retry_gfn', 'kvm->mmu_invalidate_range_start == INVALID_GPA')) return true;
    if (gfn >= kvm.mmu_invalidate_range_start && gfn < kvm.mmu_invalidate_range_end) return true;
  }
  return kvm.mmu_invalidate_seq !== mmu_seq;
}

/** mmu_invalidate_retry_gfn_unsafe(): the same, read without mmu_lock (an early out). */
export function mmu_invalidate_retry_gfn_unsafe(kvm: Kvm, mmu_seq: number, gfn: number): boolean {
  if (kvm.mmu_invalidate_in_progress > 0 && gfn >= kvm.mmu_invalidate_range_start && gfn < kvm.mmu_invalidate_range_end) return true;
  return kvm.mmu_invalidate_seq !== mmu_seq;
}

/** kvm_mmu_unmap_gfn_range(): the handler of invalidations: add the range, then unmap it. */
export function* kvm_mmu_unmap_gfn_range(kvm: Kvm, range: KvmGfnRange): Gen<boolean> {
  kvm_mmu_invalidate_range_add(kvm, range.start, range.end);
  return yield* kvm_unmap_gfn_range(kvm, range);
}

/** kvm_flush_remote_tlbs(): x86 has no hook for a TD, so every vCPU gets KVM_REQ_TLB_FLUSH. */
export function kvm_flush_remote_tlbs(kvm: Kvm): void {
  kvm_make_all_cpus_request(kvm, KVM_REQ_TLB_FLUSH);
}

/** kvm_flush_remote_tlbs_range(): no ranged flush without Hyper-V, so a full one. */
export function kvm_flush_remote_tlbs_range(kvm: Kvm, _gfn: number, _nr_pages: number): void {
  kvm_flush_remote_tlbs(kvm);
}

/** The parts of [start, end) each memslot covers (kvm_handle_gfn_range's walk). */
export function slot_ranges(kvm: Kvm, start: number, end: number, filter: number, slots = kvm.memslots): KvmGfnRange[] {
  const out: KvmGfnRange[] = [];
  for (const slot of slots) {
    const s = Math.max(start, slot.base_gfn);
    const e = Math.min(end, slot.base_gfn + slot.npages);
    if (s < e) out.push({ slot, start: s, end: e, may_block: true, attr_filter: filter });
  }
  return out;
}

/**
 * The write-locked half of an invalidation: on the first memslot the range hits, take
 * mmu_lock and start the invalidation; unmap each slot's part; flush if anything was
 * zapped. False when no slot was hit (nothing locked, nothing started).
 */
export function* invalidate_start_and_unmap(kvm: Kvm, ranges: KvmGfnRange[], handler: (r: KvmGfnRange) => Gen<boolean>): Gen<boolean> {
  if (ranges.length === 0) return false;
  yield* write_lock(kvm.mmu_lock);
  kvm_mmu_invalidate_start(kvm);
  let flush = false;
  for (const r of ranges) flush = (yield* handler(r)) || flush;
  if (flush) kvm_flush_remote_tlbs(kvm);
  yield* write_unlock(kvm.mmu_lock);
  return true;
}

/** The second half: the invalidation ends (the sequence count moves on) under mmu_lock. */
export function* invalidate_end(kvm: Kvm): Gen {
  yield* write_lock(kvm.mmu_lock);
  kvm_mmu_invalidate_end(kvm);
  yield* write_unlock(kvm.mmu_lock);
}

// ---------------------------------------------------------------- KVM_SET_MEMORY_ATTRIBUTES

function range_has_attributes(kvm: Kvm, start: number, end: number, is_private: boolean): boolean {
  for (let gfn = start; gfn < end; gfn++) if (kvm_mem_is_private(kvm, gfn) !== is_private) return false;
  return true;
}

/**
 * kvm_vm_set_mem_attributes(): under slots_lock, zap the side the range leaves (one
 * write-locked section that starts an invalidation), store the attributes without
 * mmu_lock, then end the invalidation. Nothing happens if the range already has them.
 */
export function* kvm_vm_set_mem_attributes(kvm: Kvm, start: number, end: number, to_private: boolean): Gen<number> {
  if (end <= start) return -EINVAL;
  yield* mutex_lock(kvm.slots_lock);
  if (range_has_attributes(kvm, start, end, to_private)) {
    yield* mutex_unlock(kvm.slots_lock);
    return 0;
  }
  const started = yield* invalidate_start_and_unmap(kvm, slot_ranges(kvm, start, end, 0), function* (range) {
    // kvm_pre_set_memory_attributes()
    kvm_mmu_invalidate_range_add(kvm, range.start, range.end);
    return yield* kvm_arch_pre_set_memory_attributes(kvm, range, to_private);
  });
  for (let gfn = start; gfn < end; gfn++) kvm.mem_attr_private.set(gfn, to_private);
  // kvm_arch_post_set_memory_attributes() only tracks mixed huge pages: nothing at 4K
  if (started) yield* invalidate_end(kvm);
  yield* mutex_unlock(kvm.slots_lock);
  return 0;
}

// ---------------------------------------------------------------- MMU notifier

/** invalidate_range_start(): host memory behind [start, end) goes away; shared side only. */
export function* kvm_mmu_notifier_invalidate_range_start(kvm: Kvm, start: number, end: number): Gen {
  kvm.mn_active_invalidate_count++;
  yield* invalidate_start_and_unmap(kvm, slot_ranges(kvm, start, end, KVM_FILTER_SHARED), (r) => kvm_mmu_unmap_gfn_range(kvm, r));
}

/** invalidate_range_end(): the invalidation ends; a waiting memslot update may go on. */
export function* kvm_mmu_notifier_invalidate_range_end(kvm: Kvm, start: number, end: number): Gen {
  if (slot_ranges(kvm, start, end, KVM_FILTER_SHARED).length > 0) yield* invalidate_end(kvm);
  kvm.mn_active_invalidate_count--;
}

/** clear_young(): lockless (only SRCU), shared side only, never a flush on x86. */
export function* kvm_mmu_notifier_clear_young(kvm: Kvm, start: number, end: number): Gen<boolean> {
  const idx = srcu_read_lock(kvm);
  let young = false;
  for (const r of slot_ranges(kvm, start, end, KVM_FILTER_SHARED)) young = (yield* kvm_age_gfn(kvm, r)) || young;
  srcu_read_unlock(kvm, idx);
  return young;
}

// ---------------------------------------------------------------- memslot deletion

/**
 * KVM_SET_USER_MEMORY_REGION2 with size 0: mark the slot invalid and publish it (after
 * pending MMU-notifier invalidations), wait for SRCU readers that may have seen it
 * valid, zap both sides of it, then drop it. The fault sequence count is not involved:
 * a fault that sees the invalid slot retries, one that began before is waited for.
 */
export function* kvm_delete_memslot_ioctl(kvm: Kvm, id: number): Gen<number> {
  yield* mutex_lock(kvm.slots_lock);
  const slot = kvm.memslots.find((s) => s.id === id);
  if (!slot) {
    yield* mutex_unlock(kvm.slots_lock);
    return -EINVAL;
  }
  yield* kvm_invalidate_memslot(kvm, slot);
  yield* kvm_arch_flush_shadow_memslot(kvm, slot);
  kvm.memslots.splice(kvm.memslots.indexOf(slot), 1);
  yield* synchronize_srcu_expedited(kvm);
  yield* mutex_unlock(kvm.slots_lock);
  return 0;
}

function* kvm_invalidate_memslot(kvm: Kvm, slot: KvmMemorySlot): Gen {
  // kvm_swap_active_memslots(): memslots do not change under an MMU-notifier invalidation
  while (kvm.mn_active_invalidate_count > 0) yield BLOCKED;
  slot.invalid = true;
  yield* synchronize_srcu_expedited(kvm);
}
