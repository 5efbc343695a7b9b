// arch/x86/kvm/vmx/common.h: an EPT violation's exit qualification turned into the
// page-fault error code the MMU works with.
import type { Gen } from './context.ts';
import type { Kvm, KvmVcpu } from './kvm.ts';
import {
  EPT_VIOLATION_ACC_INSTR, EPT_VIOLATION_ACC_READ, EPT_VIOLATION_ACC_WRITE, EPT_VIOLATION_PROT_MASK, kvm_is_addr_direct,
  PFERR_FETCH_MASK, PFERR_PRESENT_MASK, PFERR_PRIVATE_ACCESS, PFERR_USER_MASK, PFERR_WRITE_MASK,
} from './mmu_internal.ts';
import { kvm_mmu_page_fault } from './mmu.ts';

/** What the hardware reports for an EPT violation (TDX: the exit qualification and whether the module said PENDING). */
export interface EptViolationExit {
  exit_qualification: number;
  /** TDX's extended exit qualification: an access to a PENDING page of a TD with SEPT_VE_DISABLE. */
  pending: boolean;
}

export function* __vmx_handle_ept_violation(kvm: Kvm, vcpu: KvmVcpu, gpa: number, exit_qualification: number): Gen<number> {
  let error_code = exit_qualification & EPT_VIOLATION_ACC_READ ? PFERR_USER_MASK : 0;
  if (exit_qualification & EPT_VIOLATION_ACC_WRITE) error_code |= PFERR_WRITE_MASK;
  if (exit_qualification & EPT_VIOLATION_ACC_INSTR) error_code |= PFERR_FETCH_MASK;
  // the entry allowed some access: a permission fault, not a missing mapping
  if (exit_qualification & EPT_VIOLATION_PROT_MASK) error_code |= PFERR_PRESENT_MASK;
  if (!kvm_is_addr_direct(kvm, gpa)) error_code += PFERR_PRIVATE_ACCESS;
  return yield* kvm_mmu_page_fault(kvm, vcpu, gpa, error_code);
}
