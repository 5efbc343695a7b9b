import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';
import { TdxModule } from '../../src/hw/tdx_module.ts';
import { G1, GPA, K4, M2, Pfns, buildPath, expectOk, expectRejected, mk, runnableWithAug } from './helpers.ts';

describe('TDH.MEM.SEPT.ADD', () => {
  it('FREE -> NL_MAPPED pointing at the donated page; page NDA -> SEPT', () => {
    const m = mk();
    expect(m.septEntry(0, 4)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
    expect(m.pamt(0x100)).toEqual({ owner: 'NDA', bepoch: null });
    expectOk(m.tdhMemSeptAdd(0, 4, 0x100));
    expect(m.septEntry(0, 4)).toEqual({ state: 'NL_MAPPED', pfn: 0x100, bepoch: null });
    expect(m.pamt(0x100)).toEqual({ owner: 'SEPT', bepoch: null });
    expect(m.ownedByModule(0x100)).toBe(true);
    expect(m.septPages()).toEqual([0x100]);
    // the new page is all FREE, one level down
    expect(m.septEntry(0, 3)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
    expect(m.septEntry(G1 * 5, 3)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
  });

  it('builds a full path to a 4K entry', () => {
    const m = mk();
    const path = buildPath(m, new Pfns(), GPA);
    expect([...path.keys()]).toEqual([4, 3, 2]);
    expect(m.septPages()).toEqual([...path.values()].sort((a, b) => a - b));
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'FREE', pfn: null, bepoch: null });
  });

  it('walk failure: missing upper level -> TDX_EPT_WALK_FAILED with the stopping entry in rcx/rdx, nothing changes', () => {
    const m = mk();
    const r = expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemSeptAdd(GPA, 2, 0x200));
    expect(r.rcx).toBe(0n); // FREE entry
    expect(r.rdx).toBe((0x0en << 8n) | 3n); // FREE encoding, module level 3 (KVM level 4)
    expect(m.pamt(0x200).owner).toBe('NDA');
  });

  it('walk failure: NL_BLOCKED upper level -> TDX_EPT_WALK_FAILED', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA, 2); // levels 4 and 3
    const l3 = m.septEntry(0, 4)!.pfn!;
    expectOk(m.tdhMemRangeBlock(0, 4));
    const r = expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemSeptAdd(GPA, 2, pf.get()));
    expect(r.rcx).toBe(BigInt(l3) << 12n);
    expect(r.rdx).toBe((0x08n << 8n) | 3n);
  });

  it('entry already NL_MAPPED -> TDX_EPT_ENTRY_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    expectOk(m.tdhMemSeptAdd(0, 4, 0x100));
    const r = expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemSeptAdd(0, 4, 0x101));
    expect(r.rcx).toBe(0x100n << 12n);
    expect(r.rdx).toBe(3n); // NL_MAPPED encoding 0, module level 3
    expect(m.pamt(0x101).owner).toBe('NDA');
  });

  it('entry is a leaf -> TDX_EPT_ENTRY_STATE_INCORRECT', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA, 2);
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemPageAug(GPA, 2, pf.get2M()));
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemSeptAdd(GPA, 2, pf.get()));
  });

  it('donated page not NDA (S-EPT page / guest page) -> TDX_PAGE_METADATA_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const path = buildPath(m, pf, GPA);
    const g = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, g, 1));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemSeptAdd(G1 * 2, 3, path.get(2)!));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemSeptAdd(G1 * 2, 3, g));
    expect(m.septEntry(G1 * 2, 3)!.state).toBe('FREE');
  });

  it('bad level / misaligned / shared GPA / bad pfn -> TDX_OPERAND_INVALID, nothing changes', () => {
    const m = mk();
    expectOk(m.tdhMemSeptAdd(0, 4, 0x100));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptAdd(0, 1, 0x101));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptAdd(0, 5, 0x101));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptAdd(K4, 3, 0x101));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptAdd(2 ** 47, 4, 0x101));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemSeptAdd(0, 3, -1));
  });

  it('5-level root accepts level 5', () => {
    const m = new TdxModule({ rootLevel: 5, nrVcpus: 1 });
    expectOk(m.tdhMemSeptAdd(0, 5, 0x100));
    expectOk(m.tdhMemSeptAdd(0, 4, 0x101));
    expect(m.septTree().root.entries[0]!.child!.entries[0]).toEqual({
      gpa: 0, level: 4, state: 'NL_MAPPED', pfn: 0x101, child: { pfn: 0x101, level: 3, gpa: 0, entries: [] },
    });
    expect(m.septPages()).toEqual([0x100, 0x101]);
  });

  it('is allowed while RUNNABLE', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemSeptAdd(0, 4, 0x100));
    expect(m.septPages()).toEqual([0x100]);
  });
});

describe('TDH.MEM.PAGE.ADD', () => {
  it('4K FREE -> MAPPED; page NDA -> GUEST', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 7));
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'MAPPED', pfn: p, bepoch: null });
    expect(m.pamt(p)).toEqual({ owner: 'GUEST', bepoch: null });
    expect(m.septLeaves()).toEqual([{ gpa: GPA, level: 1, state: 'MAPPED', pfn: p }]);
    expect(m.pamt(7).owner).toBe('NDA'); // source untouched
  });

  it('no source page -> TDX_OPERAND_INVALID, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAdd(GPA, p, null));
    expect(m.pamt(p).owner).toBe('NDA');
  });

  it('TD-owned source page -> TDX_OPERAND_INVALID', () => {
    const m = mk();
    const pf = new Pfns();
    const path = buildPath(m, pf, GPA);
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAdd(GPA, pf.get(), path.get(2)!));
  });

  it('target page not NDA -> TDX_PAGE_METADATA_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const path = buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 1));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemPageAdd(GPA + K4, p, 1));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemPageAdd(GPA + K4, path.get(3)!, 1));
  });

  it('entry not FREE -> TDX_EPT_ENTRY_STATE_INCORRECT with the entry in rcx/rdx', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 1));
    const r = expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemPageAdd(GPA, pf.get(), 1));
    expect(r.rcx).toBe(BigInt(p) << 12n);
    expect(r.rdx).toBe(0x60n << 8n); // MAPPED, module level 0
  });

  it('missing level-2 S-EPT page -> TDX_EPT_WALK_FAILED', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA, 2); // no page for 4K entries
    const r = expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemPageAdd(GPA, pf.get(), 1));
    expect(r.rdx).toBe((0x0en << 8n) | 1n); // stopped at a FREE level-2 entry
  });

  it('misaligned GPA -> TDX_OPERAND_INVALID', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAdd(GPA + 1, pf.get(), 1));
  });
});

describe('TDH.MEM.PAGE.AUG', () => {
  it('FREE -> PENDING; page NDA -> GUEST', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'PENDING', pfn: p, bepoch: null });
    expect(m.pamt(p)).toEqual({ owner: 'GUEST', bepoch: null });
  });

  it('page not NDA -> TDX_PAGE_METADATA_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    const sept = m.septEntry(GPA, 2)!.pfn!;
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemPageAug(GPA + K4, 1, p));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemPageAug(GPA + K4, 1, sept));
    expect(m.septEntry(GPA + K4, 1)!.state).toBe('FREE');
  });

  it('entry not FREE -> TDX_EPT_ENTRY_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    runnableWithAug(m, pf);
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemPageAug(GPA, 1, pf.get()));
    // an NL_MAPPED entry at level 2
    expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemPageAug(GPA, 2, pf.get2M()));
  });

  it('missing S-EPT page -> TDX_EPT_WALK_FAILED', () => {
    const m = mk();
    expectOk(m.tdhMrFinalize());
    expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemPageAug(GPA, 1, 0x300));
  });

  it('2M: level-2 FREE -> PENDING leaf over 512 GUEST pages', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    const p = pf.get2M();
    expectOk(m.tdhMemPageAug(GPA, 2, p));
    expect(m.septLeaves()).toEqual([{ gpa: GPA, level: 2, state: 'PENDING', pfn: p }]);
    expect(m.pamt(p).owner).toBe('GUEST');
    expect(m.pamt(p + 511).owner).toBe('GUEST');
    expect(m.pamt(p + 512).owner).toBe('NDA');
    // a 4K walk under the 2M leaf fails
    expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemPageAug(GPA + K4, 1, pf.get()));
  });

  it('2M: misaligned pfn or level 3 -> TDX_OPERAND_INVALID; a used pfn in the range -> TDX_PAGE_METADATA_INCORRECT', () => {
    const m = mk();
    const pf = new Pfns();
    expectOk(m.tdhMrFinalize());
    buildPath(m, pf, GPA, 2);
    const p = pf.get2M();
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAug(GPA, 2, p + 1));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAug(GPA + M2 / 2, 2, p));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemPageAug(0, 3, p));
    buildPath(m, pf, GPA + M2, 1);
    expectOk(m.tdhMemPageAug(GPA + M2, 1, p + 100));
    expectRejected(m, S.TDX_PAGE_METADATA_INCORRECT, () => m.tdhMemPageAug(GPA, 2, p));
  });
});

describe('TDH.MEM.RANGE.BLOCK', () => {
  it('MAPPED -> BLOCKED, BEPOCH := TD_EPOCH in entry and PAMT', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const p = pf.get();
    expectOk(m.tdhMemPageAdd(GPA, p, 1));
    expectOk(m.tdhMrFinalize());
    expectOk(m.tdhMemTrack());
    expectOk(m.tdhMemTrack());
    expect(m.tdEpoch).toBe(3);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'BLOCKED', pfn: p, bepoch: 3 });
    expect(m.pamt(p)).toEqual({ owner: 'GUEST', bepoch: 3 });
    expect(m.tdEpoch).toBe(3);
  });

  it('PENDING -> PENDING_BLOCKED', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expect(m.septEntry(GPA, 1)).toEqual({ state: 'PENDING_BLOCKED', pfn: p, bepoch: 1 });
  });

  it('NL_MAPPED -> NL_BLOCKED, BEPOCH recorded on the S-EPT page', () => {
    const m = mk();
    const pf = new Pfns();
    const path = buildPath(m, pf, GPA);
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expect(m.septEntry(GPA, 2)).toEqual({ state: 'NL_BLOCKED', pfn: path.get(2)!, bepoch: 1 });
    expect(m.pamt(path.get(2)!)).toEqual({ owner: 'SEPT', bepoch: 1 });
    // the blocked level is no longer walkable
    expect(m.septEntry(GPA, 1)).toBeNull();
  });

  it('already blocked -> TDX_GPA_RANGE_ALREADY_BLOCKED (not an error), BEPOCH kept', () => {
    const m = mk();
    const pf = new Pfns();
    const p = runnableWithAug(m, pf);
    expectOk(m.tdhMemRangeBlock(GPA, 1));
    expectOk(m.tdhMemTrack());
    const r = expectRejected(m, S.TDX_GPA_RANGE_ALREADY_BLOCKED, () => m.tdhMemRangeBlock(GPA, 1));
    expect(S.isError(r.status)).toBe(false);
    expect(r.rcx).toBe(BigInt(p) << 12n);
    expect(r.rdx).toBe(0x78n << 8n);
    expect(m.pamt(p).bepoch).toBe(1);
    // NL_BLOCKED too
    expectOk(m.tdhMemRangeBlock(GPA, 2));
    expectRejected(m, S.TDX_GPA_RANGE_ALREADY_BLOCKED, () => m.tdhMemRangeBlock(GPA, 2));
  });

  it('FREE entry -> TDX_EPT_ENTRY_STATE_INCORRECT, nothing changes', () => {
    const m = mk();
    const pf = new Pfns();
    buildPath(m, pf, GPA);
    const r = expectRejected(m, S.TDX_EPT_ENTRY_STATE_INCORRECT, () => m.tdhMemRangeBlock(GPA, 1));
    expect(r.rdx).toBe(0x0en << 8n);
  });

  it('walk failure -> TDX_EPT_WALK_FAILED; bad level -> TDX_OPERAND_INVALID', () => {
    const m = mk();
    expectRejected(m, S.TDX_EPT_WALK_FAILED, () => m.tdhMemRangeBlock(GPA, 1));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemRangeBlock(GPA, 0));
    expectRejected(m, S.TDX_OPERAND_INVALID, () => m.tdhMemRangeBlock(GPA, 5));
  });
});
