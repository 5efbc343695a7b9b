// Rendering observations and verdicts: JSON, plain text for an 80-column mail reply.
import type { Observation } from './observation.ts';
import type { CheckReport, CheckResult } from './check.ts';

export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x));
}

export function formatEvent(e: Record<string, unknown>): string {
  const { kind, thread, ...rest } = e;
  const parts = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  return `${String(thread ?? '-').padEnd(8)} ${String(kind).padEnd(9)} ${parts.join(' ')}`;
}

export function formatObservationText(obs: Observation): string {
  const lines = [`== step ${obs.step}  trace ${obs.trace}`];
  for (const e of obs.events) lines.push('  ' + formatEvent(e));
  const f = obs.final;
  lines.push(`  final: end=${f.end} vm.bugged=${f.vm.bugged} td=${f.vm.td} hkid=${f.vm.hkid}`);
  lines.push(`    mirror: ${f.mirror.map((m) => `${m.gpa}/L${m.level}:${m.kind}${m.page ? ':' + m.page : ''}`).join(' ') || '(empty)'}`);
  lines.push(`    direct: ${f.direct.map((m) => `${m.gpa}/L${m.level}:${m.kind}`).join(' ') || '(empty)'}`);
  lines.push(`    sept:   ${f.sept.map((s) => `${s.gpa}/L${s.level}:${s.state}:${s.page}`).join(' ') || '(empty)'}`);
  lines.push(`    septPages: ${f.septPages.join(' ') || '(none)'}  leaked: ${f.pages.leaked.map((l) => `${l.page}(${l.what})`).join(' ') || '(none)'}`);
  for (const n of obs.notes ?? []) lines.push(`  note: ${n}`);
  return lines.join('\n') + '\n';
}

// ---- reports of the differential harness (check / diff / bisect / matrix) ----

/** Terminal styling: ANSI colours only when asked for (a TTY without NO_COLOR). */
export interface Style {
  color: boolean;
}

const ANSI: Record<string, string> = { red: '31', green: '32', yellow: '33', cyan: '36', dim: '2', bold: '1' };

export function paint(s: string, color: keyof typeof ANSI | string, style: Style): string {
  const code = ANSI[color];
  return style.color && code ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/** Whether output to `stream` should be coloured: a TTY, and NO_COLOR unset or empty. */
export function wantColor(stream: { isTTY?: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream?.isTTY) && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

/** Visible length of a string (ANSI colour codes do not count). */
export function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * Breaks one line into lines of at most `width` characters: at spaces where possible,
 * hard within over-long words; continuation lines start with `indent`.
 */
export function wrapLine(line: string, width = 80, indent = '      '): string[] {
  if (line.length <= width) return [line];
  const out: string[] = [];
  let rest = line;
  let prefix = '';
  while (prefix.length + rest.length > width) {
    const room = width - prefix.length;
    // between tokens; a token longer than the whole line is the only one ever cut
    let cut = rest.lastIndexOf(' ', room);
    if (cut <= 0 || rest.slice(0, cut).trim() === '') cut = room;
    out.push(prefix + rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
    prefix = indent;
  }
  if (rest.length > 0) out.push(prefix + rest);
  return out;
}

/** A line of a unified diff (a model diff, or a real commit's). */
const DIFF_LINE = /^(diff --git |index |new file|deleted file|--- |\+\+\+ |@@ |[ +-]|\\ No newline)/;

/**
 * Any command's plain text fitted to `width` columns for a mail reply: each line longer
 * than that is wrapped between tokens, continued 4 columns deeper than it starts. Inside
 * a diff (from "diff --git" on) a code line's continuation keeps its +/-/space column,
 * so the sides stay readable (`show-step --patch` prints the model diff unwrapped).
 */
export function fitText(text: string, width = 80): string {
  let inDiff = false;
  return text
    .split('\n')
    .flatMap((l) => {
      if (l.startsWith('diff --git ')) inDiff = true;
      else if (inDiff && !DIFF_LINE.test(l)) inDiff = false;
      if (visibleLength(l) <= width) return [l];
      const plain = stripAnsi(l);
      if (inDiff && /^[ +-]/.test(plain) && !/^(--- |\+\+\+ )/.test(plain)) {
        const lead = /^ */.exec(plain.slice(1))![0].length;
        return wrapLine(plain.slice(1), width - 1, ' '.repeat(Math.min(lead + 4, 24))).map((c) => plain[0] + c);
      }
      const lead = /^ */.exec(plain)![0].length;
      return wrapLine(plain, width, ' '.repeat(Math.min(lead + 4, 24)));
    })
    .join('\n');
}

/** Wraps every line of a text block to `width`. */
export function wrapText(text: string, width = 80, indent = '      '): string {
  const lines = text.split('\n');
  return lines.flatMap((l) => wrapLine(l, width, indent)).join('\n');
}

/** One event, or final-state entry, on one line without padding: "vcpu0 seamcall name=… status=…". */
export function formatEventCompact(e: Record<string, unknown>): string {
  if (e.kind === 'final') return `final ${String(e.what)} ${String(e.key)} = ${String(e.value)}`;
  return formatEvent(e).replace(/ {2,}/g, ' ').trim();
}

/** A difference as one line: "- functional  vcpu0 result name=fault value=-EIO". */
export function formatDifference(d: { layer: string; side: string; event: Record<string, unknown>; intents?: readonly string[]; madeBy?: number }, style: Style = { color: false }): string {
  const sign = d.side === 'removed' ? '-' : '+';
  const by = d.madeBy === undefined ? '' : `step ${pad2(d.madeBy)}: `;
  const why = d.intents === undefined ? '' : d.intents.length > 0 ? `  [${by}${d.intents.join(', ')}]` : d.madeBy !== undefined ? `  [${by}unexpected]` : '  [unexpected]';
  const line = `${sign} ${d.layer === 'functional' ? 'fn  ' : 'diag'} ${formatEventCompact(d.event)}${why}`;
  if (!style.color) return line;
  return paint(line, d.side === 'removed' ? 'red' : 'green', style);
}

/** A step number as the reports write it: 09. */
export const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Why a failing case is only the undo of the step before's failure, to lead its message (or nothing). */
export function undoNote(x: { undoes?: number }): string {
  return x.undoes !== undefined ? `only undoes step ${pad2(x.undoes)}'s unexpected change: ` : '';
}

export interface VerdictCell {
  trace: string;
  step: number;
  verdict: 'same' | 'intended' | 'unexpected';
  /** An unexpected case that only undoes this step before's unexpected change. */
  undoes?: number;
}

const MARK: Record<VerdictCell['verdict'], string> = { same: '.', intended: 'i', unexpected: 'X' };

function markOf(v: VerdictCell['verdict'], style: Style): string {
  const m = MARK[v];
  if (v === 'same') return paint(m, 'dim', style);
  if (v === 'intended') return paint(m, 'cyan', style);
  return paint(m, 'red', style);
}

/** A cell of the verdict matrix: its verdict's mark, or `u` for a case that only undoes the step before. */
function cellMark(c: VerdictCell, style: Style): string {
  return c.undoes !== undefined && c.verdict === 'unexpected' ? paint(UNDO_MARK, 'yellow', style) : markOf(c.verdict, style);
}

const UNDO_MARK = 'u';

/**
 * The verdict matrix: rows traces, columns steps, two characters per column (step
 * numbers written downwards in two header rows), split into blocks when the steps do
 * not fit `width`. Trace names longer than the name column (at most 40 characters)
 * are cut with "~".
 */
export function formatVerdictMatrix(traces: readonly string[], steps: readonly number[], cells: readonly VerdictCell[], style: Style = { color: false }, width = 80): string {
  const byKey = new Map(cells.map((c) => [`${c.trace}\u0000${c.step}`, c]));
  const longest = Math.max(5, ...traces.map((t) => t.length));
  const perBlockMax = Math.max(1, Math.floor((width - 21) / 2));
  const lines: string[] = [];
  for (let b = 0; b < steps.length; b += perBlockMax) {
    const block = steps.slice(b, b + perBlockMax);
    const nameW = Math.min(longest, 40, width - 1 - 2 * block.length);
    const head = (digit: (s: string) => string): string => ' '.repeat(nameW) + ' ' + block.map((s) => digit(pad2(s)).padEnd(2)).join('').trimEnd();
    lines.push(head((s) => s.slice(0, s.length - 1)));
    lines.push(head((s) => s.slice(-1)));
    for (const t of traces) {
      const name = t.length > nameW ? t.slice(0, nameW - 1) + '~' : t.padEnd(nameW);
      const row = block.map((s) => {
        const c = byKey.get(`${t}\u0000${s}`);
        return (c ? cellMark(c, style) : ' ') + ' ';
      }).join('');
      lines.push(`${name} ${row}`.trimEnd());
    }
    if (b + perBlockMax < steps.length) lines.push('');
  }
  return lines.join('\n') + '\n';
}

/**
 * The check report as text: the verdict matrix, the unexpected differences, the
 * intended ones with their intents, intent coverage and a summary. Every line fits
 * `width` columns.
 */
/** How many unexplained differences a failing case lists before pointing at --full. */
export const DIFFERENCES_SHOWN = 8;
/** How many failing cases of one step are shown in detail; the others get their first divergence only. */
export const CASES_DETAILED = 3;

/** The operations around the first divergence, both steps' results side by side, the diverging one marked. */
function formatDivergence(x: CheckResult): string[] {
  const f = x.firstDivergence;
  if (!f) return [];
  const at = f.ops.findIndex((o) => o.thread === f.thread && o.op === f.op);
  // the three operations before the diverging one and the one after: how it got there
  const from = at < 0 ? 0 : Math.max(0, at - 3);
  const shown = f.ops.slice(from, at < 0 ? f.ops.length : Math.min(f.ops.length, at + 2));
  const name = (o: { thread: string; op: string }): string => `${o.thread} ${o.op}`;
  const w = Math.max(...shown.map((o) => name(o).length), 9);
  const v = Math.max(...shown.map((o) => o.base.length), 7);
  const out = [`    first divergence: ${f.thread} ${f.op}`, `      ${''.padEnd(w + 2)}${`step ${pad2(x.base)}`.padEnd(v + 2)}step ${pad2(x.step)}`];
  for (const o of shown) out.push(`    ${o.thread === f.thread && o.op === f.op ? '>' : ' '} ${name(o).padEnd(w + 2)}${o.base.padEnd(v + 2)}${o.step}`);
  if (from > 0) out.splice(2, 0, `      … ${from} operation${from === 1 ? '' : 's'} before`);
  return out;
}

export function formatCheckText(r: CheckReport, style: Style = { color: false }, width = 80, full = false): string {
  const out: string[] = [];
  const span = r.steps.length === 1 ? `step ${pad2(r.from)}` : `steps ${pad2(r.from)}..${pad2(r.to)}`;
  out.push(`check: ${r.traces.length} trace${r.traces.length === 1 ? '' : 's'} x ${span}, each step against the step before it`);
  out.push('');
  out.push(formatVerdictMatrix(r.traces, r.steps.map((s) => s.step), r.results, style, width).trimEnd());
  const undone = r.results.some((x) => x.undoes !== undefined);
  out.push(`legend: ${markOf('same', style)} same  ${markOf('intended', style)} intended  ${markOf('unexpected', style)} unexpected${undone ? `  ${paint(UNDO_MARK, 'yellow', style)} only undoes the step before` : ''}`);

  const bad = r.results.filter((x) => x.verdict === 'unexpected');
  if (bad.length > 0) {
    out.push('');
    out.push(paint('Unexpected:', 'bold', style));
    const detailed = new Map<number, number>();
    for (const x of bad) {
      if (x.undoes !== undefined && !full) {
        out.push(`${cellMark(x, style)} ${x.trace}, step ${pad2(x.step)} vs ${pad2(x.base)}: only undoes step ${pad2(x.undoes)}'s unexpected change (above)`);
        continue;
      }
      const unexplained = x.differences.filter((d) => d.intents.length === 0);
      const parts: string[] = [];
      if (x.error !== undefined) parts.push(`the replay failed: ${x.error}`);
      else if (unexplained.length > 0) {
        const explained = x.differences.length - unexplained.length;
        parts.push(`${unexplained.length} difference${unexplained.length === 1 ? '' : 's'} not explained${explained > 0 ? ` (${explained} explained)` : ''}`);
      }
      if (x.missing && x.missing.length > 0) parts.push(`intended change missing: ${x.missing.join(', ')}`);
      out.push(`${markOf('unexpected', style)} ${x.trace}, step ${pad2(x.step)} vs ${pad2(x.base)}: ${parts.join('; ')}`);
      const n = (detailed.get(x.step) ?? 0) + 1;
      detailed.set(x.step, n);
      if (n > CASES_DETAILED && !full) {
        if (x.firstDivergence) out.push(`    first divergence: ${x.firstDivergence.thread} ${x.firstDivergence.op} (details: --full, or check ${x.trace} --from ${x.step} --to ${x.step})`);
        continue;
      }
      out.push(...formatDivergence(x));
      const listed = full ? x.differences : unexplained;
      const cap = full ? listed.length : DIFFERENCES_SHOWN;
      for (const d of listed.slice(0, cap)) out.push('    ' + formatDifference(d, style));
      if (listed.length > cap) out.push(`    … ${listed.length - cap} more not shown (--full lists every difference)`);
    }
  }

  const good = r.results.filter((x) => x.verdict === 'intended');
  if (good.length > 0) {
    out.push('');
    out.push(paint('Intended:', 'bold', style));
    for (const x of good) out.push(`${markOf('intended', style)} ${x.trace}, step ${pad2(x.step)}: ${x.intents.join(', ')}`);
  }

  const rough = r.results.filter((x) => x.approximate);
  if (rough.length > 0) {
    out.push('');
    out.push(`${paint('Aligned approximately:', 'bold', style)} these runs were too long and too different for a shortest diff; they were aligned on the events each has once (a valid diff, maybe not the shortest): ${rough.map((x) => `${x.trace} step ${pad2(x.step)}`).join(', ')}`);
  }

  const impossible = new Map<string, Set<string>>();
  for (const x of r.results) for (const why of x.outsideContract ?? []) {
    const set = impossible.get(x.trace) ?? new Set<string>();
    set.add(why);
    impossible.set(x.trace, set);
  }
  if (impossible.size > 0) {
    out.push('');
    out.push(paint('Injected answers outside the TDX module\'s contract', 'bold', style) + ' (the kernel faced an answer the real module cannot give):');
    for (const [trace, whys] of impossible) for (const why of whys) out.push(`  ${trace}: ${why}`);
  }

  out.push('');
  if (r.coverageCounted) {
    const witnessed = r.coverage.length - r.gaps.length;
    out.push(paint('Intent coverage:', 'bold', style) + ` ${witnessed} of ${r.coverage.length} intent${r.coverage.length === 1 ? '' : 's'} in range witnessed`);
    for (const c of r.coverage) {
      const who = c.witnesses.length > 0 ? `${c.witnesses.length} trace${c.witnesses.length === 1 ? '' : 's'} (${c.witnesses.join(', ')})` : paint('GAP: no trace witnesses it', 'red', style);
      out.push(`  ${pad2(c.step)} ${c.intent}: ${who}`);
    }
  } else {
    out.push(paint('Intent coverage:', 'bold', style) + ' not counted (the traces were given: --coverage counts it over them)');
  }

  out.push('');
  const verdict = r.exitCode === 0 ? paint('OK', 'green', style) : paint('FAIL', 'red', style);
  const gaps = r.coverageCounted ? `; ${r.gaps.length} coverage gap${r.gaps.length === 1 ? '' : 's'}` : '';
  const undoing = r.results.filter((x) => x.verdict === 'unexpected' && x.undoes !== undefined).length;
  const of = undoing > 0 ? ` (${undoing} only undo${undoing === 1 ? 'es' : ''} the step before)` : '';
  out.push(`${r.counts.same} same, ${r.counts.intended} intended, ${r.counts.unexpected} unexpected${of}${gaps}: ${verdict}`);
  return out.flatMap((l) => l.split('\n')).flatMap((l) => (visibleLength(l) > width ? wrapLine(stripAnsi(l), width) : [l])).join('\n') + '\n';
}

export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}
