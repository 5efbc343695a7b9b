// The external page-table hooks of struct kvm_x86_ops at this step of the series (see step.ts)
// (kvm_host.h / kvm-x86-ops.h): how each is declared and what a NULL hook does.
import type { Gen } from '../../src/kernel/context.ts';
import type { Kvm } from '../../src/kernel/kvm.ts';
import type { KvmMmuPage } from '../../src/kernel/mmu_page.ts';

export interface ExternalHooks {
  set_external_spte(kvm: Kvm, gfn: number, old_spte: bigint, new_spte: bigint, level: number): Gen<number>;
  free_external_spt(kvm: Kvm, sp: KvmMmuPage): Gen<void>;

}

/** KVM_X86_OP_OPTIONAL_RET0: a NULL hook returns 0; KVM_X86_OP_OPTIONAL: a NULL hook does nothing. */
export const kvm_x86_ops_decl: Record<keyof ExternalHooks, 'KVM_X86_OP_OPTIONAL' | 'KVM_X86_OP_OPTIONAL_RET0'> = {
  set_external_spte: 'KVM_X86_OP_OPTIONAL_RET0',
  free_external_spt: 'KVM_X86_OP_OPTIONAL',
};

function* __static_call_return0(): Gen<number> {
  return 0;
}

function* __static_call_nop(): Gen<void> {}

/** kvm_ops_update(): fill the static calls, NULL hooks falling back per their declaration. */
export function kvm_ops_update(kvm: Kvm, ops: Partial<ExternalHooks>): void {
  const calls: Record<string, unknown> = {};
  for (const name of Object.keys(kvm_x86_ops_decl) as (keyof ExternalHooks)[]) {
    calls[name] = ops[name] ?? (kvm_x86_ops_decl[name] === 'KVM_X86_OP_OPTIONAL_RET0' ? __static_call_return0 : __static_call_nop);
  }
  kvm.x86_ops = calls;
}

export function kvm_x86_call(kvm: Kvm): ExternalHooks {
  return kvm.x86_ops as ExternalHooks;
}
