// The operations a trace can ask for: KVM entry points, guest actions, injections and
// probes of TDP MMU internals. harness/trace.ts validates JSON into these types; each
// src/kernel/trace_ops.ts maps them onto the kernel's entry points.
import type { Kvm } from './kernel/kvm.ts';
import type { Gen } from './kernel/context.ts';
import type { PamtOwner, SeamcallName } from './hw/tdx_module.ts';

export type SpteKindName = 'nonpresent' | 'frozen' | 'leaf' | 'nonleaf' | 'nonleaf-no-external' | 'nonleaf-bad-gfn';

export type TraceOp =
  | { op: 'fault'; vcpu: number; gpa: number }
  | { op: 'populate'; gpa: number }
  | { op: 'finalize' }
  | { op: 'gmem_invalidate'; gpa: number; npages: number }
  | { op: 'gmem_release' }
  | { op: 'convert_to_shared'; gpa: number; npages: number }
  | { op: 'convert_to_private'; gpa: number; npages: number }
  | { op: 'zap_gfn_range'; gpa: number; npages: number }
  | { op: 'memslot_delete'; slot: number }
  | { op: 'mmu_notifier_unmap'; gpa: number; npages: number }
  | { op: 'age'; gpa: number; npages: number }
  | { op: 'fast_zap' }
  | { op: 'vcpu_enter'; vcpu: number }
  | { op: 'vcpu_exit'; vcpu: number }
  | { op: 'accept'; vcpu: number; gpa: number }
  | { op: 'release_hkid' }
  | { op: 'destroy' }
  | { op: 'inject_busy'; seamcall: SeamcallName; gpa?: number; count: number }
  | { op: 'inject_status'; seamcall: SeamcallName; status: bigint; gpa?: number; page?: PamtOwner; count: number }
  | { op: 'probe_set_spte'; root: 'mirror' | 'direct'; gpa: number; level: number; new: SpteKindName; lock: 'read' | 'write' }
  | { op: 'probe_age'; root: 'mirror' | 'direct'; gpa: number };

export type TraceOpName = TraceOp['op'];

/** The guest-visible result of an operation: a return code name ('0', '-EIO', 'RET_PF_FIXED' …). */
export type OpResult = string;

/** A step linked into the shared kernel paths (src/kernel/trace_ops.ts link_step): VM setup and one handler per operation. */
export interface StepEntry {
  /** Vendor hardware setup: install the step's hooks into kvm.x86_ops. */
  hardware_setup(kvm: Kvm): void;
  /** Create the vCPUs' MMU roots (kvm_mmu_load). */
  load_mmu(kvm: Kvm): Gen;
  run(kvm: Kvm, op: TraceOp): Gen<OpResult>;
}
