// Harness glue (not kernel code): maps trace operations onto the kernel's entry points,
// with the step's tdp_mmu.c and tdx.c linked in (step_kernel.ts).
import type { Gen } from './context.ts';
import { ctx } from './context.ts';
import { gfn_to_memslot, kvm_gmem_get_pfn, host_gfn_to_pfn, type Kvm, type KvmVcpu } from './kvm.ts';
import { mutex_lock, mutex_unlock } from './lock.ts';
import { errno_name, gpa_to_natural_gfn, ret_pf_name, RET_PF_RETRY } from './mmu_internal.ts';
import { alloc_page } from './page_alloc.ts';
import { FROZEN_SPTE, make_spte, SHADOW_NONPRESENT_VALUE } from './spte.ts';
import type { StepEntry, TraceOp } from '../trace_types.ts';
import type { TdpIter } from './tdp_iter.ts';
import {
  kvm_age_gfn, kvm_arch_destroy_vm, kvm_gmem_invalidate_begin, kvm_mmu_destroy, kvm_mmu_load, kvm_mmu_notifier_invalidate_range_start,
  kvm_mmu_zap_all_fast, kvm_mmu_zap_memslot, kvm_vm_set_mem_attributes, kvm_zap_gfn_range,
} from './mmu.ts';
import { tdp_mmu, tdx, type StepKernel } from './step_kernel.ts';

/** How many times a shared fault is re-taken by the guest before we call it a livelock. */
const SHARED_FAULT_RETRIES = 1000;

function vcpu_of(kvm: Kvm, id: number): KvmVcpu {
  const v = kvm.vcpus[id];
  if (!v) throw new Error(`no vCPU ${id}`);
  return v;
}

/** vcpu_enter_guest()'s kvm_mmu_reload(): replace a root that was invalidated. */
function* kvm_mmu_reload(kvm: Kvm, vcpu: KvmVcpu): Gen {
  if ((vcpu.root && vcpu.root.role.invalid) || (vcpu.mirror_root && vcpu.mirror_root.role.invalid)) {
    yield* kvm_mmu_destroy(kvm, vcpu);
    yield* kvm_mmu_load(kvm, vcpu);
  }
}

function* run(kvm: Kvm, op: TraceOp): Gen<string> {
  switch (op.op) {
    case 'fault': {
      const vcpu = vcpu_of(kvm, op.vcpu);
      let r = RET_PF_RETRY;
      for (let i = 0; i < SHARED_FAULT_RETRIES && r === RET_PF_RETRY && !kvm.vm_dead; i++) {
        yield* kvm_mmu_reload(kvm, vcpu);
        r = yield* tdx(kvm).tdx_handle_ept_violation(kvm, vcpu, op.gpa);
      }
      return ret_pf_name(r);
    }
    case 'populate': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* mutex_lock(kvm.slots_lock);
      yield* mutex_lock(kvm.gmem_invalidate_lock);
      const src = alloc_page('src');
      const r = yield* tdx(kvm).tdx_gmem_post_populate(kvm, vcpu_of(kvm, 0), gfn, kvm_gmem_get_pfn(kvm, gfn), src);
      yield* mutex_unlock(kvm.gmem_invalidate_lock);
      yield* mutex_unlock(kvm.slots_lock);
      return errno_name(r);
    }
    case 'finalize':
      return errno_name(yield* tdx(kvm).tdx_td_finalize(kvm));
    case 'gmem_invalidate': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_gmem_invalidate_begin(kvm, gfn, gfn + op.npages);
      return '0';
    }
    case 'convert_to_shared':
    case 'convert_to_private': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_vm_set_mem_attributes(kvm, gfn, gfn + op.npages, op.op === 'convert_to_private');
      return '0';
    }
    case 'zap_gfn_range': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_zap_gfn_range(kvm, gfn, gfn + op.npages);
      return '0';
    }
    case 'memslot_delete': {
      const slot = kvm.memslots.find((s) => s.id === op.slot);
      if (!slot) return '-EINVAL';
      yield* kvm_mmu_zap_memslot(kvm, slot);
      return '0';
    }
    case 'mmu_notifier_unmap': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      yield* kvm_mmu_notifier_invalidate_range_start(kvm, gfn, gfn + op.npages);
      return '0';
    }
    case 'age': {
      const gfn = gpa_to_natural_gfn(kvm, op.gpa);
      return (yield* kvm_age_gfn(kvm, gfn, gfn + op.npages)) ? 'young' : 'old';
    }
    case 'fast_zap':
      yield* kvm_mmu_zap_all_fast(kvm);
      return '0';
    case 'vcpu_enter': {
      const vcpu = vcpu_of(kvm, op.vcpu);
      yield* kvm_mmu_reload(kvm, vcpu);
      return yield* tdx(kvm).tdx_vcpu_run(kvm, vcpu);
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
      yield* tdx(kvm).tdx_mmu_release_hkid(kvm);
      return '0';
    case 'destroy':
      yield* kvm_arch_destroy_vm(kvm);
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
