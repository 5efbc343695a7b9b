// The tester measures itself: mutation testing of the step models.
//
// A mutant is one step model with one small slip a refactor could make (a deleted
// diagnostic, a negated condition, && for ||, a flipped comparison, another errno
// returned, an early return or a call deleted, two statements swapped), applied to a
// temporary copy of the step folder and imported in this process. Each mutant is
// replayed on the corpus in place of its step and checked against the real steps
// before and after it, exactly as `check` does:
//
// - killed: the check fails (something unexpected, or an intended change missing);
// - no change: every observation equals the real step's (the mutated code is not
//   reached, or the slip is invisible there); the traces that reach the mutated
//   function are listed, so that a survivor says why;
// - masked: some observation changed but every change was explained by an intent.
//   A masked mutant is a defect of the intents (or of the corpus): the goal is none.
//
// The base has no step before it: a mutant of it is also checked as a patch on top of the
// real base that claims no change (the convention of test/broken).
//
// Mutation sites are found with the TypeScript parser in the files the series changes
// (tdp_mmu.ts, tdx.ts, x86_ops.ts), inside functions. Mutants are enumerated in a fixed
// order, shuffled by a seeded generator, and the first `limit` per step are run, so a
// run is the same for the same seed, byte for byte.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Tinypool from 'tinypool';
import ts from 'typescript';
import { loadStepFrom, type StepModel } from '../versions/load.ts';
import { InputError } from '../src/cli/errors.ts';
import { EAGAIN, EBUSY, EFAULT, EINTR, EINVAL, EIO, EPERM } from '../src/kernel/mmu_internal.ts';
import { buildReport, pairResult, safeReplay, type Replayed, type StepPair } from './check.ts';
import { sameBehaviour } from './compare.ts';
import { exploreExhaustive } from './exhaustive.ts';
import { concurrentTraces, exploreInterleavingSets } from './interleavings.ts';
import type { Trace } from './trace.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..');

import { OPERATORS, type Operator } from './mutate_operators.ts';

export { OPERATORS, type Operator };

/** The files of a step folder that the series changes (the rest is the same in every step). */
export const MUTATED_FILES = ['tdp_mmu.ts', 'tdx.ts', 'x86_ops.ts'];

/** Diagnostics: calls whose deletion removes a report but keeps the checked condition. */
const DIAGNOSTICS = /^(KVM_BUG_ON|KVM_BUG_ON_DATA_CORRUPTION|WARN_ON|WARN_ON_ONCE|WARN|KVM_MMU_WARN_ON|TDX_BUG_ON(_\d)?|__TDX_BUG_ON|lockdep_assert_\w+|BUG_ON)$/;

/** Errno constants and the one a mutant returns instead. */
const ERRNO_SWAP: Record<string, string> = { EIO: 'EBUSY', EBUSY: 'EIO', EINVAL: 'EIO', EAGAIN: 'EIO', EFAULT: 'EIO', EPERM: 'EIO', EINTR: 'EIO' };
const ERRNO_VALUE: Record<string, number> = { EPERM, EINTR, EIO, EAGAIN, EFAULT, EBUSY, EINVAL };

const COMPARISON_FLIP: Partial<Record<ts.SyntaxKind, string>> = {
  [ts.SyntaxKind.LessThanToken]: '>=',
  [ts.SyntaxKind.GreaterThanEqualsToken]: '<',
  [ts.SyntaxKind.GreaterThanToken]: '<=',
  [ts.SyntaxKind.LessThanEqualsToken]: '>',
  [ts.SyntaxKind.EqualsEqualsEqualsToken]: '!==',
  [ts.SyntaxKind.ExclamationEqualsEqualsToken]: '===',
  [ts.SyntaxKind.EqualsEqualsToken]: '!=',
  [ts.SyntaxKind.ExclamationEqualsToken]: '==',
};

/** One mutation: replace [start, end) of a file of a step folder. */
export interface Mutant {
  /** "vNN/file:line:operator:k", unique and stable for a tree. */
  id: string;
  step: number;
  file: string;
  /** The function the slip is in. */
  fn: string;
  line: number;
  operator: Operator;
  start: number;
  end: number;
  replacement: string;
  /** The original text (shown in reports). */
  original: string;
  /** Offset just inside the function body's "{", where the reach probe goes. */
  bodyStart: number;
  /** The statement(s) or expression holding the slip, where the site probe goes. */
  siteStart: number;
  siteEnd: number;
  siteKind: 'statement' | 'expression';
}

function callName(e: ts.Expression): string | null {
  if (ts.isCallExpression(e)) {
    const c = e.expression;
    if (ts.isIdentifier(c)) return c.text;
    if (ts.isPropertyAccessExpression(c)) return c.name.text;
  }
  return null;
}

/** The call an expression statement makes: `f(…)`, `yield* f(…)`, `void f(…)`. */
function statementCall(e: ts.Expression): ts.CallExpression | null {
  let x: ts.Expression = e;
  if (ts.isYieldExpression(x) && x.expression) x = x.expression;
  if (ts.isAwaitExpression(x) || ts.isVoidExpression(x)) x = x.expression;
  while (ts.isParenthesizedExpression(x)) x = x.expression;
  return ts.isCallExpression(x) ? x : null;
}

function isDiagnosticCall(e: ts.Expression): boolean {
  const n = callName(e);
  return n !== null && DIAGNOSTICS.test(n);
}

function fnName(node: ts.Node): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isFunctionExpression(node)) && node.name) return node.name.getText();
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText();
  if (p && ts.isPropertyAssignment(p)) return p.name.getText();
  return '(anonymous)';
}

/** Every mutation site of one file, in source order. */
export function mutationSites(step: number, file: string, text: string): Mutant[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Mutant[] = [];
  const stack: { name: string; bodyStart: number }[] = [];
  const add = (operator: Operator, node: ts.Node | { getStart(): number; getEnd(): number }, replacement: string, start?: number, end?: number, site?: { node: ts.Node; kind: 'statement' | 'expression' }): void => {
    const fn = stack[stack.length - 1];
    if (!fn) return; // only code inside functions
    const s = start ?? node.getStart(sf);
    const e = end ?? node.getEnd();
    const line = sf.getLineAndCharacterOfPosition(s).line + 1;
    const siteStart = site ? site.node.getStart(sf) : s;
    const siteEnd = site ? site.node.getEnd() : e;
    const siteKind = site ? site.kind : 'statement';
    out.push({ id: '', step, file, fn: fn.name, line, operator, start: s, end: e, replacement, original: text.slice(s, e), bodyStart: fn.bodyStart, siteStart, siteEnd, siteKind });
  };
  const visit = (node: ts.Node): void => {
    const isFn = (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isMethodDeclaration(node)) && node.body !== undefined && ts.isBlock(node.body);
    if (isFn) stack.push({ name: stack.length > 0 ? `${stack[stack.length - 1]!.name}/${fnName(node)}` : fnName(node), bodyStart: (node.body as ts.Block).getStart(sf) + 1 });

    // statements: deletions and swaps
    if (ts.isExpressionStatement(node)) {
      const call = statementCall(node.expression);
      if (call && isDiagnosticCall(call)) add('delete-diagnostic', node, ';');
      else if (call) add('delete-call', node, ';');
    }
    if (ts.isReturnStatement(node) && stack.length > 0) {
      // an early return: not the last statement of its function's body
      const p = node.parent;
      const isLast = ts.isBlock(p) && p.statements[p.statements.length - 1] === node && isFunctionBody(p);
      if (!isLast) add('delete-early-return', node, ';');
      const ex = node.expression;
      if (ex && ts.isPrefixUnaryExpression(ex) && ex.operator === ts.SyntaxKind.MinusToken && ts.isIdentifier(ex.operand) && ERRNO_SWAP[ex.operand.text]) {
        const to = ERRNO_SWAP[ex.operand.text]!;
        add('change-errno', ex, `-${ERRNO_VALUE[to]!} /* -${to} */`, undefined, undefined, { node, kind: 'statement' });
      }
    }
    if (ts.isBlock(node) || ts.isSourceFile(node)) {
      const st = node.statements;
      for (let i = 0; i + 1 < st.length; i++) {
        const a = st[i]!;
        const b = st[i + 1]!;
        const movable = (s: ts.Statement): boolean => !ts.isVariableStatement(s) && !ts.isReturnStatement(s) && !ts.isFunctionDeclaration(s) && !ts.isBreakOrContinueStatement(s);
        if (!movable(a) || !movable(b)) continue;
        const as = a.getStart(sf);
        const bs = b.getStart(sf);
        const between = text.slice(a.getEnd(), bs);
        add('swap-statements', { getStart: () => as, getEnd: () => b.getEnd() }, text.slice(bs, b.getEnd()) + between + text.slice(as, a.getEnd()), as, b.getEnd());
      }
    }
    // conditions
    if (ts.isIfStatement(node) || ts.isWhileStatement(node) || ts.isDoStatement(node)) {
      add('negate-condition', node.expression, `!(${node.expression.getText(sf)})`, undefined, undefined, { node: node.expression, kind: 'expression' });
    }
    if (ts.isConditionalExpression(node)) add('negate-condition', node.condition, `!(${node.condition.getText(sf)})`, undefined, undefined, { node: node.condition, kind: 'expression' });
    // a diagnostic used as a condition: keep the check, lose the report
    if (ts.isCallExpression(node) && isDiagnosticCall(node) && !ts.isExpressionStatement(node.parent) && !(ts.isYieldExpression(node.parent) && ts.isExpressionStatement(node.parent.parent)) && node.arguments.length > 0) {
      const cond = node.arguments[0]!.getText(sf);
      add('delete-diagnostic', node, /^TDX_BUG_ON|^__TDX_BUG_ON/.test(callName(node) ?? '') ? `((${cond}) !== 0n)` : `Boolean(${cond})`, undefined, undefined, { node, kind: 'expression' });
    }
    if (ts.isBinaryExpression(node)) {
      const k = node.operatorToken.kind;
      if (k === ts.SyntaxKind.AmpersandAmpersandToken || k === ts.SyntaxKind.BarBarToken) {
        add('swap-logical', node.operatorToken, k === ts.SyntaxKind.AmpersandAmpersandToken ? '||' : '&&', undefined, undefined, { node, kind: 'expression' });
      }
      const flip = COMPARISON_FLIP[k];
      if (flip) add('flip-comparison', node.operatorToken, flip, undefined, undefined, { node, kind: 'expression' });
    }
    ts.forEachChild(node, visit);
    if (isFn) stack.pop();
  };
  visit(sf);
  // ids: file:line:operator:k (k counts sites of one operator on one line)
  const seen = new Map<string, number>();
  for (const m of out) {
    const base = `v${String(step).padStart(2, '0')}/${file}:${m.line}:${m.operator}`;
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    m.id = `${base}:${k}`;
  }
  return out.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

function isFunctionBody(b: ts.Block): boolean {
  const p = b.parent;
  return ts.isFunctionDeclaration(p) || ts.isFunctionExpression(p) || ts.isArrowFunction(p) || ts.isMethodDeclaration(p);
}

/** Every mutant of one step folder (the files the series changes), in a fixed order. */
export function stepMutants(step: StepModel, operators: readonly Operator[] = OPERATORS): Mutant[] {
  const out: Mutant[] = [];
  for (const f of MUTATED_FILES) {
    let text: string;
    try {
      text = readFileSync(join(step.dir, f), 'utf8');
    } catch {
      continue;
    }
    out.push(...mutationSites(step.manifest.step, f, text).filter((m) => operators.includes(m.operator)));
  }
  return out;
}

/** mulberry32: a small seeded generator, so that a seed picks the same mutants everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The first `limit` of `items` after a seeded Fisher–Yates shuffle (all of them, shuffled, without a limit). */
export function sample<T>(items: readonly T[], seed: number, limit?: number): T[] {
  const a = [...items];
  const rnd = seededRandom(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return limit === undefined ? a : a.slice(0, limit);
}

/**
 * Re-roots the relative imports that leave a step folder ('../../src/…', written for
 * versions/vNN-…/) for a copy of the folder at `copyDir`. The copy must stay inside the
 * project and import the shared code by relative path: the very module instances the
 * harness uses (the replay context is a module-level singleton).
 */
export function rerootImports(text: string, copyDir: string): string {
  const up = relative(copyDir, ROOT).split('\\').join('/');
  return text.replace(/(['"])\.\.\/\.\.\//g, `$1${up}/`);
}

/** Where mutant folders are written: inside the project (see rerootImports), a dot folder tsc and vitest skip. */
export const MUTANTS_DIR = join(ROOT, '.mutants');

/** The globals the reach probes of a mutant call: at the start of the mutated function, and at the slip itself. */
const REACH = '__tdxDifftestReach';
const REACH_SITE = '__tdxDifftestReachSite';
type ReachFn = (id: string) => void;
/** The global every loop of a mutated file calls once per iteration. */
const LOOP_GUARD = '__tdxDifftestLoopGuard';
/**
 * Iterations of the mutated file's loops one replay may make. A slip can turn a loop that
 * never yields into an endless one (the scheduler's step budget only counts yield
 * points): past this bound the replay fails as a model error, deterministically.
 */
export const LOOP_GUARD_LIMIT = 2_000_000;

/** Inserts a call of the loop guard at the top of every loop body of `text`. */
export function guardLoops(text: string): string {
  const sf = ts.createSourceFile('m.ts', text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const call = `(globalThis as unknown as { ${LOOP_GUARD}?: () => void }).${LOOP_GUARD}?.();`;
  const edits: { at: number; end: number; text: string }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isForStatement(n) || ts.isForOfStatement(n) || ts.isForInStatement(n) || ts.isWhileStatement(n) || ts.isDoStatement(n)) {
      const body = n.statement;
      if (ts.isBlock(body)) edits.push({ at: body.getStart(sf) + 1, end: body.getStart(sf) + 1, text: call });
      else edits.push({ at: body.getStart(sf), end: body.getEnd(), text: `{ ${call} ${body.getText(sf)} }` });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  // nested loops: edits inside a replaced body would be lost, so apply innermost first by
  // rebuilding from the back; a non-block body containing a loop is rare and gets one guard
  edits.sort((a, b) => b.at - a.at);
  let out = text;
  let floor = Infinity;
  for (const e of edits) {
    if (e.end > floor) continue; // overlaps an edit already applied further back
    out = out.slice(0, e.at) + e.text + out.slice(e.end);
    floor = e.at;
  }
  return out;
}

/**
 * Copies the step folder of `m` into `dir`, applies the mutation (and a probe at the
 * start of the mutated function that reports when it runs), and imports the copy.
 * Every step folder file is copied, so the copy is self-contained.
 */
export async function loadMutant(step: StepModel, m: Mutant, dir: string): Promise<StepModel> {
  mkdirSync(dir, { recursive: true });
  cpSync(step.dir, dir, { recursive: true });
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    let text = readFileSync(join(dir, f), 'utf8');
    if (f === m.file) {
      if (text.slice(m.start, m.end) !== m.original) throw new Error(`mutant ${m.id}: the source changed since the sites were found`);
      const probe = (global: string): string => `(globalThis as unknown as { ${global}?: (id: string) => void }).${global}?.(${JSON.stringify(m.id)})`;
      // the slip, with a probe that reports when its statement or expression runs
      const site = text.slice(m.siteStart, m.start) + m.replacement + text.slice(m.end, m.siteEnd);
      const wrapped = m.siteKind === 'statement' ? `{ ${probe(REACH_SITE)}; ${site} }` : `(${probe(REACH_SITE)}, ${site})`;
      text = text.slice(0, m.siteStart) + wrapped + text.slice(m.siteEnd);
      // edits from the back, so offsets stay valid (the body start is before the site)
      text = text.slice(0, m.bodyStart) + probe(REACH) + ';' + text.slice(m.bodyStart);
      text = guardLoops(text);
    }
    writeFileSync(join(dir, f), rerootImports(text, dir));
  }
  return loadStepFrom(dir);
}

export type MutantStatus = 'killed' | 'no-change' | 'masked';

export interface MutantResult extends Pick<Mutant, 'id' | 'step' | 'file' | 'fn' | 'line' | 'operator' | 'original' | 'replacement'> {
  status: MutantStatus;
  /** Traces whose observation the mutant changes. */
  changed: string[];
  /** Traces on which the check fails (killed). */
  catchers: string[];
  /** Traces that run the mutated function. */
  reachedBy: string[];
  /** Traces that run the mutated statement or expression itself. */
  siteReachedBy: string[];
  /** For a masked mutant: the intents that explained its changes. */
  explainedBy?: string[];
  /** The mutant could not be built or loaded (syntax the slip broke): counts as killed. */
  error?: string;
  /** Killed because a replay ended otherwise than on the real step (livelock, crash, model-error): the first such trace stops the run of this mutant. */
  ended?: string;
  /**
   * With `explore`, for a mutant that changes nothing on the corpus: the trace that
   * exploration (exhaustive, then interleavings) found it with, or null when it found
   * nothing either.
   */
  explored?: string | null;
}

export interface MutateOptions {
  steps: readonly StepModel[];
  traces: readonly Trace[];
  /** Steps to mutate (default all). */
  only?: readonly number[];
  seed: number;
  operators?: readonly Operator[];
  /** Mutants per step (default all). */
  limit?: number;
  /** Only these mutants (ids as reports print them), whatever the limit. */
  ids?: readonly string[];
  /**
   * Worker threads (default 0: everything in this thread). Each worker runs batches of
   * mutants and is replaced after each batch, which bounds memory: every mutant is a
   * module graph that cannot be unloaded. Needs step models that are real folders.
   */
  jobs?: number;
  /** Mutants per worker batch (default BATCH). */
  batch?: number;
  /**
   * Also explore each mutant the corpus does not see (no change): explore --exhaustive
   * with this K, then --interleavings over the built-in concurrent traces, on the pairs
   * around the mutant. Measures what exploration adds to the corpus.
   */
  explore?: number;
  onMutant?: (done: number, total: number) => void;
}

/** Mutants per worker batch: enough to amortise a worker's start-up (compiling the steps). */
export const BATCH = 60;

/** One batch for a worker: mutants of one step, by id. */
export interface MutantBatch {
  step: number;
  ids: string[];
  operators: Operator[];
  traces: Trace[];
  explore?: number;
}

/** The real replays of each step, made once (per thread). */
export function realReplays(traces: readonly Trace[]): (s: StepModel, i: number) => Replayed {
  const cache = new Map<StepModel, Replayed[]>();
  return (s, i) => {
    let r = cache.get(s);
    if (!r) cache.set(s, (r = traces.map((t) => safeReplay(t, s))));
    return r[i]!;
  };
}

/** Runs a batch of mutants of one step in this thread (what a worker does). */
export async function runBatch(steps: readonly StepModel[], batch: MutantBatch, real = realReplays(batch.traces)): Promise<MutantResult[]> {
  const sorted = [...steps].sort((a, b) => a.manifest.step - b.manifest.step);
  const idx = sorted.findIndex((s) => s.manifest.step === batch.step);
  const byId = new Map(stepMutants(sorted[idx]!, batch.operators).map((m) => [m.id, m]));
  mkdirSync(MUTANTS_DIR, { recursive: true });
  const work = mkdtempSync(join(MUTANTS_DIR, 'run-'));
  const out: MutantResult[] = [];
  try {
    for (const [k, id] of batch.ids.entries()) {
      const m = byId.get(id);
      if (!m) throw new Error(`no mutant ${id} in step ${batch.step}`);
      out.push(await runMutant(m, sorted, idx, batch.traces, real, join(work, `m${k}`), batch.explore));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

export interface MutateSummary {
  killed: number;
  noChange: number;
  masked: number;
  /** With exploration: the no-change mutants it found. */
  explored?: number;
}

export interface MutateReport {
  seed: number;
  limit: number | null;
  operators: Operator[];
  traces: string[];
  mutants: MutantResult[];
  byStep: Record<string, MutateSummary>;
  byOperator: Record<string, MutateSummary>;
  total: MutateSummary;
}

function emptySummary(): MutateSummary {
  return { killed: 0, noChange: 0, masked: 0 };
}

function count(s: MutateSummary, r: MutantResult): void {
  if (r.status === 'killed') s.killed++;
  else if (r.status === 'no-change') s.noChange++;
  else s.masked++;
  if (r.explored !== undefined) s.explored = (s.explored ?? 0) + (r.explored !== null ? 1 : 0);
}

/** Runs one mutant of step `idx` of `sorted` against the corpus; `real` caches replays of the real steps. */
async function runMutant(m: Mutant, sorted: readonly StepModel[], idx: number, traces: readonly Trace[], real: (step: StepModel, i: number) => Replayed, dir: string, explore?: number): Promise<MutantResult> {
  const step = sorted[idx]!;
  const base: Omit<MutantResult, 'status' | 'changed' | 'catchers' | 'reachedBy' | 'siteReachedBy'> = { id: m.id, step: m.step, file: m.file, fn: m.fn, line: m.line, operator: m.operator, original: m.original, replacement: m.replacement };
  let mutant: StepModel;
  try {
    mutant = await loadMutant(step, m, dir);
  } catch (e) {
    return { ...base, status: 'killed', changed: [], catchers: [], reachedBy: [], siteReachedBy: [], error: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
  }
  const g = globalThis as unknown as Record<string, ReachFn | (() => void) | undefined>;
  const reached = new Set<string>();
  let current = '';
  g[REACH] = () => reached.add(current);
  const siteReached = new Set<string>();
  g[REACH_SITE] = () => siteReached.add(current);
  let iterations = 0;
  g[LOOP_GUARD] = () => {
    if (++iterations > LOOP_GUARD_LIMIT) throw new Error(`mutant loop guard: a loop of the mutated file ran ${LOOP_GUARD_LIMIT} times in one replay`);
  };
  const replays: Replayed[] = [];
  // a replay that ends differently (livelock, crash, model error) is a final-state
  // difference of section 'end', which an intent may only explain by naming it: when
  // none of the steps compared with the mutant does, the check must fail on that trace,
  // and the remaining (often long) replays and comparisons are skipped
  const endIntended = [idx, idx + 1].some((i) => sorted[i]?.manifest.intents.some((it) => [...(it.final ?? []), ...it.rewrites.flatMap((r) => r.final ?? [])].some((p) => p.what === 'end')));
  try {
    for (let i = 0; i < traces.length; i++) {
      current = traces[i]!.name;
      iterations = 0;
      const r = safeReplay(traces[i]!, mutant);
      replays.push(r);
      if (!endIntended && r.obs.final.end !== real(step, i).obs.final.end) {
        const name = traces[i]!.name;
        return { ...base, status: 'killed', changed: [name], catchers: [name], reachedBy: [...reached].sort(), siteReachedBy: [...siteReached].sort(), ended: r.obs.final.end };
      }
    }
  } finally {
    delete g[REACH];
    delete g[REACH_SITE];
    delete g[LOOP_GUARD];
  }
  const changed = traces.filter((t, i) => !sameBehaviour(real(step, i).obs, replays[i]!.obs) || replays[i]!.error !== undefined).map((t) => t.name);
  const reachedBy = traces.map((t) => t.name).filter((n) => reached.has(n));
  const siteReachedBy = traces.map((t) => t.name).filter((n) => siteReached.has(n));
  if (changed.length === 0) {
    const r: MutantResult = { ...base, status: 'no-change', changed, catchers: [], reachedBy, siteReachedBy };
    if (explore !== undefined) r.explored = await exploreMutant(sorted, idx, mutant, explore);
    return r;
  }

  // the check around the mutant: predecessor → mutant, mutant → successor
  const steps = sorted.map((s, i) => (i === idx ? mutant : s));
  const pairs: StepPair[] = [];
  if (idx > 0) pairs.push({ base: sorted[idx - 1]!, step: mutant });
  if (idx + 1 < sorted.length) pairs.push({ base: mutant, step: sorted[idx + 1]! });
  const get = (s: StepModel, i: number): Replayed => (s === mutant ? replays[i]! : real(s, i));
  const results = traces.flatMap((t, i) => pairs.map((p) => pairResult(steps, t.name, p, get(p.base, i), get(p.step, i))));
  const report = buildReport(steps, pairs, traces.map((t) => t.name), results);
  const bad = report.results.filter((r) => r.verdict === 'unexpected');
  if (idx === 0) {
    // the base has no step before it: like test/broken, a mutant of the base is also
    // checked as a patch on top of the real base that claims no behaviour change
    const asPatch: StepModel = { ...mutant, manifest: { ...mutant.manifest, step: step.manifest.step + 1, intents: [] } };
    const basePair: StepPair = { base: step, step: asPatch };
    const baseSteps = [step, asPatch];
    const baseResults = traces.map((t, i) => pairResult(baseSteps, t.name, basePair, real(step, i), replays[i]!));
    bad.push(...buildReport(baseSteps, [basePair], traces.map((t) => t.name), baseResults).results.filter((r) => r.verdict === 'unexpected'));
  }
  if (bad.length > 0) return { ...base, status: 'killed', changed, catchers: [...new Set(bad.map((r) => r.trace))].sort(), reachedBy, siteReachedBy };
  const explainedBy = [...new Set(report.results.filter((r) => changed.includes(r.trace)).flatMap((r) => r.intents))].sort();
  return { ...base, status: 'masked', changed, catchers: [], reachedBy, siteReachedBy, explainedBy };
}

/** Exploration's whole budget of loop iterations for one mutant (its loops are guarded, as in a replay). */
const EXPLORE_LOOP_LIMIT = 50 * LOOP_GUARD_LIMIT;

/**
 * Explores around a mutant the corpus does not see: the trace exploration finds it
 * with (the shortest exhaustive one, else an interleaving's pinned trace), or null.
 */
async function exploreMutant(sorted: readonly StepModel[], idx: number, mutant: StepModel, k: number): Promise<string | null> {
  const steps = sorted.map((s, i) => (i === idx ? mutant : s));
  const n = sorted[idx]!.manifest.step;
  const range = { from: Math.max(sorted[0]!.manifest.step + 1, n), to: Math.min(sorted.at(-1)!.manifest.step, n + 1) };
  const g = globalThis as unknown as Record<string, (() => void) | undefined>;
  let iterations = 0;
  g[REACH] = () => {};
  g[REACH_SITE] = () => {};
  g[LOOP_GUARD] = () => {
    if (++iterations > EXPLORE_LOOP_LIMIT) throw new Error(`mutant loop guard: the mutated file's loops ran ${EXPLORE_LOOP_LIMIT} times while exploring`);
  };
  try {
    const ex = await exploreExhaustive(steps, { k, ...range });
    if (ex.unexpected.length > 0) return ex.unexpected[0]!.trace.name;
    const il = exploreInterleavingSets(concurrentTraces(), steps, range);
    const hit = il.findings[0]?.pinned ?? il.races[0]?.pinned;
    return hit ? hit.name : null;
  } finally {
    delete g[REACH];
    delete g[REACH_SITE];
    delete g[LOOP_GUARD];
  }
}

/** The whole mutation run. */
export async function runMutate(opts: MutateOptions): Promise<MutateReport> {
  const sorted = [...opts.steps].sort((a, b) => a.manifest.step - b.manifest.step);
  const operators = [...(opts.operators ?? OPERATORS)];
  const chosen: { m: Mutant; idx: number }[] = [];
  if (opts.ids) {
    const known = new Set(sorted.flatMap((st) => stepMutants(st, operators).map((m) => m.id)));
    const unknown = opts.ids.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new InputError(`--mutant: no mutant ${unknown.join(', ')} (ids look like v09/tdx.ts:122:flip-comparison:1; see a report)`);
  }
  sorted.forEach((s, idx) => {
    if (opts.only && !opts.only.includes(s.manifest.step)) return;
    const all = stepMutants(s, operators);
    const picked = opts.ids ? all.filter((m) => opts.ids!.includes(m.id)) : sample(all, opts.seed ^ (s.manifest.step * 0x9e3779b1), opts.limit);
    for (const m of picked) chosen.push({ m, idx });
  });
  const mutants: MutantResult[] = [];
  const batches: MutantBatch[] = [];
  for (const { m, idx } of chosen) {
    const step = sorted[idx]!.manifest.step;
    const last = batches[batches.length - 1];
    if (last && last.step === step && last.ids.length < (opts.batch ?? BATCH)) last.ids.push(m.id);
    else batches.push({ step, ids: [m.id], operators, traces: [...opts.traces], ...(opts.explore !== undefined ? { explore: opts.explore } : {}) });
  }
  const tick = (n: number): void => {
    for (let i = 0; i < n; i++) opts.onMutant?.(mutants.length - n + i + 1, chosen.length);
  };
  const jobs = opts.jobs ?? 0;
  if (jobs <= 0) {
    const real = realReplays(opts.traces);
    for (const b of batches) {
      const r = await runBatch(sorted, b, real);
      mutants.push(...r);
      tick(r.length);
    }
  } else {
    // a fresh worker per batch (isolateWorkers): memory stays bounded however many mutants
    const pool = new Tinypool({ filename: new URL('./mutate_worker.mjs', import.meta.url).href, minThreads: 0, maxThreads: jobs, isolateWorkers: true });
    // a worker that dies outside a task (its step folders fail to load) rejects no task
    // promise: it is reported here, as one error, instead of leaving the run waiting
    const failed = new Promise<never>((_, reject) => {
      pool.on('error', (e: unknown) => reject(new Error(`a mutate worker failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)));
    });
    try {
      await Promise.race([failed, Promise.all(batches.map(async (b) => {
        const r = (await pool.run(b)) as MutantResult[];
        mutants.push(...r);
        tick(r.length);
      }))]);
    } finally {
      await pool.destroy();
    }
  }
  mutants.sort((x, y) => x.step - y.step || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const byStep: Record<string, MutateSummary> = {};
  const byOperator: Record<string, MutateSummary> = {};
  const total = emptySummary();
  for (const r of mutants) {
    count((byStep[String(r.step)] ??= emptySummary()), r);
    count((byOperator[r.operator] ??= emptySummary()), r);
    count(total, r);
  }
  return { seed: opts.seed, limit: opts.limit ?? null, operators, traces: opts.traces.map((t) => t.name), mutants, byStep, byOperator, total };
}

/** "N killed, M no change, K masked". */
export function summaryLine(s: MutateSummary): string {
  return `${s.killed} killed, ${s.noChange} no change${s.explored !== undefined ? ` (${s.explored} found by exploring)` : ''}, ${s.masked} masked`;
}

const oneLine = (s: string, max = 60): string => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
};

/** The report as text: per step, per operator, the masked mutants, the survivors. */
export function formatMutateText(r: MutateReport): string {
  const out: string[] = [];
  const changedTotal = r.total.killed + r.total.masked;
  out.push(`mutate: seed ${r.seed}, ${r.limit === null ? 'every mutant' : `at most ${r.limit} mutants`} per step, ${r.traces.length} traces, operators ${r.operators.join(', ')}`);
  out.push('');
  out.push('per step:');
  for (const [s, v] of Object.entries(r.byStep).sort((a, b) => Number(a[0]) - Number(b[0]))) out.push(`  step ${s.padStart(2, '0')}: ${summaryLine(v)}`);
  out.push('per operator:');
  for (const op of r.operators) if (r.byOperator[op]) out.push(`  ${op.padEnd(20)} ${summaryLine(r.byOperator[op]!)}`);
  const masked = r.mutants.filter((m) => m.status === 'masked');
  if (masked.length > 0) {
    out.push('');
    out.push('MASKED (an observation changed, every change explained by an intent: a defect of the intents):');
    for (const m of masked) out.push(`  ${m.id} in ${m.fn}: \`${oneLine(m.original)}\` -> \`${oneLine(m.replacement)}\`; changes ${m.changed.join(', ')}; explained by ${(m.explainedBy ?? []).join(', ')}`);
  }
  const quiet = r.mutants.filter((m) => m.status === 'no-change');
  if (quiet.length > 0) {
    out.push('');
    out.push('no change on any trace:');
    const list = (xs: string[]): string => `${xs.length} trace${xs.length === 1 ? '' : 's'} (${xs.slice(0, 3).join(', ')}${xs.length > 3 ? ', …' : ''})`;
    for (const m of quiet) {
      const why = m.reachedBy.length === 0 ? `no trace runs ${m.fn}()`
        : m.siteReachedBy.length === 0 ? `${m.fn}() runs (${list(m.reachedBy)}) but no trace reaches this line's code`
        : `reached by ${list(m.siteReachedBy)}, no observable change (equivalent there, or not observed)`;
      const explored = m.explored === undefined ? '' : m.explored === null ? '; exploring found nothing' : `; exploring found it: ${m.explored}`;
      out.push(`  ${m.id} in ${m.fn}: \`${oneLine(m.original)}\` -> \`${oneLine(m.replacement)}\`: ${why}${explored}`);
    }
  }
  out.push('');
  const rate = changedTotal === 0 ? 'n/a' : `${((100 * r.total.killed) / changedTotal).toFixed(1)}%`;
  out.push(`killed ${rate} of the ${changedTotal} mutants that change an observation`);
  out.push(summaryLine(r.total));
  return out.join('\n') + '\n';
}
