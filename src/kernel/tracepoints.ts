// The KVM MMU tracepoints the models emit (what ftrace would show a developer).
import { ctx } from './context.ts';
import { describe_spte } from './spte.ts';

const hex = (n: number): string => '0x' + n.toString(16);

/** trace_kvm_mmu_spte_requested(): one per attempt of kvm_tdp_mmu_map(). */
export function trace_kvm_mmu_spte_requested(gfn: number, goal_level: number): void {
  ctx().record({ kind: 'tracepoint', name: 'kvm_mmu_spte_requested', gfn: hex(gfn), level: goal_level });
}

/** trace_kvm_tdp_mmu_spte_changed(): an SPTE change the TDP MMU did its bookkeeping for. */
export function trace_kvm_tdp_mmu_spte_changed(as_id: number, gfn: number, level: number, old_spte: bigint, new_spte: bigint): void {
  ctx().record({
    kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', as_id, gfn: hex(gfn), level,
    old: describe_spte(old_spte, level).kind, new: describe_spte(new_spte, level).kind,
  });
}

/** trace_fast_page_fault(): one per fault that took the lockless path, with its outcome. */
export function trace_fast_page_fault(gfn: number, level: number | null, old_spte: bigint, new_spte: bigint, ret: string): void {
  ctx().record({
    kind: 'tracepoint', name: 'fast_page_fault', gfn: hex(gfn), level,
    old: describe_spte(old_spte, level ?? 1).kind, new: describe_spte(new_spte, level ?? 1).kind, ret,
  });
}
