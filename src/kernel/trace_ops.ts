// Harness glue (not kernel code): maps trace operations onto the kernel's entry points,
// with the step's tdp_mmu.c and tdx.c linked in (step_kernel.ts). Operations that are
// ioctls go through kvm_ioctl() (a dead VM answers -EIO); the others (MMU notifier,
// guest_memfd's fallocate, the VM's last close) are not ioctls and always run.
import type { Gen } from './context.ts';
import { BLOCKED, ctx } from './context.ts';
import { kvm_gmem_get_pfn, host_gfn_to_pfn, type Kvm, type KvmVcpu } from './kvm.ts';
import {
  EBADF, EPT_VIOLATION_ACC_WRITE, EPT_VIOLATION_PROT_SHIFT, errno_name, gpa_to_natural_gfn, kvm_is_addr_direct, ret_pf_name, RET_PF_RETRY,
} from './mmu_internal.ts';
import {
  FROZEN_SPTE, is_last_spte, is_shadow_present_pte, make_spte, SHADOW_NONPRESENT_VALUE, SPTE_INDEX, spte_to_pfn, VMX_EPT_RWX_MASK,
  VMX_EPT_WRITABLE_MASK,
} from './spte.ts';
import { read_table } from './tdp_iter.ts';
import type { EptViolationExit } from './vmx_common.ts';
import type { StepEntry, TraceOp } from '../trace_types.ts';
import type { TdpIter } from './tdp_iter.ts';
import { kvm_mmu_load, kvm_mmu_zap_all_fast, kvm_zap_gfn_range } from './mmu.ts';
import {
  kvm_delete_memslot_ioctl, kvm_ioctl, kvm_mmu_notifier_clear_young, kvm_mmu_notifier_invalidate_range_end,
  kvm_mmu_notifier_invalidate_range_start, kvm_vm_set_mem_attributes, srcu_read_lock, srcu_read_unlock,
} from './kvm_main.ts';
import { kvm_gmem_punch_hole, kvm_gmem_release } from './guest_memfd.ts';
import { kvm_arch_pre_destroy_vm, kvm_destroy_vm, vcpu_enter_guest_prepare } from './x86.ts';
import { tdp_mmu, tdx, type StepKernel } from './step_kernel.ts';

/** How many times a faulting guest is re-entered (and faults again) before we call it a livelock. */
const GUEST_REENTRIES = 1000;

function vcpu_of(kvm: Kvm, id: number): KvmVcpu {
  const v = kvm.vcpus[id];
  if (!v) throw new Error(`no vCPU ${id}`);
  return v;
}

/**
 * The EPT violation the hardware reports for the guest's write to `gpa`. With
 * SEPT_VE_DISABLE, a private access to a page whose S-EPT entry is PENDING (never
 * accepted) exits as a PENDING violation instead of a #VE in the guest. For a shared
 * GPA the qualification carries the permissions of the direct root's leaf: one that
 * allows the write cannot have faulted, so that exit was taken before it was installed
 * (by another vCPU, say) and saw nothing; an access-tracked leaf (A/D bits off) shows none.
 */
function ept_violation_exit(kvm: Kvm, vcpu: KvmVcpu, gpa: number): EptViolationExit {
  if (!kvm_is_addr_direct(kvm, gpa)) {
    const e = ctx().hw.septEntry(gpa, 1);
    const pending = kvm.sept_ve_disable && e !== null && (e.state === 'PENDING' || e.state === 'PENDING_BLOCKED');
    return { exit_qualification: EPT_VIOLATION_ACC_WRITE, pending };
  }
  let prot = 0;
  const leaf = vcpu.root ? peek_leaf(vcpu.root.spt, vcpu.root.role.level, Math.floor(gpa / 4096)) : null;
  if (leaf !== null && (leaf & VMX_EPT_WRITABLE_MASK) === 0n) prot = Number(leaf & VMX_EPT_RWX_MASK) << EPT_VIOLATION_PROT_SHIFT;
  return { exit_qualification: EPT_VIOLATION_ACC_WRITE | prot, pending: false };
}

/** The present leaf mapping gfn (shared bit included) under a root, read as the CPU's walk would. */
function peek_leaf(root_pt: number, root_level: number, gfn: number): bigint | null {
  let pt = root_pt;
  for (let level = root_level; level >= 1; level--) {
    const spte = read_table(pt)[SPTE_INDEX(gfn, level)]!;
    if (!is_shadow_present_pte(spte)) return null;
    if (is_last_spte(spte, level)) return spte;
    pt = spte_to_pfn(spte);
  }
  return null;
}

/**
 * KVM_RUN until the guest's EPT violation on `gpa` is handled: the pre-run check, then
 * per entry the requests and root reload, the exit, and the guest re-entered (faulting
 * again) while KVM says retry. SRCU is held from entry preparation to the exit's end,
 * not while the guest runs, so a memslot deletion can get past a retrying vCPU.
 */
function* kvm_vcpu_run_ept_violation(kvm: Kvm, vcpu: KvmVcpu, gpa: number): Gen<number> {
  let r = tdx(kvm).tdx_vcpu_pre_run(kvm, vcpu);
  if (r <= 0) return r;
  r = RET_PF_RETRY;
  for (let i = 0; i < GUEST_REENTRIES && r === RET_PF_RETRY; i++) {
    if (i > 0) yield 'resched'; // the guest runs and faults again
    const idx = srcu_read_lock(kvm);
    r = yield* vcpu_enter_guest_prepare(kvm, vcpu);
    if (r > 0) r = yield* tdx(kvm).tdx_handle_ept_violation(kvm, vcpu, gpa, ept_violation_exit(kvm, vcpu, gpa));
    srcu_read_unlock(kvm, idx);
  }
  return r;
}

/**
 * An ioctl the VMM issues on the VM's or a vCPU's file. Once the VM's last reference went
 * (its teardown began) no such file is left: the ioctl cannot be issued at all (-EBADF),
 * before any kernel code runs.
 */
function* fd_ioctl(kvm: Kvm, ioctl: () => Gen<number>): Gen<number> {
  if (kvm.pre_destroyed) return -EBADF;
  return yield* kvm_ioctl(kvm, ioctl);
}

/** A vCPU ioctl holds its vCPU file, and the file a reference to the VM, while it runs. */
function* vcpu_fd(kvm: Kvm, ioctl: () => Gen<number>): Gen<number> {
  kvm.vcpu_ioctls_in_flight++;
  try {
    return yield* ioctl();
  } finally {
    kvm.vcpu_ioctls_in_flight--;
  }
}

/**
 * kvm_destroy_vm() (and its vm_pre_destroy) runs when the last reference goes: never
 * while a vCPU ioctl still holds its file. A teardown that a trace starts beside a vCPU
 * thread waits for that ioctl to return.
 */
function* last_reference(kvm: Kvm): Gen {
  while (kvm.vcpu_ioctls_in_flight > 0) yield BLOCKED;
}

function* run(kvm: Kvm, op: TraceOp): Gen<string> {
  // once kvm_destroy_vm() ran there is no VM: every file that held a reference to it is
  // gone (a guest_memfd's too, so no hole punch reaches it), its MMU notifier is
  // unregistered, no vCPU runs, and there is no last reference left to drop; no trace
  // operation reaches kernel code any more
  if (kvm.destroyed) return errno_name(-EBADF);
  switch (op.op) {
    case 'fault': {
      const vcpu = vcpu_of(kvm, op.vcpu);
      return ret_pf_name(yield* vcpu_fd(kvm, () => fd_ioctl(kvm, () => kvm_vcpu_run_ept_violation(kvm, vcpu, op.gpa))));
    }
    case 'populate': {
      const vcpu = vcpu_of(kvm, 0);
      return errno_name(yield* vcpu_fd(kvm, () => fd_ioctl(kvm, () => tdx(kvm).tdx_vcpu_unlocked_ioctl(kvm, vcpu, 'KVM_TDX_INIT_MEM_REGION', op.gpa))));
    }
    case 'finalize':
      return errno_name(yield* fd_ioctl(kvm, () => tdx(kvm).tdx_vm_ioctl(kvm, 'KVM_TDX_FINALIZE_VM')));
    case 'gmem_invalidate': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      return errno_name(yield* kvm_gmem_punch_hole(kvm, gfn, gfn + op.npages));
    }
    case 'gmem_release':
      return errno_name(yield* kvm_gmem_release(kvm));
    case 'convert_to_shared':
    case 'convert_to_private': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      return errno_name(yield* fd_ioctl(kvm, () => kvm_vm_set_mem_attributes(kvm, gfn, gfn + op.npages, op.op === 'convert_to_private')));
    }
    case 'zap_gfn_range': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_zap_gfn_range(kvm, gfn, gfn + op.npages);
      return '0';
    }
    case 'memslot_delete':
      return errno_name(yield* fd_ioctl(kvm, () => kvm_delete_memslot_ioctl(kvm, op.slot)));
    case 'mmu_notifier_unmap': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_mmu_notifier_invalidate_range_start(kvm, gfn, gfn + op.npages);
      yield* kvm_mmu_notifier_invalidate_range_end(kvm, gfn, gfn + op.npages);
      return '0';
    }
    case 'age': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      return (yield* kvm_mmu_notifier_clear_young(kvm, gfn, gfn + op.npages)) ? 'young' : 'old';
    }
    case 'fast_zap':
      yield* kvm_mmu_zap_all_fast(kvm);
      return '0';
    case 'vcpu_enter': {
      const vcpu = vcpu_of(kvm, op.vcpu);
      let entered = '0';
      const r = yield* vcpu_fd(kvm, () => fd_ioctl(kvm, function* () {
        const pre = tdx(kvm).tdx_vcpu_pre_run(kvm, vcpu);
        if (pre <= 0) return pre;
        const p = yield* vcpu_enter_guest_prepare(kvm, vcpu);
        if (p <= 0) return p;
        entered = yield* tdx(kvm).tdx_vcpu_run(kvm, vcpu);
        return 0;
      }));
      return r < 0 ? errno_name(r) : entered;
    }
    case 'vcpu_exit':
      ctx().hw.vcpuExit(op.vcpu);
      return '0';
    case 'accept': {
      const out = ctx().hw.guestAccept(op.vcpu, op.gpa, 1);
      const status = out.eptViolation ? 'EPT_VIOLATION' : out.status === 0n ? 'TDX_SUCCESS' : 'failed';
      ctx().record({ kind: 'tdcall', name: 'TDG.MEM.PAGE.ACCEPT', gpa: '0x' + op.gpa.toString(16), status });
      return status;
    }
    case 'release_hkid':
      yield* last_reference(kvm);
      yield* kvm_arch_pre_destroy_vm(kvm);
      return '0';
    case 'destroy':
      yield* last_reference(kvm);
      yield* kvm_destroy_vm(kvm);
      kvm.destroyed = true;
      return '0';
    case 'probe_set_spte': {
      const root = op.root === 'mirror' ? vcpu_of(kvm, 0).mirror_root : vcpu_of(kvm, 0).root;
      if (!root) return 'no-root';
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      const make_new = (k: Kvm, iter: { level: number }): bigint => {
        switch (op.new) {
          case 'nonpresent': return SHADOW_NONPRESENT_VALUE;
          case 'frozen': return FROZEN_SPTE;
          case 'leaf': return make_spte(op.root === 'mirror' ? kvm_gmem_get_pfn(k, gfn) : host_gfn_to_pfn(k, gfn), iter.level, k.ad_enabled);
          case 'nonleaf': return tdp_mmu(k).probe_new_child_table(k, iter as TdpIter);
          case 'nonleaf-no-external': return tdp_mmu(k).probe_new_child_table(k, iter as TdpIter, 'no-external');
          case 'nonleaf-bad-gfn': return tdp_mmu(k).probe_new_child_table(k, iter as TdpIter, 'bad-gfn');
        }
      };
      return yield* tdp_mmu(kvm).probe_set_spte(kvm, root, gfn - (gfn % 2 ** (9 * (op.level - 1))), op.level, op.lock === 'read', make_new);
    }
    case 'probe_age': {
      const root = op.root === 'mirror' ? vcpu_of(kvm, 0).mirror_root : vcpu_of(kvm, 0).root;
      if (!root) return 'no-root';
      return yield* tdp_mmu(kvm).probe_age_spte(kvm, root, gpa_to_natural_gfn(kvm, op.gpa));
    }
    case 'inject_busy':
    case 'inject_status':
      throw new Error(`${op.op} is handled by the harness`);
  }
}

/** The entry points of a VM running `step`'s tdp_mmu.c and tdx.c. */
export function link_step(step: StepKernel): StepEntry {
  return {
    hardware_setup(kvm: Kvm): void {
      kvm.step = step;
      step.tdx.tdx_hardware_setup(kvm);
    },
    *load_mmu(kvm: Kvm): Gen {
      for (const vcpu of kvm.vcpus) yield* kvm_mmu_load(kvm, vcpu);
    },
    run,
  };
}
