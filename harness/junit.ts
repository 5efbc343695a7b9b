// The check report as JUnit XML: one <testsuite>, one <testcase> per trace × step
// (named by step number and slug, which survive a reworded subject), a <failure> for
// each unexpected verdict, and, when coverage is counted, one <testcase> per intent
// with a <failure> when no trace witnesses it: Jenkins and GitLab count failed test
// cases, not a suite's `errors` attribute.
import type { CheckReport } from './check.ts';
import { formatDifference, pad2, undoNote } from './report.ts';

/** Characters XML 1.0 cannot carry at all (even escaped): dropped. */
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for an XML attribute value or element content. */
export function xmlEscape(s: string): string {
  return s
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}


export interface JunitOptions {
  name?: string;
  timeSeconds?: number;
  /** ISO 8601 start of the run and the machine it ran on (suite attributes). */
  timestamp?: string;
  hostname?: string;
}

export function toJunit(r: CheckReport, opts: JunitOptions = {}): string {
  const slugs = new Map(r.steps.map((s) => [s.step, s.slug]));
  const subjects = new Map(r.steps.map((s) => [s.step, s.subject]));
  const tests = r.results.length + r.coverage.length;
  const failures = r.results.filter((x) => x.verdict === 'unexpected').length + r.gaps.length;
  const name = opts.name ?? 'tdx-difftest check';
  const time = (opts.timeSeconds ?? 0).toFixed(3);
  const where = `${opts.timestamp !== undefined ? ` timestamp="${xmlEscape(opts.timestamp)}"` : ''}${opts.hostname !== undefined ? ` hostname="${xmlEscape(opts.hostname)}"` : ''}`;
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<testsuites name="${xmlEscape(name)}" tests="${tests}" failures="${failures}" errors="0" time="${time}">`);
  out.push(`  <testsuite name="${xmlEscape(name)}" tests="${tests}" failures="${failures}" errors="0" skipped="0" time="${time}"${where}>`);
  out.push('    <properties>');
  out.push(`      <property name="steps" value="${xmlEscape(`${pad2(r.from)}..${pad2(r.to)}`)}"/>`);
  out.push(`      <property name="coverage-gaps" value="${r.gaps.length}"/>`);
  for (const g of r.gaps) out.push(`      <property name="coverage-gap" value="${xmlEscape(`${g.intent} (step ${pad2(g.step)}): ${g.summary}`)}"/>`);
  out.push('    </properties>');
  for (const x of r.results) {
    const caseName = `step ${pad2(x.step)} ${slugs.get(x.step) ?? ''}`;
    // measured by an in-process check (not by worker threads): the step's replay and the comparison
    const seconds = (x as { seconds?: number }).seconds;
    const head = `    <testcase classname="${xmlEscape(`trace.${x.trace}`)}" name="${xmlEscape(caseName)}"${seconds !== undefined ? ` time="${seconds.toFixed(3)}"` : ''}>`;
    if (x.verdict !== 'unexpected') {
      const note = `${subjects.get(x.step) ?? ''}: ${x.verdict === 'intended' ? `intended: ${x.intents.join(', ')}` : 'same'}`;
      out.push(head);
      out.push(`      <system-out>${xmlEscape(note)}</system-out>`);
      out.push('    </testcase>');
      continue;
    }
    const unexplained = x.differences.filter((d) => d.intents.length === 0).length;
    const missing = x.missing && x.missing.length > 0 ? `intended change missing: ${x.missing.join(', ')}` : '';
    const message = undoNote(x) + (x.error !== undefined ? `replay failed: ${x.error}` : unexplained > 0 ? `${unexplained} unexpected difference${unexplained === 1 ? '' : 's'} vs step ${pad2(x.base)}${missing ? '; ' + missing : ''}` : missing);
    const body = x.differences.map((d) => formatDifference(d)).join('\n');
    out.push(head);
    out.push(`      <failure message="${xmlEscape(message)}" type="unexpected">${xmlEscape(body)}</failure>`);
    out.push('    </testcase>');
  }
  for (const c of r.coverage) {
    out.push(`    <testcase classname="${xmlEscape(`intent.step${pad2(c.step)}`)}" name="${xmlEscape(c.intent)}">`);
    if (c.witnesses.length > 0) out.push(`      <system-out>${xmlEscape(`witnessed by ${c.witnesses.join(', ')}`)}</system-out>`);
    else out.push(`      <failure message="${xmlEscape('no trace witnesses it')}" type="coverage-gap">${xmlEscape(c.summary)}</failure>`);
    out.push('    </testcase>');
  }
  out.push('  </testsuite>');
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
