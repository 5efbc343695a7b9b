import { describe, expect, it } from 'vitest';
import {
  buildMatrix, CELLS, cellContent, cellTrace, formatChangesText, formatMatrixText, matrixChanges, probeOp, summarizeProbe, type CellSpec,
} from '../../harness/matrix.ts';
import { BASE, recordWarn, sameStep, tweakedStep } from './helpers.ts';
import { runCli } from './helpers.ts';

const cell = (root: CellSpec['root'], lock: CellSpec['lock'], old: CellSpec['old'], n: CellSpec['new']): CellSpec => ({ root, lock, old, new: n });

describe('transition table cells', () => {
  it('cover old x new x lock x root once each', () => {
    expect(CELLS).toHaveLength(3 * 4 * 2 * 2);
    expect(new Set(CELLS.map((c) => `${c.root}${c.lock}${c.old}${c.new}`)).size).toBe(48);
  });

  it('probe where the old SPTE has the asked-for kind', () => {
    expect(probeOp(cell('mirror', 'read', 'leaf', 'nonpresent'))).toEqual({ op: 'probe_set_spte', root: 'mirror', gpa: '0x1000', level: 1, new: 'nonpresent', lock: 'read' });
    expect(probeOp(cell('mirror', 'write', 'nonleaf', 'frozen'))).toMatchObject({ gpa: '0x1000', level: 2 });
    expect(probeOp(cell('mirror', 'write', 'nonpresent', 'leaf'))).toMatchObject({ gpa: '0x2000', level: 1 });
    expect(probeOp(cell('direct', 'read', 'leaf', 'leaf'))).toMatchObject({ root: 'direct', gpa: '0x800000001000', level: 1 });
    const t = cellTrace(cell('direct', 'read', 'leaf', 'leaf'));
    expect(t.vm.vcpus).toBe(1);
    expect(t.vm.td).toBe('runnable');
    expect(t.threads[0]!.ops.map((o) => o.op)).toEqual(['convert_to_shared', 'fault', 'probe_set_spte']);
  });

  it('content is the probe only: the set-up SEAMCALLs are not in it', () => {
    const c = cellContent(cell('mirror', 'read', 'leaf', 'nonpresent'), BASE);
    // base: atomic zapping of a mirror leaf is refused by a KVM_BUG_ON in the TDP MMU, -EBUSY, no SEAMCALL
    expect(c.diagnostics).toEqual(['bug@__tdp_mmu_set_spte_atomic']);
    expect(c.seamcalls).toEqual([]);
    expect(c.result).toBe('-EBUSY');
    const zap = cellContent(cell('mirror', 'write', 'leaf', 'nonpresent'), BASE);
    expect(zap.seamcalls).toEqual(['MEM.RANGE.BLOCK=SUCCESS', 'MEM.TRACK=SUCCESS', 'MEM.PAGE.REMOVE=SUCCESS', 'PHYMEM.PAGE.WBINVD=SUCCESS']);
    expect(zap.seamcalls.some((s) => s.startsWith('MEM.PAGE.AUG'))).toBe(false);
  });

  it('summaries collapse repeats and name the end of the replay', () => {
    const s = summarizeProbe([
      { kind: 'lockdep', site: 'f', cond: 'x' },
      { kind: 'bug', site: 'g', cond: 'y', silent: false },
      { kind: 'lockdep', site: 'f', cond: 'x' },
      { kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', status: 'TDX_SUCCESS' },
      { kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', status: 'TDX_SUCCESS' },
      { kind: 'crash', site: 'h', cond: 'z' },
      { kind: 'end', end: 'crash' },
    ], 'probe_set_spte#1');
    expect(s.diagnostics).toEqual(['lockdep@f x2', 'bug@g']);
    expect(s.seamcalls).toEqual(['MEM.RANGE.BLOCK=SUCCESS x2']);
    expect(s.end).toBe('BUG()');
    expect(s.text).toBe('ret=-; BUG(); lockdep@f x2, bug@g; MEM.RANGE.BLOCK=SUCCESS x2');
  });
});

describe('matrix over steps', () => {
  const cells = [cell('mirror', 'read', 'leaf', 'nonpresent'), cell('direct', 'read', 'leaf', 'nonpresent')];
  // step 2 WARNs on every mirror probe: only the mirror cell changes, at step 2
  const steps = [BASE, sameStep(1), tweakedStep(2, [], (op) => {
    if (op.op === 'probe_set_spte' && op.root === 'mirror') recordWarn('syn_probe', 'x');
  })];

  it('lists only the cells that change from one step to the next', () => {
    const m = buildMatrix(steps, cells);
    expect(m.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    const ch = matrixChanges(m);
    expect(ch).toHaveLength(1);
    expect(ch[0]!.step).toBe(2);
    expect(ch[0]!.base).toBe(1);
    expect(ch[0]!.cell).toEqual(cells[0]);
    expect(ch[0]!.after.diagnostics).toEqual(['bug@__tdp_mmu_set_spte_atomic', 'warn@syn_probe']);
    const text = formatChangesText(m, ch);
    expect(text).toContain('== step 01 -> 02: synthetic step 2');
    expect(text).toContain('mirror read leaf -> nonpresent');
    expect(text).toMatch(/^ {2}\+ ret=-EBUSY; bug@__tdp_mmu_set_spte_atomic, warn@syn_probe$/m);
    const table = formatMatrixText(m);
    expect(table.split('\n').every((l) => l.length <= 80)).toBe(true);
    expect(table).toMatch(/^ {2}leaf {7}-> nonpresent ret=-EBUSY; bug@__tdp_mmu_set_spte_atomic,\n {28}warn@syn_probe \*$/m);
    expect(table.match(/ \*$/gm)).toHaveLength(1);
    expect(table).not.toContain('exclusive (write) lock');
  });

  it('matrix --changes --json over the CLI', async () => {
    const r = await runCli(['matrix', '--changes', '--json'], [BASE, sameStep(1)]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { steps: unknown[]; changes: unknown[] };
    expect(j.steps).toHaveLength(2);
    expect(j.changes).toEqual([]);
  });
});
