// `check --ktap` follows KTAP version 1 (Documentation/dev-tools/ktap.rst): a small
// parser of the grammar checks the whole output, plans and numbering at every level.
import { describe, expect, it } from 'vitest';
import { runCheck } from '../../harness/check.ts';
import { toKtap } from '../../harness/ktap.ts';
import { toJunit } from '../../harness/junit.ts';
import { resolveTrace } from '../../harness/trace.ts';
import { STEPS } from '../../versions/index.ts';
import { findAll, parseXml } from './xml.ts';

interface KtapResult { ok: boolean; n: number; name: string; directive: string | null; subtests: KtapResult[] }

const RESULT = /^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # (SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b(.*))?$/;

/** Parses one KTAP document at `indent`; throws on anything the grammar does not allow. */
function parseKtap(lines: string[], at: { i: number }, indent: string): KtapResult[] {
  const line = (): string | undefined => lines[at.i];
  const own = (l: string | undefined): string | null => (l !== undefined && l.startsWith(indent) && !l.startsWith(indent + ' ') ? l.slice(indent.length) : null);
  if (own(line()) !== 'KTAP version 1') throw new Error(`line ${at.i + 1}: expected "KTAP version 1" at indent ${indent.length}`);
  at.i++;
  while (own(line())?.startsWith('#')) at.i++;
  const plan = /^1\.\.(\d+)$/.exec(own(line()) ?? '');
  if (!plan) throw new Error(`line ${at.i + 1}: expected a plan "1..N"`);
  at.i++;
  const results: KtapResult[] = [];
  let pending: KtapResult[] = [];
  while (at.i < lines.length) {
    const l = line()!;
    if (l.startsWith(indent + '    ')) {
      pending = parseKtap(lines, at, indent + '    ');
      continue;
    }
    const text = own(l);
    if (text === null) break;
    if (text.startsWith('#')) {
      at.i++;
      continue;
    }
    const m = RESULT.exec(text);
    if (!m) throw new Error(`line ${at.i + 1}: not a KTAP result line: ${text}`);
    results.push({ ok: m[1] === 'ok', n: Number(m[2]), name: m[3] ?? '', directive: m[4] ?? null, subtests: pending });
    pending = [];
    at.i++;
  }
  if (results.length !== Number(plan[1])) throw new Error(`indent ${indent.length}: plan 1..${plan[1]} but ${results.length} results`);
  results.forEach((r, k) => {
    if (r.n !== k + 1) throw new Error(`indent ${indent.length}: result ${k + 1} is numbered ${r.n}`);
  });
  return results;
}

const traces = ['private-fault', 'teardown'].map(resolveTrace);

describe('check --ktap', () => {
  it('is KTAP version 1: a subtest per trace, a result per step, intended as XFAIL, gaps as ERROR', () => {
    const r = runCheck({ traces, steps: STEPS, from: 8, to: 9, coverage: true });
    const text = toKtap(r);
    const lines = text.trimEnd().split('\n');
    const at = { i: 0 };
    const top = parseKtap(lines, at, '');
    expect(at.i).toBe(lines.length);
    expect(top.map((t) => `${t.ok ? 'ok' : 'not ok'} ${t.name}`)).toEqual(['ok private-fault', 'ok teardown', 'not ok intent_coverage']);
    expect(top[1]!.subtests.map((s) => [s.name, s.directive])).toEqual([
      ['step_08_plumb-sp-into-handle-changed-spte', null],
      ['step_09_centralize-external-propagation', 'XFAIL'],
    ]);
    const gaps = top[2]!.subtests.filter((s) => !s.ok);
    expect(gaps.length).toBe(r.gaps.length);
    expect(gaps.every((g) => g.directive === 'ERROR')).toBe(true);
  });

  it('without counted coverage there is no coverage subtest, and the parser rejects a broken plan', () => {
    const r = runCheck({ traces, steps: STEPS, from: 9, to: 9, coverage: false });
    const text = toKtap(r);
    expect(parseKtap(text.trimEnd().split('\n'), { i: 0 }, '').map((t) => t.name)).toEqual(['private-fault', 'teardown']);
    expect(() => parseKtap(text.replace('1..2\n', '1..3\n').trimEnd().split('\n'), { i: 0 }, '')).toThrow(/plan/);
  });
});

describe('JUnit', () => {
  it('names cases by step and slug, has a case per intent (failed when unwitnessed), timestamp and hostname', () => {
    const r = runCheck({ traces, steps: STEPS, from: 9, to: 9, coverage: true });
    const xml = toJunit(r, { timeSeconds: 1.5, timestamp: '2026-11-30T23:00:00', hostname: 'ci-1' });
    const root = parseXml(xml);
    const suite = findAll(root, 'testsuite')[0]!;
    expect(suite.attrs).toMatchObject({ timestamp: '2026-11-30T23:00:00', hostname: 'ci-1', errors: '0' });
    const cases = findAll(root, 'testcase');
    expect(cases.filter((c) => c.attrs.classname === 'trace.teardown').map((c) => c.attrs.name)).toEqual(['step 09 centralize-external-propagation']);
    const intents = cases.filter((c) => c.attrs.classname === 'intent.step09');
    expect(intents.length).toBe(r.coverage.length);
    const failed = intents.filter((c) => findAll(c, 'failure').length > 0).map((c) => c.attrs.name);
    expect(failed).toEqual(r.gaps.map((g) => g.intent));
    expect(suite.attrs.failures).toBe(String(r.gaps.length));
    expect(suite.attrs.tests).toBe(String(r.results.length + r.coverage.length));
    // each trace case carries its real time; the JSON report has no timing (it stays deterministic)
    for (const c of cases.filter((x) => x.attrs.classname!.startsWith('trace.'))) expect(c.attrs.time).toMatch(/^\d+\.\d{3}$/);
    expect(JSON.stringify(r)).not.toContain('seconds');
  });
});
