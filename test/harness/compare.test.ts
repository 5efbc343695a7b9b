import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare, compareObservations, diffKeyed, finalEvents, sameBehaviour, sameValue } from '../../harness/compare.ts';
import { obs, result, seamcall, warn } from './helpers.ts';

describe('compareObservations', () => {
  it('a changed SEAMCALL status is one removed and one added event in the functional layer', () => {
    const a = obs([seamcall('TDX_SUCCESS'), result('RET_PF_FIXED')]);
    const b = obs([seamcall('TDX_OPERAND_BUSY'), result('RET_PF_FIXED')]);
    const d = compareObservations(a, b);
    expect(d).toEqual([
      { layer: 'functional', side: 'removed', event: seamcall('TDX_SUCCESS') },
      { layer: 'functional', side: 'added', event: seamcall('TDX_OPERAND_BUSY') },
    ]);
  });

  it('a new WARN is one added event in the diagnostic layer, nothing functional', () => {
    const a = obs([seamcall('TDX_SUCCESS')]);
    const b = obs([seamcall('TDX_SUCCESS'), warn('handle_changed_spte')]);
    expect(compareObservations(a, b)).toEqual([{ layer: 'diagnostic', side: 'added', event: warn('handle_changed_spte') }]);
    expect(compareObservations(a, b, { layer: 'functional' })).toEqual([]);
    expect(sameBehaviour(a, b, 'functional')).toBe(true);
    expect(sameBehaviour(a, b)).toBe(false);
  });

  it('identical observations give no difference', () => {
    const a = obs([seamcall('TDX_SUCCESS'), warn('x'), result('0')]);
    expect(compareObservations(a, structuredClone(a))).toEqual([]);
  });

  it('counts silent firings and the thread', () => {
    const a = obs([warn('f', 'c', false)]);
    expect(compareObservations(a, obs([warn('f', 'c', true)])).map((d) => [d.layer, d.side])).toEqual([['diagnostic', 'removed'], ['diagnostic', 'added']]);
    const moved = obs([{ ...seamcall('TDX_SUCCESS'), thread: 'host' }]);
    expect(compareObservations(obs([seamcall('TDX_SUCCESS')]), moved)).toHaveLength(2);
  });

  it('a moved event is removed where it was and added where it is', () => {
    const a = obs([result('0', { op: 'a#0' }), warn('w'), result('0', { op: 'b#1' })]);
    const b = obs([result('0', { op: 'a#0' }), result('0', { op: 'b#1' }), warn('w')]);
    // the diagnostic layer alone is the same (one WARN), the order across layers is not compared
    expect(compareObservations(a, b)).toEqual([]);
    const c = obs([result('0', { op: 'b#1' }), result('0', { op: 'a#0' })]);
    const d = compareObservations(obs([result('0', { op: 'a#0' }), result('0', { op: 'b#1' })]), c);
    expect(d.map((x) => x.side).sort()).toEqual(['added', 'removed']);
  });

  it('one changed final-state entry is one removed + one added entry of that section', () => {
    const m1 = { gpa: '0x1000', level: 1, kind: 'LEAF', page: 'gmem@0x1', accessed: true };
    const m2 = { ...m1, accessed: false };
    const root = { gpa: '0x0', level: 4, kind: 'NONLEAF', page: 'mirror.L3@0x0' };
    const d = compareObservations(obs([], { mirror: [root, m1] }), obs([], { mirror: [root, m2] }));
    expect(d).toEqual([
      { layer: 'functional', side: 'removed', event: { kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 accessed' } },
      { layer: 'functional', side: 'added', event: { kind: 'final', what: 'mirror', key: '0x1000@L1', value: 'LEAF gmem@0x1 not-accessed' } },
    ]);
  });

  it('every entry is a key and a value an intent can name', () => {
    const d = compareObservations(
      obs([], { end: 'completed', vm: { bugged: false, dead: false, td: 'R', hkid: true } }),
      obs([], { end: 'crash', vm: { bugged: true, dead: false, td: 'R', hkid: true } }),
    );
    expect(d.map((x) => x.event)).toEqual([
      { kind: 'final', what: 'end', key: 'end', value: 'completed' },
      { kind: 'final', what: 'end', key: 'end', value: 'crash' },
      { kind: 'final', what: 'vm', key: 'bugged', value: 'false' },
      { kind: 'final', what: 'vm', key: 'bugged', value: 'true' },
    ]);
    const leak = compareObservations(obs([]), obs([], { pages: { leaked: [{ page: 'sept.L1@0x0', what: 'external_spt' }], heldByModule: [] } }));
    expect(leak).toEqual([{ layer: 'functional', side: 'added', event: { kind: 'final', what: 'pages.leaked', key: 'sept.L1@0x0', value: 'external_spt' } }]);
  });

  it('final state is not part of the diagnostic layer', () => {
    expect(compareObservations(obs([]), obs([], { end: 'livelock' }), { layer: 'diagnostic' })).toEqual([]);
    expect(finalEvents(obs([]).final).some((e) => e.what === 'end')).toBe(true);
  });

  it('when jsdiff gives up: anchors on what each side has once, else prefix/suffix trimming, and says so', () => {
    const a = Array.from({ length: 50 }, (_, i) => `a${i}`);
    const b = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `a${i}` : `b${i}`));
    const exact = diffKeyed(a, b, (x) => x);
    expect(exact.approximate).toBe(false);
    expect(exact.changes).toHaveLength(50);
    const anchored = diffKeyed(a, b, (x) => x, { maxEditLength: 3 });
    expect(anchored.approximate).toBe(true);
    // every a2k is unique on both sides: the odd ones are exactly what changed
    expect(anchored.changes.filter((c) => c.side === 'removed').map((c) => c.item)).toEqual(a.filter((_, i) => i % 2 === 1));
    expect(anchored.changes.filter((c) => c.side === 'added').map((c) => c.item)).toEqual(b.filter((_, i) => i % 2 === 1));
    // nothing unique to anchor on: all between the common prefix and suffix
    const x = ['p', ...Array.from({ length: 40 }, (_, i) => (i % 2 ? 'x' : 'y')), 's'];
    const y = ['p', ...Array.from({ length: 40 }, (_, i) => (i % 3 ? 'x' : 'y')), 's'];
    const rough = diffKeyed(x, y, (v) => v, { maxEditLength: 3 });
    expect(rough.approximate).toBe(true);
    let pre = 0;
    while (x[pre] === y[pre]) pre++;
    let suf = 0;
    while (x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
    expect(rough.changes.filter((c) => c.side === 'removed').map((c) => c.item)).toEqual(x.slice(pre, x.length - suf));
    expect(rough.changes.filter((c) => c.side === 'added').map((c) => c.item)).toEqual(y.slice(pre, y.length - suf));
    const c = compare(obs(a.map((v) => result(v))), obs(b.map((v) => result(v))), { maxEditLength: 3 });
    expect(c.approximate).toBe(true);
  });

  it('sameValue is structural, field order included, like the JSON keys', () => {
    expect(sameValue({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] })).toBe(true);
    expect(sameValue({ a: 1, b: [1, 2] }, { a: 1, b: [2, 1] })).toBe(false);
    expect(sameValue({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameValue({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameValue([1], { 0: 1 })).toBe(false);
    expect(sameValue('1', 1)).toBe(false);
  });
});

describe('diffKeyed is a minimal diff whichever algorithm aligns the middle', () => {
  const lcs = (a: string[], b: string[]): number => {
    const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) t[i]![j] = a[i] === b[j] ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!);
    return t[0]![0]!;
  };
  const check = (sa: string[], sb: string[]): void => {
    const a = sa.map((k, i) => ({ k, i, side: 'a' }));
    const b = sb.map((k, i) => ({ k, i, side: 'b' }));
    const { changes, approximate } = diffKeyed(a, b, (x) => x.k);
    expect(approximate).toBe(false);
    const removed = new Set(changes.filter((c) => c.side === 'removed').map((c) => c.item));
    const added = new Set(changes.filter((c) => c.side === 'added').map((c) => c.item));
    // what is kept on both sides is the same sequence, and it is a longest common one
    expect(a.filter((x) => !removed.has(x)).map((x) => x.k)).toEqual(b.filter((x) => !added.has(x)).map((x) => x.k));
    expect(changes.length).toBe(sa.length + sb.length - 2 * lcs(sa, sb));
  };
  const letters = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 6 });
  it('one short side (the n·m LCS path)', () => {
    fc.assert(fc.property(letters, fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 20, maxLength: 80 }), (x, y) => {
      check(x, y);
      check(y, x);
    }), { numRuns: 200 });
  });
  it('similar lengths (jsdiff)', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 40 }), fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 40 }), (x, y) => check(x, y)), { numRuns: 200 });
  });
});

describe('beyond Myers\' bound, an anchored diff (patience) is still a valid edit script', () => {
  const script = (sa: string[], sb: string[], maxEditLength: number) => {
    const a = sa.map((k, i) => ({ k, i }));
    const b = sb.map((k, i) => ({ k, i }));
    const r = diffKeyed(a, b, (x) => x.k, { maxEditLength });
    const removed = new Set(r.changes.filter((c) => c.side === 'removed').map((c) => c.item));
    const added = new Set(r.changes.filter((c) => c.side === 'added').map((c) => c.item));
    return { ...r, keptA: a.filter((x) => !removed.has(x)).map((x) => x.k), keptB: b.filter((x) => !added.has(x)).map((x) => x.k) };
  };

  it('what it keeps is the same on both sides, for any arrays', () => {
    const word = fc.constantFrom('a', 'b', 'c', 'u1', 'u2', 'u3', 'u4', 'u5');
    fc.assert(fc.property(fc.array(word, { maxLength: 60 }), fc.array(word, { maxLength: 60 }), (x, y) => {
      const r = script(x, y, 1);
      expect(r.keptA).toEqual(r.keptB);
    }), { numRuns: 300 });
  });

  it('a retry loop cut by the livelock bound aligns pass by pass on its own pages', () => {
    // 12,500 passes of (tracepoint, SEAMCALL on page #k, two frees of page #k); the later
    // step renames both frees' site: 50,000 differences, each a rename, nothing else
    const pass = (k: number, site: string): string[] => ['tp', `add #${k}`, `free ${site} ext #${k}`, `free ${site} spt #${k}`];
    const before = Array.from({ length: 12_500 }, (_, k) => pass(k, 'old')).flat();
    const after = Array.from({ length: 12_500 }, (_, k) => pass(k, 'new')).flat();
    const r = script(before, after, 100);
    expect(r.approximate).toBe(true);
    expect(r.keptA).toEqual(r.keptB);
    expect(r.changes).toHaveLength(50_000);
    expect(r.changes.every((c) => c.item.k.startsWith('free '))).toBe(true);
  });
});
