// The kernel environment's rules, one by one.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCKED, KernelContext, setContext, type Gen } from '../../src/kernel/context.ts';
import { BUG, KVM_MMU_WARN_ON, WARN_ON, WARN_ON_ONCE } from '../../src/kernel/diag.ts';
import { Kvm, KVM_BUG_ON, kvm_make_all_cpus_request, KVM_REQ_OUTSIDE_GUEST_MODE } from '../../src/kernel/kvm.ts';
import { lockdep_assert_held, lockdep_assert_held_read, lockdep_assert_held_write, read_lock, read_unlock, write_lock, write_unlock } from '../../src/kernel/lock.ts';
import { alloc_page, free_page } from '../../src/kernel/page_alloc.ts';
import { call_rcu, rcu_grace_period } from '../../src/kernel/rcu.ts';
import { newThread, runThreads, type ThreadRun } from '../../src/kernel/sched.ts';
import * as spte from '../../src/kernel/spte.ts';
import { TdxModule } from '../../src/hw/tdx_module.ts';

let c: KernelContext;
let kvm: Kvm;

beforeEach(() => {
  c = new KernelContext(new TdxModule({ rootLevel: 4, nrVcpus: 2 }));
  c.current = newThread(0, 't0', null);
  setContext(c);
  kvm = new Kvm({ nr_vcpus: 2, shared_bit: 47, ad_enabled: true });
});
afterEach(() => setContext(null));

function drive(gen: Gen): void {
  for (let r = gen.next(); !r.done; r = gen.next()) if (r.value === BLOCKED) throw new Error('blocked');
}

function thread(id: number, gen: Gen): ThreadRun {
  return { thread: newThread(id, `t${id}`, null), gen, done: false, blocked: false, steps: 0 };
}

describe('diagnostics', () => {
  it('KVM_BUG_ON records site and condition, bugs the VM, warns only the first time, evaluates to the condition', () => {
    expect(KVM_BUG_ON(false, kvm, 'f', 'x')).toBe(false);
    expect(c.events).toEqual([]);
    expect(KVM_BUG_ON(true, kvm, 'f', 'cond')).toBe(true);
    expect(KVM_BUG_ON(true, kvm, 'g', 'other')).toBe(true);
    const bugs = c.events!.filter((e) => e.kind === 'bug');
    expect(bugs.map((b) => [b.site, b.cond, b.silent])).toEqual([['f', 'cond', false], ['g', 'other', true]]);
    expect(kvm.vm_bugged).toBe(true);
    expect(kvm.vm_dead).toBe(true);
    expect(c.events!.filter((e) => e.kind === 'vm')).toHaveLength(1);
    expect(kvm.vcpus.every((v) => v.requests.has('KVM_REQ_VM_DEAD'))).toBe(true);
  });

  it('WARN_ON fires every time; WARN_ON_ONCE is silent after the first firing at a site', () => {
    WARN_ON(true, 'a', 'c');
    WARN_ON(true, 'a', 'c');
    WARN_ON_ONCE(true, 'b', 'c');
    WARN_ON_ONCE(true, 'b', 'c');
    WARN_ON_ONCE(true, 'b2', 'c');
    expect(c.events!.map((e) => `${e.site}:${e.silent}`)).toEqual(['a:false', 'a:false', 'b:false', 'b:true', 'b2:false']);
  });

  it('KVM_MMU_WARN_ON is live with PROVE_MMU and compiled out without it', () => {
    expect(KVM_MMU_WARN_ON(true, 's', 'c')).toBe(true);
    c.prove_mmu = false;
    expect(KVM_MMU_WARN_ON(true, 's2', 'c')).toBe(false);
    expect(c.events!.map((e) => e.site)).toEqual(['s']);
  });

  it('BUG() crashes the host: the scheduler stops and says so', () => {
    function* crasher(): Gen {
      yield 'x';
      BUG('handle_changed_spte', 'boom');
    }
    function* other(): Gen {
      yield 'y';
    }
    const end = runThreads(c, [thread(0, crasher()), thread(1, other())], null, 100);
    expect(end).toEqual({ end: 'crash', site: 'handle_changed_spte', why: 'boom' });
    expect(c.events!.at(-1)).toMatchObject({ kind: 'crash', site: 'handle_changed_spte' });
  });
});

describe('mmu_lock and lockdep', () => {
  it('asserts record a splat with the site only when violated', () => {
    drive(read_lock(kvm.mmu_lock));
    lockdep_assert_held(kvm.mmu_lock, 'a');
    lockdep_assert_held_read(kvm.mmu_lock, 'b');
    expect(c.events).toEqual([]);
    lockdep_assert_held_write(kvm.mmu_lock, 'c');
    expect(c.events).toEqual([{ kind: 'lockdep', site: 'c', cond: 'lockdep_assert_held_write(mmu_lock)', thread: 't0', op: null }]);
    drive(read_unlock(kvm.mmu_lock));
    drive(write_lock(kvm.mmu_lock));
    lockdep_assert_held_write(kvm.mmu_lock, 'd');
    lockdep_assert_held_read(kvm.mmu_lock, 'e');
    drive(write_unlock(kvm.mmu_lock));
    lockdep_assert_held(kvm.mmu_lock, 'f');
    expect(c.events!.map((e) => e.site)).toEqual(['c', 'e', 'f']);
  });

  it('a writer waits for readers; readers share', () => {
    const order: string[] = [];
    function* reader(name: string): Gen {
      yield* read_lock(kvm.mmu_lock);
      order.push(`${name}+`);
      yield 'work';
      order.push(`${name}-`);
      yield* read_unlock(kvm.mmu_lock);
    }
    function* writer(): Gen {
      yield* write_lock(kvm.mmu_lock);
      order.push('w+');
      yield* write_unlock(kvm.mmu_lock);
    }
    // pin: both readers take the lock, then the writer tries (and must wait)
    const end = runThreads(c, [thread(0, reader('r0')), thread(1, reader('r1')), thread(2, writer())], [0, 0, 1, 1, 2, 2, 2], 100);
    expect(end.end).toBe('completed');
    expect(order.indexOf('w+')).toBeGreaterThan(order.indexOf('r0-'));
    expect(order.indexOf('w+')).toBeGreaterThan(order.indexOf('r1-'));
    expect(order.slice(0, 2)).toEqual(['r0+', 'r1+']);
  });

  it('qrwlock: a reader that comes while a writer waits queues behind the writer', () => {
    const order: string[] = [];
    function* reader(name: string, work: number): Gen {
      yield* read_lock(kvm.mmu_lock);
      order.push(`${name}+`);
      for (let i = 0; i < work; i++) yield 'work';
      order.push(`${name}-`);
      yield* read_unlock(kvm.mmu_lock);
    }
    function* writer(): Gen {
      yield* write_lock(kvm.mmu_lock);
      order.push('w+');
      yield 'work';
      order.push('w-');
      yield* write_unlock(kvm.mmu_lock);
    }
    // r0 holds the lock, the writer starts waiting, then r1 arrives: r1 must not overtake
    const end = runThreads(c, [thread(0, reader('r0', 3)), thread(1, writer()), thread(2, reader('r1', 1))], [0, 0, 1, 1, 2, 2, 0, 0, 0, 0], 100);
    expect(end.end).toBe('completed');
    expect(order).toEqual(['r0+', 'r0-', 'w+', 'w-', 'r1+', 'r1-']);
    expect(kvm.mmu_lock.queue).toEqual([]);
    expect(kvm.mmu_lock.writer_waiting).toBe(false);
  });

  it('a spinning thread lets a thread blocked on a lock re-check it once the lock is free', () => {
    // t0 spins (cond_resched) until t2 has run; t2 queued for the read lock behind t1's
    // write lock; t1 is itself waiting for the lock to be free again: t2 must get its turn
    let t2done = false;
    function* spinner(): Gen {
      while (!t2done) yield 'cond_resched';
    }
    function* w(): Gen {
      yield* write_lock(kvm.mmu_lock);
      yield 'work';
      yield* write_unlock(kvm.mmu_lock);
    }
    function* r(): Gen {
      yield* read_lock(kvm.mmu_lock);
      t2done = true;
      yield* read_unlock(kvm.mmu_lock);
    }
    const runs = [thread(0, spinner()), thread(1, w()), thread(2, r())];
    for (const x of runs) x.thread.inOp = true;
    expect(runThreads(c, runs, [1, 1, 2, 2, 0], 1000).end).toBe('completed');
    expect(t2done).toBe(true);
  });

  it('a thread that waits forever is a deadlock, not a hang', () => {
    function* holder(): Gen {
      yield* write_lock(kvm.mmu_lock);
      yield* write_lock(kvm.mmu_lock); // self-deadlock
    }
    expect(runThreads(c, [thread(0, holder())], null, 1000).end).toBe('deadlock');
  });

  it('a retry loop past the step budget is a livelock observation', () => {
    function* spinner(): Gen {
      for (;;) yield 'retry';
    }
    expect(runThreads(c, [thread(0, spinner())], null, 50)).toEqual({ end: 'livelock', thread: 't0' });
    expect(c.events!.at(-1)).toMatchObject({ kind: 'livelock', budget: 50 });
  });

  it('threads run one after another by default, and follow a pinned schedule', () => {
    const log: string[] = [];
    const mk = (n: number): Gen => (function* () {
      for (let i = 0; i < 2; i++) {
        log.push(`${n}.${i}`);
        yield 'p';
      }
    })();
    runThreads(c, [thread(0, mk(0)), thread(1, mk(1))], null, 10);
    expect(log).toEqual(['0.0', '0.1', '1.0', '1.1']);
    log.length = 0;
    runThreads(c, [thread(0, mk(0)), thread(1, mk(1))], [1, 0, 1], 10);
    expect(log).toEqual(['1.0', '0.0', '1.1', '0.1']);
  });
});

describe('page allocator and RCU', () => {
  it('never reuses a frame; detects double free and free of a module-owned page', () => {
    const a = alloc_page('spt');
    free_page(a, 'x');
    const b = alloc_page('spt');
    expect(b).not.toBe(a);
    free_page(a, 'y');
    expect(c.events!.filter((e) => e.kind === 'invariant').map((e) => e.rule)).toEqual(['double-free']);
    const owned = alloc_page('external_spt');
    c.hw.tdhMemSeptAdd(0, 4, owned);
    free_page(owned, 'z');
    expect(c.events!.filter((e) => e.kind === 'invariant').map((e) => e.rule)).toEqual(['double-free', 'free-while-owned']);
  });

  it('call_rcu callbacks run at the grace period, in order, not before', () => {
    const ran: number[] = [];
    call_rcu(() => ran.push(1));
    call_rcu(() => ran.push(2));
    expect(ran).toEqual([]);
    rcu_grace_period();
    expect(ran).toEqual([1, 2]);
  });
});

describe('vCPU requests and kicks', () => {
  it('KVM_REQ_OUTSIDE_GUEST_MODE kicks the vCPUs that are in the guest out of it', () => {
    c.hw.tdhMrFinalize();
    c.hw.vcpuEnter(1);
    kvm_make_all_cpus_request(kvm, KVM_REQ_OUTSIDE_GUEST_MODE);
    expect(c.events!.at(-1)).toMatchObject({ kind: 'kick', vcpus: [1] });
    expect(c.hw.inGuest(1)).toBe(false);
  });
});

describe('SPTE encoding (Linux 7.1 values)', () => {
  it('has the 7.1 constants', () => {
    expect(spte.SPTE_MMU_PRESENT_MASK).toBe(1n << 11n);
    expect(spte.SHADOW_NONPRESENT_VALUE).toBe(1n << 63n);
    expect(spte.FROZEN_SPTE).toBe(0x80000000000005a0n);
    expect(spte.shadow_accessed_mask).toBe(1n << 8n);
  });

  it('classifies present, leaf, frozen and accessed SPTEs', () => {
    const leaf = spte.make_spte(0x1234, 1, true);
    expect(spte.is_shadow_present_pte(leaf)).toBe(true);
    expect(spte.is_last_spte(leaf, 1)).toBe(true);
    expect(spte.spte_to_pfn(leaf)).toBe(0x1234);
    expect(spte.is_accessed_spte(leaf)).toBe(true);
    const nonleaf = spte.make_nonleaf_spte(0x99, false);
    expect(spte.is_last_spte(nonleaf, 2)).toBe(false);
    expect(spte.is_shadow_present_pte(spte.FROZEN_SPTE)).toBe(false);
    expect(spte.is_frozen_spte(spte.FROZEN_SPTE)).toBe(true);
    expect(spte.is_shadow_present_pte(spte.SHADOW_NONPRESENT_VALUE)).toBe(false);
    expect(spte.is_accessed_spte(spte.mark_spte_for_access_track(leaf))).toBe(false);
    const noad = spte.make_spte(5, 1, false);
    const tracked = spte.mark_spte_for_access_track(noad);
    expect(spte.is_shadow_present_pte(tracked)).toBe(true); // bit 11 survives access tracking
    expect(tracked & spte.VMX_EPT_RWX_MASK).toBe(0n);
  });

  it('make_spte(prefetch): a prefetched leaf starts old (A/D on) or access-tracked (A/D off), Dirty either way', () => {
    const pre = spte.make_spte(7, 1, true, true);
    expect(spte.is_accessed_spte(pre)).toBe(false);
    expect(pre & spte.shadow_dirty_mask).toBe(spte.shadow_dirty_mask);
    expect(pre & spte.VMX_EPT_RWX_MASK).toBe(spte.VMX_EPT_RWX_MASK);
    const preNoAd = spte.make_spte(7, 1, false, true);
    expect(spte.is_access_track_spte(preNoAd)).toBe(true);
    expect(spte.is_accessed_spte(spte.make_spte(7, 1, false))).toBe(true);
  });

  it('spte_needs_atomic_update: A/D-disabled, fast-PF-writable or Dirty-less writable leaves; never for Accessed alone', () => {
    const leaf = spte.make_spte(7, 1, true);
    expect(spte.spte_needs_atomic_update(leaf)).toBe(false);
    expect(spte.spte_needs_atomic_update(leaf & ~spte.shadow_accessed_mask)).toBe(false);
    expect(spte.spte_needs_atomic_update(leaf & ~spte.shadow_dirty_mask)).toBe(true);
    expect(spte.spte_needs_atomic_update(leaf & ~spte.VMX_EPT_WRITABLE_MASK)).toBe(true); // MMU-writable: fast PF may set W
    expect(spte.spte_needs_atomic_update(spte.make_spte(7, 1, false))).toBe(true);
  });

  it('a TD\'s MMIO SPTE is the GPA with MMIO value 0 (no RWX, no suppress-#VE): a #VE reaches the guest', () => {
    const mmio = spte.make_mmio_spte(0x12345);
    expect(spte.is_mmio_spte(mmio)).toBe(true);
    expect(spte.is_shadow_present_pte(mmio)).toBe(false);
    expect(spte.is_ept_ve_possible(mmio)).toBe(true);
    expect(spte.is_mmio_spte(spte.SHADOW_NONPRESENT_VALUE)).toBe(false);
    expect(spte.is_mmio_spte(spte.FROZEN_SPTE)).toBe(false);
    expect(spte.is_ept_ve_possible(spte.SHADOW_NONPRESENT_VALUE)).toBe(false);
    expect(spte.is_ept_ve_possible(0x6n)).toBe(false); // VMX's misconfig MMIO value
  });
});
