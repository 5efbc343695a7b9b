// A failing check reads root cause first: a step 09 that skips tdx_track() in the S-EPT
// leaf removal gives a short report that names the step, the trace and the first
// diverging operation, and step 10 (the real one, undoing it) is not a second failure.
import { afterAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../harness/check.ts';
import { formatCheckText } from '../../harness/report.ts';
import { formatMail } from '../../harness/mail.ts';
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
    // a step-10 failure that is only the undo of step 09's is one line; not recognised are
    // the traces where step 10's own intent rewrites the same operation (a rewrite explains
    // one step's change of an operation, not two steps' at once)
    const undone = ten.filter((r) => r.undoes === 9);
    expect(undone.length).toBeGreaterThanOrEqual(9);
    for (const r of undone) expect(text).toContain(`X ${r.trace}, step 10 vs 09: only undoes step 09's unexpected`);
    expect(ten.filter((r) => r.undoes === undefined).map((r) => r.trace)).toEqual(['atomic-nonleaf-over-mirror-table', 'atomic-zap-mirror-nonleaf', 'remove-mirror-table-shared']);

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
    expect(mail.split('\n')[0]).toBe('Subject: [tdx-difftest] TDX MMU refactors: unexpected behaviour change at 09/15, 10/15');
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
});
