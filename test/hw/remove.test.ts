import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';
import { GPA, K4, M2, Pfns, buildPath, expectOk, expectRejected, mk, runnableWithAug } from './helpers.ts';

describe('TDH.MEM.TRACK', () => {
  it('TD_EPOCH += 1', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(3);
  });

  it('a vCPU still inside with TD_EPOCH - 1 -> TDX_PREVIOUS_TLB_EPOCH_BUSY; succeeds after it exits', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.vcpuEnter(0)); // epoch 1
    expectOk(m.tdhMemTrack()); // nobody at epoch 0 -> 2
    expect(m.tdEpoch).toBe(2);
    expectRejected(m, S.TDX_PREVIOUS_TLB_EPOCH_BUSY, () => m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
    expect(S.isBusy(S.TDX_PREVIOUS_TLB_EPOCH_BUSY)).toBe(false);
    m.vcpuExit(0);
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(3);
  });

  it('a vCPU inside with the current epoch does not hold TRACK back', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.vcpuEnter(1));
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
  });
});

describe('TDH.MEM.PAGE.REMOVE', () => {
  it('RUNNABLE, not blocked -> TDX_GPA_RANGE_NOT_BLOCKED, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf); // PENDING also needs blocking
    const r = expectRejected(m, S.TDX_GPA_RANGE_NOT_BLOCKED, () => m.tdhMemPageRemove(GPA, 1));
    expect(r.rcx).toBe(BigInt(p) << 12n);
    expect(m.pamt(p).owner).toBe('GUEST');
  });

  it('RUNNABLE, MAPPED (accepted) not blocked -> TDX_GPA_RANGE_NOT_BLOCKED', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectOk(m.vcpuEnter(0));
    expectOk(m.guestAccept(0, GPA, 1));
    expectRejected(m, S.TDX_GPA_RANGE_NOT_BLOCKED, () => m.tdhMemPageRemove(GPA, 1));
  });

  it('blocked but no TRACK -> TDX_TLB_TRACKING_NOT_DONE, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectRejected(m, S.TDX_TLB_TRACKING_NOT_DONE, () => m.tdhMemPageRemove(GPA, 1));
    expect(m.septEntry(GPA, 1)!.state).toBe('PENDING_BLOCKED');
    expect(m.pamt(p).owner).toBe('GUEST');
  });

  it('a vCPU that entered before the TRACK and is still inside -> TDX_TLB_TRACKING_NOT_DONE; OK once it exits', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.vcpuEnter(0)); // epoch 1
    expectOk(m.tdhMemRangeBlock(GPA, 1)); // BEPOCH 1
    expectOk(m.tdhMemTrack()); // epoch 2; vCPU 0 still at 1
    expectRejected(m, S.TDX_TLB_TRACKING_NOT_DONE, () => m.tdhMemPageRemove(GPA, 1));
    m.vcpuExit(0);
    expectOk(m.tdhMemPageRemove(GPA, 1));
    expect(m.pamt(p).owner).toBe('NDA');
  });

  it('a vCPU that entered after the TRACK does not block removal', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expectOk(m.vcpuEnter(1)); // epoch 2 == TD_EPOCH
    expectOk(m.tdhMemPageRemove(GPA, 1));
  });

  it('BEPOCH < TD_EPOCH - 1 is tracked even with a vCPU inside at TD_EPOCH - 1', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1)); // BEPOCH 1
    expectOk(m.tdhMemTrack()); // 2
    expectOk(m.vcpuEnter(0)); // epoch 2
    expectOk(m.tdhMemTrack()); // 3; vCPU 0 now at TD_EPOCH - 1
    expect(m.vcpuEpoch(0)).toBe(2);
    expectOk(m.tdhMemPageRemove(GPA, 1));
  });

  it('BEPOCH == TD_EPOCH - 1 with a vCPU inside at that epoch is not tracked', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectOk(m.tdhMemTrack()); // 2
    expectOk(m.vcpuEnter(0)); // epoch 2
    expectOk(m.tdhMemRangeBlock(GPA, 1)); // BEPOCH 2
    expectOk(m.tdhMemTrack()); // 3
    expectRejected(m, S.TDX_TLB_TRACKING_NOT_DONE, () => m.tdhMemPageRemove(GPA, 1));
  });

  it('BLOCK + TRACK with no vCPU inside -> FREE, page -> NDA', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expectOk(m.tdhMemPageRemove(GPA, 1));
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
    expect(m.pamt(p)).toEqual({ owner: 'NDA', bepoch: null });
    expect(m.ownedByModule(p)).toBe(false);
    expect(m.septLeaves()).toEqual([]);
    expect(m.tdEpoch).toBe(2);
  });

  it('INITIALIZED: removal without BLOCK or TRACK', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 1));
    expectOk(m.tdhMemPageRemove(GPA, 1));
    expect(m.septEntry(GPA, 1)!.state).toBe('FREE');
    expect(m.pamt(p).owner).toBe('NDA');
    expect(m.tdEpoch).toBe(1);
  });

  it('FREE or non-leaf target -> TDX_EPT_ENTRY_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemPageRemove(GPA + K4, 1));
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemPageRemove(GPA, 2));
  });

  it('walk failure and bad level', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemPageRemove(GPA, 1));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageRemove(0, 4));
  });

  it('2M leaf: removal frees all 512 pages', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    const p = pf.get2M();
    expectOk(m.tdhMemPageAug(GPA, 2, p));
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expect(m.pamt(p + 7).bepoch).toBe(1);
    expectOk(m.tdhMemTrack());
    expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemPageRemove(GPA, 1));
    expectOk(m.tdhMemPageRemove(GPA, 2));
    expect(m.pamt(p).owner).toBe('NDA');
    expect(m.pamt(p + 511).owner).toBe('NDA');
    expect(m.septEntry(GPA, 2)!.state).toBe('FREE');
    expect(m.septEntry(GPA + M2, 2)!.state).toBe('FREE');
  });
});

describe('TDH.MEM.SEPT.REMOVE', () => {
  it('child page with a non-FREE entry -> TDX_EPT_PAGE_NOT_FREE, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expectOk(m.tdhMemTrack());
    expectRejected(m, S.TDX_EPT_PAGE_NOT_FREE, () => m.tdhMemSeptRemove(GPA, 2));
    expect(m.septEntry(GPA, 2)!.state).toBe('NL_BLOCKED');
  });

  it('RUNNABLE, not blocked -> TDX_GPA_RANGE_NOT_BLOCKED (checked before the children)', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectRejected(m, S.TDX_GPA_RANGE_NOT_BLOCKED, () => m.tdhMemSeptRemove(GPA, 2));
  });

  it('RUNNABLE, blocked, not tracked -> TDX_TLB_TRACKING_NOT_DONE', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA);
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expectRejected(m, S.TDX_TLB_TRACKING_NOT_DONE, () => m.tdhMemSeptRemove(GPA, 2));
  });

  it('empty child, blocked + tracked -> FREE, S-EPT page -> NDA', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    const l2 = m.septEntry(GPA, 2)!.pfn!;
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expectOk(m.tdhMemPageRemove(GPA, 1));
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expectOk(m.tdhMemTrack());
    expect(m.septPages()).toContain(l2);
    expectOk(m.tdhMemSeptRemove(GPA, 2));
    expect(m.septEntry(GPA, 2)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
    expect(m.pamt(l2)).toEqual({ owner: 'NDA', bepoch: null });
    expect(m.septPages()).not.toContain(l2);
    expect(m.septPages()).toHaveLength(2);
    expect(m.pamt(p).owner).toBe('NDA');
  });

  it('INITIALIZED: no blocking needed', () => {
    const m = mk();
    const pf = new Pfns();
    const path = buildPath(m, pf, GPA);
    expectOk(m.tdhMemSeptRemove(GPA, 2));
    expect(m.pamt(path.get(2)!).owner).toBe('NDA');
    expectRejected(m, S.TDX_EPT_PAGE_NOT_FREE, () => m.tdhMemSeptRemove(0, 4));
  });

  it('leaf or FREE target -> TDX_EPT_ENTRY_STATE_INCORRECT; level 1 -> TDX_OPERAND_INVALID', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    expectOk(m.tdhMemPageAug(GPA, 2, pf.get2M()));
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemSeptRemove(GPA, 2));
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemSeptRemove(GPA + M2, 2));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptRemove(GPA, 1));
  });
});

describe('TDH.PHYMEM.PAGE.WBINVD', () => {
  it('page still assigned -> TDX_PAGE_METADATA_INCORRECT; after REMOVE -> TDX_SUCCESS', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageWbinvd(p));
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expectOk(m.tdhMemPageRemove(GPA, 1));
    const before = JSON.stringify(m.dumpState());
    expectOk(m.tdhPhymemPageWbinvd(p));
    expect(JSON.stringify(m.dumpState())).toBe(before);
  });

  it('S-EPT page -> TDX_PAGE_METADATA_INCORRECT', () => {
    const m = mk();
    const path = buildPath(m, new Pfns(), GPA);
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageWbinvd(path.get(3)!));
  });

  it('never-used page -> TDX_SUCCESS', () => {
    const m = mk();
    expectOk(m.tdhPhymemPageWbinvd(0x42));
  });
});

describe('TDH.PHYMEM.PAGE.RECLAIM', () => {
  it('before TEARDOWN -> TDX_LIFECYCLE_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    const l2 = m.septEntry(GPA, 2)!.pfn!;
    expectRejected(m, S.TDX_LIFECYCLE_STATE_INCORRECT, () => m.tdhPhymemPageReclaim(p));
    expectRejected(m, S.TDX_LIFECYCLE_STATE_INCORRECT, () => m.tdhPhymemPageReclaim(l2));
    expect(m.pamt(p).owner).toBe('GUEST');
  });

  it('NDA page -> TDX_PAGE_METADATA_INCORRECT, before and after TEARDOWN', () => {
    const m = mk();
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageReclaim(0x77));
    expectOk(m.releaseHkid());
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageReclaim(0x77));
  });

  it('after TEARDOWN: guest page -> NDA and gone from septLeaves; reclaiming it again -> TDX_PAGE_METADATA_INCORRECT', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    buildPath(m, pf, GPA + K4);
    const q = pf.get();
    expectOk(m.tdhMemPageAug(GPA + K4, 1, q));
    expectOk(m.releaseHkid());
    expectOk(m.tdhPhymemPageReclaim(p));
    expect(m.pamt(p)).toEqual({ owner: 'NDA', bepoch: null });
    expect(m.septLeaves()).toEqual([{ gpa: GPA + K4, level: 1, state: 'PENDING', pfn: q }]);
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageReclaim(p));
  });

  it('after TEARDOWN: S-EPT page -> NDA and gone from septPages; septTree marks it while something below is held', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    const l2 = m.septEntry(GPA, 2)!.pfn!;
    expectOk(m.releaseHkid());
    expectOk(m.tdhPhymemPageReclaim(l2));
    expect(m.pamt(l2).owner).toBe('NDA');
    expect(m.septPages()).not.toContain(l2);
    expect(m.septPages()).toHaveLength(2);
    expect(m.septLeaves()).toEqual([{ gpa: GPA, level: 1, state: 'PENDING', pfn: p }]);
    const l3page = m.septTree().root.entries[0]!.child!;
    expect(l3page.entries[0]).toMatchObject({ gpa: GPA, level: 3, state: 'NL_MAPPED' });
    const l2entry = l3page.entries[0]!.child!.entries[0]!;
    expect(l2entry).toMatchObject({ gpa: GPA, level: 2, pfn: l2, reclaimed: true });
    expectOk(m.tdhPhymemPageReclaim(p));
    expect(m.septLeaves()).toEqual([]);
    // the reclaimed level-2 page's entry disappears; its (still held) parent stays, now empty
    const l2page = m.septTree().root.entries[0]!.child!.entries[0]!.child!;
    expect(l2page.entries).toEqual([]);
  });

  it('2M page: a tail pfn -> TDX_OPERAND_INVALID; the head reclaims all 512', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    const p = pf.get2M();
    expectOk(m.tdhMemPageAug(GPA, 2, p));
    expectOk(m.releaseHkid());
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhPhymemPageReclaim(p + 3));
    expectOk(m.tdhPhymemPageReclaim(p));
    expect(m.pamt(p + 3).owner).toBe('NDA');
    expect(m.pamt(p + 511).owner).toBe('NDA');
    expect(m.septLeaves()).toEqual([]);
  });
});
