// virt/kvm/guest_memfd.c: punching a hole (the invalidation of private memory, then the
// folios freed), closing the file, and populating a page before the TD runs.
import type { Gen } from './context.ts';
import { gfn_to_memslot, kvm_mem_is_private, kvm_slot_has_gmem, kvm_gmem_get_pfn, type Kvm } from './kvm.ts';
import { lockdep_assert_held, mutex_lock, mutex_unlock } from './lock.ts';
import { alloc_page, free_page } from './page_alloc.ts';
import { EFAULT, EINVAL, KVM_FILTER_PRIVATE } from './mmu_internal.ts';
import { invalidate_end, invalidate_start_and_unmap, kvm_mmu_unmap_gfn_range, slot_ranges } from './kvm_main.ts';

/** The memslots bound to guest_memfd that [start, end) hits. */
function gmem_bindings(kvm: Kvm, start: number, end: number) {
  return slot_ranges(kvm, start, end, KVM_FILTER_PRIVATE, kvm.memslots.filter((s) => s.gmem));
}

/** kvm_gmem_invalidate_start() (7.1: _begin): zap the private mappings of the range. */
function* kvm_gmem_invalidate_start(kvm: Kvm, start: number, end: number): Gen {
  yield* invalidate_start_and_unmap(kvm, gmem_bindings(kvm, start, end), (r) => kvm_mmu_unmap_gfn_range(kvm, r));
}

function* kvm_gmem_invalidate_end(kvm: Kvm, start: number, end: number): Gen {
  if (gmem_bindings(kvm, start, end).length > 0) yield* invalidate_end(kvm);
}

/**
 * fallocate(PUNCH_HOLE) on the guest_memfd: under the file's invalidate lock, zap, free
 * the folios (truncate_inode_pages_range; TDX has no free hook), end the invalidation.
 * A later fault or populate gets a fresh folio.
 */
export function* kvm_gmem_punch_hole(kvm: Kvm, start: number, end: number): Gen<number> {
  yield* mutex_lock(kvm.gmem_invalidate_lock);
  yield* kvm_gmem_invalidate_start(kvm, start, end);
  for (let gfn = start; gfn < end; gfn++) {
    const pfn = kvm.gmem_pfns.get(gfn);
    if (pfn === undefined) continue;
    kvm.gmem_pfns.delete(gfn);
    free_page(pfn, 'truncate_inode_pages_range');
  }
  yield* kvm_gmem_invalidate_end(kvm, start, end);
  yield* mutex_unlock(kvm.gmem_invalidate_lock);
  return 0;
}

/**
 * kvm_gmem_release(): the VMM closed the guest_memfd (its last reference). Under
 * slots_lock and the invalidate lock, every binding's file goes NULL (a later
 * kvm_gmem_get_pfn() fails with -EFAULT), then the whole file's private mappings are
 * zapped. The folios stay: their lifetime is the inode's, not the file's.
 */
export function* kvm_gmem_release(kvm: Kvm): Gen<number> {
  yield* mutex_lock(kvm.slots_lock);
  yield* mutex_lock(kvm.gmem_invalidate_lock);
  kvm.gmem_released = true;
  const bound = kvm.memslots.filter((s) => s.gmem);
  const start = Math.min(...bound.map((s) => s.base_gfn));
  const end = Math.max(...bound.map((s) => s.base_gfn + s.npages));
  if (bound.length > 0) {
    yield* kvm_gmem_invalidate_start(kvm, start, end);
    yield* kvm_gmem_invalidate_end(kvm, start, end);
  }
  yield* mutex_unlock(kvm.gmem_invalidate_lock);
  yield* mutex_unlock(kvm.slots_lock);
  return 0;
}

export type PostPopulate = (kvm: Kvm, gfn: number, pfn: number, src_page: number) => Gen<number>;

/**
 * kvm_gmem_populate() for one page: the gfn must be in a guest_memfd slot and private;
 * under the file's invalidate lock (no hole punch meanwhile), its folio and the source
 * page go to the vendor callback. Returns the pages done (1) or an errno.
 */
export function* kvm_gmem_populate(kvm: Kvm, gfn: number, post_populate: PostPopulate): Gen<number> {
  lockdep_assert_held(kvm.slots_lock, 'kvm_gmem_populate');
  if (!kvm_slot_has_gmem(gfn_to_memslot(kvm, gfn))) return -EINVAL;
  if (kvm.gmem_released) return -EFAULT; // kvm_gmem_get_file() finds no file
  const src_page = alloc_page('src'); // the VMM's source page, pinned
  yield* mutex_lock(kvm.gmem_invalidate_lock);
  const pfn = kvm_gmem_get_pfn(kvm, gfn);
  let ret: number;
  if (!kvm_mem_is_private(kvm, gfn)) ret = -EINVAL;
  else ret = yield* post_populate(kvm, gfn, pfn, src_page);
  yield* mutex_unlock(kvm.gmem_invalidate_lock);
  return ret < 0 ? ret : 1;
}
