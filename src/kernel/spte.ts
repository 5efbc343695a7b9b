// SPTE encoding of Linux 7.1 (EPT flavour), the same in every step of the series.
// Values are 64-bit, so they are bigints; PFNs and levels are plain numbers.

export const PG_LEVEL_4K = 1;
export const PG_LEVEL_2M = 2;
export const PG_LEVEL_1G = 3;
export const PG_LEVEL_512G = 4;
export const PT64_ROOT_MAX_LEVEL = 5;
export const SPTE_ENT_PER_PAGE = 512;

export const VMX_EPT_READABLE_MASK = 0x1n;
export const VMX_EPT_WRITABLE_MASK = 0x2n;
export const VMX_EPT_EXECUTABLE_MASK = 0x4n;
export const VMX_EPT_RWX_MASK = 0x7n;
const VMX_EPT_MT_WB = 6n << 3n;
export const PT_PAGE_SIZE_MASK = 1n << 7n;
/** EPT Accessed bit: shadow_accessed_mask with EPT A/D enabled. */
export const shadow_accessed_mask = 1n << 8n;
export const shadow_dirty_mask = 1n << 9n;
export const SPTE_MMU_PRESENT_MASK = 1n << 11n;
export const SPTE_TDP_AD_SHIFT = 52n;
export const SPTE_TDP_AD_MASK = 3n << SPTE_TDP_AD_SHIFT;
export const SPTE_TDP_AD_ENABLED = 0n;
export const SPTE_TDP_AD_DISABLED = 1n << SPTE_TDP_AD_SHIFT;
const SHADOW_ACC_TRACK_SAVED_BITS_MASK = VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK;
const SHADOW_ACC_TRACK_SAVED_BITS_SHIFT = 54n;
export const EPT_SPTE_HOST_WRITABLE = 1n << 57n;
export const EPT_SPTE_MMU_WRITABLE = 1n << 58n;
export const VMX_EPT_SUPPRESS_VE_BIT = 1n << 63n;
/** Zapped SPTEs hold this, not 0: it is the EPT "suppress #VE" bit. */
export const SHADOW_NONPRESENT_VALUE = 1n << 63n;
export const FROZEN_SPTE = SHADOW_NONPRESENT_VALUE | 0x5a0n;
const SPTE_BASE_ADDR_MASK = ((1n << 52n) - 1n) & ~0xfffn;
/**
 * MMIO SPTEs: a VM's shadow_mmio_value under the mask RWX | suppress-#VE. A TD's value is
 * 0 (tdx_vm_init): no RWX and no suppress-#VE, so the guest takes a #VE and asks for
 * MMIO by TDVMCALL; VMX's W+X "misconfig" value is what is_ept_ve_possible() exempts.
 */
const SHADOW_MMIO_MASK = VMX_EPT_RWX_MASK | VMX_EPT_SUPPRESS_VE_BIT;
const TD_SHADOW_MMIO_VALUE = 0n;
const VMX_EPT_MISCONFIG_WX_VALUE = 0x6n;
const shadow_present_mask = SPTE_MMU_PRESENT_MASK | VMX_EPT_SUPPRESS_VE_BIT;

export function is_frozen_spte(spte: bigint): boolean {
  return spte === FROZEN_SPTE;
}

export function is_shadow_present_pte(spte: bigint): boolean {
  return (spte & SPTE_MMU_PRESENT_MASK) !== 0n;
}

export function is_large_pte(spte: bigint): boolean {
  return (spte & PT_PAGE_SIZE_MASK) !== 0n;
}

export function is_last_spte(spte: bigint, level: number): boolean {
  return level === PG_LEVEL_4K || is_large_pte(spte);
}

export function spte_to_pfn(spte: bigint): number {
  return Number((spte & SPTE_BASE_ADDR_MASK) >> 12n);
}

export function spte_ad_enabled(spte: bigint): boolean {
  return (spte & SPTE_TDP_AD_MASK) !== SPTE_TDP_AD_DISABLED;
}

/** The Accessed bit, with or without A/D bits (KVM keeps it by hand when they are off). */
export function is_accessed_spte(spte: bigint): boolean {
  return (spte & shadow_accessed_mask) !== 0n;
}

export function is_access_track_spte(spte: bigint): boolean {
  return !spte_ad_enabled(spte) && (spte & VMX_EPT_RWX_MASK) === 0n;
}

export function is_executable_pte(spte: bigint): boolean {
  return (spte & VMX_EPT_EXECUTABLE_MASK) !== 0n;
}

export function is_writable_pte(spte: bigint): boolean {
  return (spte & VMX_EPT_WRITABLE_MASK) !== 0n;
}

/** is_mmio_spte() for a TD (MMIO caching is required for TDX). */
export function is_mmio_spte(spte: bigint): boolean {
  return (spte & SHADOW_MMIO_MASK) === TD_SHADOW_MMIO_VALUE;
}

/** A #VE could reach the guest: no suppress-#VE bit, and not VMX's misconfig MMIO value. */
export function is_ept_ve_possible(spte: bigint): boolean {
  return (spte & VMX_EPT_SUPPRESS_VE_BIT) === 0n && (spte & VMX_EPT_RWX_MASK) !== VMX_EPT_MISCONFIG_WX_VALUE;
}

/**
 * Volatile bits may change outside mmu_lock, so a present leaf must be written atomically:
 * fast page fault may make an MMU-writable SPTE writable; without A/D bits it may restore
 * an access-tracked SPTE (any A/D-disabled SPTE counts); the CPU may set Dirty on a
 * writable one. Accessed is deliberately not a reason (losing it only ages a page early).
 */
export function spte_needs_atomic_update(spte: bigint): boolean {
  if (!is_writable_pte(spte) && (spte & EPT_SPTE_MMU_WRITABLE) !== 0n) return true;
  if (!spte_ad_enabled(spte)) return true;
  return is_writable_pte(spte) && (spte & shadow_dirty_mask) === 0n;
}

export function make_nonleaf_spte(child_spt_pfn: number, ad_disabled: boolean): bigint {
  let spte = shadow_present_mask | VMX_EPT_RWX_MASK | (BigInt(child_spt_pfn) << 12n);
  spte |= ad_disabled ? SPTE_TDP_AD_DISABLED : shadow_accessed_mask;
  return spte;
}

/**
 * A present leaf with full RWX, write-back memory type, host- and MMU-writable, Dirty.
 * Accessed only when the access really happened: a prefetched leaf (populate) starts
 * old, and without A/D bits it starts access-tracked.
 */
export function make_spte(pfn: number, level: number, ad_enabled: boolean, prefetch = false): bigint {
  let spte = shadow_present_mask | VMX_EPT_RWX_MASK | VMX_EPT_MT_WB | (BigInt(pfn) << 12n);
  if (!ad_enabled) spte |= SPTE_TDP_AD_DISABLED;
  if (!prefetch) spte |= shadow_accessed_mask;
  if (level > PG_LEVEL_4K) spte |= PT_PAGE_SIZE_MASK;
  spte |= EPT_SPTE_HOST_WRITABLE | EPT_SPTE_MMU_WRITABLE | shadow_dirty_mask;
  if (prefetch) spte = mark_spte_for_access_track(spte);
  return spte;
}

/** make_mmio_spte() for a TD: the GPA (generation 0) and the VM's MMIO value, 0. */
export function make_mmio_spte(gfn: number): bigint {
  return TD_SHADOW_MMIO_VALUE | ((BigInt(gfn) << 12n) & SPTE_BASE_ADDR_MASK);
}

export function mark_spte_for_access_track(spte: bigint): bigint {
  if (spte_ad_enabled(spte)) return spte & ~shadow_accessed_mask;
  if (is_access_track_spte(spte)) return spte;
  const saved = spte & SHADOW_ACC_TRACK_SAVED_BITS_MASK;
  let out = spte & ~(VMX_EPT_RWX_MASK | shadow_accessed_mask | (SHADOW_ACC_TRACK_SAVED_BITS_MASK << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT));
  out |= saved << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT;
  return out;
}

/** Undo mark_spte_for_access_track(): the saved R/X bits go back into place. */
export function restore_acc_track_spte(spte: bigint): bigint {
  const saved = (spte >> SHADOW_ACC_TRACK_SAVED_BITS_SHIFT) & SHADOW_ACC_TRACK_SAVED_BITS_MASK;
  let out = spte & ~VMX_EPT_RWX_MASK;
  out &= ~(SHADOW_ACC_TRACK_SAVED_BITS_MASK << SHADOW_ACC_TRACK_SAVED_BITS_SHIFT);
  return out | saved;
}

/** The MMU may make the SPTE writable (host- and MMU-writable), without mmu_lock. */
export function is_mmu_writable_spte(spte: bigint): boolean {
  return (spte & EPT_SPTE_MMU_WRITABLE) !== 0n;
}

const PAGES_PER_HPAGE = [0, 1, 512, 512 * 512, 512 * 512 * 512, 512 * 512 * 512 * 512];

export function KVM_PAGES_PER_HPAGE(level: number): number {
  return PAGES_PER_HPAGE[level]!;
}

export function SPTE_INDEX(gfn: number, level: number): number {
  return Math.floor(gfn / KVM_PAGES_PER_HPAGE(level)) % SPTE_ENT_PER_PAGE;
}

export function gfn_round_for_level(gfn: number, level: number): number {
  const n = KVM_PAGES_PER_HPAGE(level);
  return gfn - (gfn % n);
}

/** Short readable form for observations: the kind, plus the canonicalised PFN where there is one. */
export function describe_spte(spte: bigint, level: number): { kind: string; pfn?: number } {
  if (is_frozen_spte(spte)) return { kind: 'FROZEN' };
  if (!is_shadow_present_pte(spte)) return { kind: is_mmio_spte(spte) ? 'MMIO' : 'NONPRESENT' };
  return { kind: is_last_spte(spte, level) ? 'LEAF' : 'NONLEAF', pfn: spte_to_pfn(spte) };
}
