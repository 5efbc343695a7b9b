import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';
import { TdxModule } from '../../src/hw/tdx_module.ts';
import { G1, GPA, K4, M2, Pfns, buildPath, expectOk, mk, runnableWithAug, snap } from './helpers.ts';

describe('TDH.VP.ENTER / exit', () => {
  it('enter puts the vCPU inside with epoch TD_EPOCH; exit takes it out', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemTrack());
    expect(m.inGuest(0)).toBe(false);
    expectOk(m.vcpuEnter(0));
    expect(m.inGuest(0)).toBe(true);
    expect(m.vcpuEpoch(0)).toBe(2);
    expect(m.inGuest(1)).toBe(false);
    m.vcpuExit(0);
    expect(m.inGuest(0)).toBe(false);
    expect(m.vcpuEpoch(0)).toBeNull();
  });

  it('entering twice -> TDX_VCPU_STATE_INCORRECT, epoch kept', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.vcpuEnter(0));
    expectOk(m.tdhMemTrack());
    const before = snap(m);
    expect(m.vcpuEnter(0).status).toBe(S.TDX_VCPU_STATE_INCORRECT);
    expect(snap(m)).toBe(before);
    expect(m.vcpuEpoch(0)).toBe(1);
  });

  it('exit when outside is a no-op', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    const before = snap(m);
    m.vcpuExit(1);
    expect(snap(m)).toBe(before);
  });

  it('vCPU index out of range throws', () => {
    const m = mk();
    expect(() => m.vcpuEnter(2)).toThrow(RangeError);
    expect(() => m.inGuest(-1)).toThrow(RangeError);
  });
});

describe('TDG.MEM.PAGE.ACCEPT', () => {
  const setup = () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.vcpuEnter(0));
    return { m, pf, p };
  };

  it('PENDING -> MAPPED', () => {
    const { m, p } = setup();
    const r = m.guestAccept(0, GPA, 1);
    expect(r.status).toBe(S.TDX_SUCCESS);
    expect(r.eptViolation).toBe(false);
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'MAPPED', pfn: p, bepoch: null });
    expect(m.inGuest(0)).toBe(true);
  });

  it('already MAPPED -> TDX_PAGE_ALREADY_ACCEPTED, nothing changes', () => {
    const { m } = setup();
    expectOk(m.guestAccept(0, GPA, 1));
    const before = snap(m);
    const r = m.guestAccept(0, GPA, 1);
    expect(r.status).toBe(S.TDX_PAGE_ALREADY_ACCEPTED);
    expect(r.eptViolation).toBe(false);
    expect(snap(m)).toBe(before);
  });

  it('FREE entry -> EPT violation: the vCPU exits, the tree does not change', () => {
    const { m } = setup();
    const tree = JSON.stringify(m.septTree());
    const r = m.guestAccept(0, GPA + K4, 1);
    expect(r.eptViolation).toBe(true);
    expect(r.status).toBe(S.TDX_SUCCESS);
    expect(m.inGuest(0)).toBe(false);
    expect(JSON.stringify(m.septTree())).toBe(tree);
  });

  it('PENDING_BLOCKED entry -> EPT violation, stays PENDING_BLOCKED', () => {
    const { m } = setup();
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    const r = m.guestAccept(0, GPA, 1);
    expect(r.eptViolation).toBe(true);
    expect(m.septEntry(GPA, 1)!.state).toBe('PENDING_BLOCKED');
  });

  it('BLOCKED entry -> EPT violation', () => {
    const { m } = setup();
    expectOk(m.guestAccept(0, GPA, 1));
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expect(m.guestAccept(0, GPA, 1).eptViolation).toBe(true);
    expect(m.septEntry(GPA, 1)!.state).toBe('BLOCKED');
  });

  it('missing S-EPT level -> EPT violation', () => {
    const { m } = setup();
    expect(m.guestAccept(0, 5 * G1, 1).eptViolation).toBe(true);
  });

  it('2M: ACCEPT of the 2M PENDING leaf -> MAPPED; a 4K ACCEPT inside a MAPPED 2M leaf -> ALREADY_ACCEPTED', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    const p = pf.get2M();
    expectOk(m.tdhMemPageAug(GPA, 2, p));
    expectOk(m.vcpuEnter(1));
    // 4K accept inside a PENDING 2M leaf: not guest accessible -> violation
    expect(m.guestAccept(1, GPA + K4, 1).eptViolation).toBe(true);
    expectOk(m.vcpuEnter(1));
    expectOk(m.guestAccept(1, GPA, 2));
    expect(m.septLeaves()).toEqual([{ gpa: GPA, level: 2, state: 'MAPPED', pfn: p }]);
    expect(m.guestAccept(1, GPA + K4, 1).status).toBe(S.TDX_PAGE_ALREADY_ACCEPTED);
  });

  it('2M ACCEPT where 4K pages are mapped -> TDX_PAGE_SIZE_MISMATCH', () => {
    const { m } = setup();
    const before = snap(m);
    const r = m.guestAccept(0, GPA, 2);
    expect(r.status).toBe(S.TDX_PAGE_SIZE_MISMATCH);
    expect(r.eptViolation).toBe(false);
    expect(snap(m)).toBe(before);
  });

  it('bad level / misaligned -> TDX_OPERAND_INVALID', () => {
    const { m } = setup();
    expect(m.guestAccept(0, GPA, 3).status).toBe(S.TDX_OPERAND_INVALID);
    expect(m.guestAccept(0, GPA + K4, 2).status).toBe(S.TDX_OPERAND_INVALID);
    expect(m.inGuest(0)).toBe(true);
  });

  it('from a vCPU outside the guest -> TDX_VCPU_STATE_INCORRECT, nothing changes', () => {
    const { m } = setup();
    const before = snap(m);
    expect(m.guestAccept(1, GPA, 1).status).toBe(S.TDX_VCPU_STATE_INCORRECT);
    expect(snap(m)).toBe(before);
  });

  it('injected busy (entry locked) -> TDX_OPERAND_BUSY|RCX, no change', () => {
    const { m } = setup();
    m.injectBusy({ kind: 'TDG.MEM.PAGE.ACCEPT', gpa: GPA, count: 1 });
    const r = m.guestAccept(0, GPA, 1);
    expect(r.status).toBe(S.TDX_OPERAND_BUSY | S.OPERAND_ID_RCX);
    expect(r.eptViolation).toBe(false);
    expect(m.septEntry(GPA, 1)!.state).toBe('PENDING');
    expectOk(m.guestAccept(0, GPA, 1));
  });
});

describe('inspection', () => {
  it('pamt of an unknown pfn is NDA', () => {
    const m = mk();
    expect(m.pamt(123456)).toEqual({ owner: 'NDA', bepoch: null });
    expect(m.ownedByModule(123456)).toBe(false);
  });

  it('septLeaves are sorted by gpa and cover every non-FREE leaf', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    const gpas = [3 * G1 + M2, GPA + 2 * K4, GPA];
    const pfns: number[] = [];
    for (const g of gpas) {
      buildPath(m, pf, g);
      const p = pf.get();
      pfns.push(p);
      expectOk(m.tdhMemPageAug(g, 1, p));
    }
    expectOk(m.tdhMemRangeBlock(GPA + 2 * K4, 1));
    expect(m.septLeaves()).toEqual([
      { gpa: GPA, level: 1, state: 'PENDING', pfn: pfns[2] },
      { gpa: GPA + 2 * K4, level: 1, state: 'PENDING_BLOCKED', pfn: pfns[1] },
      { gpa: 3 * G1 + M2, level: 1, state: 'PENDING', pfn: pfns[0] },
    ]);
  });

  it('septTree is the full non-FREE picture with BEPOCH on blocked entries', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemSeptAdd(0, 4, 10));
    expectOk(m.tdhMemSeptAdd(GPA, 3, 11));
    expectOk(m.tdhMemSeptAdd(GPA, 2, 12));
    expectOk(m.tdhMemPageAug(GPA + K4, 1, 20));
    expectOk(m.tdhMemRangeBlock(GPA + K4, 1));
    expect(m.septTree()).toEqual({
      rootLevel: 4,
      root: {
        pfn: null, level: 4, gpa: 0, entries: [{
          gpa: 0, level: 4, state: 'NL_MAPPED', pfn: 10, child: {
            pfn: 10, level: 3, gpa: 0, entries: [{
              gpa: G1, level: 3, state: 'NL_MAPPED', pfn: 11, child: {
                pfn: 11, level: 2, gpa: G1, entries: [{
                  gpa: G1, level: 2, state: 'NL_MAPPED', pfn: 12, child: {
                    pfn: 12, level: 1, gpa: G1, entries: [
                      { gpa: G1 + K4, level: 1, state: 'PENDING_BLOCKED', pfn: 20, bepoch: 1 },
                    ],
                  },
                }],
              },
            }],
          },
        }],
      },
    });
    expect(m.septPages()).toEqual([10, 11, 12]);
  });

  it('inspection has no side effects', () => {
    const { m } = (() => {
      const m = mk();
      runnableWithAug(m, new Pfns());
      m.injectBusy({ kind: 'TDH.MEM.TRACK', count: 1 });
      return { m };
    })();
    const before = snap(m);
    m.septLeaves();
    m.septTree();
    m.septPages();
    m.pamt(1);
    m.ownedByModule(1);
    m.septEntry(GPA, 1);
    m.dumpState();
    expect(snap(m)).toBe(before);
    expect(m.pendingInjections()).toBe(1);
  });

  it('is deterministic: the same calls give the same state', () => {
    const run = (): string => {
      const m = new TdxModule({ rootLevel: 5, nrVcpus: 3 });
      const pf = new Pfns(0x500);
      buildPath(m, pf, GPA);
      expectOk(m.tdhMemPageAdd(GPA, pf.get(), 1));
      expectOk(m.tdhMrFinalize());
      expectOk(m.vcpuEnter(2));
      expectOk(m.tdhMemTrack());
      expectOk(m.tdhMemRangeBlock(GPA, 1));
      return JSON.stringify(m.dumpState());
    };
    expect(run()).toBe(run());
  });
});
