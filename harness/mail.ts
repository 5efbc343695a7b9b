// The check report as a mail to the series' thread, in the shape of a syzbot / kernel
// test robot report: what was tested, then each unexpected behaviour change with its
// step, where it first diverged, the smallest trace that shows it (inline), the
// reproducer command and a paste-ready Fixes: line.
import type { CheckReport, CheckResult } from './check.ts';
import type { Trace } from './trace.ts';
import type { StepInfo } from '../src/step_types.ts';
import { fitText, formatDifference, pad2 } from './report.ts';
import { parseTrace, traceFileReplacer } from './trace.ts';


export interface MailOptions {
  /** The kernel tree the report is about, and its HEAD (`--kernel`). */
  kernel?: { path: string; head: string };
  version: string;
}

/** The trace of the case, as it goes inline: the smallest failing one of the step first. */
function traceSize(t: Trace): number {
  return t.threads.reduce((n, th) => n + th.ops.length, 0);
}

/** The VM set-up a trace gets when it says nothing. */
const DEFAULT_VM = parseTrace(JSON.stringify({ name: 'x', threads: [{ name: 't', ops: [{ op: 'finalize' }] }] }), '(defaults)').vm;

/**
 * A trace in its file's form, compact enough for a mail: only the VM settings that differ
 * from the defaults, one operation a line, GPAs and statuses in hex.
 */
function traceJson(t: Trace): string {
  const one = (v: unknown): string => JSON.stringify(v, traceFileReplacer);
  const vm = Object.fromEntries(Object.entries(t.vm).filter(([k, v]) => one(v) !== one((DEFAULT_VM as Record<string, unknown>)[k])));
  const lines = ['{', `  "name": ${one(t.name)},`];
  if (Object.keys(vm).length > 0) lines.push(`  "vm": ${one(vm)},`);
  lines.push('  "threads": [');
  t.threads.forEach((th, i) => {
    lines.push(`    { "name": ${one(th.name)}, "ops": [`);
    th.ops.forEach((o, j) => lines.push(`      ${one(o)}${j < th.ops.length - 1 ? ',' : ''}`));
    lines.push(`    ] }${i < t.threads.length - 1 ? ',' : ''}`);
  });
  lines.push(`  ]${t.schedule ? ',' : ''}`);
  if (t.schedule) lines.push(`  "schedule": ${one(t.schedule)}`);
  lines.push('}');
  return lines.join('\n');
}

export function formatMail(r: CheckReport, traces: readonly Trace[], steps: readonly StepInfo[], opts: MailOptions): string {
  const byName = new Map(traces.map((t) => [t.name, t]));
  const manifest = new Map(steps.map((s) => [s.manifest.step, s.manifest]));
  // a step that only undoes the one before is not a finding of its own
  const bad = r.results.filter((x) => x.verdict === 'unexpected' && x.undoes === undefined);
  const byStep = new Map<number, CheckResult[]>();
  for (const x of bad) byStep.set(x.step, [...(byStep.get(x.step) ?? []), x]);
  // prose is fitted to 80 columns; a trace goes verbatim (it must stay valid JSON)
  const parts: string[] = [];
  let out: string[] = [];
  const flush = (): void => {
    if (out.length > 0) parts.push(fitText(out.join('\n')));
    out = [];
  };
  const n = byStep.size;
  const subject = `Subject: [tdx-difftest] TDX MMU refactors: ${n === 0 ? 'no unexpected behaviour change' : `unexpected behaviour change at ${[...byStep.keys()].map((s) => `${pad2(s)}/15`).join(', ')}`}`;
  out.push('');
  out.push('Hello,');
  out.push('');
  out.push(`tdx-difftest ${opts.version} replayed ${r.traces.length} trace${r.traces.length === 1 ? '' : 's'} on the "TDX MMU refactors" series (15 patches) and compared steps ${pad2(r.from)}..${pad2(r.to)} each with the step before it, against the behaviour changes its patch declares.`);
  const base = manifest.get(0);
  if (base) out.push(`base: step 00 (${base.subject})`);
  if (opts.kernel) out.push(`kernel tree: ${opts.kernel.path}, HEAD ${opts.kernel.head.slice(0, 12)}`);
  out.push(`result: ${r.counts.same} same, ${r.counts.intended} intended, ${r.counts.unexpected} unexpected`);
  if (n === 0) {
    out.push('');
    out.push('Every difference between neighbouring steps is one its patch declares.');
  }
  for (const [step, cases] of byStep) {
    const m = manifest.get(step);
    out.push('');
    out.push(`step ${pad2(step)}: ${m?.subject ?? '?'}`);
    out.push(`  unexpected on ${cases.length} trace${cases.length === 1 ? '' : 's'}: ${cases.map((c) => c.trace).join(', ')}`);
    const smallest = [...cases].sort((a, b) => traceSize(byName.get(a.trace)!) - traceSize(byName.get(b.trace)!) || (a.trace < b.trace ? -1 : 1))[0]!;
    const f = smallest.firstDivergence;
    if (f) {
      out.push(`  first divergence on ${smallest.trace}: ${f.thread} ${f.op}`);
      const o = f.ops.find((x) => x.thread === f.thread && x.op === f.op);
      if (o) out.push(`    result: step ${pad2(smallest.base)} ${o.base}, step ${pad2(step)} ${o.step}`);
    }
    const diffs = smallest.differences.filter((d) => d.intents.length === 0).slice(0, 8);
    for (const d of diffs) out.push(`  ${formatDifference(d)}`);
    if (smallest.missing?.length) out.push(`  intended change missing: ${smallest.missing.join(', ')}`);
    out.push(`  bisect: ${smallest.trace} first changes unexpectedly at step ${pad2(step)}`);
    const t = byName.get(smallest.trace)!;
    out.push(`  reproducer (${smallest.trace}${t.description ? `: ${t.description}` : ''}):`);
    flush();
    parts.push(traceJson(t).split('\n').map((l) => `    ${l}`).join('\n'));
    // commands and the Fixes: tag are pasted as they are: never wrapped
    parts.push(`  replay: npx tdx-difftest check ${smallest.trace} --from ${step} --to ${step}`);
    if (m?.commit) parts.push(`\nFixes: ${m.commit} ("${m.subject}")`);
  }
  out.push('');
  out.push('--');
  out.push(`tdx-difftest ${opts.version}; every step's intents: npx tdx-difftest show-step N`);
  flush();
  return [subject, ...parts].join('\n') + '\n';
}
