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
