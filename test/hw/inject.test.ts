import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';
import { GPA, K4, Pfns, buildPath, expectInjected, expectOk, expectRejected, mk, runnableWithAug, snap } from './helpers.ts';

describe('injectBusy', () => {
  it('the next `count` calls return TDX_OPERAND_BUSY|SEPT with no state change, then the call works', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    m.injectBusy({ kind: 'TDH.MEM.RANGE.BLOCK', count: 2 });
    expect(m.pendingInjections()).toBe(2);
    const before = JSON.stringify(m.dumpState());
    const r1 = m.tdhMemRangeBlock(GPA, 1);
    expect(r1.status).toBe(S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT);
    expect(S.isBusy(r1.status)).toBe(true);
    expect(m.pendingInjections()).toBe(1);
    const r2 = m.tdhMemRangeBlock(GPA, 1);
    expect(r2.status).toBe(S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT);
    expect(JSON.stringify(m.dumpState())).toBe(before);
    expect(m.pendingInjections()).toBe(0);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expect(m.septEntry(GPA, 1)!.state).toBe('PENDING_BLOCKED');
  });

  it('gpa filter: other GPAs are unaffected and do not consume it', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA);
    m.injectBusy({ kind: 'TDH.MEM.PAGE.AUG', gpa: GPA + K4, count: 1 });
    expectOk(m.tdhMemPageAug(GPA, 1, pf.get()));
    expect(m.pendingInjections()).toBe(1);
    const p = pf.get();
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT, () => m.tdhMemPageAug(GPA + K4, 1, p));
    expect(m.pamt(p).owner).toBe('NDA');
    expectOk(m.tdhMemPageAug(GPA + K4, 1, p));
  });

  it('kind filter: other SEAMCALLs are unaffected', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    m.injectBusy({ kind: 'TDH.MEM.PAGE.REMOVE', count: 1 });
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expect(m.pendingInjections()).toBe(1);
  });

  it('default operands: TD_EPOCH for TRACK, SEPT for VP.ENTER, TDR for FINALIZE, RCX for WBINVD; explicit operand wins', () => {
    const m = mk();
    m.injectBusy({ kind: 'TDH.MR.FINALIZE', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_TDR, () => m.tdhMrFinalize());
    expectOk(m.tdhMrFinalize());
    m.injectBusy({ kind: 'TDH.MEM.TRACK', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_TD_EPOCH, () => m.tdhMemTrack());
    m.injectBusy({ kind: 'TDH.VP.ENTER', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT, () => m.vcpuEnter(0));
    expect(m.inGuest(0)).toBe(false);
    m.injectBusy({ kind: 'TDH.PHYMEM.PAGE.WBINVD', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_RCX, () => m.tdhPhymemPageWbinvd(5));
    m.injectBusy({ kind: 'TDH.MEM.TRACK', count: 1, operand: 'RCX' });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_RCX, () => m.tdhMemTrack());
    expect(m.tdEpoch).toBe(1);
  });

  it('injections come before every rule (a call that would fail its op-state check still returns busy)', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    m.injectBusy({ kind: 'TDH.MEM.PAGE.ADD', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT, () => m.tdhMemPageAdd(GPA, 1, 2));
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.tdhMemPageAdd(GPA, 1, 2));
  });

  it('KEY.FREEID injection applies to releaseHkid', () => {
    const m = mk();
    m.injectBusy({ kind: 'TDH.MNG.KEY.FREEID', count: 1 });
    expectInjected(m, S.TDX_OPERAND_BUSY | S.OPERAND_ID_TDR, () => m.releaseHkid());
    expect(m.lifecycle).toBe('KEYS_CONFIGURED');
    expectOk(m.releaseHkid());
  });

  it('count 0 is a no-op; a negative count or unknown kind throws', () => {
    const m = mk();
    m.injectBusy({ kind: 'TDH.MEM.TRACK', count: 0 });
    expect(m.pendingInjections()).toBe(0);
    expect(() => m.injectBusy({ kind: 'TDH.MEM.TRACK', count: -1 })).toThrow(RangeError);
    // @ts-expect-error unknown kind
    expect(() => m.injectBusy({ kind: 'TDH.BOGUS', count: 1 })).toThrow(RangeError);
  });
});

describe('injectStatus', () => {
  it('the next matching call returns the status (default count 1), nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    expectOk(m.tdhMemPageRemove(GPA, 1));
    m.injectStatus({ kind: 'TDH.PHYMEM.PAGE.WBINVD', status: S.TDX_OPERAND_INVALID });
    expectInjected(m, S.TDX_OPERAND_INVALID, () => m.tdhPhymemPageWbinvd(p));
    expectOk(m.tdhPhymemPageWbinvd(p));
  });

  it('pfn filter', () => {
    const m = mk();
    m.injectStatus({ kind: 'TDH.PHYMEM.PAGE.WBINVD', status: 0xc000099900000000n, pfn: 9, count: 2 });
    expectOk(m.tdhPhymemPageWbinvd(8));
    expect(m.tdhPhymemPageWbinvd(9).status).toBe(0xc000099900000000n);
    expect(m.tdhPhymemPageWbinvd(9).status).toBe(0xc000099900000000n);
    expectOk(m.tdhPhymemPageWbinvd(9));
  });

  it('a failing RECLAIM in TEARDOWN keeps the page owned', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.releaseHkid());
    m.injectStatus({ kind: 'TDH.PHYMEM.PAGE.RECLAIM', status: S.TDX_PAGE_METADATA_INCORRECT, pfn: p });
    expectInjected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageReclaim(p));
    expect(m.pamt(p).owner).toBe('GUEST');
    expectOk(m.tdhPhymemPageReclaim(p));
    expect(m.pamt(p).owner).toBe('NDA');
  });

  it('injections of one kind are consumed in the order they were made', () => {
    const m = mk();
    m.injectStatus({ kind: 'TDH.MEM.TRACK', status: 0xc000000100000000n });
    m.injectStatus({ kind: 'TDH.MEM.TRACK', status: 0xc000000200000000n });
    expect(m.tdhMemTrack().status).toBe(0xc000000100000000n);
    expect(m.tdhMemTrack().status).toBe(0xc000000200000000n);
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
  });

  it('a success status injection still changes nothing', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    m.injectStatus({ kind: 'TDH.MEM.PAGE.ADD', status: S.TDX_SUCCESS, gpa: GPA });
    const before = snap(m);
    expectOk(m.tdhMemPageAdd(GPA, pf.get(), 1));
    expect(snap(m)).not.toBe(before); // injection consumed
    expect(m.septEntry(GPA, 1)!.state).toBe('FREE');
  });
});
