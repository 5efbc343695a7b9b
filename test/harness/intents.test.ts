import { describe, expect, it } from 'vitest';
import type { Difference } from '../../harness/compare.ts';
import { attributeRange, coverageGaps, explainDifferences, explainRange, explainThrough, intentCoverage, patternMatches, rewriteExplains } from '../../harness/intents.ts';
import { manifestProblems, validateManifest } from '../../src/manifest_rules.ts';
import { ANY, type Intent, type StepManifest } from '../../src/step_types.ts';
import { manifest } from './helpers.ts';

const op = 'probe_set_spte#0';
const ev = (side: 'removed' | 'added', event: Record<string, unknown>, layer: 'functional' | 'diagnostic' = 'functional'): Difference => ({ layer, side, event: { thread: 'probe', op, ...event } as unknown as Difference['event'] });
const bugRemoved = ev('removed', { kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'c', silent: false }, 'diagnostic');
const bugAdded = ev('added', { kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'c', silent: false }, 'diagnostic');
const ebusy = ev('removed', { kind: 'result', name: 'probe_set_spte', value: '-EBUSY' });
const eio = ev('added', { kind: 'result', name: 'probe_set_spte', value: '-EIO' });
const vmBugged = ev('added', { kind: 'vm', state: 'bugged' });
const aug = (gpa: string, status = 'TDX_SUCCESS', o = op): Difference => ({ layer: 'functional', side: 'added', event: { kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa, level: 1, page: 'gmem@0x1', status, thread: 'probe', op: o } });

const moveBug: Intent = {
  id: 'v05-bug-moves',
  summary: 'the atomic-zap KVM_BUG_ON moves into TDX and returns -EIO',
  witnesses: ['t'],
  rewrites: [{
    op: 'probe_set_spte',
    events: [
      { side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'c' },
      { side: 'added', kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'c' },
      { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EBUSY' },
      { side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
    ],
  }],
};

describe('patterns', () => {
  it('respect side, kind and every given field', () => {
    expect(patternMatches({ side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'c' }, bugRemoved)).toBe(true);
    expect(patternMatches({ side: 'added', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'c' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'removed', kind: 'bug', site: 'other', cond: 'c' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'removed', kind: 'warn', site: '__tdp_mmu_set_spte_atomic', cond: 'c' }, bugRemoved)).toBe(false);
    expect(patternMatches({ side: 'removed', kind: 'bug', site: '__tdp_mmu_set_spte_atomic', cond: 'other' }, bugRemoved)).toBe(false);
  });

  it('ANY matches any value of a field the event has, never a missing field', () => {
    expect(patternMatches({ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY('whichever'), level: 1, status: 'TDX_SUCCESS' }, aug('0x5000'))).toBe(true);
    expect(patternMatches({ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: '0x1000', level: 1, status: 'TDX_SUCCESS' }, aug('0x5000'))).toBe(false);
    expect(patternMatches({ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY('x'), level: 1, status: 'TDX_SUCCESS', vcpu: ANY('x') }, aug('0x5000'))).toBe(false);
  });
});

describe('a rewrite explains one operation as a whole', () => {
  it('intended when one rewrite accounts for every difference of the operation', () => {
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio], [moveBug]);
    expect(r.verdict).toBe('intended');
    expect(r.intents).toEqual(['v05-bug-moves']);
    expect(r.differences.every((d) => d.intents[0] === 'v05-bug-moves')).toBe(true);
  });

  it('an intended change that only half happens explains nothing', () => {
    // the bug moves but the result stays -EBUSY: each pattern must be matched
    const r = explainDifferences([bugRemoved, bugAdded], [moveBug]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained).toHaveLength(2);
  });

  it('one extra difference in the operation makes the whole group unexpected', () => {
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio, vmBugged], [moveBug]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained).toHaveLength(5);
  });

  it('fragments of several intents do not explain one operation', () => {
    const bugs: Intent = { id: 'bugs', summary: '', witnesses: ['t'], rewrites: [{ op: 'probe_set_spte', events: moveBug.rewrites[0]!.events.slice(0, 2) }] };
    const results: Intent = { id: 'results', summary: '', witnesses: ['t'], rewrites: [{ op: 'probe_set_spte', events: moveBug.rewrites[0]!.events.slice(2) }] };
    expect(explainDifferences([bugRemoved, bugAdded, ebusy, eio], [bugs, results]).verdict).toBe('unexpected');
    // each alone still explains its own operation
    expect(explainDifferences([bugRemoved, bugAdded], [bugs, results]).intents).toEqual(['bugs']);
  });

  it('a rewrite only explains the operation kinds it names', () => {
    const other = { ...moveBug, rewrites: [{ ...moveBug.rewrites[0]!, op: 'fault' }] };
    expect(explainDifferences([bugRemoved, bugAdded, ebusy, eio], [other]).verdict).toBe('unexpected');
  });

  it('each occurrence of an operation is a group of its own', () => {
    const one: Intent = { id: 'aug', summary: '', witnesses: ['t'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY('the faulting GPA'), level: 1, status: 'TDX_SUCCESS' }] }] };
    expect(explainDifferences([aug('0x1000', 'TDX_SUCCESS', 'fault#0'), aug('0x2000', 'TDX_SUCCESS', 'fault#1')], [one]).verdict).toBe('intended');
    expect(explainDifferences([aug('0x1000', 'TDX_SUCCESS', 'fault#0'), aug('0x2000', 'TDX_SUCCESS', 'fault#0')], [one]).verdict).toBe('unexpected');
  });

  it('counts: exact numbers, some (one or more), optional (may be absent)', () => {
    const p = { side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY('each entry'), level: 1, status: 'TDX_SUCCESS' } as const;
    const two = [aug('0x1000'), aug('0x2000')];
    expect(rewriteExplains({ op: 'probe_set_spte', events: [{ ...p, count: 2 }] }, two)).toBe(true);
    expect(rewriteExplains({ op: 'probe_set_spte', events: [{ ...p, count: 3 }] }, two)).toBe(false);
    expect(rewriteExplains({ op: 'probe_set_spte', events: [p] }, two)).toBe(false);
    expect(rewriteExplains({ op: 'probe_set_spte', events: [{ ...p, count: 'some' }] }, two)).toBe(true);
    const withResult = [{ side: 'added', kind: 'result', name: 'probe_set_spte', value: '-EIO', optional: 'only when it fails' } as const, { ...p, count: 'some' as const }];
    expect(rewriteExplains({ op: 'probe_set_spte', events: withResult }, two)).toBe(true);
    expect(rewriteExplains({ op: 'probe_set_spte', events: withResult }, [...two, eio])).toBe(true);
    expect(rewriteExplains({ op: 'probe_set_spte', events: [{ ...p, count: 'some' }] }, [])).toBe(false);
  });

  it('a one-layer comparison ignores the other layer\'s half of a rewrite', () => {
    expect(explainDifferences([ebusy, eio], [moveBug], 'functional').verdict).toBe('intended');
    expect(explainDifferences([ebusy, eio], [moveBug], 'both').verdict).toBe('unexpected');
  });
});

describe('moves (count-preserving rewrites)', () => {
  const rename: Intent = {
    id: 'v13-rename', summary: '', witnesses: ['t'],
    rewrites: [{ op: 'probe_set_spte', events: [], moves: [{ kind: 'bug', from: { site: '__tdp_mmu_set_spte_atomic' }, to: { site: 'tdx_sept_set_private_spte' } }] }],
  };
  it('pair each removed firing with one added firing that differs only in the moved fields', () => {
    expect(explainDifferences([bugRemoved, bugAdded], [rename]).verdict).toBe('intended');
  });
  it('leave a firing lost (or gained) on the way unexplained', () => {
    expect(explainDifferences([bugRemoved], [rename]).verdict).toBe('unexpected');
    expect(explainDifferences([bugRemoved, bugAdded, { ...bugAdded }], [rename]).verdict).toBe('unexpected');
  });
  it('do not pair events that differ in another field', () => {
    const other = ev('added', { kind: 'bug', site: 'tdx_sept_set_private_spte', cond: 'other', silent: false }, 'diagnostic');
    expect(explainDifferences([bugRemoved, other], [rename]).verdict).toBe('unexpected');
  });
  it('a move must pair something in every operation it explains, unless optional', () => {
    const both: Intent = { ...rename, rewrites: [{ op: 'probe_set_spte', events: [], moves: [...rename.rewrites[0]!.moves!, { kind: 'lockdep', from: { site: 'a' }, to: { site: 'b' } }] }] };
    expect(explainDifferences([bugRemoved, bugAdded], [both]).verdict).toBe('unexpected');
    const opt: Intent = { ...rename, rewrites: [{ op: 'probe_set_spte', events: [], moves: [...rename.rewrites[0]!.moves!, { kind: 'lockdep', from: { site: 'a' }, to: { site: 'b' }, optional: 'only without the lock' }] }] };
    expect(explainDifferences([bugRemoved, bugAdded], [opt]).verdict).toBe('intended');
  });
});

describe('final state, entry by entry', () => {
  const bugged = (side: 'removed' | 'added', value: string): Difference => ({ layer: 'functional', side, event: { kind: 'final', what: 'vm', key: 'bugged', value } });
  const withFinal: Intent = { ...moveBug, final: [{ side: 'removed', kind: 'final', what: 'vm', key: 'bugged', value: 'false' }, { side: 'added', kind: 'final', what: 'vm', key: 'bugged', value: 'true' }] };
  it('is explained by an intent that happened in the same comparison', () => {
    expect(explainDifferences([bugRemoved, bugAdded, ebusy, eio, bugged('removed', 'false'), bugged('added', 'true')], [withFinal]).verdict).toBe('intended');
  });
  it('is not explained by an intent whose change did not happen', () => {
    expect(explainDifferences([bugged('removed', 'false'), bugged('added', 'true')], [withFinal]).verdict).toBe('unexpected');
  });
  it('is not explained when the entry changes to another value', () => {
    const stats = (side: 'removed' | 'added', value: string): Difference => ({ layer: 'functional', side, event: { kind: 'final', what: 'stats', key: 'leaves4k', value } });
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio, bugged('removed', 'false'), bugged('added', 'true'), stats('removed', '0'), stats('added', '1')], [withFinal]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained.map((d) => d.event.what)).toEqual(['stats', 'stats']);
  });
  it('a declared final-state change that does not happen leaves the intent\'s operations unexplained', () => {
    const r = explainDifferences([bugRemoved, bugAdded, ebusy, eio], [withFinal]);
    expect(r.verdict).toBe('unexpected');
    expect(r.intents).toEqual([]);
    // unless the pattern says why it may not happen
    const opt: Intent = { ...withFinal, final: withFinal.final!.map((p) => ({ ...p, optional: 'not when the VM was bugged before' })) };
    expect(explainDifferences([bugRemoved, bugAdded, ebusy, eio], [opt]).verdict).toBe('intended');
  });
});

describe('ranges', () => {
  const steps = [{ manifest: manifest(0) }, { manifest: manifest(1, [moveBug]) }, { manifest: manifest(2) }];
  it('backwards (A>B) flips the sides before explaining', () => {
    const back = [bugRemoved, bugAdded, ebusy, eio].map((d) => ({ ...d, side: d.side === 'removed' ? 'added' as const : 'removed' as const }));
    expect(explainRange(steps, 1, 0, back).verdict).toBe('intended');
    expect(explainRange(steps, 0, 1, back).verdict).toBe('unexpected');
  });
  it('attribution credits each difference to the step that made it, with that step\'s explanation only', () => {
    const warnAdded = ev('added', { kind: 'warn', site: 's', cond: 'x', silent: false }, 'diagnostic');
    const perStep = [
      { step: 1, differences: [bugRemoved, bugAdded, ebusy, eio].map((d) => ({ ...d, intents: ['v05-bug-moves'] })) },
      { step: 2, differences: [{ ...warnAdded, intents: [] as string[] }] },
    ];
    const r = attributeRange([bugRemoved, bugAdded, ebusy, eio, warnAdded], perStep);
    expect(r.differences.map((d) => d.madeBy)).toEqual([1, 1, 1, 1, 2]);
    expect(r.verdict).toBe('unexpected');
    expect(r.unexplained).toHaveLength(1);
    // a difference no single step made is unexplained
    expect(attributeRange([vmBugged], perStep).differences[0]!.madeBy).toBeUndefined();
  });
});

describe('coverage', () => {
  it('lists the witnesses of each intent and the gaps', () => {
    const steps = [{ manifest: manifest(0) }, { manifest: manifest(1, [moveBug]) }];
    const cov = intentCoverage(steps, 1, 1, [{ trace: 't', step: 1, intents: ['v05-bug-moves'] }]);
    expect(cov).toEqual([{ step: 1, intent: 'v05-bug-moves', summary: moveBug.summary, witnesses: ['t'] }]);
    expect(coverageGaps(intentCoverage(steps, 1, 1, []))).toHaveLength(1);
  });
});

describe('manifest rules', () => {
  const m = (intents: Intent[]): StepManifest => ({ ...manifest(5, intents) });
  it('reject a pattern that silently omits an identifying field, naming file, path and field', () => {
    const bad: Intent = { id: 'v05-x', summary: '', witnesses: ['t'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', level: 1, status: 'TDX_SUCCESS' }] }] };
    expect(() => validateManifest(m([bad]), 'versions/v05-x/step.ts')).toThrow(
      'versions/v05-x/step.ts: intents[0].rewrites[0].events[0] (added seamcall TDH.MEM.PAGE.AUG): identifying field "gpa" not given (give its value, or ANY(\'why\') to mean any value)',
    );
  });
  it('accept the field as ANY with a reason, reject ANY without one', () => {
    const ok: Intent = { id: 'v05-x', summary: '', witnesses: ['t'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY('the faulting GPA'), level: 1, status: 'TDX_SUCCESS' }] }] };
    expect(manifestProblems(m([ok]), 'f')).toEqual([]);
    const noWhy: Intent = { ...ok, rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: ANY(' '), level: 1, status: 'TDX_SUCCESS' }] }] };
    expect(manifestProblems(m([noWhy]), 'f')[0]).toMatch(/ANY\(\) for "gpa" needs a reason/);
  });
  it('reject whole-section final patterns, "either" sides, intents without witnesses or rewrites', () => {
    const section: Intent = { id: 'v05-x', summary: '', witnesses: ['t'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'vm', state: 'bugged' }] }], final: [{ side: 'added', kind: 'final', what: 'mirror' }] };
    expect(manifestProblems(m([section]), 'f').join('\n')).toMatch(/identifying field "key" not given[\s\S]*identifying field "value" not given/);
    const either = { id: 'v05-x', summary: '', witnesses: ['t'], rewrites: [{ op: 'fault', events: [{ side: 'either', kind: 'vm', state: 'bugged' }] }] } as unknown as Intent;
    expect(manifestProblems(m([either]), 'f')[0]).toMatch(/side must be "removed" or "added"/);
    const bare: Intent = { id: 'v05-x', summary: '', witnesses: [], rewrites: [] };
    expect(manifestProblems(m([bare]), 'f')).toEqual(['f: intents[0] (v05-x): names no witness trace', 'f: intents[0] (v05-x): has no rewrite']);
  });
  it('hold for every real step manifest', async () => {
    const { STEPS } = await import('../../versions/index.ts');
    for (const s of STEPS) expect(manifestProblems(s.manifest, s.manifest.slug)).toEqual([]);
  });
});

describe('counters that change by a delta per operation', () => {
  const refused = (o: string): Difference => ({ layer: 'functional', side: 'removed', event: { kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: '0x1', level: 1, old: 'LEAF', new: 'NONPRESENT', thread: 't', op: o } });
  const leaves = (side: 'removed' | 'added', value: string): Difference => ({ layer: 'functional', side, event: { kind: 'final', what: 'stats', key: 'leaves4k', value } });
  const intent: Intent = {
    id: 'v12-refused', summary: '', witnesses: ['t'],
    rewrites: [{
      op: 'zap_gfn_range',
      events: [{ side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the refused leaf'), level: 1, old: 'LEAF', new: 'NONPRESENT' }],
      final: [{ side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', delta: 1 }],
    }],
  };
  it('explain a change of delta times the operations the rewrite explained, whatever the values', () => {
    expect(explainDifferences([refused('zap_gfn_range#0'), leaves('removed', '3'), leaves('added', '4')], [intent]).verdict).toBe('intended');
    expect(explainDifferences([refused('zap_gfn_range#0'), refused('zap_gfn_range#1'), leaves('removed', '3'), leaves('added', '5')], [intent]).verdict).toBe('intended');
  });
  it('add up over the rewrites that explained operations of one comparison', () => {
    const two: Intent = { ...intent, rewrites: [intent.rewrites[0]!, { ...intent.rewrites[0]!, op: 'destroy' }] };
    expect(explainDifferences([refused('zap_gfn_range#0'), refused('destroy#1'), leaves('removed', '0'), leaves('added', '2')], [two]).verdict).toBe('intended');
    expect(explainDifferences([refused('zap_gfn_range#0'), refused('destroy#1'), leaves('removed', '0'), leaves('added', '1')], [two]).verdict).toBe('unexpected');
    expect(explainDifferences([refused('zap_gfn_range#0'), refused('destroy#1'), leaves('removed', '0'), leaves('added', '3')], [two]).verdict).toBe('unexpected');
  });
  it('do not explain another change, and are required', () => {
    expect(explainDifferences([refused('zap_gfn_range#0'), leaves('removed', '3'), leaves('added', '5')], [intent]).verdict).toBe('unexpected');
    expect(explainDifferences([refused('zap_gfn_range#0'), leaves('removed', '4'), leaves('added', '3')], [intent]).verdict).toBe('unexpected');
    expect(explainDifferences([refused('zap_gfn_range#0')], [intent]).verdict).toBe('unexpected');
  });
  it('are checked by the manifest rules', () => {
    const bad: Intent = { ...intent, final: [{ side: 'removed', kind: 'final', what: 'stats', key: 'leaves4k', delta: 0.5 }] };
    const problems = manifestProblems(manifest(12, [bad]), 'f').join('\n');
    expect(problems).toMatch(/delta belongs to final-state patterns of a rewrite/);
    expect(problems).toMatch(/delta must be a whole number other than 0/);
    expect(problems).toMatch(/a delta pattern is the added side/);
    expect(manifestProblems(manifest(12, [intent]), 'f')).toEqual([]);
  });
});

describe('rewrites that repeat within one operation', () => {
  const refused = (gfn: string): Difference => ({ layer: 'functional', side: 'removed', event: { kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn, level: 1, old: 'LEAF', new: 'FROZEN', thread: 't', op: 'destroy#2' } });
  const silentBug: Difference = { layer: 'diagnostic', side: 'added', event: { kind: 'bug', site: 'handle_changed_spte', cond: 'c', silent: true, thread: 't', op: 'destroy#2' } };
  const leaves = (side: 'removed' | 'added', value: string): Difference => ({ layer: 'functional', side, event: { kind: 'final', what: 'stats', key: 'leaves4k', value } });
  const rewrite = {
    op: 'destroy',
    events: [
      { side: 'removed', kind: 'tracepoint', name: 'kvm_tdp_mmu_spte_changed', gfn: ANY('the refused leaf'), level: 1, old: 'LEAF', new: 'FROZEN' },
      { side: 'added', kind: 'bug', site: 'handle_changed_spte', cond: 'c', silent: true },
    ],
    final: [{ side: 'added', kind: 'final', what: 'stats', key: 'leaves4k', delta: 1 }],
  } as const;
  const once: Intent = { id: 'v12-once', summary: '', witnesses: ['t'], rewrites: [{ ...rewrite, events: [...rewrite.events], final: [...rewrite.final] }] };
  const repeating: Intent = { ...once, id: 'v12-repeats', rewrites: [{ ...once.rewrites[0]!, repeats: 'one per refused leaf' }] };
  const two = [refused('0x1'), refused('0x2'), silentBug, silentBug, leaves('removed', '0'), leaves('added', '2')];
  it('explain n whole applications, the final delta n times', () => {
    expect(explainDifferences(two, [once]).verdict).toBe('unexpected');
    expect(explainDifferences(two, [repeating]).verdict).toBe('intended');
    expect(explainDifferences([refused('0x1'), silentBug, leaves('removed', '0'), leaves('added', '1')], [repeating]).verdict).toBe('intended');
  });
  it('tie the counts: two leaves with one bug, or a delta of one, are not two applications', () => {
    expect(explainDifferences([refused('0x1'), refused('0x2'), silentBug, leaves('removed', '0'), leaves('added', '2')], [repeating]).verdict).toBe('unexpected');
    expect(explainDifferences([refused('0x1'), refused('0x2'), silentBug, silentBug, leaves('removed', '0'), leaves('added', '1')], [repeating]).verdict).toBe('unexpected');
    expect(explainDifferences([refused('0x1'), refused('0x2'), silentBug, silentBug, silentBug, leaves('removed', '0'), leaves('added', '3')], [repeating]).verdict).toBe('unexpected');
  });
  it('need a reason, and a pattern that fixes the count', () => {
    const noReason: Intent = { ...once, rewrites: [{ ...once.rewrites[0]!, repeats: ' ' }] };
    expect(manifestProblems(manifest(12, [noReason]), 'f').join('\n')).toMatch(/repeats must be the reason/);
    const allOptional: Intent = { ...once, rewrites: [{ op: 'destroy', events: [{ side: 'added', kind: 'bug', site: 's', cond: 'c', optional: 'sometimes' }], repeats: 'why' }] };
    expect(manifestProblems(manifest(12, [allOptional]), 'f').join('\n')).toMatch(/repeats needs an event pattern that is not optional/);
    expect(manifestProblems(manifest(12, [repeating]), 'f')).toEqual([]);
  });
});

describe('two steps rewriting one operation, composed through a broken middle step', () => {
  // step 1 tears a table down (three BLOCKs, a TRACK, KVM_BUG_ON(shared) per child, the
  // result turns to 0); step 2 drops the KVM_BUG_ON(shared)s and a later TDX_BUG_ON turns
  // loud. The middle step's model is broken: it skips the TRACK and warns once more.
  const block = (gpa: string): Difference => ev('added', { kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa, status: 'TDX_SUCCESS' });
  const track = ev('added', { kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' });
  const shared = ev('added', { kind: 'bug', site: 'handle_removed_pt', cond: 'shared', silent: true }, 'diagnostic');
  const loud = ev('added', { kind: 'bug', site: 'tdx', cond: 'BLOCK', silent: false }, 'diagnostic');
  const extraWarn = ev('added', { kind: 'warn', site: 'w', cond: 'x', silent: false }, 'diagnostic');
  const zero = ev('added', { kind: 'result', name: 'probe_set_spte', value: '0' });
  const eioGone = ev('removed', { kind: 'result', name: 'probe_set_spte', value: '-EIO' });
  const teardown: Intent = {
    id: 'v01-teardown', summary: 's', witnesses: ['t'],
    rewrites: [{
      op: 'probe_set_spte',
      events: [
        { side: 'added', kind: 'seamcall', name: 'TDH.MEM.RANGE.BLOCK', gpa: ANY('each child'), status: 'TDX_SUCCESS', count: 3 },
        { side: 'added', kind: 'seamcall', name: 'TDH.MEM.TRACK', status: 'TDX_SUCCESS' },
        { side: 'added', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', count: 3 },
        { side: 'removed', kind: 'result', name: 'probe_set_spte', value: '-EIO' },
        { side: 'added', kind: 'result', name: 'probe_set_spte', value: '0' },
      ],
    }],
  };
  const noSharedBug: Intent = {
    id: 'v02-no-shared-bug', summary: 's', witnesses: ['t'],
    rewrites: [{
      op: 'probe_set_spte',
      events: [
        { side: 'removed', kind: 'bug', site: 'handle_removed_pt', cond: 'shared', count: 3 },
        { side: 'added', kind: 'bug', site: 'tdx', cond: 'BLOCK' },
      ],
    }],
  };
  const steps = [{ manifest: manifest(0) }, { manifest: manifest(1, [teardown]) }, { manifest: manifest(2, [noSharedBug]) }];
  const blocks = [block('0x0'), block('0x1000'), block('0x2000')];
  const whole = [...blocks, track, loud, eioGone, zero];
  const brokenMiddle = [...blocks, shared, shared, shared, extraWarn, eioGone, zero];

  it('one rewrite of each step in turn explains what neither explains alone', () => {
    expect(explainRange(steps, 0, 2, whole).verdict).toBe('unexpected');
    const r = explainThrough(steps, 0, 1, 2, whole, brokenMiddle);
    expect(r.verdict).toBe('intended');
    expect(r.intents).toEqual(['v01-teardown', 'v02-no-shared-bug']);
    expect(r.differences.every((d) => d.intents.join() === 'v01-teardown,v02-no-shared-bug')).toBe(true);
  });

  it('a defect of the last step is not explained', () => {
    for (const bad of [[...whole, extraWarn], whole.filter((d) => d !== track), [...whole, loud], whole.filter((d) => d !== blocks[0])]) {
      expect(explainThrough(steps, 0, 1, 2, bad, brokenMiddle).verdict).toBe('unexpected');
    }
  });

  it('the middle is searched among A, the broken step and B: with nothing known of it, the cancelled bugs are not invented', () => {
    expect(explainThrough(steps, 0, 1, 2, whole, []).verdict).toBe('unexpected');
  });

  it('the rewrites compose in step order only', () => {
    const swapped = [{ manifest: manifest(0) }, { manifest: manifest(1, [noSharedBug]) }, { manifest: manifest(2, [teardown]) }];
    expect(explainThrough(swapped, 0, 1, 2, whole, brokenMiddle).verdict).toBe('unexpected');
  });
});
