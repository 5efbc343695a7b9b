// The kernel paths around the series (written once under src/kernel/), on the series
// base and on its end: each trace asserts what Linux 7.1.3 / 7.2.13 do there.
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { replay } from '../../harness/replay.ts';
import { parseTrace, resolveTrace } from '../../harness/trace.ts';
import { runCheck } from '../../harness/check.ts';
import { formatCheckText } from '../../harness/report.ts';
import type { Observation } from '../../harness/observation.ts';
import type { ObsEvent } from '../../src/kernel/context.ts';
import type { TraceOp } from '../../src/trace_types.ts';

const ENDS = [0, STEPS.length - 1] as const;

function run(name: string, step: number): Observation {
  return replay(resolveTrace(name), STEPS[step]!);
}

function trace(o: Observation, pred: (e: ObsEvent) => boolean = () => true): ObsEvent[] {
  return o.events.filter((e) => e.thread !== 'setup' && pred(e));
}

function seamcalls(o: Observation, op?: string): string[] {
  return trace(o, (e) => e.kind === 'seamcall' && (op === undefined || e.op === op)).map((e) => `${e.name} ${e.status}`);
}

function results(o: Observation): string[] {
  return trace(o, (e) => e.kind === 'result').map((e) => `${e.op}=${e.value}`);
}

describe.each(ENDS)('kernel paths on step %i', (step) => {
  it('fault-races-conversion: the stale fault retries and exits to userspace (-EFAULT), no PAGE.AUG', () => {
    const o = run('fault-races-conversion', step);
    expect(results(o)).toEqual(['convert_to_shared#0=0', 'fault#0=-EFAULT']);
    expect(seamcalls(o)).toEqual([]);
    expect(trace(o, (e) => e.kind === 'exit')).toEqual([
      expect.objectContaining({ reason: 'KVM_EXIT_MEMORY_FAULT', gpa: '0x1000', private: true, op: 'fault#0' }),
    ]);
    expect(o.final.sept).toEqual([]);
  });

  it('fault-races-conversion without the staleness check would AUG: the schedule really interleaves', () => {
    // the same two operations one after the other: the fault maps, the conversion removes
    const t = resolveTrace('fault-races-conversion');
    const o = replay({ ...t, schedule: undefined }, STEPS[step]!);
    expect(seamcalls(o, 'fault#0')).toContain('TDH.MEM.PAGE.AUG TDX_SUCCESS');
    expect(seamcalls(o, 'convert_to_shared#0')).toContain('TDH.MEM.PAGE.REMOVE TDX_SUCCESS');
  });

  it('fault-during-conversion: a fault inside the invalidation retries until it ends, then -EFAULT', () => {
    const o = run('fault-during-conversion', step);
    expect(results(o)).toEqual(['convert_to_shared#0=0', 'fault#0=-EFAULT']);
    expect(seamcalls(o)).toEqual([]);
  });

  it('fault-races-hole-punch: the old folio is freed, the retry AUGs the new one', () => {
    const o = run('fault-races-hole-punch', step);
    expect(trace(o, (e) => e.kind === 'free')).toEqual([expect.objectContaining({ site: 'truncate_inode_pages_range', page: 'gmem@0x1' })]);
    expect(trace(o, (e) => e.name === 'TDH.MEM.PAGE.AUG')).toEqual([expect.objectContaining({ page: 'gmem@0x1#2', status: 'TDX_SUCCESS' })]);
    expect(results(o).at(-1)).toBe('fault#0=RET_PF_FIXED');
    expect(trace(o, (e) => e.kind === 'invariant')).toEqual([]);
  });

  it('fault-races-memslot-delete: the deletion waits for the fault, zaps what it mapped; the next fault has no slot', () => {
    const o = run('fault-races-memslot-delete', step);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'memslot_delete#0=0', 'fault#1=-EFAULT']);
    const aug = o.events.findIndex((e) => e.name === 'TDH.MEM.PAGE.AUG');
    const remove = o.events.findIndex((e) => e.name === 'TDH.MEM.PAGE.REMOVE');
    expect(aug).toBeGreaterThan(0);
    expect(remove).toBeGreaterThan(aug);
    expect(o.final.sept).toEqual([]);
  });

  it('dead-vm-ioctls: every ioctl of a dead VM returns -EIO without a SEAMCALL; hole punch and notifier still run', () => {
    const o = run('dead-vm-ioctls', step);
    expect(results(o).slice(4, 11)).toEqual([
      'fault#4=-EIO', 'fault#5=-EIO', 'vcpu_enter#6=-EIO', 'convert_to_shared#7=-EIO', 'memslot_delete#8=-EIO', 'finalize#9=-EIO', 'populate#10=-EIO',
    ]);
    for (const op of ['fault#5', 'vcpu_enter#6', 'convert_to_shared#7', 'memslot_delete#8', 'finalize#9', 'populate#10']) {
      expect(trace(o, (e) => e.op === op && e.kind !== 'result'), op).toEqual([]);
    }
    expect(seamcalls(o, 'gmem_invalidate#11')).toContain('TDH.MEM.PAGE.REMOVE TDX_SUCCESS');
    expect(results(o).slice(-2)).toEqual(['gmem_invalidate#11=0', 'mmu_notifier_unmap#12=0']);
    expect(o.final.vm).toMatchObject({ bugged: true, dead: true });
  });

  it('before-finalize: KVM_RUN and faults -EINVAL; populate only of a private GFN, only before finalize; one finalize', () => {
    const o = run('before-finalize', step);
    expect(results(o)).toEqual([
      'vcpu_enter#0=-EINVAL', 'fault#1=-EINVAL', 'populate#2=-EINVAL', 'convert_to_shared#3=0', 'populate#4=-EINVAL',
      'populate#5=0', 'finalize#6=0', 'populate#7=-EINVAL', 'finalize#8=-EINVAL', 'vcpu_enter#9=0',
    ]);
    expect(trace(o, (e) => e.kind === 'seamcall').map((e) => `${e.op} ${e.name}`).filter((s) => !s.includes('SEPT.ADD'))).toEqual([
      'populate#5 TDH.MEM.PAGE.ADD', 'finalize#6 TDH.MR.FINALIZE', 'vcpu_enter#9 TDH.VP.ENTER',
    ]);
    expect(o.final.vm.bugged).toBe(false);
  });

  it('unexpected-pending: a PENDING EPT violation kills the VM (dead, not bugged) with -EIO and no SEAMCALL', () => {
    const o = run('unexpected-pending', step);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'fault#1=-EIO']);
    expect(seamcalls(o, 'fault#1')).toEqual([]);
    expect(trace(o, (e) => e.op === 'fault#1').map((e) => e.kind)).toEqual(['kick', 'result']);
    expect(o.final.vm).toMatchObject({ bugged: false, dead: true });
  });

  it('a PENDING page faulted again without SEPT_VE_DISABLE is an ordinary spurious fault', () => {
    const t = resolveTrace('unexpected-pending');
    const o = replay({ ...t, vm: { ...t.vm, septVeDisable: false } }, STEPS[step]!);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'fault#1=RET_PF_SPURIOUS']);
    expect(o.final.vm.dead).toBe(false);
  });

  it('shared-mmio-fault: an MMIO SPTE (value 0) on the direct root, RET_PF_EMULATE twice, changed once', () => {
    const o = run('shared-mmio-fault', step);
    expect(results(o)).toEqual(['fault#0=RET_PF_EMULATE', 'fault#1=RET_PF_EMULATE']);
    const changes = trace(o, (e) => e.name === 'kvm_tdp_mmu_spte_changed' && e.level === 1);
    expect(changes.map((e) => `${e.op} ${e.old}->${e.new}`)).toEqual(['fault#0 NONPRESENT->MMIO']);
    expect(seamcalls(o)).toEqual([]);
  });

  it('zap-private-range: one KVM_REQ_TLB_FLUSH after the hole punch removed present leaves', () => {
    const o = run('zap-private-range', step);
    const flushes = trace(o, (e) => e.kind === 'kick' && e.request === 'KVM_REQ_TLB_FLUSH');
    expect(flushes.map((e) => e.op)).toEqual(['gmem_invalidate#0']);
    const last = o.events.findLastIndex((e) => e.kind === 'seamcall' && e.op === 'gmem_invalidate#0');
    expect(o.events.indexOf(flushes[0]!)).toBeGreaterThan(last);
  });

  it('age-shared: aging traces the Accessed bit it clears; a second age finds the leaf old', () => {
    const base = resolveTrace('age-shared');
    const t = { ...base, threads: [...base.threads, { name: 'again', ops: [{ op: 'age' as const, gpa: 0x1000, npages: 1 }] }] };
    const o = replay(t, STEPS[step]!);
    const young = trace(o, (e) => e.kind === 'result' && e.name === 'age').map((e) => e.value);
    expect(young.at(-1)).toBe('old');
    const ages = trace(o, (e) => e.name === 'kvm_tdp_mmu_spte_changed' && String(e.op).startsWith('age'));
    expect(ages.map((e) => `${e.level} ${e.old}->${e.new}`)).toEqual(['1 LEAF->LEAF']);
  });

  it('flushvp-not-done: the HKID release gives up quietly; teardown cannot reclaim the S-EPT pages', () => {
    const o = run('flushvp-not-done', step);
    const freeid = trace(o, (e) => e.name === 'TDH.MNG.KEY.FREEID');
    expect(freeid.map((e) => e.status)).toEqual(['TDX_FLUSHVP_NOT_DONE']);
    const bugs = trace(o, (e) => e.kind === 'bug');
    expect(bugs[0]).toMatchObject({ site: 'tdx_sept_free_private_spt', cond: 'is_hkid_assigned(kvm_tdx)', silent: false });
    expect(bugs.slice(1).every((b) => b.silent === true)).toBe(true);
    expect(seamcalls(o, 'destroy#2').filter((s) => s.startsWith('TDH.PHYMEM.PAGE.RECLAIM'))).toEqual([]);
    expect(o.final.vm.hkid).toBe(true);
  });

  it('injected answers are marked; the two the real module cannot give say so', () => {
    const track = trace(run('zap-track-stays-busy', step), (e) => e.name === 'TDH.MEM.TRACK').map((e) => e.injected);
    expect(track).toEqual([
      'within the module\'s contract',
      'outside the module\'s contract: TRACK is busy only while a vCPU enters the guest; none has since the last busy TRACK',
    ]);
    const reclaim = trace(run('reclaim-fails', step), (e) => e.name === 'TDH.PHYMEM.PAGE.RECLAIM' && e.injected !== undefined);
    expect(reclaim.map((e) => e.injected)).toEqual(['outside the module\'s contract: RECLAIM answers PAGE_METADATA_INCORRECT only for a page the TD does not own']);
    expect(trace(run('private-fault-busy', step), (e) => e.injected !== undefined).map((e) => e.injected)).toEqual(['within the module\'s contract']);
    expect(trace(run('private-fault', step), (e) => e.injected !== undefined)).toEqual([]);
  });

  it('root list: the direct root (allocated last) is walked first', () => {
    // memslot-delete zaps both sides of the slot: the shared leaf (gfn 0x3, on the direct
    // root) goes before the mirror leaves' S-EPT removals
    const o = run('memslot-delete', step);
    const del = trace(o, (e) => e.op === 'memslot_delete#0' && (e.kind === 'seamcall' || e.kind === 'tracepoint'));
    expect(del[0]).toMatchObject({ kind: 'tracepoint', gfn: '0x3', level: 1, old: 'LEAF', new: 'NONPRESENT' });
    expect(del.findIndex((e) => e.kind === 'seamcall')).toBeGreaterThan(0);
  });
});

describe.each(ENDS)('kernel paths on step %i, built in the test', (step) => {
  const F = (gpa: number, vcpu = 0) => ({ op: 'fault' as const, vcpu, gpa });
  function build(ops: TraceOp[][], vm: Record<string, unknown> = {}): Observation {
    const text = JSON.stringify({ name: 'built', vm, threads: ops.map((o, i) => ({ name: `t${i}`, ops: o })) });
    return replay(parseTrace(text, 'built'), STEPS[step]!);
  }

  it('populate maps with prefetch: the mirror leaf starts old, a faulted one young', () => {
    const o = build([[{ op: 'populate', gpa: 0x1000 }, { op: 'finalize' }, F(0x2000)]], { td: 'initialized' });
    const leaf = (gpa: string) => o.final.mirror.find((m) => m.gpa === gpa && m.kind === 'LEAF');
    expect(leaf('0x1000')?.accessed).toBe(false);
    expect(leaf('0x2000')?.accessed).toBe(true);
  });

  it('fast zap invalidates only direct roots and tells every vCPU to drop them; the next entry loads a new one', () => {
    const shared = 0x800010000000; // host memory behind slot 1 (no guest_memfd)
    const o = build([[F(shared), { op: 'fast_zap' }, F(shared)]], {
      memslots: [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: 0x10000000, npages: 16, gmem: false }],
    });
    const kicks = trace(o, (e) => e.kind === 'kick').map((e) => `${e.op} ${e.request}`);
    expect(kicks).toEqual(['fast_zap#1 KVM_REQ_MMU_FREE_OBSOLETE_ROOTS']);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'fast_zap#1=0', 'fault#2=RET_PF_FIXED']);
    // the second fault maps through a new direct root: a new top-level table
    expect(o.final.direct.filter((d) => d.level === 4).map((d) => d.page)).toEqual(['direct.L3@0x0#2']);
  });

  it('populate needs a guest_memfd slot; after the teardown began no ioctl has a file to run on', () => {
    const slots = [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: 0x10000000, npages: 16, gmem: false }];
    const o = build([[{ op: 'populate', gpa: 0x10000000 }, { op: 'release_hkid' }, { op: 'finalize' }, F(0x1000), { op: 'populate', gpa: 0x1000 }]], { td: 'initialized', memslots: slots });
    // (tdx_td_finalize()'s !is_hkid_assigned check is defensive: no ioctl reaches it after the release)
    expect(results(o)).toEqual(['populate#0=-EINVAL', 'release_hkid#1=0', 'finalize#2=-EBADF', 'fault#3=-EBADF', 'populate#4=-EBADF']);
    expect(trace(o, (e) => e.kind === 'seamcall').map((e) => e.name)).toEqual(['TDH.MNG.KEY.FREEID']);
  });

  it('after kvm_destroy_vm() nothing reaches the VM: no second teardown, no hole punch, no notifier, no vCPU', () => {
    const o = build([[F(0x1000), { op: 'destroy' }, { op: 'destroy' }, { op: 'release_hkid' }, { op: 'gmem_invalidate', gpa: 0x1000, npages: 1 }, { op: 'mmu_notifier_unmap', gpa: 0x1000, npages: 1 }, { op: 'accept', vcpu: 0, gpa: 0x1000 }]]);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'destroy#1=0', 'destroy#2=-EBADF', 'release_hkid#3=-EBADF', 'gmem_invalidate#4=-EBADF', 'mmu_notifier_unmap#5=-EBADF', 'accept#6=-EBADF']);
    expect(o.events.filter((e) => /#[2-6]$/.test(String(e.op))).map((e) => e.kind)).toEqual(Array(5).fill('result'));
  });

  it('gmem_release zaps every private leaf with the HKID still assigned; a fault after it gets -EFAULT', () => {
    const o = build([[F(0x1000), { op: 'gmem_release' }, F(0x2000), { op: 'populate', gpa: 0x3000 }]]);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'gmem_release#1=0', 'fault#2=-EFAULT', 'populate#3=-EINVAL']);
    expect(trace(o, (e) => e.kind === 'seamcall' && e.op === 'gmem_release#1').map((e) => e.name)).toEqual(['TDH.MEM.RANGE.BLOCK', 'TDH.MEM.TRACK', 'TDH.MEM.PAGE.REMOVE', 'TDH.PHYMEM.PAGE.WBINVD']);
    expect(o.final.mirror.filter((m) => m.kind === 'LEAF')).toEqual([]);
  });

  it('teardown ends with the vCPU and TD control pages: TDCX x5, TDVPR, then S-EPT pages, TDCS x4, TDR, TDR WBINVD', () => {
    const o = run('teardown', step);
    const destroy = trace(o, (e) => e.kind === 'seamcall' && e.op === 'destroy#2').map((e) => `${e.name} ${String(e.page).replace(/#\d+$/, '')}`);
    const kinds = destroy.map((d) => d.replace(/ (sept)\..*$/, ' $1'));
    expect(kinds).toEqual([
      ...Array(5).fill('TDH.PHYMEM.PAGE.RECLAIM tdcx'), 'TDH.PHYMEM.PAGE.RECLAIM tdvpr',
      ...Array(4).fill('TDH.PHYMEM.PAGE.RECLAIM sept'),
      ...Array(4).fill('TDH.PHYMEM.PAGE.RECLAIM tdcs'), 'TDH.PHYMEM.PAGE.RECLAIM tdr', 'TDH.PHYMEM.PAGE.WBINVD tdr',
    ]);
    expect(trace(o, (e) => e.op === 'destroy#2' && e.kind === 'seamcall').every((e) => e.status === 'TDX_SUCCESS')).toBe(true);
    expect(o.final.pages.heldByModule).toEqual([]);
    expect(o.final.vm.td).toBe('TD_STATE_UNINITIALIZED');
  });

  it('the VM is destroyed only once no vCPU ioctl holds it: a teardown started beside a fault waits', () => {
    const o = build([[F(0x1000)], [{ op: 'destroy' }]]);
    // pinned: the fault stops at its first yield point, then the teardown is asked to run
    const text = JSON.stringify({ name: 'built', threads: [{ name: 't0', ops: [{ op: 'fault', gpa: '0x1000' }] }, { name: 't1', ops: [{ op: 'destroy' }] }], schedule: [0, 1, 1, 1, 1] });
    const pinned = replay(parseTrace(text, 'built'), STEPS[step]!);
    expect(results(pinned)).toEqual(['fault#0=RET_PF_FIXED', 'destroy#0=0']);
    expect(trace(pinned, (e) => e.kind === 'warn')).toEqual([]);
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'destroy#0=0']);
  });

  it('fast page fault: never with A/D bits on (a TD); an aged shared leaf stays mapped and re-faults spurious', () => {
    const shared = 0x800010000000;
    const slots = [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: 0x10000000, npages: 16, gmem: false }];
    const o = build([[F(shared), { op: 'age', gpa: 0x10000000, npages: 1 }, F(shared), F(0x1000), F(0x1000)]], { memslots: slots });
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'age#1=young', 'fault#2=RET_PF_SPURIOUS', 'fault#3=RET_PF_FIXED', 'fault#4=RET_PF_SPURIOUS']);
    expect(trace(o, (e) => e.name === 'fast_page_fault')).toEqual([]);
  });

  it('fast page fault (A/D bits off, an unreachable configuration): the access-tracked shared leaf is restored without mmu_lock', () => {
    const shared = 0x800010000000;
    const slots = [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: 0x10000000, npages: 16, gmem: false }];
    const o = build([[F(shared), { op: 'age', gpa: 0x10000000, npages: 1 }, F(shared), F(shared)]], { memslots: slots, adEnabled: false, unreachableConfig: true });
    expect(results(o)).toEqual(['fault#0=RET_PF_FIXED', 'age#1=young', 'fault#2=RET_PF_FIXED', 'fault#3=RET_PF_SPURIOUS']);
    const fast = trace(o, (e) => e.name === 'fast_page_fault');
    // without A/D bits every not-present shared fault tries the lockless path first
    expect(fast.map((e) => `${e.op} ${e.level} ${e.old}->${e.new} ${e.ret}`)).toEqual([
      'fault#0 null NONPRESENT->NONPRESENT RET_PF_INVALID', 'fault#2 1 LEAF->LEAF RET_PF_FIXED', 'fault#3 1 LEAF->LEAF RET_PF_SPURIOUS',
    ]);
    // restored, not re-made: no kvm_mmu_spte_requested for that fault, the same host page
    expect(trace(o, (e) => e.op === 'fault#2' && e.name === 'kvm_mmu_spte_requested')).toEqual([]);
    expect(o.final.direct.find((d) => d.kind === 'LEAF')).toMatchObject({ accessed: true });
  });
});

describe('check reports injected answers outside the module contract', () => {
  it('lists each such trace once per reason, in the text report and the JSON results', () => {
    const traces = ['zap-track-stays-busy', 'private-fault-busy'].map(resolveTrace);
    const r = runCheck({ steps: STEPS, traces, from: 15, to: 15 });
    expect(r.results.find((x) => x.trace === 'zap-track-stays-busy')!.outsideContract).toEqual([
      'TDH.MEM.TRACK TDX_OPERAND_BUSY: TRACK is busy only while a vCPU enters the guest; none has since the last busy TRACK',
    ]);
    expect(r.results.find((x) => x.trace === 'private-fault-busy')!.outsideContract).toBeUndefined();
    const text = formatCheckText(r);
    expect(text).toContain("Injected answers outside the TDX module's contract");
    expect(text.match(/zap-track-stays-busy: TDH\.MEM\.TRACK/g)).toHaveLength(1);
    expect(text).not.toContain('private-fault-busy: TDH');
  });
});

describe('traces for configurations no kernel runs a TD in', () => {
  it('vm.adEnabled: false is bad input unless the trace says it probes an unreachable configuration', () => {
    const text = JSON.stringify({ name: 'x', vm: { adEnabled: false }, threads: [{ name: 't', ops: [{ op: 'fault', gpa: '0x1000' }] }] });
    expect(() => parseTrace(text, 'x.trace.json')).toThrow(/x\.trace\.json: at \$\.vm\.adEnabled: false is a configuration no kernel runs a TD in/);
    const ok = JSON.stringify({ name: 'x', vm: { adEnabled: false, unreachableConfig: true }, threads: [{ name: 't', ops: [{ op: 'fault', gpa: '0x1000' }] }] });
    expect(parseTrace(ok, 'x.trace.json').vm.adEnabled).toBe(false);
  });
});
