import { describe, expect, it } from 'vitest';
import type { Difference } from '../../harness/compare.ts';
import { coverageGaps, explainDifferences, explainRange, intentCoverage, intentsBetween, patternMatches } from '../../harness/intents.ts';
import type { Intent } from '../../src/step_types.ts';
import { manifest, warn } from './helpers.ts';

const bugRemoved: Difference = { layer: 'diagnostic', side: 'removed', event: { kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'c', silent: false, thread: 'probe' } };
const bugAdded: Difference = { layer: 'diagnostic', side: 'added', event: { kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'c', silent: false, thread: 'probe' } };
const ebusy: Difference = { layer: 'functional', side: 'removed', event: { kind: 'result', name: 'probe_set_spte', op: 'probe_set_spte#0', value: '-EBUSY', thread: 'probe' } };
const eio: Difference = { layer: 'functional', side: 'added', event: { kind: 'result', name: 'probe_set_spte', op: 'probe_set_spte#0', value: '-EIO', thread: 'probe' } };
const levelDiff: Difference = { layer: 'functional', side: 'added', event: { kind: 'seamcall', name: 'TDH.MEM.SEPT.ADD', level: 2, status: 'TDX_SUCCESS' } };

const moveBug: Intent = {
  id: 'v05-bug-moves',
  summary: 'the atomic-zap KVM_BUG_ON moves into TDX and returns -EIO',
  differences: [
    { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic' },
    { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte' },
    { side: 'removed', kind: 'result', value: '-EBUSY' },
    { side: 'added', kind: 'result', value: '-EIO' },
  ],
};
const anyWarn: Intent = { id: 'v07-warn', summary: 'a warn', differences: [{ side: 'either', kind: 'warn' }] };

describe('patterns', () => {
  it('respect side and every given field', () => {
    expect(patternMatches({ side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic' }, bugRemoved)).toBe(true);
    expect(patternMatches({ side: 'added', kind: 'bug', site: '__tdp_mmu_set_spte_atomic' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'either', kind: 'bug', site: '__tdp_mmu_set_spte_atomic' }, bugRemoved)).toBe(true);
    expect(patternMatches({ side: 'either', kind: 'bug', site: 'other' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'either', kind: 'warn' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'either', kind: 'bug', cond: 'c' }, bugRemoved)).toBe(true);
    expect(patternMatches({ side: 'either', kind: 'seamcall', name: 'TDH.MEM.SEPT.ADD', status: 'TDX_SUCCESS' }, levelDiff)).toBe(true);
    // a field the event does not have never matches
    expect(patternMatches({ side: 'either', kind: 'seamcall', what: 'spt' }, levelDiff)).toBe(false);
  });
});

describe('verdicts', () => {
  it('same when there is no difference', () => {
    expect(explainDifferences([], [moveBug]).verdict).toBe('same');
  });

  it('intended when every difference is explained, with the intents used', () => {
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio], [anyWarn, moveBug]);
    expect(r.verdict).toBe('intended');
    expect(r.intents).toEqual(['v05-bug-moves']);
    expect(r.unexplained).toEqual([]);
    expect(r.differences.every((d) => d.intents.includes('v05-bug-moves'))).toBe(true);
  });

  it('overlapping intents: the result is credited with the intent that explains most', () => {
    const narrow: Intent = { id: 'v05-narrow', summary: 'only the new bug', differences: [{ side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte' }] };
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio], [narrow, moveBug]);
    expect(r.verdict).toBe('intended');
    expect(r.intents).toEqual(['v05-bug-moves']);
    expect(r.differences.map((d) => d.intents)).toEqual([['v05-bug-moves'], ['v05-bug-moves'], ['v05-bug-moves'], ['v05-bug-moves']]);
    // alone, the shared difference credits the narrow intent (first in declaration order on a tie)
    expect(explainDifferences([bugAdded], [narrow, moveBug]).intents).toEqual(['v05-narrow']);
    // two scenarios in one trace: both intents
    const w: Difference = { layer: 'diagnostic', side: 'added', event: warn('x') };
    expect(explainDifferences([bugRemoved, bugAdded, w], [moveBug, anyWarn]).intents).toEqual(['v05-bug-moves', 'v07-warn']);
  });

  it('unexpected when one difference is not explained, listing it', () => {
    const w: Difference = { layer: 'diagnostic', side: 'added', event: { ...warn('tdp_mmu_set_spte') } };
    const stray: Difference = { ...levelDiff };
    const r = explainDifferences([bugRemoved, bugAdded, stray, w], [moveBug, anyWarn]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained).toEqual([stray]);
    expect(r.intents).toEqual(['v05-bug-moves', 'v07-warn']);
  });

  it('side is respected: the reverse change is unexpected', () => {
    const back = [bugRemoved, bugAdded, ebusy, eio].map((d) => ({ ...d, side: d.side === 'added' ? 'removed' : 'added' }) as Difference);
    const r = explainDifferences(back, [moveBug]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained).toHaveLength(4);
  });
});

describe('ranges', () => {
  const steps = [manifest(0), manifest(1), manifest(2, [anyWarn]), manifest(3), manifest(4, [moveBug])].map((m) => ({ manifest: m }));

  it('a range A<B is explained by the union of the intents of A+1..B', () => {
    expect(intentsBetween(steps, 1, 4).map((i) => i.id)).toEqual(['v07-warn', 'v05-bug-moves']);
    expect(intentsBetween(steps, 2, 4).map((i) => i.id)).toEqual(['v05-bug-moves']);
    const w: Difference = { layer: 'diagnostic', side: 'added', event: warn('x') };
    expect(explainRange(steps, 1, 4, [bugRemoved, w]).verdict).toBe('intended');
    expect(explainRange(steps, 2, 4, [bugRemoved, w]).verdict).toBe('unexpected');
    expect(explainRange(steps, 0, 1, [w]).verdict).toBe('unexpected');
  });

  it('backwards (A>B) flips the sides before explaining', () => {
    // 4 -> 3 undoes step 4: the bug that step 4 removed comes back
    const back: Difference = { ...bugRemoved, side: 'added' };
    const r = explainRange(steps, 4, 3, [back]);
    expect(r.verdict).toBe('intended');
    expect(r.differences[0]!.side).toBe('added');
    expect(explainRange(steps, 4, 3, [bugRemoved]).verdict).toBe('unexpected');
  });
});

describe('coverage', () => {
  const steps = [manifest(0), manifest(1, [moveBug]), manifest(2, [anyWarn])].map((m) => ({ manifest: m }));

  it('lists the witnesses of each intent and the gaps', () => {
    const cov = intentCoverage(steps, 1, 2, [
      { trace: 'b', step: 1, intents: ['v05-bug-moves'] },
      { trace: 'a', step: 1, intents: ['v05-bug-moves'] },
      { trace: 'a', step: 2, intents: [] },
    ]);
    expect(cov).toEqual([
      { step: 1, intent: 'v05-bug-moves', summary: moveBug.summary, witnesses: ['a', 'b'] },
      { step: 2, intent: 'v07-warn', summary: anyWarn.summary, witnesses: [] },
    ]);
    expect(coverageGaps(cov).map((c) => c.intent)).toEqual(['v07-warn']);
  });

  it('only counts the intents of steps in range', () => {
    expect(intentCoverage(steps, 2, 2, []).map((c) => c.intent)).toEqual(['v07-warn']);
    expect(coverageGaps(intentCoverage(steps, 1, 1, [{ trace: 'a', step: 1, intents: ['v05-bug-moves'] }]))).toEqual([]);
  });
});

describe('moves (count-preserving intents)', () => {
  const rename: Intent = {
    id: 'v13-rename',
    summary: 'a splat site renamed',
    differences: [],
    moves: [{ kind: 'bug', from: { site: '__tdp_mmu_set_spte_atomic' }, to: { site: 'tdx_sept_set_private_spte' } }],
  };

  it('pair each removed firing with one added firing that differs only in the moved fields', () => {
    expect(explainDifferences([bugRemoved, bugAdded], [rename]).verdict).toBe('intended');
    expect(explainDifferences([bugRemoved, bugAdded, bugRemoved, bugAdded], [rename]).verdict).toBe('intended');
  });

  it('leave a firing lost (or gained) on the way unexplained', () => {
    const lost = explainDifferences([bugRemoved, bugRemoved, bugAdded], [rename]);
    expect(lost.verdict).toBe('unexpected');
    expect(lost.unexplained).toHaveLength(1);
    expect(explainDifferences([bugAdded], [rename]).verdict).toBe('unexpected');
  });

  it('do not pair events that differ in another field', () => {
    const otherCond: Difference = { ...bugAdded, event: { ...bugAdded.event, cond: 'other' } };
    expect(explainDifferences([bugRemoved, otherCond], [rename]).verdict).toBe('unexpected');
  });
});
