// The transition table, after Yan Zhao's table of handle_changed_spte() scenarios:
// old SPTE (non-present, present leaf, present non-leaf) × new SPTE (non-present,
// FROZEN, present leaf, present non-leaf) × mmu_lock (shared, exclusive) × root
// (mirror, direct). Each cell is one probe from a canonical set-up, replayed on every
// step; the cell's content is what the probe did: which KVM_BUG_ON / WARN /
// KVM_MMU_WARN_ON / lockdep fired where, which SEAMCALLs ran with which status, what
// the caller got back, and whether the host crashed (BUG()) or the thread livelocked.
//
// Set-up (a runnable TD with one vCPU): a fault at a private GPA (mirror root) or at
// its shared alias (direct root; the page is converted to shared first), which maps a
// 4K leaf under tables at levels 4, 3 and 2. Probe position by old kind: present leaf
// = level 1 at the faulted GPA; present non-leaf = level 2 at the faulted GPA;
// non-present = level 1 at the next 4K page, never faulted, under the same level-2
// table.
import type { ObsEvent } from '../src/kernel/context.ts';
import type { StepModel } from '../versions/index.ts';
import { safeReplay, stepRef, type StepRef } from './check.ts';
import type { Observation } from './observation.ts';
import { paint, wrapLine, type Style, pad2 } from './report.ts';
import { parseTrace, type Trace } from './trace.ts';

export const OLD_KINDS = ['nonpresent', 'leaf', 'nonleaf'] as const;
export const NEW_KINDS = ['nonpresent', 'frozen', 'leaf', 'nonleaf'] as const;
export const LOCKS = ['read', 'write'] as const;
export const ROOTS = ['mirror', 'direct'] as const;

export type OldKind = (typeof OLD_KINDS)[number];
export type NewKind = (typeof NEW_KINDS)[number];
export type LockKind = (typeof LOCKS)[number];
export type RootKind = (typeof ROOTS)[number];

export interface CellSpec {
  root: RootKind;
  lock: LockKind;
  old: OldKind;
  new: NewKind;
}

export interface CellContent {
  /** Diagnostics in order of first firing, "KIND@site", repeats as " xN". */
  diagnostics: string[];
  /** SEAMCALLs in order, "NAME=STATUS" (TDH. / TDX_ prefixes dropped), consecutive repeats as " xN". */
  seamcalls: string[];
  /** The probe's return value, or '-' when it never returned. */
  result: string;
  /** 'BUG()' when the host crashed, 'livelock' / 'deadlock' / 'model-error' when the replay ended so; else null. */
  end: string | null;
  /** Invariant violations that appeared during the probe (rule names). */
  invariants: string[];
  /** All of the above on one line. */
  text: string;
}

/** The faulted private GPA; its shared alias adds the shared bit (GPA bit 47). */
export const PROBE_GPA = 0x1000;
export const SHARED_BIT = 0x800000000000;

/** Every cell, in table order: root, lock, old, new. */
export const CELLS: readonly CellSpec[] = ROOTS.flatMap((root) =>
  LOCKS.flatMap((lock) => OLD_KINDS.flatMap((old) => NEW_KINDS.map((n) => ({ root, lock, old, new: n })))),
);

export function cellId(c: CellSpec): string {
  return `${c.root}/${c.lock}/${c.old}->${c.new}`;
}

const hex = (n: number): string => '0x' + n.toString(16);

/** The set-up operations of a cell (without the probe). */
function setupOps(c: CellSpec): Record<string, unknown>[] {
  if (c.root === 'mirror') return [{ op: 'fault', vcpu: 0, gpa: hex(PROBE_GPA) }];
  return [
    { op: 'convert_to_shared', gpa: hex(PROBE_GPA), npages: 1 },
    { op: 'fault', vcpu: 0, gpa: hex(PROBE_GPA + SHARED_BIT) },
  ];
}

/** The probe of a cell. */
export function probeOp(c: CellSpec): Record<string, unknown> {
  const base = c.root === 'direct' ? SHARED_BIT : 0;
  const gpa = c.old === 'nonpresent' ? PROBE_GPA + 0x1000 : PROBE_GPA;
  const level = c.old === 'nonleaf' ? 2 : 1;
  return { op: 'probe_set_spte', root: c.root, gpa: hex(base + gpa), level, new: c.new, lock: c.lock };
}

/** The trace of one cell: set-up then the probe, on one thread. */
export function cellTrace(c: CellSpec): Trace {
  const ops = [...setupOps(c), probeOp(c)];
  const json = {
    name: `matrix-${c.root}-${c.lock}-${c.old}-to-${c.new}`,
    description: `transition table cell ${cellId(c)}`,
    vm: { td: 'runnable', vcpus: 1 },
    threads: [{ name: 'vcpu0', ops }],
  };
  return parseTrace(JSON.stringify(json), `<matrix ${cellId(c)}>`);
}

const DIAG = new Set(['bug', 'warn', 'mmu_warn', 'lockdep']);

function collapse(items: string[], consecutiveOnly: boolean): string[] {
  const out: { s: string; n: number }[] = [];
  for (const s of items) {
    const prev = consecutiveOnly ? out[out.length - 1] : out.find((o) => o.s === s);
    if (prev && prev.s === s) prev.n++;
    else out.push({ s, n: 1 });
  }
  return out.map((o) => (o.n > 1 ? `${o.s} x${o.n}` : o.s));
}

function shortCall(name: string): string {
  return name.replace(/^TDH\./, '');
}

function shortStatus(status: unknown): string {
  return String(status).replace(/^TDX_/, '');
}

/**
 * The events of the probe: everything after the result event of the last set-up
 * operation (`lastSetupLabel`, e.g. 'fault#1'); null when the set-up never finished.
 */
export function probeEvents(obs: Observation, lastSetupLabel: string): ObsEvent[] | null {
  let at = -1;
  for (let i = obs.events.length - 1; i >= 0; i--) {
    const e = obs.events[i]!;
    if (e.kind === 'result' && e.op === lastSetupLabel) {
      at = i;
      break;
    }
  }
  return at < 0 ? null : obs.events.slice(at + 1);
}

/** Summarises what the probe did in one cell. */
export function summarizeProbe(events: readonly ObsEvent[], probeLabel: string): CellContent {
  const diags: string[] = [];
  const calls: string[] = [];
  const inv: string[] = [];
  let result = '-';
  let end: string | null = null;
  for (const e of events) {
    if (DIAG.has(e.kind)) diags.push(`${e.kind}@${String(e.site)}`);
    else if (e.kind === 'seamcall') calls.push(`${shortCall(String(e.name))}=${shortStatus(e.status)}`);
    else if (e.kind === 'invariant') inv.push(String(e.rule));
    else if (e.kind === 'result' && e.op === probeLabel) result = String(e.value);
    else if (e.kind === 'crash') end = 'BUG()';
    else if (e.kind === 'end' && end === null) end = String(e.end);
    else if (e.kind === 'livelock' || e.kind === 'deadlock' || e.kind === 'model-error') end = e.kind;
  }
  const diagnostics = collapse(diags, false);
  const seamcalls = collapse(calls, true);
  const invariants = collapse(inv, false);
  const parts = [`ret=${result}`];
  if (end) parts.push(end);
  if (diagnostics.length > 0) parts.push(diagnostics.join(', '));
  if (seamcalls.length > 0) parts.push(seamcalls.join(', '));
  if (invariants.length > 0) parts.push('inv: ' + invariants.join(', '));
  return { diagnostics, seamcalls, result, end, invariants, text: parts.join('; ') };
}

/** Replays one cell on one step. */
export function cellContent(c: CellSpec, step: StepModel, trace: Trace = cellTrace(c)): CellContent {
  const ops = trace.threads[0]!.ops;
  const setup = ops.length - 1;
  const { obs, error } = safeReplay(trace, step);
  if (error !== undefined) return { diagnostics: [], seamcalls: [], result: '-', end: 'model-error', invariants: [], text: `model-error: ${error}` };
  const ev = probeEvents(obs, `${ops[setup - 1]!.op}#${setup - 1}`);
  if (!ev) return { diagnostics: [], seamcalls: [], result: '-', end: obs.final.end, invariants: [], text: `set-up did not finish (${obs.final.end})` };
  return summarizeProbe(ev, `probe_set_spte#${setup}`);
}

export interface MatrixCell {
  cell: CellSpec;
  id: string;
  byStep: { step: number; content: CellContent }[];
}

export interface MatrixReport {
  steps: StepRef[];
  cells: MatrixCell[];
}

/** Every cell on every step. */
export function buildMatrix(steps: readonly StepModel[], cells: readonly CellSpec[] = CELLS): MatrixReport {
  const sorted = [...steps].sort((a, b) => a.manifest.step - b.manifest.step);
  return {
    steps: sorted.map(stepRef),
    cells: cells.map((cell) => {
      const trace = cellTrace(cell);
      return { cell, id: cellId(cell), byStep: sorted.map((s) => ({ step: s.manifest.step, content: cellContent(cell, s, trace) })) };
    }),
  };
}

export interface MatrixChange {
  step: number;
  base: number;
  cell: CellSpec;
  id: string;
  before: CellContent;
  after: CellContent;
}

/** The cells whose content changes from one step to the next, step by step. */
export function matrixChanges(m: MatrixReport): MatrixChange[] {
  const out: MatrixChange[] = [];
  for (let i = 1; i < m.steps.length; i++) {
    for (const c of m.cells) {
      const before = c.byStep[i - 1]!.content;
      const after = c.byStep[i]!.content;
      if (before.text !== after.text) out.push({ step: m.steps[i]!.step, base: m.steps[i - 1]!.step, cell: c.cell, id: c.id, before, after });
    }
  }
  return out;
}

const LOCK_NAME: Record<LockKind, string> = { read: 'shared (read) lock', write: 'exclusive (write) lock' };

function cellLine(c: CellSpec, text: string): string {
  return `  ${c.old.padEnd(10)} -> ${c.new.padEnd(10)} ${text}`;
}

/** The table of every step; cells that differ from the previous step are highlighted on a TTY. */
export function formatMatrixText(m: MatrixReport, style: Style = { color: false }, width = 80): string {
  const out: string[] = [];
  for (let i = 0; i < m.steps.length; i++) {
    const s = m.steps[i]!;
    out.push(`== step ${pad2(s.step)}: ${s.subject}`);
    for (const root of ROOTS) {
      for (const lock of LOCKS) {
        const group = m.cells.filter((x) => x.cell.root === root && x.cell.lock === lock);
        if (group.length === 0) continue;
        out.push(`${root} root, ${LOCK_NAME[lock]}:`);
        for (const c of group) {
          const text = c.byStep[i]!.content.text;
          const changed = i > 0 && c.byStep[i - 1]!.content.text !== text;
          for (const l of wrapLine(cellLine(c.cell, text) + (changed ? ' *' : ''), width, ' '.repeat(28))) out.push(changed ? paint(l, 'yellow', style) : l);
        }
      }
    }
    out.push('');
  }
  out.push('"*": the cell differs from the step before.');
  return out.join('\n') + '\n';
}

/** Only the cells that change, step N-1 -> N, old content -> new content. */
export function formatChangesText(m: MatrixReport, changes: readonly MatrixChange[], style: Style = { color: false }, width = 80): string {
  const subject = new Map(m.steps.map((s) => [s.step, s.subject]));
  const out: string[] = [];
  let cur = -1;
  for (const ch of changes) {
    if (ch.step !== cur) {
      if (cur !== -1) out.push('');
      out.push(`== step ${pad2(ch.base)} -> ${pad2(ch.step)}: ${subject.get(ch.step) ?? ''}`);
      cur = ch.step;
    }
    out.push(`${ch.cell.root} ${ch.cell.lock} ${ch.cell.old} -> ${ch.cell.new}`);
    for (const l of wrapLine(`  - ${ch.before.text}`, width, '      ')) out.push(paint(l, 'red', style));
    for (const l of wrapLine(`  + ${ch.after.text}`, width, '      ')) out.push(paint(l, 'green', style));
  }
  if (changes.length === 0) out.push('no cell changes from one step to the next');
  return out.join('\n') + '\n';
}
