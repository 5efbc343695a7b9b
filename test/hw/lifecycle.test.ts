import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';
import type { SeamcallOut } from '../../src/hw/tdx_module.ts';
import { GPA, K4, Pfns, buildPath, expectOk, expectRejected, mk, runnableWithAug, snap } from './helpers.ts';

describe('op state', () => {
  it('starts INITIALIZED / KEYS_CONFIGURED with TD_EPOCH 1 and an empty tree', () => {
    const m = mk();
    expect(m.opState).toBe('INITIALIZED');
    expect(m.lifecycle).toBe('KEYS_CONFIGURED');
    expect(m.tdEpoch).toBe(1);
    expect(m.septLeaves()).toEqual([]);
    expect(m.septPages()).toEqual([]);
    expect(m.septTree()).toEqual({ rootLevel: 4, root: { pfn: null, level: 4, gpa: 0, entries: [] } });
  });

  it('FINALIZE: INITIALIZED -> RUNNABLE', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expect(m.opState).toBe('RUNNABLE');
    expect(m.tdEpoch).toBe(1);
  });

  it('FINALIZE when RUNNABLE -> TDX_OP_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.tdhMrFinalize());
    expect(m.opState).toBe('RUNNABLE');
  });

  it('PAGE.ADD when RUNNABLE -> TDX_OP_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    expectOk(m.tdhMrFinalize());
    const p = pf.get();
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.tdhMemPageAdd(GPA, p, pf.get()));
    expect(m.pamt(p).owner).toBe('NDA');
    expect(m.septEntry(GPA, 1)!.state).toBe('FREE');
  });

  it('PAGE.AUG when INITIALIZED -> TDX_OP_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.tdhMemPageAug(GPA, 1, p));
    expect(m.pamt(p).owner).toBe('NDA');
  });

  it('TRACK while INITIALIZED is accepted by the real module (epoch += 1)', () => {
    const m = mk();
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
  });

  it('TRACK while INITIALIZED with trackRequiresRunnable -> TDX_OP_STATE_INCORRECT, nothing changes', () => {
    const m = mk({ trackRequiresRunnable: true });
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.tdhMemTrack());
    expect(m.tdEpoch).toBe(1);
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(2);
  });

  it('VP.ENTER while INITIALIZED -> TDX_OP_STATE_INCORRECT, vCPU stays outside', () => {
    const m = mk();
    expectRejected(m, S.TDX_OP_STATE_INCORRECT, () => m.vcpuEnter(0));
    expect(m.inGuest(0)).toBe(false);
  });

  it('SEPT.ADD, RANGE.BLOCK and PAGE.REMOVE are allowed while INITIALIZED', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 1));
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemPageRemove(GPA, 1));
    expect(m.pamt(p).owner).toBe('NDA');
  });
});

describe('lifecycle / release HKID', () => {
  it('releaseHkid -> TEARDOWN', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.releaseHkid());
    expect(m.lifecycle).toBe('TEARDOWN');
    expect(m.opState).toBe('RUNNABLE');
  });

  it('releaseHkid twice -> TDX_LIFECYCLE_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    expectOk(m.releaseHkid());
    expectRejected(m, S.TDX_LIFECYCLE_STATE_INCORRECT, () => m.releaseHkid());
    expect(m.lifecycle).toBe('TEARDOWN');
  });

  it('releaseHkid with a vCPU in the guest -> TDX_FLUSHVP_NOT_DONE; succeeds after the vCPU exits', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.vcpuEnter(1));
    expectRejected(m, S.TDX_FLUSHVP_NOT_DONE, () => m.releaseHkid());
    expect(m.lifecycle).toBe('KEYS_CONFIGURED');
    m.vcpuExit(1);
    expectOk(m.releaseHkid());
    expect(m.lifecycle).toBe('TEARDOWN');
  });

  describe('after TEARDOWN every TD-scoped SEAMCALL fails with TDX_TD_KEYS_NOT_CONFIGURED and changes nothing', () => {
    const setup = () => {
      const m = mk();
      const pf = new Pfns();
      const pending = runnableWithAug(m, pf);
      expectOk(m.tdhMemRangeBlock(GPA, 1));
      expectOk(m.releaseHkid());
      return { m, pf, pending };
    };
    const calls: [string, (c: ReturnType<typeof setup>) => SeamcallOut][] = [
      ['PAGE.ADD', ({ m, pf }) => m.tdhMemPageAdd(GPA + K4, pf.get(), 1)],
      ['SEPT.ADD', ({ m, pf }) => m.tdhMemSeptAdd(0x80000000, 2, pf.get())],
      ['PAGE.AUG', ({ m, pf }) => m.tdhMemPageAug(GPA + K4, 1, pf.get())],
      ['RANGE.BLOCK', ({ m }) => m.tdhMemRangeBlock(GPA, 2)],
      ['TRACK', ({ m }) => m.tdhMemTrack()],
      ['PAGE.REMOVE', ({ m }) => m.tdhMemPageRemove(GPA, 1)],
      ['SEPT.REMOVE', ({ m }) => m.tdhMemSeptRemove(GPA, 2)],
      ['PHYMEM.PAGE.WBINVD', ({ m }) => m.tdhPhymemPageWbinvd(0x5)],
      ['MR.FINALIZE', ({ m }) => m.tdhMrFinalize()],
      ['VP.ENTER', ({ m }) => m.vcpuEnter(0)],
    ];
    for (const [name, call] of calls) {
      it(name, () => {
        const c = setup();
        expectRejected(c.m, S.TDX_TD_KEYS_NOT_CONFIGURED, () => call(c));
        expect(c.m.septEntry(GPA, 1)!.state).toBe('PENDING_BLOCKED');
        expect(c.m.pamt(c.pending).owner).toBe('GUEST');
      });
    }
  });

  it('after TEARDOWN the tree is kept until pages are reclaimed', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    const before = JSON.stringify(m.septTree());
    expectOk(m.releaseHkid());
    expect(JSON.stringify(m.septTree())).toBe(before);
    expect(m.septLeaves()).toEqual([{ gpa: GPA, level: 1, state: 'PENDING', pfn: p }]);
    expect(snap(m)).toContain('"lifecycle":"TEARDOWN"');
  });
});

describe('TD control pages (TDR, TDCS, TDVPR, TDCX)', () => {
  function withControlPages(): { m: ReturnType<typeof mk>; tdr: number; tdcs: number; tdvpr: number } {
    const m = mk();
    const tdr = 0x5000, tdcs = 0x5001, tdvpr = 0x5002;
    expectOk(m.addControlPage(tdr, 'TDR'));
    expectOk(m.addControlPage(tdcs, 'TDCS'));
    expectOk(m.addControlPage(tdvpr, 'TDVPR'));
    return { m, tdr, tdcs, tdvpr };
  }

  it('a control page must be NDA, and the TDR comes first', () => {
    const m = mk();
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.addControlPage(0x5001, 'TDCS'));
    expectOk(m.addControlPage(0x5000, 'TDR'));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.addControlPage(0x5000, 'TDCX'));
    expect(m.pamt(0x5000).owner).toBe('TDR');
    expect(m.ownedByModule(0x5000)).toBe(true);
  });

  it('RECLAIM of a control page before TEARDOWN -> TDX_LIFECYCLE_STATE_INCORRECT', () => {
    const { m, tdcs, tdr } = withControlPages();
    expectRejected(m, S.TDX_LIFECYCLE_STATE_INCORRECT, () => m.tdhPhymemPageReclaim(tdcs));
    expectRejected(m, S.TDX_LIFECYCLE_STATE_INCORRECT, () => m.tdhPhymemPageReclaim(tdr));
  });

  it('RECLAIM of the TDR while the TD owns another page -> TDX_TD_ASSOCIATED_PAGES_EXIST; last, it succeeds', () => {
    const { m, tdr, tdcs, tdvpr } = withControlPages();
    expectOk(m.releaseHkid());
    expectRejected(m, S.TDX_TD_ASSOCIATED_PAGES_EXIST, () => m.tdhPhymemPageReclaim(tdr));
    expectOk(m.tdhPhymemPageReclaim(tdcs));
    expectRejected(m, S.TDX_TD_ASSOCIATED_PAGES_EXIST, () => m.tdhPhymemPageReclaim(tdr));
    expectOk(m.tdhPhymemPageReclaim(tdvpr));
    expectOk(m.tdhPhymemPageReclaim(tdr));
    expect(m.ownedByModule(tdr)).toBe(false);
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageReclaim(tdr));
  });

  it('WBINVD with the global KeyID needs an NDA page, whatever the lifecycle', () => {
    const { m, tdr, tdcs, tdvpr } = withControlPages();
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhPhymemPageWbinvdGlobal(tdr));
    expectOk(m.tdhPhymemPageWbinvdGlobal(0x6000));
    expectOk(m.releaseHkid());
    for (const p of [tdcs, tdvpr, tdr]) expectOk(m.tdhPhymemPageReclaim(p));
    expectOk(m.tdhPhymemPageWbinvdGlobal(tdr));
    // the TD's own key is gone: WBINVD keyed with it is refused (simulator rule)
    expectRejected(m, S.TDX_TD_KEYS_NOT_CONFIGURED, () => m.tdhPhymemPageWbinvd(tdr));
  });

  it('an injection restricted to a PAMT type hits only calls on such a page', () => {
    const { m, tdcs } = withControlPages();
    expectOk(m.releaseHkid());
    m.injectStatus({ kind: 'TDH.PHYMEM.PAGE.RECLAIM', status: S.TDX_PAGE_METADATA_INCORRECT, owner: 'TDVPR' });
    expectOk(m.tdhPhymemPageReclaim(tdcs));
    expect(m.pendingInjections()).toBe(1);
    expect(m.tdhPhymemPageReclaim(0x5002).status).toBe(S.TDX_PAGE_METADATA_INCORRECT);
    expect(m.pendingInjections()).toBe(0);
  });
});
