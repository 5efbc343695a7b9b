// SPTE accessors (tdp_iter.h) and the TDP iterator (tdp_iter.c). Every access to a
// shared SPTE is a yield point, so an interleaving can be chosen between any two.
import { preemptible, type Gen } from './context.ts';
import { KVM_MMU_WARN_ON, WARN_ON_ONCE } from './diag.ts';
import { frame_of } from './page_alloc.ts';
import {
  gfn_round_for_level, is_ept_ve_possible, is_last_spte, is_shadow_present_pte, KVM_PAGES_PER_HPAGE,
  PT64_ROOT_MAX_LEVEL, spte_needs_atomic_update, spte_to_pfn, SPTE_ENT_PER_PAGE, SPTE_INDEX,
} from './spte.ts';
import type { KvmMmuPage } from './mmu_page.ts';

/** A pointer to an SPTE: page frame number × 512 + index. */
export type Sptep = number;

export function sptep_of(pt_pfn: number, index: number): Sptep {
  return pt_pfn * SPTE_ENT_PER_PAGE + index;
}

function table_of(sptep: Sptep): BigUint64Array {
  const pfn = Math.floor(sptep / SPTE_ENT_PER_PAGE);
  const data = frame_of(pfn).data;
  if (!data) throw new Error(`page ${pfn} is not a page table`);
  return data;
}

function slot(sptep: Sptep): { data: BigUint64Array; i: number } {
  return { data: table_of(sptep), i: sptep % SPTE_ENT_PER_PAGE };
}

/** Raw read without a yield point, for observers (invariants, final state). */
export function peek_spte(sptep: Sptep): bigint {
  return table_of(sptep)[sptep % SPTE_ENT_PER_PAGE]!;
}

export function* kvm_tdp_mmu_read_spte(sptep: Sptep): Gen<bigint> {
  if (preemptible) yield 'read';
  return peek_spte(sptep);
}

export function* __kvm_tdp_mmu_write_spte(sptep: Sptep, new_spte: bigint): Gen {
  KVM_MMU_WARN_ON(is_ept_ve_possible(new_spte), '__kvm_tdp_mmu_write_spte', 'is_ept_ve_possible(new_spte)');
  if (preemptible) yield 'write';
  const s = slot(sptep);
  s.data[s.i] = new_spte;
}

export function* kvm_tdp_mmu_write_spte_atomic(sptep: Sptep, new_spte: bigint): Gen<bigint> {
  KVM_MMU_WARN_ON(is_ept_ve_possible(new_spte), 'kvm_tdp_mmu_write_spte_atomic', 'is_ept_ve_possible(new_spte)');
  if (preemptible) yield 'xchg';
  const s = slot(sptep);
  const old = s.data[s.i]!;
  s.data[s.i] = new_spte;
  return old;
}

export function kvm_tdp_mmu_spte_need_atomic_update(old_spte: bigint, level: number): boolean {
  return is_shadow_present_pte(old_spte) && is_last_spte(old_spte, level) && spte_needs_atomic_update(old_spte);
}

/** Returns the real old value: xchg when volatile bits could change under us. */
export function* kvm_tdp_mmu_write_spte(sptep: Sptep, old_spte: bigint, new_spte: bigint, level: number): Gen<bigint> {
  if (kvm_tdp_mmu_spte_need_atomic_update(old_spte, level)) return yield* kvm_tdp_mmu_write_spte_atomic(sptep, new_spte);
  yield* __kvm_tdp_mmu_write_spte(sptep, new_spte);
  return old_spte;
}

/** try_cmpxchg64: on failure `expected.v` is refreshed with the current value. */
export function* try_cmpxchg64(sptep: Sptep, expected: { v: bigint }, new_spte: bigint): Gen<boolean> {
  // always a yield point: retry loops are built on failed cmpxchgs, and each pass must
  // count against the step budget even when nothing else would preempt the thread
  yield 'cmpxchg';
  const s = slot(sptep);
  const cur = s.data[s.i]!;
  if (cur !== expected.v) {
    expected.v = cur;
    return false;
  }
  s.data[s.i] = new_spte;
  return true;
}

export function* tdp_mmu_clear_spte_bits_atomic(sptep: Sptep, mask: bigint): Gen<bigint> {
  if (preemptible) yield 'and';
  const s = slot(sptep);
  const old = s.data[s.i]!;
  s.data[s.i] = old & ~mask;
  return old;
}

/** spte_to_child_pt(): the child page table's frame, or null for non-present / leaf SPTEs. */
export function spte_to_child_pt(spte: bigint, level: number): number | null {
  if (!is_shadow_present_pte(spte) || is_last_spte(spte, level)) return null;
  return spte_to_pfn(spte);
}

export class TdpIter {
  next_last_level_gfn = 0;
  yielded_gfn = 0;
  pt_path: number[] = [0, 0, 0, 0, 0];
  sptep: Sptep = 0;
  gfn = 0;
  gfn_bits = 0;
  root_level = 0;
  min_level = 0;
  level = 0;
  as_id = 0;
  old_spte = 0n;
  valid = false;
  yielded = false;
}

// The iterator reads every entry it walks: where no schedule can switch threads, it reads
// without the cost of a generator call.
function* tdp_iter_refresh_sptep(iter: TdpIter): Gen {
  iter.sptep = sptep_of(iter.pt_path[iter.level - 1]!, SPTE_INDEX(iter.gfn + iter.gfn_bits, iter.level));
  iter.old_spte = preemptible ? yield* kvm_tdp_mmu_read_spte(iter.sptep) : peek_spte(iter.sptep);
}

export function* tdp_iter_restart(iter: TdpIter): Gen {
  iter.yielded = false;
  iter.yielded_gfn = iter.next_last_level_gfn;
  iter.level = iter.root_level;
  iter.gfn = gfn_round_for_level(iter.next_last_level_gfn, iter.level);
  yield* tdp_iter_refresh_sptep(iter);
  iter.valid = true;
}

export function* tdp_iter_start(iter: TdpIter, root: KvmMmuPage, min_level: number, next_last_level_gfn: number, gfn_bits: number): Gen {
  if (WARN_ON_ONCE(root.role.level < 1 || root.role.level > PT64_ROOT_MAX_LEVEL || (gfn_bits !== 0 && next_last_level_gfn >= gfn_bits),
    'tdp_iter_start', '!root || bad level || gfn above gfn_bits')) {
    iter.valid = false;
    return;
  }
  iter.next_last_level_gfn = next_last_level_gfn;
  iter.gfn_bits = gfn_bits;
  iter.root_level = root.role.level;
  iter.min_level = min_level;
  iter.pt_path[iter.root_level - 1] = root.spt;
  iter.as_id = root.role.as_id;
  yield* tdp_iter_restart(iter);
}

function* try_step_down(iter: TdpIter): Gen<boolean> {
  if (iter.level === iter.min_level) return false;
  // reread before stepping down: the entry may have been unlinked meanwhile
  iter.old_spte = preemptible ? yield* kvm_tdp_mmu_read_spte(iter.sptep) : peek_spte(iter.sptep);
  const child_pt = spte_to_child_pt(iter.old_spte, iter.level);
  if (child_pt === null) return false;
  iter.level--;
  iter.pt_path[iter.level - 1] = child_pt;
  iter.gfn = gfn_round_for_level(iter.next_last_level_gfn, iter.level);
  yield* tdp_iter_refresh_sptep(iter);
  return true;
}

function* try_step_side(iter: TdpIter): Gen<boolean> {
  if (SPTE_INDEX(iter.gfn + iter.gfn_bits, iter.level) === SPTE_ENT_PER_PAGE - 1) return false;
  iter.gfn += KVM_PAGES_PER_HPAGE(iter.level);
  iter.next_last_level_gfn = iter.gfn;
  iter.sptep++;
  iter.old_spte = preemptible ? yield* kvm_tdp_mmu_read_spte(iter.sptep) : peek_spte(iter.sptep);
  return true;
}

function* try_step_up(iter: TdpIter): Gen<boolean> {
  if (iter.level === iter.root_level) return false;
  iter.level++;
  iter.gfn = gfn_round_for_level(iter.gfn, iter.level);
  yield* tdp_iter_refresh_sptep(iter);
  return true;
}

export function* tdp_iter_next(iter: TdpIter): Gen {
  if (iter.yielded) {
    yield* tdp_iter_restart(iter);
    return;
  }
  if (yield* try_step_down(iter)) return;
  do {
    if (yield* try_step_side(iter)) return;
  } while (yield* try_step_up(iter));
  iter.valid = false;
}

/** A page table's entries, read without yield points: for observers (invariants, final state). */
export function read_table(pt_pfn: number): BigUint64Array {
  const data = frame_of(pt_pfn).data;
  if (!data) throw new Error(`page ${pt_pfn} is not a page table`);
  return data;
}

