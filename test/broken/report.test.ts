// A failing check reads root cause first: a step 09 that skips tdx_track() in the S-EPT
// leaf removal gives a short report that names the step, the trace and the first
// diverging operation, and step 10 (the real one, undoing it) is not a second failure.
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck, safeReplay } from '../../harness/check.ts';
import { compare } from '../../harness/compare.ts';
import { formatCheckText } from '../../harness/report.ts';
import { formatMail } from '../../harness/mail.ts';
import { toKtap } from '../../harness/ktap.ts';
import { toJunit } from '../../harness/junit.ts';
import { parseTrace } from '../../harness/trace.ts';
import { STEPS } from '../../versions/index.ts';
import { cleanupBroken, corpusTraces, makeBroken, withBroken } from './broken.ts';

afterAll(cleanupBroken);

describe('the report of a broken step', () => {
  it('is short, root cause first, and says once that step 10 only undoes step 09', async () => {
    const broken = await makeBroken({
      name: 'report-skip-track-09',
      step: 9,
      file: 'tdx.ts',
      find: /\n[ \t]*yield\* tdx_track\(kvm\);\n/,
      replace: '\n',
      why: 'step 09 skips TDH.MEM.TRACK between BLOCK and PAGE.REMOVE',
    });
    const report = runCheck({ traces: corpusTraces(), steps: withBroken(broken), from: 9, to: 10 });
    const text = formatCheckText(report);
    const lines = text.trimEnd().split('\n');
    expect(report.exitCode).toBe(1);
    expect(lines.length).toBeLessThan(300);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);

    const nine = report.results.filter((r) => r.step === 9 && r.verdict === 'unexpected');
    const ten = report.results.filter((r) => r.step === 10 && r.verdict === 'unexpected');
    expect(nine.length).toBeGreaterThan(0);
    // every step-10 failure is only the undo of step 09's: one line each, `u` in the grid,
    // counted in the summary. Among them the three where step 10's own intent rewrites the
    // same operation as step 09's (composed through a correct step 09)
    const undone = ten.filter((r) => r.undoes === 9);
    expect(undone.length).toBe(ten.length);
    const flat = text.replace(/\n {6}/g, ' ');
    for (const r of undone) expect(flat).toContain(`u ${r.trace}, step 10 vs 09: only undoes step 09's unexpected change (above)`);
    for (const t of ['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'remove-mirror-table-shared']) expect(undone.map((r) => r.trace)).toContain(t);
    expect(text).toMatch(/\natomic-nonleaf-over-mirror-table +X u\n/);
    expect(text).toContain('  u only undoes the step before');
    expect(flat).toContain(`unexpected (${undone.length} only undo the step before)`);
    // KTAP and JUnit still fail the case (its verdict is unexpected) and say why
    expect(toKtap(report)).toMatch(/\n {4}# only undoes step 09's unexpected change: \d+ unexplained differences vs step 09\n {4}not ok 2 step_10_/);
    expect(toJunit(report)).toContain('<failure message="only undoes step 09&apos;s unexpected change: ');

    // each case leads with where it diverged; the first cases of a step in detail
    expect(text).toMatch(/X atomic-nonleaf-over-mirror-table, step 09 vs 08: \d+ differences not\n {6}explained/);
    expect(text).toMatch(/> probe probe_set_spte#0 +-EIO +0\n/);
    const zap = nine.find((r) => r.trace === 'zap-private-range')!;
    expect(zap.firstDivergence).toMatchObject({ thread: 'host', op: 'gmem_invalidate#0' });
    expect(text).toMatch(/X zap-private-range, step 09 vs 08: 26 differences not explained\n {4}first divergence: host gmem_invalidate#0/);
    // alone, that case shows the operations and the SEAMCALL that diverged
    const one = formatCheckText(runCheck({ traces: corpusTraces().filter((t) => t.name === 'zap-private-range'), steps: withBroken(broken), from: 9, to: 9, coverage: false }));
    expect(one).toMatch(/> host gmem_invalidate#0 +0 +0\n/);
    expect(one).toMatch(/- fn {3}host seamcall name=TDH\.MEM\.TRACK status=TDX_SUCCESS/);
    // the mail: the step, the Fixes: tag from its manifest, a reproducer that is a valid trace
    const mail = formatMail(report, corpusTraces(), withBroken(broken), { version: '0.1.0' });
    expect(mail.split('\n')[0]).toBe('Subject: [tdx-difftest] TDX MMU refactors: unexpected behaviour change at 09/15');
    expect(mail).toContain('\nFixes: 28c77a037804 ("KVM: x86/tdp_mmu: Centrally propagate to-present/atomic zap updates to external PTEs")\n');
    const json = /reproducer \(atomic-nonleaf-over-mirror-table[^\n]*(?:\n {6}[^\n]*)*\n(    \{\n[\s\S]*?\n    \})\n/.exec(mail)![1]!;
    expect(parseTrace(json, 'mail').threads.map((t) => t.ops.length)).toEqual([1, 1]);
    expect(mail).toContain('  replay: npx tdx-difftest check atomic-nonleaf-over-mirror-table --from 9 --to 9\n');
    expect(mail).not.toContain('step 10 vs'); // undone cases are not findings of their own
    const clean = formatMail(runCheck({ traces: corpusTraces().slice(0, 3), steps: STEPS, from: 9, to: 9, coverage: false }), corpusTraces(), STEPS, { version: '0.1.0' });
    expect(clean).toContain('no unexpected behaviour change');
    expect(clean).not.toContain('Fixes:');

    // only unexplained differences unless asked for all
    const full = formatCheckText(report, { color: false }, 80, true);
    expect(full.length).toBeGreaterThan(text.length);
  }, 180_000);

  it('does not call a step that has a defect of its own an undo', async () => {
    // step 09 skips TDH.MEM.TRACK; step 10 restores it but skips the WBINVD after
    // PAGE.REMOVE: a step-10 failure only undoes 09 exactly where the broken step 10
    // behaves as the real one (the traces that never reach a WBINVD)
    const nine = await makeBroken({ name: 'undo-skip-track-09', step: 9, file: 'tdx.ts', find: /\n[ \t]*yield\* tdx_track\(kvm\);\n/, replace: '\n', why: 'step 09 skips TDH.MEM.TRACK' });
    const ten = await makeBroken({
      name: 'undo-skip-wbinvd-10',
      step: 10,
      file: 'tdx.ts',
      find: /\n[ \t]*err = yield\* tdh_phymem_page_wbinvd_hkid\(pfn\);\n[^\n]*TDH_PHYMEM_PAGE_WBINVD[^\n]*\n/,
      replace: '\n',
      why: 'step 10 skips TDH.PHYMEM.PAGE.WBINVD after removing a page',
    });
    const steps = STEPS.map((s) => (s.manifest.step === 9 ? nine : s.manifest.step === 10 ? ten : s));
    const report = runCheck({ traces: corpusTraces(), steps, from: 9, to: 10 });
    const failing = report.results.filter((r) => r.step === 10 && r.verdict === 'unexpected');
    expect(failing.map((r) => r.trace)).toContain('atomic-nonleaf-over-mirror-table');
    expect(failing.length).toBeGreaterThan(5);
    const real10 = STEPS.find((s) => s.manifest.step === 10)!;
    const asReal = failing.filter((r) => {
      const t = corpusTraces().find((x) => x.name === r.trace)!;
      return compare(safeReplay(t, real10).obs, safeReplay(t, ten).obs).differences.length === 0;
    });
    expect(asReal.map((r) => r.trace)).toEqual(['zap-track-busy-two-leaves', 'zap-track-stays-busy']);
    expect(failing.filter((r) => r.undoes !== undefined).map((r) => r.trace)).toEqual(asReal.map((r) => r.trace));
    const text = formatCheckText(report);
    expect(text).toMatch(/\nX zap-private-range, step 10 vs 09: \d+ differences not explained/);
    // the real step 10 after the same broken step 09 does only undo it
    const real = runCheck({ traces: corpusTraces().filter((t) => failing.some((r) => r.trace === t.name)), steps: withBroken(nine), from: 9, to: 10, coverage: false });
    expect(real.results.filter((r) => r.step === 10 && r.verdict === 'unexpected').every((r) => r.undoes === 9)).toBe(true);
  }, 180_000);
});
