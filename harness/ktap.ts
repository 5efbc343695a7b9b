// The check report as KTAP version 1 (the kernel's test output format,
// Documentation/dev-tools/ktap.rst), so kernel tooling can read it: one subtest per
// trace with one result per step (intended: "ok … # XFAIL <intents>"; unexpected:
// "not ok"), and, when coverage is counted, one subtest of the intents (an intent no
// trace witnesses: "not ok … # ERROR").
import type { CheckReport } from './check.ts';
import { pad2, undoNote } from './report.ts';


/** A KTAP description: no "#" (it starts a directive) and no line breaks. */
function description(s: string): string {
  return s.replace(/[#\r\n]/g, ' ').replace(/\s+/g, ' ').trim();
}

export function toKtap(r: CheckReport): string {
  const slugs = new Map(r.steps.map((s) => [s.step, s.slug]));
  const out: string[] = ['KTAP version 1'];
  const tests = r.traces.length + (r.coverageCounted ? 1 : 0);
  out.push(`1..${tests}`);
  r.traces.forEach((trace, i) => {
    const results = r.results.filter((x) => x.trace === trace);
    out.push(`    KTAP version 1`);
    out.push(`    # Subtest: ${description(trace)}`);
    out.push(`    1..${results.length}`);
    results.forEach((x, j) => {
      const name = description(`step_${pad2(x.step)}_${slugs.get(x.step) ?? ''}`);
      if (x.verdict === 'same') out.push(`    ok ${j + 1} ${name}`);
      else if (x.verdict === 'intended') out.push(`    ok ${j + 1} ${name} # XFAIL ${description(x.intents.join(' '))}`);
      else {
        const unexplained = x.differences.filter((d) => d.intents.length === 0).length;
        out.push(`    # ${description(undoNote(x) + (x.error !== undefined ? `replay failed: ${x.error}` : `${unexplained} unexplained differences vs step ${pad2(x.base)}${x.missing?.length ? `; intended change missing: ${x.missing.join(' ')}` : ''}`))}`);
        out.push(`    not ok ${j + 1} ${name}`);
      }
    });
    const failed = results.some((x) => x.verdict === 'unexpected');
    out.push(`${failed ? 'not ok' : 'ok'} ${i + 1} ${description(trace)}`);
  });
  if (r.coverageCounted) {
    out.push(`    KTAP version 1`);
    out.push(`    # Subtest: intent_coverage`);
    out.push(`    1..${r.coverage.length}`);
    r.coverage.forEach((c, j) => {
      const name = description(`step_${pad2(c.step)}_${c.intent}`);
      out.push(c.witnesses.length > 0 ? `    ok ${j + 1} ${name}` : `    not ok ${j + 1} ${name} # ERROR no trace witnesses it`);
    });
    out.push(`${r.gaps.length > 0 ? 'not ok' : 'ok'} ${tests} intent_coverage`);
  }
  return out.join('\n') + '\n';
}
