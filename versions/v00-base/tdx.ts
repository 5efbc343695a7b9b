// arch/x86/kvm/vmx/tdx.c at the series base: the S-EPT side of the four hooks.
import { ctx, type Gen } from '../../src/kernel/context.ts';
import { WARN_ON_ONCE } from '../../src/kernel/diag.ts';
import {
  is_hkid_assigned, kvm_check_request, KVM_BUG_ON, kvm_make_all_cpus_request, kvm_vm_bugged, gfn_to_memslot,
  KVM_REQ_OUTSIDE_GUEST_MODE, KVM_REQ_VM_DEAD, TD_STATE_RUNNABLE, type Kvm, type KvmVcpu,
} from '../../src/kernel/kvm.ts';
import { lockdep_assert_held, lockdep_assert_held_write } from '../../src/kernel/lock.ts';
import { EBUSY, EIO, kvm_is_addr_direct, RET_PF_RETRY } from '../../src/kernel/mmu_internal.ts';
import { is_shadow_present_pte, PG_LEVEL_4K, spte_to_pfn, VMX_EPT_RWX_MASK } from '../../src/kernel/spte.ts';
import {
  tdh_mem_page_add, tdh_mem_page_aug, tdh_mem_page_remove, tdh_mem_range_block, tdh_mem_sept_add, tdh_mem_track,
  tdh_mng_key_freeid, tdh_mr_finalize, tdh_phymem_page_wbinvd_tdr, tdh_phymem_page_reclaim, tdh_phymem_page_wbinvd_hkid, tdh_vp_enter,
  tdx_operand_busy, type TdxErr,
} from '../../src/kernel/tdx_seamcall.ts';
import { kvm_ops_update } from './x86_ops.ts';
import { kvm_tdp_mmu_map_private_pfn } from '../../src/kernel/mmu.ts';
import { __vmx_handle_ept_violation, type EptViolationExit } from '../../src/kernel/vmx_common.ts';
import { kvm_gmem_populate } from '../../src/kernel/guest_memfd.ts';
import { free_page } from '../../src/kernel/page_alloc.ts';
import { kvm_vm_dead, TD_STATE_UNINITIALIZED } from '../../src/kernel/kvm.ts';
import { mutex_lock, mutex_unlock } from '../../src/kernel/lock.ts';
import { EINVAL, EPT_VIOLATION_ACC_INSTR, EPT_VIOLATION_ACC_WRITE, EPT_VIOLATION_PROT_MASK } from '../../src/kernel/mmu_internal.ts';
import { TDX_FLUSHVP_NOT_DONE } from '../../src/hw/status.ts';

/**
 * TDX_BUG_ON*(): a failed SEAMCALL warns once per call site and bugs the VM (when one
 * is given and not already bugged); evaluates to "the SEAMCALL failed".
 */
function __TDX_BUG_ON(err: bigint, fn: string, kvm: Kvm | null, site: string): boolean {
  if (err === 0n) return false;
  const warn = !kvm || !kvm.vm_bugged;
  const key = `tdx_bug:${site}:${fn}`;
  const c = ctx();
  const silent = !warn || c.onceFired.has(key);
  if (warn) c.onceFired.add(key);
  c.record({ kind: 'bug', site, cond: `TDX_BUG_ON(${fn})`, silent });
  if (warn && kvm) kvm_vm_bugged(kvm);
  return true;
}

const TDX_BUG_ON = __TDX_BUG_ON;
const TDX_BUG_ON_2 = __TDX_BUG_ON;
const TDX_BUG_ON_3 = __TDX_BUG_ON;

/**
 * Runs a SEAMCALL that vCPUs may contend for inside the module; on OPERAND_BUSY,
 * keeps vCPUs out of the guest, kicks them, and retries once (which must succeed).
 */
function* tdh_do_no_vcpus(kvm: Kvm, site: string, tdh_func: () => Gen<TdxErr>): Gen<TdxErr> {
  lockdep_assert_held_write(kvm.mmu_lock, site);
  let err = yield* tdh_func();
  if (tdx_operand_busy(err.err)) {
    kvm.tdx.wait_for_sept_zap = true;
    kvm_make_all_cpus_request(kvm, KVM_REQ_OUTSIDE_GUEST_MODE);
    err = yield* tdh_func();
    kvm.tdx.wait_for_sept_zap = false;
  }
  return err;
}

/** RECLAIM is only allowed while the TD is torn down: nothing can contend then. */
function* __tdx_reclaim_page(page: number): Gen<number> {
  const err = yield* tdh_phymem_page_reclaim(page);
  if (TDX_BUG_ON_3(err.err, 'TDH_PHYMEM_PAGE_RECLAIM', null, '__tdx_reclaim_page')) return -EIO;
  return 0;
}

function* tdx_reclaim_page(page: number): Gen<number> {
  const r = yield* __tdx_reclaim_page(page);
  if (!r) tdx_quirk_reset_paddr(page);
  return r;
}

/** A control page the module will not give back is leaked: the kernel cannot use it safely. */
function* tdx_reclaim_control_page(ctrl_page: number): Gen {
  if (yield* tdx_reclaim_page(ctrl_page)) return;
  free_page(ctrl_page, 'tdx_reclaim_control_page');
}

/**
 * The TD's own pages, once the HKID is released (otherwise they leak quietly): the TDCS
 * pages, then the TDR, which the module gives back only when it owns nothing else of
 * the TD, and whose cache lines are then written back with the global KeyID.
 */
function* tdx_reclaim_td_control_pages(kvm: Kvm): Gen {
  const site = 'tdx_reclaim_td_control_pages';
  if (is_hkid_assigned(kvm)) return;

  for (let i = 0; i < kvm.tdx.tdcs_pages.length; i++) {
    const page = kvm.tdx.tdcs_pages[i];
    if (page === null || page === undefined) continue;
    yield* tdx_reclaim_control_page(page);
    kvm.tdx.tdcs_pages[i] = null;
  }

  const tdr = kvm.tdx.tdr_page;
  if (tdr === null) return;
  if (yield* __tdx_reclaim_page(tdr)) return;

  const err = yield* tdh_phymem_page_wbinvd_tdr(tdr);
  if (TDX_BUG_ON(err.err, 'TDH_PHYMEM_PAGE_WBINVD', kvm, site)) return;
  tdx_quirk_reset_paddr(tdr);
  free_page(tdr, site);
  kvm.tdx.tdr_page = null;
}

/** tdx_vm_destroy(): the last of a TD, after its vCPUs and page tables. */
export function* tdx_vm_destroy(kvm: Kvm): Gen {
  yield* tdx_reclaim_td_control_pages(kvm);
  kvm.tdx.state = TD_STATE_UNINITIALIZED;
}

/** tdx_vcpu_free(): after the HKID release, the vCPU's TDCX pages, then its TDVPR (otherwise they leak quietly). */
export function* tdx_vcpu_free(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if (is_hkid_assigned(kvm)) return;
  for (let i = 0; i < vcpu.tdx.tdcx_pages.length; i++) {
    const page = vcpu.tdx.tdcx_pages[i];
    if (page === null || page === undefined) continue;
    yield* tdx_reclaim_control_page(page);
    vcpu.tdx.tdcx_pages[i] = null;
  }
  if (vcpu.tdx.tdvpr_page !== null) {
    yield* tdx_reclaim_control_page(vcpu.tdx.tdvpr_page);
    vcpu.tdx.tdvpr_page = null;
  }
}

/** MOVDIR64B clearing, needed only on parts with the partial-write erratum (not modelled). */
function tdx_quirk_reset_paddr(_pfn: number): void {}

export function* tdx_mmu_release_hkid(kvm: Kvm): Gen {
  if (!is_hkid_assigned(kvm)) return;
  // TDH.VP.FLUSH on each vCPU takes them out of the guest first
  for (const vcpu of kvm.vcpus) ctx().hw.vcpuExit(vcpu.vcpu_id);
  const err = yield* tdh_mng_key_freeid();
  // a vCPU still associated: KVM gives up quietly, and the HKID and the TD's pages leak
  if (err.err === TDX_FLUSHVP_NOT_DONE) return;
  if (!TDX_BUG_ON(err.err, 'TDH_MNG_KEY_FREEID', kvm, 'tdx_mmu_release_hkid')) kvm.tdx.hkid_assigned = false;
}

/** tdx_vcpu_pre_run(): KVM_RUN is refused until the TD is finalized. */
export function tdx_vcpu_pre_run(kvm: Kvm, _vcpu: KvmVcpu): number {
  if (kvm.tdx.state !== TD_STATE_RUNNABLE) return -EINVAL;
  return 1;
}

/** The guest-entry part of tdx_vcpu_run(): no entry while an S-EPT zap waits for vCPUs. */
export function* tdx_vcpu_run(kvm: Kvm, vcpu: KvmVcpu): Gen<string> {
  if (kvm.tdx.wait_for_sept_zap) return 'EXIT_FASTPATH_EXIT_HANDLED';
  vcpu.requests.delete(KVM_REQ_OUTSIDE_GUEST_MODE);
  const err = yield* tdh_vp_enter(vcpu.vcpu_id);
  return err.err === 0n ? '0' : 'VP.ENTER failed';
}

function* tdx_mem_page_add(kvm: Kvm, gfn: number, _level: number, pfn: number): Gen<number> {
  const site = 'tdx_mem_page_add';
  lockdep_assert_held(kvm.slots_lock, site);

  if (KVM_BUG_ON(kvm.arch.pre_fault_allowed, kvm, site, 'kvm->arch.pre_fault_allowed') ||
      KVM_BUG_ON(kvm.tdx.page_add_src === null, kvm, site, '!kvm_tdx->page_add_src')) return -EIO;

  const err = yield* tdh_mem_page_add(gfn * 4096, pfn, kvm.tdx.page_add_src);
  if (tdx_operand_busy(err.err)) return -EBUSY;
  if (TDX_BUG_ON_2(err.err, 'TDH_MEM_PAGE_ADD', kvm, site)) return -EIO;
  return 0;
}

function* tdx_mem_page_aug(kvm: Kvm, gfn: number, level: number, pfn: number): Gen<number> {
  const err = yield* tdh_mem_page_aug(gfn * 4096, level, pfn);
  if (tdx_operand_busy(err.err)) return -EBUSY;
  if (TDX_BUG_ON_2(err.err, 'TDH_MEM_PAGE_AUG', kvm, 'tdx_mem_page_aug')) return -EIO;
  return 0;
}

function* tdx_sept_set_private_spte(kvm: Kvm, gfn: number, level: number, mirror_spte: bigint): Gen<number> {
  const site = 'tdx_sept_set_private_spte';
  const pfn = spte_to_pfn(mirror_spte);

  if (KVM_BUG_ON(level !== PG_LEVEL_4K, kvm, site, 'level != PG_LEVEL_4K')) return -EIO;

  WARN_ON_ONCE(!is_shadow_present_pte(mirror_spte) || (mirror_spte & VMX_EPT_RWX_MASK) !== VMX_EPT_RWX_MASK,
    site, '!is_shadow_present_pte(mirror_spte) || (mirror_spte & VMX_EPT_RWX_MASK) != VMX_EPT_RWX_MASK');

  // pairs with the ordering in tdx_td_finalize(): RUNNABLE is seen before pre_fault_allowed
  if (kvm.tdx.state !== TD_STATE_RUNNABLE) return yield* tdx_mem_page_add(kvm, gfn, level, pfn);

  return yield* tdx_mem_page_aug(kvm, gfn, level, pfn);
}

function* tdx_sept_link_private_spt(kvm: Kvm, gfn: number, level: number, private_spt: number | null): Gen<number> {
  const err = yield* tdh_mem_sept_add(gfn * 4096, level, private_spt as number);
  if (tdx_operand_busy(err.err)) return -EBUSY;
  if (TDX_BUG_ON_2(err.err, 'TDH_MEM_SEPT_ADD', kvm, 'tdx_sept_link_private_spt')) return -EIO;
  return 0;
}

function* tdx_track(kvm: Kvm): Gen {
  if (kvm.tdx.state !== TD_STATE_RUNNABLE) return;

  lockdep_assert_held_write(kvm.mmu_lock, 'tdx_track');

  const err = yield* tdh_do_no_vcpus(kvm, 'tdx_track', () => tdh_mem_track());
  TDX_BUG_ON(err.err, 'TDH_MEM_TRACK', kvm, 'tdx_track');

  // every vCPU must leave the old TLB epoch before the page can be removed
  kvm_make_all_cpus_request(kvm, KVM_REQ_OUTSIDE_GUEST_MODE);
}

function* tdx_sept_free_private_spt(kvm: Kvm, _gfn: number, _level: number, private_spt: number | null): Gen<number> {
  // mirror page tables are only torn down after the HKID is released
  if (KVM_BUG_ON(is_hkid_assigned(kvm), kvm, 'tdx_sept_free_private_spt', 'is_hkid_assigned(kvm_tdx)')) return -EIO;
  return yield* tdx_reclaim_page(private_spt as number);
}

function* tdx_sept_remove_private_spte(kvm: Kvm, gfn: number, level: number, mirror_spte: bigint): Gen<void> {
  const site = 'tdx_sept_remove_private_spte';
  const pfn = spte_to_pfn(mirror_spte);
  const gpa = gfn * 4096;

  lockdep_assert_held_write(kvm.mmu_lock, site);

  if (KVM_BUG_ON(!is_hkid_assigned(kvm), kvm, site, '!is_hkid_assigned(to_kvm_tdx(kvm))')) return;
  if (KVM_BUG_ON(level !== PG_LEVEL_4K, kvm, site, 'level != PG_LEVEL_4K')) return;

  let err = yield* tdh_do_no_vcpus(kvm, site, () => tdh_mem_range_block(gpa, level));
  if (TDX_BUG_ON_2(err.err, 'TDH_MEM_RANGE_BLOCK', kvm, site)) return;

  yield* tdx_track(kvm);

  err = yield* tdh_do_no_vcpus(kvm, site, () => tdh_mem_page_remove(gpa, level));
  if (TDX_BUG_ON_2(err.err, 'TDH_MEM_PAGE_REMOVE', kvm, site)) return;

  err = yield* tdh_phymem_page_wbinvd_hkid(pfn);
  if (TDX_BUG_ON(err.err, 'TDH_PHYMEM_PAGE_WBINVD', kvm, site)) return;

  tdx_quirk_reset_paddr(pfn);
}

/**
 * tdx_is_sept_violation_unexpected_pending(): the module reports a PENDING EPT violation
 * (the guest touched a page it never accepted) only to a TD with SEPT_VE_DISABLE; with no
 * permission bits, it is not a #VE KVM asked for.
 */
function tdx_is_sept_violation_unexpected_pending(exit: EptViolationExit): boolean {
  return exit.pending && (exit.exit_qualification & EPT_VIOLATION_PROT_MASK) === 0;
}

/**
 * An EPT violation exit. A private GPA the module reports as PENDING kills the VM;
 * otherwise private GPAs retry locally while KVM says RET_PF_RETRY (a pending event or
 * signal would end the loop too: the model has neither).
 */
export function* tdx_handle_ept_violation(kvm: Kvm, vcpu: KvmVcpu, gpa: number, exit: EptViolationExit): Gen<number> {
  let exit_qual = exit.exit_qualification;
  let local_retry = false;
  if (!kvm_is_addr_direct(kvm, gpa)) {
    if (tdx_is_sept_violation_unexpected_pending(exit)) {
      kvm_vm_dead(kvm);
      return -EIO;
    }
    // always a write: the module does not say what the guest did (zero-step mitigation)
    exit_qual = EPT_VIOLATION_ACC_WRITE;
    local_retry = true;
  } else if (KVM_BUG_ON((exit_qual & EPT_VIOLATION_ACC_INSTR) !== 0, kvm, 'tdx_handle_ept_violation', 'exit_qual & EPT_VIOLATION_ACC_INSTR')) {
    return -EIO;
  }
  let ret: number;
  for (;;) {
    ret = yield* __vmx_handle_ept_violation(kvm, vcpu, gpa, exit_qual);
    if (ret !== RET_PF_RETRY || !local_retry) break;
    if (kvm_check_request(KVM_REQ_VM_DEAD, vcpu)) {
      ret = -EIO;
      break;
    }
    // a memslot being deleted never faults in: let the deletion finish
    const slot = gfn_to_memslot(kvm, Math.floor(gpa / 4096));
    if (slot && slot.invalid) break;
    yield 'cond_resched';
  }
  return ret;
}

/** kvm_gmem_populate()'s callback: PAGE.ADD of one page before the TD is finalized. */
function* tdx_gmem_post_populate(kvm: Kvm, vcpu: KvmVcpu, gfn: number, pfn: number, src_page: number): Gen<number> {
  if (KVM_BUG_ON(kvm.tdx.page_add_src !== null, kvm, 'tdx_gmem_post_populate', 'kvm_tdx->page_add_src')) return -EIO;
  kvm.tdx.page_add_src = src_page;
  const ret = yield* kvm_tdp_mmu_map_private_pfn(kvm, vcpu, gfn, pfn);
  kvm.tdx.page_add_src = null;
  return ret;
}

function* tdx_td_finalize(kvm: Kvm): Gen<number> {
  if (!is_hkid_assigned(kvm) || kvm.tdx.state === TD_STATE_RUNNABLE) return -EINVAL;

  const err = yield* tdh_mr_finalize();
  if (tdx_operand_busy(err.err)) return -EBUSY;
  if (TDX_BUG_ON(err.err, 'TDH_MR_FINALIZE', kvm, 'tdx_td_finalize')) return -EIO;
  kvm.tdx.state = TD_STATE_RUNNABLE;
  kvm.arch.pre_fault_allowed = true;
  return 0;
}

/** KVM_TDX_INIT_MEM_REGION for one page: only before finalize, only a private GPA. */
function* tdx_vcpu_init_mem_region(kvm: Kvm, vcpu: KvmVcpu, gpa: number): Gen<number> {
  if (kvm.tdx.state === TD_STATE_RUNNABLE) return -EINVAL;
  if (kvm_is_addr_direct(kvm, gpa)) return -EINVAL;
  const r = yield* kvm_gmem_populate(kvm, Math.floor(gpa / 4096), (k, gfn, pfn, src) => tdx_gmem_post_populate(k, vcpu, gfn, pfn, src));
  if (r < 0) return r;
  return r !== 1 ? -EIO : 0;
}

/**
 * The TD-scoped ioctls hold the VM's state locks (kvm->lock, every vCPU mutex,
 * slots_lock: the one the MMU asserts) around the command.
 */
export function* tdx_vm_ioctl(kvm: Kvm, cmd: 'KVM_TDX_FINALIZE_VM'): Gen<number> {
  yield* mutex_lock(kvm.slots_lock);
  let r = -EINVAL;
  if (cmd === 'KVM_TDX_FINALIZE_VM') r = yield* tdx_td_finalize(kvm);
  yield* mutex_unlock(kvm.slots_lock);
  return r;
}

export function* tdx_vcpu_unlocked_ioctl(kvm: Kvm, vcpu: KvmVcpu, cmd: 'KVM_TDX_INIT_MEM_REGION', gpa: number): Gen<number> {
  yield* mutex_lock(kvm.slots_lock);
  let r = -EINVAL;
  if (is_hkid_assigned(kvm) && kvm.tdx.state !== TD_STATE_RUNNABLE && cmd === 'KVM_TDX_INIT_MEM_REGION') {
    r = yield* tdx_vcpu_init_mem_region(kvm, vcpu, gpa);
  }
  yield* mutex_unlock(kvm.slots_lock);
  return r;
}

export function tdx_hardware_setup(kvm: Kvm): void {
  kvm_ops_update(kvm, {
    link_external_spt: tdx_sept_link_private_spt,
    set_external_spte: tdx_sept_set_private_spte,
    free_external_spt: tdx_sept_free_private_spt,
    remove_external_spte: tdx_sept_remove_private_spte,
  });
}
