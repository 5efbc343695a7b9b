// struct kvm_mmu_page and the lookups between SPTE pointers, page tables and shadow pages.
import { frame_of } from './page_alloc.ts';
import { spte_to_pfn } from './spte.ts';
import { SPTE_ENT_PER_PAGE } from './spte.ts';
import type { Sptep } from './tdp_iter.ts';

export interface KvmMmuPageRole {
  level: number;
  is_mirror: boolean;
  invalid: boolean;
  /** Address space (SMM); always 0 for TDX. */
  as_id: number;
}

export interface KvmMmuPage {
  /** Frame of this shadow page's page table. */
  spt: number;
  /** Frame handed to the TDX module for the matching S-EPT page (mirror SPs only), or null. */
  external_spt: number | null;
  role: KvmMmuPageRole;
  gfn: number;
  /** The parent SPTE that points at this table (null for roots). */
  ptep: Sptep | null;
  tdp_mmu_root_count: number;
  tdp_mmu_scheduled_root_to_zap: boolean;
  nx_huge_page_disallowed: boolean;
  /** Header freed back to mmu_page_header_cache. */
  header_freed: boolean;
}

export function sptep_to_sp(sptep: Sptep): KvmMmuPage {
  return frame_of(Math.floor(sptep / SPTE_ENT_PER_PAGE)).sp as KvmMmuPage;
}

export function spte_to_child_sp(spte: bigint): KvmMmuPage {
  return frame_of(spte_to_pfn(spte)).sp as KvmMmuPage;
}

/** The shadow page whose page table is `pt` (sptep_to_sp(pt + 0)). */
export function pt_to_sp(pt: number): KvmMmuPage {
  return frame_of(pt).sp as KvmMmuPage;
}

export function is_mirror_sp(sp: KvmMmuPage): boolean {
  return sp.role.is_mirror;
}

export function is_mirror_sptep(sptep: Sptep): boolean {
  return is_mirror_sp(sptep_to_sp(sptep));
}

export function kvm_mmu_page_as_id(sp: KvmMmuPage): number {
  return sp.role.as_id;
}
