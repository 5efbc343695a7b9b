// arch/x86/kvm/mmu/tdp_mmu.c at this step of the series (see step.ts):
// mirror SPTE changes reach the TDX module through three hooks, called from
// __tdp_mmu_set_spte_atomic(), remove_external_spte() and handle_removed_pt().
import { ctx, type Gen } from '../../src/kernel/context.ts';
import { BUG, KVM_MMU_WARN_ON, WARN_ON, WARN_ON_ONCE } from '../../src/kernel/diag.ts';
import { KVM_BUG_ON, kvm_update_page_stats, type Kvm, type KvmVcpu } from '../../src/kernel/kvm.ts';
import { lockdep_assert_held_read, lockdep_assert_held_write, read_lock, read_unlock, write_lock, write_unlock } from '../../src/kernel/lock.ts';
import {
  EBUSY, errno_name, KVM_DIRECT_ROOTS, KVM_INVALID_ROOTS, KVM_MIRROR_ROOTS, KVM_VALID_ROOTS, kvm_gfn_range_filter_to_root_types,
  kvm_gfn_root_bits, kvm_is_addr_direct, kvm_mmu_alloc_external_spt, RET_PF_FIXED, RET_PF_RETRY, RET_PF_SPURIOUS,
  tdp_mmu_max_gfn_exclusive, type KvmGfnRange, type KvmPageFault,
} from '../../src/kernel/mmu_internal.ts';
import { is_access_allowed, RET_PF_EMULATE } from '../../src/kernel/mmu_internal.ts';
import { is_mirror_sp, is_mirror_sptep, kvm_mmu_page_as_id, pt_to_sp, sptep_to_sp, type KvmMmuPage } from '../../src/kernel/mmu_page.ts';
import { alloc_page, frame_of, free_page } from '../../src/kernel/page_alloc.ts';
import { call_rcu, rcu_barrier, rcu_read_lock, rcu_read_unlock } from '../../src/kernel/rcu.ts';
import {
  FROZEN_SPTE, gfn_round_for_level, is_accessed_spte, is_frozen_spte, is_large_pte, is_last_spte, is_mmio_spte,
  is_shadow_present_pte, KVM_PAGES_PER_HPAGE, make_mmio_spte, make_nonleaf_spte, make_spte, mark_spte_for_access_track,
  PG_LEVEL_4K, PT64_ROOT_MAX_LEVEL, shadow_accessed_mask, SHADOW_NONPRESENT_VALUE, spte_ad_enabled, spte_to_pfn,
  SPTE_ENT_PER_PAGE, PT_PAGE_SIZE_MASK,
} from '../../src/kernel/spte.ts';
import {
  __kvm_tdp_mmu_write_spte, kvm_tdp_mmu_read_spte, kvm_tdp_mmu_write_spte, kvm_tdp_mmu_write_spte_atomic,
  sptep_of, spte_to_child_pt, tdp_iter_next, tdp_iter_start, tdp_mmu_clear_spte_bits_atomic, try_cmpxchg64,
  TdpIter, type Sptep,
} from '../../src/kernel/tdp_iter.ts';
import { trace_kvm_mmu_spte_requested, trace_kvm_tdp_mmu_spte_changed } from '../../src/kernel/tracepoints.ts';
import { kvm_x86_call } from './x86_ops.ts';

export function kvm_mmu_init_tdp_mmu(kvm: Kvm): void {
  kvm.arch.tdp_mmu_roots = [];
}

function kvm_lockdep_assert_mmu_lock_held(kvm: Kvm, shared: boolean, site: string): boolean {
  if (shared) lockdep_assert_held_read(kvm.mmu_lock, site);
  else lockdep_assert_held_write(kvm.mmu_lock, site);
  return true;
}

export function* kvm_mmu_uninit_tdp_mmu(kvm: Kvm): Gen {
  // invalidating every root schedules it for zapping, which puts the MMU's reference
  kvm_tdp_mmu_invalidate_roots(kvm, KVM_VALID_ROOTS);
  yield* kvm_tdp_mmu_zap_invalidated_roots(kvm, false);
  KVM_MMU_WARN_ON(kvm.arch.tdp_mmu_pages !== 0, 'kvm_mmu_uninit_tdp_mmu', 'atomic64_read(&kvm->arch.tdp_mmu_pages)');
  WARN_ON(kvm.arch.tdp_mmu_roots.length !== 0, 'kvm_mmu_uninit_tdp_mmu', '!list_empty(&kvm->arch.tdp_mmu_roots)');
  rcu_barrier();
}

function tdp_mmu_free_sp(sp: KvmMmuPage): void {
  free_page(sp.external_spt, 'tdp_mmu_free_sp');
  free_page(sp.spt, 'tdp_mmu_free_sp');
  sp.header_freed = true;
}

function tdp_mmu_free_sp_rcu_callback(sp: KvmMmuPage): void {
  tdp_mmu_free_sp(sp);
}

export function kvm_tdp_mmu_put_root(kvm: Kvm, root: KvmMmuPage): void {
  if (--root.tdp_mmu_root_count > 0) return;
  // the MMU holds a reference until the root is invalidated
  KVM_BUG_ON(!root.role.invalid, kvm, 'kvm_tdp_mmu_put_root', '!is_tdp_mmu_page(root) || !root->role.invalid');
  const i = kvm.arch.tdp_mmu_roots.indexOf(root);
  if (i >= 0) kvm.arch.tdp_mmu_roots.splice(i, 1);
  call_rcu(() => tdp_mmu_free_sp_rcu_callback(root));
}

function tdp_mmu_root_match(root: KvmMmuPage, types: number): boolean {
  if (WARN_ON_ONCE(!(types & KVM_VALID_ROOTS), 'tdp_mmu_root_match', '!(types & KVM_VALID_ROOTS)')) return false;
  if (root.role.invalid && !(types & KVM_INVALID_ROOTS)) return false;
  if (!is_mirror_sp(root)) return (types & KVM_DIRECT_ROOTS) !== 0;
  return (types & KVM_MIRROR_ROOTS) !== 0;
}

/** The roots __for_each_tdp_mmu_root_yield_safe() visits, in list order. */
function tdp_mmu_roots_of_type(kvm: Kvm, types: number): KvmMmuPage[] {
  return kvm.arch.tdp_mmu_roots.filter((r) => r.tdp_mmu_root_count > 0 && tdp_mmu_root_match(r, types));
}

function tdp_mmu_alloc_sp(): KvmMmuPage {
  const spt = alloc_page('spt');
  return {
    spt, external_spt: null, role: { level: 0, is_mirror: false, invalid: false, as_id: 0 }, gfn: 0, ptep: null,
    tdp_mmu_root_count: 0, tdp_mmu_scheduled_root_to_zap: false, nx_huge_page_disallowed: false, header_freed: false,
  };
}

function tdp_mmu_init_sp(sp: KvmMmuPage, sptep: Sptep | null, gfn: number, role: KvmMmuPage['role']): void {
  frame_of(sp.spt).sp = sp;
  sp.role = { ...role };
  sp.gfn = gfn;
  sp.ptep = sptep;
}

function tdp_mmu_init_child_sp(child_sp: KvmMmuPage, iter: TdpIter): void {
  const parent_sp = sptep_to_sp(iter.sptep);
  const role = { ...parent_sp.role, level: parent_sp.role.level - 1 };
  tdp_mmu_init_sp(child_sp, iter.sptep, iter.gfn, role);
}

export function* kvm_tdp_mmu_alloc_root(kvm: Kvm, vcpu: KvmVcpu, mirror: boolean): Gen<KvmMmuPage> {
  const role = { level: kvm.arch.tdp_root_level, is_mirror: mirror, invalid: false, as_id: 0 };
  yield* read_lock(kvm.mmu_lock);
  let root = kvm.arch.tdp_mmu_roots.find((r) => !r.role.invalid && r.role.is_mirror === mirror && r.tdp_mmu_root_count > 0);
  if (root) {
    root.tdp_mmu_root_count++;
  } else {
    root = tdp_mmu_alloc_sp();
    tdp_mmu_init_sp(root, null, 0, role);
    // one reference for the vCPU, one for the TDP MMU itself until invalidation
    root.tdp_mmu_root_count = 2;
    // list_add_rcu(): the newest root is walked first
    kvm.arch.tdp_mmu_roots.unshift(root);
  }
  yield* read_unlock(kvm.mmu_lock);
  if (mirror) vcpu.mirror_root = root;
  else vcpu.root = root;
  return root;
}

function tdp_account_mmu_page(kvm: Kvm, _sp: KvmMmuPage): void {
  kvm.arch.tdp_mmu_pages++;
}

function tdp_unaccount_mmu_page(kvm: Kvm, _sp: KvmMmuPage): void {
  kvm.arch.tdp_mmu_pages--;
}

function tdp_mmu_unlink_sp(kvm: Kvm, sp: KvmMmuPage): void {
  tdp_unaccount_mmu_page(kvm, sp);
  if (!sp.nx_huge_page_disallowed) return;
  sp.nx_huge_page_disallowed = false;
}

function* remove_external_spte(kvm: Kvm, gfn: number, old_spte: bigint, level: number): Gen {
  // S-EPT leaves are 4K; tables go away through free_external_spt() instead
  if (!is_last_spte(old_spte, level)) return;
  lockdep_assert_held_write(kvm.mmu_lock, 'remove_external_spte');
  yield* kvm_x86_call(kvm).remove_external_spte(kvm, gfn, level, old_spte);
}

function* handle_removed_pt(kvm: Kvm, pt: number, shared: boolean): Gen {
  const sp = pt_to_sp(pt);
  const level = sp.role.level;
  const base_gfn = sp.gfn;

  tdp_mmu_unlink_sp(kvm, sp);

  for (let i = 0; i < SPTE_ENT_PER_PAGE; i++) {
    const sptep = sptep_of(pt, i);
    const gfn = base_gfn + i * KVM_PAGES_PER_HPAGE(level);
    let old_spte: bigint;

    if (shared) {
      // another thread may hold the entry frozen for its own update: wait it out
      for (;;) {
        old_spte = yield* kvm_tdp_mmu_write_spte_atomic(sptep, FROZEN_SPTE);
        if (!is_frozen_spte(old_spte)) break;
        yield 'cpu_relax';
      }
    } else {
      old_spte = yield* kvm_tdp_mmu_read_spte(sptep);
      if (!is_shadow_present_pte(old_spte)) continue;
      old_spte = yield* kvm_tdp_mmu_write_spte(sptep, old_spte, FROZEN_SPTE, level);
    }
    yield* handle_changed_spte(kvm, sp, gfn, old_spte, FROZEN_SPTE, level, shared);

    if (is_mirror_sp(sp)) {
      KVM_BUG_ON(shared, kvm, 'handle_removed_pt', 'shared');
      yield* remove_external_spte(kvm, gfn, old_spte, level);
    }
  }

  if (is_mirror_sp(sp) &&
      WARN_ON((yield* kvm_x86_call(kvm).free_external_spt(kvm, base_gfn, sp.role.level, sp.external_spt)) !== 0,
        'handle_removed_pt', 'kvm_x86_call(free_external_spt)(kvm, base_gfn, sp->role.level, sp->external_spt)')) {
    // the module may still use the page: leak it rather than hand it back
    sp.external_spt = null;
  }

  call_rcu(() => tdp_mmu_free_sp_rcu_callback(sp));
}

/** `sp` is the page table that holds the changed SPTE. */
function* handle_changed_spte(kvm: Kvm, sp: KvmMmuPage, gfn: number, old_spte: bigint, new_spte: bigint, level: number, shared: boolean): Gen {
  const as_id = kvm_mmu_page_as_id(sp);
  const was_present = is_shadow_present_pte(old_spte);
  const is_present = is_shadow_present_pte(new_spte);
  const was_leaf = was_present && is_last_spte(old_spte, level);
  const is_leaf = is_present && is_last_spte(new_spte, level);
  const pfn_changed = spte_to_pfn(old_spte) !== spte_to_pfn(new_spte);
  const site = 'handle_changed_spte';

  WARN_ON_ONCE(level > PT64_ROOT_MAX_LEVEL, site, 'level > PT64_ROOT_MAX_LEVEL');
  WARN_ON_ONCE(level < PG_LEVEL_4K, site, 'level < PG_LEVEL_4K');
  WARN_ON_ONCE(gfn % KVM_PAGES_PER_HPAGE(level) !== 0, site, 'gfn & (KVM_PAGES_PER_HPAGE(level) - 1)');

  // a present leaf must never be replaced by one for another PFN without a zap first
  if (was_leaf && is_leaf && pfn_changed) BUG(site, `present leaf replaced with another PFN (as_id ${as_id})`);

  if (old_spte === new_spte) return;

  trace_kvm_tdp_mmu_spte_changed(as_id, gfn, level, old_spte, new_spte);

  if (!was_present && !is_present) {
    // only MMIO SPTEs and freezing may change one non-present value into another
    WARN_ON_ONCE(!is_mmio_spte(old_spte) && !is_mmio_spte(new_spte) && !is_frozen_spte(new_spte),
      site, '!is_mmio_spte(old_spte) && !is_mmio_spte(new_spte) && !is_frozen_spte(new_spte)');
    return;
  }

  if (is_leaf !== was_leaf) kvm_update_page_stats(kvm, level, is_leaf ? 1 : -1);

  // a removed table: tear down its children (the PFN of a table never changes)
  if (was_present && !was_leaf && (is_leaf || !is_present || WARN_ON_ONCE(pfn_changed, site, 'pfn_changed'))) {
    yield* handle_removed_pt(kvm, spte_to_child_pt(old_spte, level)!, shared);
  }
}

function* __tdp_mmu_set_spte_atomic(kvm: Kvm, iter: TdpIter, new_spte: bigint): Gen<number> {
  // callers must not hand in a FROZEN old value: nobody manipulates a frozen SPTE
  WARN_ON_ONCE(iter.yielded || is_frozen_spte(iter.old_spte), '__tdp_mmu_set_spte_atomic', 'iter->yielded || is_frozen_spte(iter->old_spte)');

  // FROZEN_SPTE is a transient placeholder: nobody may set it as a lasting value
  KVM_MMU_WARN_ON(is_frozen_spte(new_spte), '__tdp_mmu_set_spte_atomic', 'is_frozen_spte(new_spte)');

  if (is_mirror_sptep(iter.sptep)) {
    // freeze the mirror entry so nobody else updates it while the S-EPT changes;
    // a failed freeze refreshes iter->old_spte like the plain cmpxchg below
    const old = { v: iter.old_spte };
    const frozen = yield* try_cmpxchg64(iter.sptep, old, FROZEN_SPTE);
    iter.old_spte = old.v;
    if (!frozen) return -EBUSY;

    const ret = yield* kvm_x86_call(kvm).set_external_spte(kvm, iter.gfn, iter.old_spte, new_spte, iter.level);
    if (ret) yield* __kvm_tdp_mmu_write_spte(iter.sptep, iter.old_spte);
    else yield* __kvm_tdp_mmu_write_spte(iter.sptep, new_spte);
    return ret;
  }

  // on failure iter->old_spte is refreshed, so a retry works on fresh data
  const old = { v: iter.old_spte };
  const ok = yield* try_cmpxchg64(iter.sptep, old, new_spte);
  iter.old_spte = old.v;
  if (!ok) return -EBUSY;
  return 0;
}

function* tdp_mmu_set_spte_atomic(kvm: Kvm, iter: TdpIter, new_spte: bigint): Gen<number> {
  const sp = sptep_to_sp(iter.sptep);

  lockdep_assert_held_read(kvm.mmu_lock, 'tdp_mmu_set_spte_atomic');

  const ret = yield* __tdp_mmu_set_spte_atomic(kvm, iter, new_spte);
  if (ret) return ret;

  yield* handle_changed_spte(kvm, sp, iter.gfn, iter.old_spte, new_spte, iter.level, true);
  return 0;
}

function* tdp_mmu_set_spte(kvm: Kvm, sptep: Sptep, old_spte: bigint, new_spte: bigint, gfn: number, level: number): Gen<bigint> {
  const sp = sptep_to_sp(sptep);

  lockdep_assert_held_write(kvm.mmu_lock, 'tdp_mmu_set_spte');

  // the write lock makes freezing unnecessary; nobody may write or meet FROZEN here
  WARN_ON_ONCE(is_frozen_spte(old_spte) || is_frozen_spte(new_spte), 'tdp_mmu_set_spte', 'is_frozen_spte(old_spte) || is_frozen_spte(new_spte)');

  old_spte = yield* kvm_tdp_mmu_write_spte(sptep, old_spte, new_spte, level);

  yield* handle_changed_spte(kvm, sp, gfn, old_spte, new_spte, level, false);

  // the non-atomic path may only zap mirror SPTEs
  if (is_mirror_sptep(sptep)) {
    KVM_BUG_ON(is_shadow_present_pte(new_spte), kvm, 'tdp_mmu_set_spte', 'is_shadow_present_pte(new_spte)');
    yield* remove_external_spte(kvm, gfn, old_spte, level);
  }
  return old_spte;
}

function* tdp_mmu_iter_set_spte(kvm: Kvm, iter: TdpIter, new_spte: bigint): Gen {
  WARN_ON_ONCE(iter.yielded, 'tdp_mmu_iter_set_spte', 'iter->yielded');
  iter.old_spte = yield* tdp_mmu_set_spte(kvm, iter.sptep, iter.old_spte, new_spte, iter.gfn, iter.level);
}

/** The model never needs to reschedule: mmu_lock is never contended long enough. */
function tdp_mmu_iter_cond_resched(_kvm: Kvm, iter: TdpIter, _flush: boolean, _shared: boolean): boolean {
  KVM_MMU_WARN_ON(iter.yielded, 'tdp_mmu_iter_cond_resched', 'iter->yielded');
  return false;
}

function* __tdp_mmu_zap_root(kvm: Kvm, root: KvmMmuPage, shared: boolean, zap_level: number): Gen {
  const iter = new TdpIter();
  const end = tdp_mmu_max_gfn_exclusive(root.role.level);
  for (yield* tdp_iter_start(iter, root, zap_level, 0, 0); iter.valid && iter.gfn < end; yield* tdp_iter_next(iter)) {
    for (;;) { // retry:
      if (tdp_mmu_iter_cond_resched(kvm, iter, false, shared)) break;
      if (!is_shadow_present_pte(iter.old_spte)) break;
      if (iter.level > zap_level) break;
      if (!shared) yield* tdp_mmu_iter_set_spte(kvm, iter, SHADOW_NONPRESENT_VALUE);
      else if (yield* tdp_mmu_set_spte_atomic(kvm, iter, SHADOW_NONPRESENT_VALUE)) continue;
      break;
    }
  }
}

function* tdp_mmu_zap_root(kvm: Kvm, root: KvmMmuPage, shared: boolean): Gen {
  WARN_ON_ONCE(root.tdp_mmu_root_count <= 0, 'tdp_mmu_zap_root', '!refcount_read(&root->tdp_mmu_root_count)');
  kvm_lockdep_assert_mmu_lock_held(kvm, shared, 'tdp_mmu_zap_root');

  rcu_read_lock();
  // zapping leaves level by level keeps each handle_removed_pt() small; PROVE_MMU skips it
  if (!ctx().prove_mmu) {
    yield* __tdp_mmu_zap_root(kvm, root, shared, PG_LEVEL_4K);
    yield* __tdp_mmu_zap_root(kvm, root, shared, 2);
  }
  yield* __tdp_mmu_zap_root(kvm, root, shared, 3);
  yield* __tdp_mmu_zap_root(kvm, root, shared, root.role.level);
  rcu_read_unlock();
}

function* tdp_mmu_zap_leafs(kvm: Kvm, root: KvmMmuPage, start: number, end: number, can_yield: boolean, flush: boolean): Gen<boolean> {
  const iter = new TdpIter();
  end = Math.min(end, tdp_mmu_max_gfn_exclusive(root.role.level));

  lockdep_assert_held_write(kvm.mmu_lock, 'tdp_mmu_zap_leafs');

  rcu_read_lock();
  for (yield* tdp_iter_start(iter, root, PG_LEVEL_4K, start, kvm_gfn_root_bits(kvm, root)); iter.valid && iter.gfn < end; yield* tdp_iter_next(iter)) {
    if (can_yield && tdp_mmu_iter_cond_resched(kvm, iter, flush, false)) {
      flush = false;
      continue;
    }
    if (!is_shadow_present_pte(iter.old_spte) || !is_last_spte(iter.old_spte, iter.level)) continue;

    yield* tdp_mmu_iter_set_spte(kvm, iter, SHADOW_NONPRESENT_VALUE);

    if (!root.role.invalid) flush = true;
  }
  rcu_read_unlock();
  return flush;
}

export function* kvm_tdp_mmu_zap_leafs(kvm: Kvm, start: number, end: number, flush: boolean): Gen<boolean> {
  lockdep_assert_held_write(kvm.mmu_lock, 'kvm_tdp_mmu_zap_leafs');
  for (const root of tdp_mmu_roots_of_type(kvm, KVM_VALID_ROOTS)) flush = yield* tdp_mmu_zap_leafs(kvm, root, start, end, true, flush);
  return flush;
}

export function* kvm_tdp_mmu_zap_all(kvm: Kvm): Gen {
  lockdep_assert_held_write(kvm.mmu_lock, 'kvm_tdp_mmu_zap_all');
  for (const root of tdp_mmu_roots_of_type(kvm, KVM_DIRECT_ROOTS | KVM_INVALID_ROOTS)) yield* tdp_mmu_zap_root(kvm, root, false);
}

export function* kvm_tdp_mmu_zap_invalidated_roots(kvm: Kvm, shared: boolean): Gen {
  if (shared) yield* read_lock(kvm.mmu_lock);
  else yield* write_lock(kvm.mmu_lock);

  for (const root of [...kvm.arch.tdp_mmu_roots]) {
    if (!root.tdp_mmu_scheduled_root_to_zap) continue;
    root.tdp_mmu_scheduled_root_to_zap = false;
    KVM_BUG_ON(!root.role.invalid, kvm, 'kvm_tdp_mmu_zap_invalidated_roots', '!root->role.invalid');
    yield* tdp_mmu_zap_root(kvm, root, shared);
    kvm_tdp_mmu_put_root(kvm, root);
  }

  if (shared) yield* read_unlock(kvm.mmu_lock);
  else yield* write_unlock(kvm.mmu_lock);
}

export function kvm_tdp_mmu_invalidate_roots(kvm: Kvm, root_types: number): void {
  if (WARN_ON_ONCE((root_types & KVM_INVALID_ROOTS) !== 0, 'kvm_tdp_mmu_invalidate_roots', 'root_types & KVM_INVALID_ROOTS')) root_types &= ~KVM_INVALID_ROOTS;
  for (const root of kvm.arch.tdp_mmu_roots) {
    if (!tdp_mmu_root_match(root, root_types)) continue;
    if (!root.role.invalid) {
      root.tdp_mmu_scheduled_root_to_zap = true;
      root.role.invalid = true;
    }
  }
}

function* tdp_mmu_map_handle_target_level(kvm: Kvm, fault: KvmPageFault, iter: TdpIter): Gen<number> {
  const sp = sptep_to_sp(iter.sptep);
  const site = 'tdp_mmu_map_handle_target_level';
  let new_spte: bigint;
  let ret = RET_PF_FIXED;

  if (WARN_ON_ONCE(sp.role.level !== fault.goal_level, site, 'sp->role.level != fault->goal_level')) return RET_PF_RETRY;

  if (is_shadow_present_pte(iter.old_spte) && (fault.prefetch || is_access_allowed(fault, iter.old_spte)) &&
      is_last_spte(iter.old_spte, iter.level)) {
    WARN_ON_ONCE(fault.pfn !== spte_to_pfn(iter.old_spte), site, 'fault->pfn != spte_to_pfn(iter->old_spte)');
    return RET_PF_SPURIOUS;
  }

  if (!fault.slot) new_spte = make_mmio_spte(iter.gfn);
  else new_spte = make_spte(fault.pfn, iter.level, kvm.ad_enabled, fault.prefetch);

  if (new_spte === iter.old_spte) ret = RET_PF_SPURIOUS;
  else if (yield* tdp_mmu_set_spte_atomic(kvm, iter, new_spte)) return RET_PF_RETRY;

  // an MMIO SPTE: the access is emulated (for a TD, the guest asks by TDVMCALL)
  if (is_mmio_spte(new_spte)) ret = RET_PF_EMULATE;
  return ret;
}

function* tdp_mmu_link_sp(kvm: Kvm, iter: TdpIter, sp: KvmMmuPage, shared: boolean): Gen<number> {
  const spte = make_nonleaf_spte(sp.spt, !kvm.ad_enabled);
  if (shared) {
    const ret = yield* tdp_mmu_set_spte_atomic(kvm, iter, spte);
    if (ret) return ret;
  } else {
    yield* tdp_mmu_iter_set_spte(kvm, iter, spte);
  }
  tdp_account_mmu_page(kvm, sp);
  return 0;
}

/** Fills a new table with the small SPTEs of a huge one, then links it in its place. */
function* tdp_mmu_split_huge_page(kvm: Kvm, iter: TdpIter, sp: KvmMmuPage, shared: boolean): Gen<number> {
  const huge_spte = iter.old_spte;
  const child_level = iter.level - 1;
  const data = frame_of(sp.spt).data!;
  for (let i = 0; i < SPTE_ENT_PER_PAGE; i++) {
    let child = huge_spte + (BigInt(i * KVM_PAGES_PER_HPAGE(child_level)) << 12n);
    if (child_level === PG_LEVEL_4K) child &= ~PT_PAGE_SIZE_MASK;
    data[i] = child;
  }
  const ret = yield* tdp_mmu_link_sp(kvm, iter, sp, shared);
  if (ret) return ret;
  kvm_update_page_stats(kvm, iter.level, -1);
  kvm_update_page_stats(kvm, child_level, SPTE_ENT_PER_PAGE);
  return 0;
}

export function tdp_mmu_get_root_for_fault(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): KvmMmuPage | null {
  if (!kvm_is_addr_direct(kvm, fault.addr)) return vcpu.mirror_root;
  return vcpu.root;
}

export function* kvm_tdp_mmu_map(kvm: Kvm, vcpu: KvmVcpu, fault: KvmPageFault): Gen<number> {
  const root = tdp_mmu_get_root_for_fault(kvm, vcpu, fault);
  const iter = new TdpIter();
  let ret = RET_PF_RETRY;

  if (KVM_MMU_WARN_ON(!root || root.role.invalid, 'kvm_tdp_mmu_map', '!root || root->role.invalid') && !root) return ret;

  trace_kvm_mmu_spte_requested(fault.gfn, fault.goal_level);

  rcu_read_lock();
  walk: {
    for (yield* tdp_iter_start(iter, root!, PG_LEVEL_4K, fault.gfn, kvm_gfn_root_bits(kvm, root!)); iter.valid && iter.gfn < fault.gfn + 1; yield* tdp_iter_next(iter)) {
      if (is_frozen_spte(iter.old_spte)) break walk;

      if (iter.level === fault.goal_level) {
        ret = yield* tdp_mmu_map_handle_target_level(kvm, fault, iter);
        break walk;
      }

      if (is_shadow_present_pte(iter.old_spte) && !is_large_pte(iter.old_spte)) continue;

      const sp = tdp_mmu_alloc_sp();
      tdp_mmu_init_child_sp(sp, iter);
      if (is_mirror_sp(sp)) kvm_mmu_alloc_external_spt(sp);
      sp.nx_huge_page_disallowed = fault.huge_page_disallowed;

      let r: number;
      if (is_shadow_present_pte(iter.old_spte)) {
        // huge pages are not supported on mirror roots
        KVM_BUG_ON(is_mirror_sptep(iter.sptep), kvm, 'kvm_tdp_mmu_map', 'is_mirror_sptep(iter.sptep)');
        r = yield* tdp_mmu_split_huge_page(kvm, iter, sp, true);
      } else {
        r = yield* tdp_mmu_link_sp(kvm, iter, sp, true);
      }

      // a failed link leaves the SP (and its external page) unused: free it and retry
      if (r) {
        tdp_mmu_free_sp(sp);
        break walk;
      }
    }
    WARN_ON_ONCE(iter.level === fault.goal_level, 'kvm_tdp_mmu_map', 'iter.level == fault->goal_level');
  }
  rcu_read_unlock();
  return ret;
}

/**
 * The last SPTE of the lockless walk to gfn in the vCPU's direct root (fast page fault:
 * mirror roots are never walked without mmu_lock). The caller is in an RCU section.
 */
export function* kvm_tdp_mmu_fast_pf_get_last_sptep(kvm: Kvm, vcpu: KvmVcpu, gfn: number): Gen<{ sptep: Sptep; spte: bigint } | null> {
  const root = vcpu.root;
  if (!root) return null;
  const iter = new TdpIter();
  let last: { sptep: Sptep; spte: bigint } | null = null;
  for (yield* tdp_iter_start(iter, root, PG_LEVEL_4K, gfn, kvm_gfn_root_bits(kvm, root)); iter.valid && iter.gfn < gfn + 1; yield* tdp_iter_next(iter)) {
    last = { sptep: iter.sptep, spte: iter.old_spte };
  }
  return last;
}

export function* kvm_tdp_mmu_unmap_gfn_range(kvm: Kvm, range: KvmGfnRange, flush: boolean): Gen<boolean> {
  const types = kvm_gfn_range_filter_to_root_types(kvm, range.attr_filter) | KVM_INVALID_ROOTS;
  for (const root of tdp_mmu_roots_of_type(kvm, types)) flush = yield* tdp_mmu_zap_leafs(kvm, root, range.start, range.end, range.may_block, flush);
  return flush;
}

function* kvm_tdp_mmu_age_spte(kvm: Kvm, iter: TdpIter): Gen {
  let new_spte: bigint;
  if (spte_ad_enabled(iter.old_spte)) {
    iter.old_spte = yield* tdp_mmu_clear_spte_bits_atomic(iter.sptep, shadow_accessed_mask);
    new_spte = iter.old_spte & ~shadow_accessed_mask;
  } else {
    new_spte = mark_spte_for_access_track(iter.old_spte);
    // no handle_changed_spte(): aging is not a change the MMU keeps books on
    if (yield* __tdp_mmu_set_spte_atomic(kvm, iter, new_spte)) return;
  }
  trace_kvm_tdp_mmu_spte_changed(iter.as_id, iter.gfn, iter.level, iter.old_spte, new_spte);
}

function* __kvm_tdp_mmu_age_gfn_range(kvm: Kvm, range: KvmGfnRange, test_only: boolean): Gen<boolean> {
  const types = kvm_gfn_range_filter_to_root_types(kvm, range.attr_filter);
  const iter = new TdpIter();
  let ret = false;

  WARN_ON((types & ~KVM_VALID_ROOTS) !== 0, '__kvm_tdp_mmu_age_gfn_range', 'types & ~KVM_VALID_ROOTS');

  rcu_read_lock();
  try {
    for (const root of kvm.arch.tdp_mmu_roots.filter((r) => tdp_mmu_root_match(r, types))) {
      for (yield* tdp_iter_start(iter, root, PG_LEVEL_4K, range.start, kvm_gfn_root_bits(kvm, root)); iter.valid && iter.gfn < range.end; yield* tdp_iter_next(iter)) {
        if (!is_shadow_present_pte(iter.old_spte) || !is_last_spte(iter.old_spte, iter.level)) continue;
        if (!is_accessed_spte(iter.old_spte)) continue;
        if (test_only) return true;
        ret = true;
        yield* kvm_tdp_mmu_age_spte(kvm, iter);
      }
    }
  } finally {
    rcu_read_unlock();
  }
  return ret;
}

export function* kvm_tdp_mmu_age_gfn_range(kvm: Kvm, range: KvmGfnRange): Gen<boolean> {
  return yield* __kvm_tdp_mmu_age_gfn_range(kvm, range, false);
}

// ---- probes: TDP MMU internals no ordinary entry point reaches (harness use only) ----

/** Walks `root` to the SPTE at (gfn, level) and returns the iterator positioned on it. */
function* probe_walk_to(kvm: Kvm, root: KvmMmuPage, gfn: number, level: number): Gen<TdpIter | null> {
  const iter = new TdpIter();
  for (yield* tdp_iter_start(iter, root, level, gfn, kvm_gfn_root_bits(kvm, root)); iter.valid && iter.gfn < gfn + 1; yield* tdp_iter_next(iter)) {
    if (iter.level === level) return iter;
  }
  return null;
}

/**
 * Writes `make_new(iter)` into the SPTE at (gfn, level) of `root`, atomically under the
 * read lock (tdp_mmu_set_spte_atomic) or non-atomically under the write lock
 * (tdp_mmu_iter_set_spte), as the TDP MMU's own callers would.
 */
export function* probe_set_spte(kvm: Kvm, root: KvmMmuPage, gfn: number, level: number, shared: boolean,
  make_new: (kvm: Kvm, iter: TdpIter) => bigint): Gen<string> {
  let ret = 0;
  if (shared) yield* read_lock(kvm.mmu_lock);
  else yield* write_lock(kvm.mmu_lock);
  rcu_read_lock();
  const iter = yield* probe_walk_to(kvm, root, gfn, level);
  if (iter) {
    const new_spte = make_new(kvm, iter);
    if (shared) ret = yield* tdp_mmu_set_spte_atomic(kvm, iter, new_spte);
    else yield* tdp_mmu_iter_set_spte(kvm, iter, new_spte);
  }
  rcu_read_unlock();
  if (shared) yield* read_unlock(kvm.mmu_lock);
  else yield* write_unlock(kvm.mmu_lock);
  return iter ? errno_name(ret) : 'no-such-spte';
}

/**
 * A fresh child table (with its external page on mirror roots) for a non-leaf probe
 * value; `defect` builds one no kernel path should: without its external page, or
 * initialised for the wrong gfn.
 */
export function probe_new_child_table(kvm: Kvm, iter: TdpIter, defect: 'none' | 'no-external' | 'bad-gfn' = 'none'): bigint {
  const sp = tdp_mmu_alloc_sp();
  tdp_mmu_init_child_sp(sp, iter);
  if (defect === 'bad-gfn') sp.gfn += KVM_PAGES_PER_HPAGE(iter.level);
  if (is_mirror_sp(sp) && defect !== 'no-external') kvm_mmu_alloc_external_spt(sp);
  tdp_account_mmu_page(kvm, sp);
  return make_nonleaf_spte(sp.spt, !kvm.ad_enabled);
}

/** Ages the leaf at gfn in `root` the way the MMU-notifier age callback would. */
export function* probe_age_spte(kvm: Kvm, root: KvmMmuPage, gfn: number): Gen<string> {
  rcu_read_lock();
  const iter = yield* probe_walk_to(kvm, root, gfn, PG_LEVEL_4K);
  if (iter && is_shadow_present_pte(iter.old_spte) && is_accessed_spte(iter.old_spte)) yield* kvm_tdp_mmu_age_spte(kvm, iter);
  rcu_read_unlock();
  return iter ? '0' : 'no-such-spte';
}

