// struct kvm / struct kvm_vcpu / struct kvm_tdx: the state the series never reshapes.
import { ctx, type Gen } from './context.ts';
import { Mutex, RwLock } from './lock.ts';
import { alloc_page, frame_of } from './page_alloc.ts';
import { EFAULT } from './mmu_internal.ts';
import type { KvmMmuPage } from './mmu_page.ts';
import type { StepKernel } from './step_kernel.ts';

export const KVM_REQ_OUTSIDE_GUEST_MODE = 'KVM_REQ_OUTSIDE_GUEST_MODE';
export const KVM_REQ_VM_DEAD = 'KVM_REQ_VM_DEAD';
export const KVM_REQ_TLB_FLUSH = 'KVM_REQ_TLB_FLUSH';
export const KVM_REQ_MMU_FREE_OBSOLETE_ROOTS = 'KVM_REQ_MMU_FREE_OBSOLETE_ROOTS';

/** The "no range yet" value of mmu_invalidate_range_start/end (INVALID_GPA). */
export const INVALID_GFN = -1;

export const TD_STATE_UNINITIALIZED = 'TD_STATE_UNINITIALIZED';
export const TD_STATE_INITIALIZED = 'TD_STATE_INITIALIZED';
export const TD_STATE_RUNNABLE = 'TD_STATE_RUNNABLE';

export interface KvmMemorySlot {
  id: number;
  base_gfn: number;
  npages: number;
  /** Backed by guest_memfd: private accesses map its pages. */
  gmem: boolean;
  /** KVM_MEMSLOT_INVALID: being deleted. */
  invalid: boolean;
}

/** struct vcpu_tdx: the vCPU's control pages (TDVPR, TDCX), null once reclaimed. */
export interface VcpuTdx {
  tdvpr_page: number | null;
  tdcx_pages: (number | null)[];
}

export interface KvmVcpu {
  vcpu_id: number;
  tdx: VcpuTdx;
  requests: Set<string>;
  /** tdp root (direct/shared) and mirror root of this vCPU's MMU. */
  root: KvmMmuPage | null;
  mirror_root: KvmMmuPage | null;
}

export interface KvmTdx {
  state: typeof TD_STATE_UNINITIALIZED | typeof TD_STATE_INITIALIZED | typeof TD_STATE_RUNNABLE;
  /** The TD's control pages (TDR, TDCS), null once reclaimed. */
  tdr_page: number | null;
  tdcs_pages: (number | null)[];
  hkid_assigned: boolean;
  /** Set while tdh_do_no_vcpus() retries: vCPUs may not enter the guest. */
  wait_for_sept_zap: boolean;
  /** Source page of the in-progress TDH.MEM.PAGE.ADD (tdx_gmem_post_populate). */
  page_add_src: number | null;
}

export interface KvmArch {
  tdp_mmu_roots: KvmMmuPage[];
  /** The TDX shared bit as a GFN bit (GPA bit 47 or 51 → GFN bit 35 or 39). */
  gfn_direct_bits: number;
  pre_fault_allowed: boolean;
  /** CONFIG_KVM_PROVE_MMU's count of live TDP MMU page tables. */
  tdp_mmu_pages: number;
  /** kvm_update_page_stats: mapped leaves per level. */
  pages_by_level: number[];
  tdp_root_level: number;
}

export class Kvm {
  vm_bugged = false;
  vm_dead = false;
  /** vCPU ioctls running now: each holds a file that holds a reference to the VM. */
  vcpu_ioctls_in_flight = 0;
  /** kvm_arch_pre_destroy_vm() has run (the HKID release, which kvm_destroy_vm() does first). */
  pre_destroyed = false;
  /** kvm_destroy_vm() has run: the VM is freed, nothing of it is left to call. */
  destroyed = false;
  readonly mmu_lock = new RwLock('mmu_lock');
  readonly slots_lock = new Mutex('slots_lock');
  readonly gmem_invalidate_lock = new Mutex('gmem_invalidate_lock');
  readonly vcpus: KvmVcpu[] = [];
  readonly memslots: KvmMemorySlot[] = [];
  /** guest_memfd: gfn → pfn, allocated on first use. */
  readonly gmem_pfns = new Map<number, number>();
  /** The VMM closed the guest_memfd (kvm_gmem_release): the slots' gmem.file is NULL. */
  gmem_released = false;
  /** Host (shared) memory behind the shared GPA alias: gfn → pfn. */
  readonly host_pfns = new Map<number, number>();
  /**
   * KVM_MEMORY_ATTRIBUTE_PRIVATE, VM-wide (kvm->mem_attr_array, not per memslot): the VMM
   * sets it over its guest_memfd slots when it creates the VM (private_at_creation), and
   * conversions override it per gfn.
   */
  readonly private_at_creation: Array<{ start: number; end: number }> = [];
  readonly mem_attr_private = new Map<number, boolean>();
  readonly tdx: KvmTdx = {
    state: TD_STATE_INITIALIZED, tdr_page: null, tdcs_pages: [], hkid_assigned: true, wait_for_sept_zap: false, page_add_src: null,
  };
  readonly arch: KvmArch;
  /** EPT A/D bits in use (kvm_ad_enabled). */
  readonly ad_enabled: boolean;
  /** The TD attribute SEPT_VE_DISABLE: a guest access to a PENDING page exits to KVM instead of a #VE. */
  readonly sept_ve_disable: boolean;
  /** The vendor hooks installed by the step's hardware setup. */
  x86_ops: unknown = null;
  /**
   * The MMU-notifier protocol faults check for staleness: the sequence count is bumped
   * when an invalidation ends; while one is in progress, the union of its ranges.
   */
  mmu_invalidate_seq = 0;
  mmu_invalidate_in_progress = 0;
  mmu_invalidate_range_start = INVALID_GFN;
  mmu_invalidate_range_end = INVALID_GFN;
  /** MMU-notifier invalidations between range_start and range_end (memslot updates wait). */
  mn_active_invalidate_count = 0;
  /** kvm->srcu readers: the threads inside a read-side section (memslot deletion waits for them). */
  readonly srcu_readers = new Set<object>();
  /** The step's tdp_mmu.c and tdx.c, which the shared paths call (src/kernel/step_kernel.ts). */
  step: StepKernel | null = null;

  constructor(opts: { nr_vcpus: number; shared_bit: 47 | 51; ad_enabled: boolean; sept_ve_disable?: boolean }) {
    this.arch = {
      tdp_mmu_roots: [],
      gfn_direct_bits: 2 ** (opts.shared_bit - 12),
      pre_fault_allowed: false,
      tdp_mmu_pages: 0,
      pages_by_level: [0, 0, 0, 0, 0, 0],
      tdp_root_level: opts.shared_bit === 51 ? 5 : 4,
    };
    this.ad_enabled = opts.ad_enabled;
    this.sept_ve_disable = opts.sept_ve_disable ?? false;
    for (let i = 0; i < opts.nr_vcpus; i++) {
      this.vcpus.push({ vcpu_id: i, tdx: { tdvpr_page: null, tdcx_pages: [] }, requests: new Set(), root: null, mirror_root: null });
    }
  }
}

export function is_hkid_assigned(kvm: Kvm): boolean {
  return kvm.tdx.hkid_assigned;
}

export function kvm_make_all_cpus_request(kvm: Kvm, req: string): void {
  const c = ctx();
  const kicked: number[] = [];
  for (const vcpu of kvm.vcpus) {
    vcpu.requests.add(req);
    // the IPI forces a vCPU that is in the guest out of it
    if (c.hw.inGuest(vcpu.vcpu_id)) {
      c.hw.vcpuExit(vcpu.vcpu_id);
      kicked.push(vcpu.vcpu_id);
    }
  }
  c.record({ kind: 'kick', request: req, vcpus: kicked });
}

/** kvm_check_request(): test and clear (a dead VM stays dead: vm_dead keeps every ioctl out). */
export function kvm_check_request(req: string, vcpu: KvmVcpu): boolean {
  if (!vcpu.requests.has(req)) return false;
  vcpu.requests.delete(req);
  return true;
}

/** kvm_test_request(): test only. */
export function kvm_test_request(req: string, vcpu: KvmVcpu): boolean {
  return vcpu.requests.has(req);
}

export function kvm_vm_dead(kvm: Kvm): void {
  kvm.vm_dead = true;
  kvm_make_all_cpus_request(kvm, KVM_REQ_VM_DEAD);
}

export function kvm_vm_bugged(kvm: Kvm): void {
  if (!kvm.vm_bugged) ctx().record({ kind: 'vm', state: 'bugged' });
  kvm.vm_bugged = true;
  kvm_vm_dead(kvm);
}

/**
 * KVM_BUG_ON(): evaluates to the condition; the first firing on a healthy VM warns
 * and bugs the VM, later ones are silent. Every firing is recorded with its site.
 */
export function KVM_BUG_ON(cond: boolean, kvm: Kvm, site: string, text: string): boolean {
  if (!cond) return false;
  const warn = !kvm.vm_bugged;
  ctx().record({ kind: 'bug', site, cond: text, silent: !warn });
  if (warn) kvm_vm_bugged(kvm);
  return true;
}

export function kvm_update_page_stats(kvm: Kvm, level: number, count: number): void {
  kvm.arch.pages_by_level[level]! += count;
}

export function gfn_to_memslot(kvm: Kvm, gfn: number): KvmMemorySlot | null {
  for (const s of kvm.memslots) if (gfn >= s.base_gfn && gfn < s.base_gfn + s.npages) return s;
  return null;
}

/**
 * kvm_gmem_get_pfn(): guest_memfd's folio for a gfn, allocated (zeroed) on first use and
 * again after a hole punch freed it; -EFAULT once the file is closed.
 */
export function kvm_gmem_get_pfn(kvm: Kvm, gfn: number): number {
  if (kvm.gmem_released) return -EFAULT; // kvm_gmem_get_file() finds no file
  let pfn = kvm.gmem_pfns.get(gfn);
  if (pfn === undefined) {
    pfn = alloc_page('gmem');
    frame_of(pfn).gfn = gfn;
    kvm.gmem_pfns.set(gfn, pfn);
  }
  return pfn;
}

/** The host page behind a shared gfn (hva_to_pfn), allocated on first use. */
export function host_gfn_to_pfn(kvm: Kvm, gfn: number): number {
  let pfn = kvm.host_pfns.get(gfn);
  if (pfn === undefined) {
    pfn = alloc_page('host');
    frame_of(pfn).gfn = gfn;
    kvm.host_pfns.set(gfn, pfn);
  }
  return pfn;
}

/** kvm_mem_is_private(): the gfn's PRIVATE attribute (VM-wide; memslots do not matter). */
export function kvm_mem_is_private(kvm: Kvm, gfn: number): boolean {
  const attr = kvm.mem_attr_private.get(gfn);
  if (attr !== undefined) return attr;
  return kvm.private_at_creation.some((r) => gfn >= r.start && gfn < r.end);
}

/** kvm_slot_has_gmem() */
export function kvm_slot_has_gmem(slot: KvmMemorySlot | null): boolean {
  return slot !== null && slot.gmem;
}

export function* cond_resched(): Gen {
  yield 'resched';
}
