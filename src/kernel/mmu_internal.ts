// Pieces of mmu.h / mmu_internal.h / tdp_mmu.h that the series leaves alone.
import { alloc_page, frame_of } from './page_alloc.ts';
import { is_executable_pte, is_writable_pte, VMX_EPT_READABLE_MASK } from './spte.ts';
import type { Kvm, KvmMemorySlot } from './kvm.ts';
import type { KvmMmuPage } from './mmu_page.ts';

export const RET_PF_CONTINUE = 0;
export const RET_PF_RETRY = 1;
export const RET_PF_EMULATE = 2;
export const RET_PF_WRITE_PROTECTED = 3;
export const RET_PF_INVALID = 4;
export const RET_PF_FIXED = 5;
export const RET_PF_SPURIOUS = 6;

const RET_PF_NAMES = ['RET_PF_CONTINUE', 'RET_PF_RETRY', 'RET_PF_EMULATE', 'RET_PF_WRITE_PROTECTED', 'RET_PF_INVALID', 'RET_PF_FIXED', 'RET_PF_SPURIOUS'];

export const EPERM = 1;
export const EINTR = 4;
export const EBADF = 9;
export const EIO = 5;
export const EAGAIN = 11;
export const EFAULT = 14;
export const EBUSY = 16;
export const EINVAL = 22;

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 4: 'EINTR', 9: 'EBADF', 5: 'EIO', 11: 'EAGAIN', 14: 'EFAULT', 16: 'EBUSY', 22: 'EINVAL' };

/** A kernel int return as observations show it: '0', '-EBUSY', '1'. */
export function errno_name(r: number): string {
  if (r < 0 && ERRNO_NAMES[-r]) return `-${ERRNO_NAMES[-r]}`;
  return String(r);
}

export function ret_pf_name(r: number): string {
  return r < 0 ? errno_name(r) : RET_PF_NAMES[r] ?? String(r);
}

/** Page-fault error code bits (kvm_host.h) KVM builds from an EPT violation. */
export const PFERR_PRESENT_MASK = 1 << 0;
export const PFERR_WRITE_MASK = 1 << 1;
export const PFERR_USER_MASK = 1 << 2;
export const PFERR_FETCH_MASK = 1 << 4;
/** Bit 49: a number keeps it exactly (2 ** 49 < 2 ** 53). */
export const PFERR_PRIVATE_ACCESS = 2 ** 49;

/** EPT violation exit qualification bits (vmx.h): the access, then the entry's R/W/X. */
export const EPT_VIOLATION_ACC_READ = 1 << 0;
export const EPT_VIOLATION_ACC_WRITE = 1 << 1;
export const EPT_VIOLATION_ACC_INSTR = 1 << 2;
export const EPT_VIOLATION_PROT_SHIFT = 3;
export const EPT_VIOLATION_PROT_MASK = 7 << EPT_VIOLATION_PROT_SHIFT;

/** enum kvm_tdp_mmu_root_types */
export const KVM_INVALID_ROOTS = 1 << 0;
export const KVM_DIRECT_ROOTS = 1 << 1;
export const KVM_MIRROR_ROOTS = 1 << 2;
export const KVM_VALID_ROOTS = KVM_DIRECT_ROOTS | KVM_MIRROR_ROOTS;
export const KVM_ALL_ROOTS = KVM_VALID_ROOTS | KVM_INVALID_ROOTS;

/** enum kvm_gfn_range_filter */
export const KVM_FILTER_SHARED = 1 << 0;
export const KVM_FILTER_PRIVATE = 1 << 1;

export interface KvmGfnRange {
  slot: KvmMemorySlot | null;
  start: number;
  end: number;
  may_block: boolean;
  attr_filter: number;
}

export interface KvmPageFault {
  addr: number;
  gfn: number;
  is_private: boolean;
  write: boolean;
  prefetch: boolean;
  goal_level: number;
  req_level: number;
  huge_page_disallowed: boolean;
  slot: KvmMemorySlot | null;
  pfn: number;
  map_writable: boolean;
  /** mmu_invalidate_seq when the PFN was resolved (kvm_mmu_faultin_pfn). */
  mmu_seq: number;
  /** PFERR_PRESENT: the EPT entry allowed some access when the violation happened. */
  present: boolean;
  exec: boolean;
}

/** is_access_allowed(): would the faulting access have been allowed by this SPTE? */
export function is_access_allowed(fault: KvmPageFault, spte: bigint): boolean {
  if (fault.exec) return is_executable_pte(spte);
  if (fault.write) return is_writable_pte(spte);
  return (spte & VMX_EPT_READABLE_MASK) !== 0n; // PT_PRESENT_MASK
}

export function kvm_gfn_direct_bits(kvm: Kvm): number {
  return kvm.arch.gfn_direct_bits;
}

/** Mirror roots walk the natural GFN; the shared (direct) root adds the shared bit. */
export function kvm_gfn_root_bits(kvm: Kvm, root: KvmMmuPage): number {
  if (root.role.is_mirror) return 0;
  return kvm_gfn_direct_bits(kvm);
}

/** True when the GPA has the shared bit (or the VM has no direct bits). */
export function kvm_is_addr_direct(kvm: Kvm, gpa: number): boolean {
  const gpa_direct_bits = kvm_gfn_direct_bits(kvm) * 4096;
  return gpa_direct_bits === 0 || Math.floor(gpa / gpa_direct_bits) % 2 === 1;
}

/** The GFN of a GPA with the shared bit masked off (fault->gfn). */
export function gpa_to_natural_gfn(kvm: Kvm, gpa: number): number {
  const gfn = Math.floor(gpa / 4096);
  const bits = kvm_gfn_direct_bits(kvm);
  return Math.floor(gfn / bits) % 2 === 1 ? gfn - bits : gfn;
}

export function kvm_gfn_range_filter_to_root_types(_kvm: Kvm, process: number): number {
  let ret = 0;
  if (process & KVM_FILTER_PRIVATE) ret |= KVM_MIRROR_ROOTS;
  if (process & KVM_FILTER_SHARED) ret |= KVM_DIRECT_ROOTS;
  return ret;
}

/** Allocates the page the TDX module will use for this SP's S-EPT table (vCPU cache). */
export function kvm_mmu_alloc_external_spt(sp: KvmMmuPage): void {
  sp.external_spt = alloc_page('external_spt');
  // remembered so that observations can name the page after the table it mirrors
  frame_of(sp.external_spt).externalOf = sp;
}

/** Highest GFN + 1 a root of this level covers. */
export function tdp_mmu_max_gfn_exclusive(root_level: number): number {
  return 2 ** (9 * root_level);
}
