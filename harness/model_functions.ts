// Named items of a step model (top-level functions, generators, const/let/var,
// interfaces, type aliases, classes, enums) and comparisons between two step
// folders: which items changed, and a unified diff of the model files.
//
// The TypeScript source is read with a small hand-written scanner (no compiler
// dependency at run time). It understands comments, string / template / regex
// literals and bracket nesting, which is all it needs to find where each
// top-level declaration begins and ends.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diffArrays, structuredPatch } from 'diff';

// ---------------------------------------------------------------------------
// Whitespace-insensitive comparison (shared with the C side in harness/link/)
// ---------------------------------------------------------------------------

/** Tokens of a text with every whitespace difference erased: identifier/number runs and single other characters. */
export function normalisedTokens(text: string): string[] {
  return text.match(/[A-Za-z0-9_$]+|\S/g) ?? [];
}

/** True when two texts differ in whitespace only (decided with jsdiff over the normalised tokens). */
export function sameModuloWhitespace(a: string, b: string): boolean {
  if (a === b) return true;
  const parts = diffArrays(normalisedTokens(a), normalisedTokens(b));
  return parts.every((p) => !p.added && !p.removed);
}

// ---------------------------------------------------------------------------
// TypeScript scanner
// ---------------------------------------------------------------------------

type TokKind = 'word' | 'punct' | 'str' | 'tmpl' | 'regex' | 'num';

interface Tok {
  k: TokKind;
  v: string;
  s: number;
  e: number;
  /** A line break (possibly inside a comment) precedes this token. */
  nl: boolean;
}

const REGEX_AFTER_WORDS = new Set([
  'return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw',
  'case', 'do', 'else', 'yield', 'await',
]);
const REGEX_AFTER_PUNCT = new Set([
  '(', ',', '=', ':', '[', '!', '&', '|', '?', '{', '}', ';', '+', '-', '*', '%',
  '<', '>', '~', '^', '=>', '...',
]);

function isIdStart(c: string): boolean {
  return /[A-Za-z_$]/.test(c) || c.charCodeAt(0) > 127;
}
function isIdPart(c: string): boolean {
  return /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) > 127;
}

class TsLexer {
  private i = 0;
  readonly toks: Tok[] = [];

  constructor(private readonly src: string) {}

  run(): Tok[] {
    this.lexUntil(false);
    return this.toks;
  }

  /** Lex tokens; when `inTemplateExpr`, stop after the `}` that closes a `${`. */
  private lexUntil(inTemplateExpr: boolean): void {
    const src = this.src;
    let nl = false;
    let braces = 0;
    while (this.i < src.length) {
      const c = src[this.i]!;
      if (c === '\n') {
        nl = true;
        this.i++;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\uFEFF' || c === '\u00A0') {
        this.i++;
        continue;
      }
      if (c === '/' && src[this.i + 1] === '/') {
        while (this.i < src.length && src[this.i] !== '\n') this.i++;
        continue;
      }
      if (c === '/' && src[this.i + 1] === '*') {
        const end = src.indexOf('*/', this.i + 2);
        const stop = end < 0 ? src.length : end + 2;
        if (src.slice(this.i, stop).includes('\n')) nl = true;
        this.i = stop;
        continue;
      }
      const s = this.i;
      if (c === '"' || c === "'") {
        this.i++;
        while (this.i < src.length) {
          const d = src[this.i]!;
          if (d === '\\') { this.i += 2; continue; }
          if (d === c) { this.i++; break; }
          if (d === '\n') break; // unterminated: stop at the line end
          this.i++;
        }
        this.push('str', s, nl);
        nl = false;
        continue;
      }
      if (c === '`') {
        this.i++;
        while (this.i < src.length) {
          const d = src[this.i]!;
          if (d === '\\') { this.i += 2; continue; }
          if (d === '`') { this.i++; break; }
          if (d === '$' && src[this.i + 1] === '{') {
            this.i += 2;
            const mark = this.toks.length;
            this.lexUntil(true);
            this.toks.length = mark; // tokens inside ${} belong to the template token
            continue;
          }
          this.i++;
        }
        this.push('tmpl', s, nl);
        nl = false;
        continue;
      }
      if (isIdStart(c)) {
        while (this.i < src.length && isIdPart(src[this.i]!)) this.i++;
        this.push('word', s, nl);
        nl = false;
        continue;
      }
      if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[this.i + 1] ?? ''))) {
        this.i++;
        while (this.i < src.length && /[A-Za-z0-9_.]/.test(src[this.i]!)) this.i++;
        this.push('num', s, nl);
        nl = false;
        continue;
      }
      if (c === '/' && this.regexAllowed()) {
        this.i++;
        let inClass = false;
        while (this.i < src.length) {
          const d = src[this.i]!;
          if (d === '\\') { this.i += 2; continue; }
          if (d === '\n') break;
          if (d === '[') inClass = true;
          else if (d === ']') inClass = false;
          else if (d === '/' && !inClass) { this.i++; break; }
          this.i++;
        }
        while (this.i < src.length && isIdPart(src[this.i]!)) this.i++;
        this.push('regex', s, nl);
        nl = false;
        continue;
      }
      // punctuation
      const three = src.slice(this.i, this.i + 3);
      const two = src.slice(this.i, this.i + 2);
      if (three === '...') this.i += 3;
      else if (two === '=>' || two === '?.' || two === '&&' || two === '||' || two === '??') this.i += 2;
      else this.i++;
      if (inTemplateExpr) {
        if (c === '{') braces++;
        else if (c === '}') {
          if (braces === 0) return; // end of ${ … }
          braces--;
        }
      }
      this.push('punct', s, nl);
      nl = false;
    }
  }

  private push(k: TokKind, s: number, nl: boolean): void {
    this.toks.push({ k, v: this.src.slice(s, this.i), s, e: this.i, nl });
  }

  private regexAllowed(): boolean {
    const prev = this.toks[this.toks.length - 1];
    if (!prev) return true;
    if (prev.k === 'word') return REGEX_AFTER_WORDS.has(prev.v);
    if (prev.k === 'punct') return REGEX_AFTER_PUNCT.has(prev.v);
    return false;
  }
}

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);

/** Index of the token closing the group opened at `i` (or the last token). */
function matchGroup(toks: Tok[], i: number): number {
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    const t = toks[j]!;
    if (t.k !== 'punct') continue;
    if (OPEN.has(t.v)) depth++;
    else if (CLOSE.has(t.v)) {
      depth--;
      if (depth === 0) return j;
    }
  }
  return toks.length - 1;
}

// Tokens after which a line break cannot end a statement.
const CONT_END = new Set([
  '=', ',', '(', '[', '{', '.', '?.', '?', ':', '|', '&', '||', '&&', '??', '+', '-', '*', '/', '%',
  '<', '!', '~', '^', '=>', '...',
]);
const CONT_END_WORDS = new Set(['extends', 'implements', 'as', 'satisfies', 'typeof', 'keyof', 'new', 'in', 'instanceof', 'is', 'infer', 'readonly', 'unique']);
// Tokens that, first on a line, continue the previous statement.
const CONT_START = new Set([
  '.', '?.', '?', ':', '|', '&', '||', '&&', '??', '+', '-', '*', '/', '%', '=', ',', ')', ']', '}', '>', '<', '=>',
]);
const CONT_START_WORDS = new Set(['as', 'satisfies', 'instanceof', 'in', 'extends', 'implements']);

function canEndBetween(prev: Tok, next: Tok): boolean {
  if (prev.k === 'punct' && CONT_END.has(prev.v)) return false;
  if (prev.k === 'word' && CONT_END_WORDS.has(prev.v)) return false;
  if (next.k === 'punct' && CONT_START.has(next.v)) return false;
  if (next.k === 'word' && CONT_START_WORDS.has(next.v)) return false;
  return true;
}

/** End (exclusive token index) of an ordinary statement starting at `i`: `;` or a line break where ASI applies. */
function endGeneric(toks: Tok[], i: number): number {
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    const t = toks[j]!;
    if (j > i && depth === 0 && t.nl && canEndBetween(toks[j - 1]!, t)) return j;
    if (t.k === 'punct') {
      if (OPEN.has(t.v)) depth++;
      else if (CLOSE.has(t.v)) depth = Math.max(0, depth - 1);
      else if (t.v === ';' && depth === 0) return j + 1;
    }
  }
  return toks.length;
}

/** Is the `{` at `j` the body of the declaration (rather than an object type in its header)? */
function isBodyBrace(toks: Tok[], j: number): boolean {
  const p = toks[j - 1];
  if (!p) return true;
  if (p.k === 'word' || p.k === 'str' || p.k === 'num' || p.k === 'tmpl') return true;
  return p.v === ')' || p.v === '>' || p.v === ']' || p.v === '}';
}

/** End of a declaration with a body (function, class, interface, enum, namespace) whose header starts at `i`. */
function endBodyDecl(toks: Tok[], i: number, isFunction: boolean): number {
  let j = i;
  let sawParams = !isFunction;
  while (j < toks.length) {
    const t = toks[j]!;
    if (j > i && sawParams && t.nl && t.v !== '{' && canEndBetween(toks[j - 1]!, t)) return j; // bodiless, no `;`
    if (t.k === 'punct') {
      if (t.v === ';') return j + 1; // overload / declare signature
      if (t.v === '(' && isFunction && !sawParams) {
        j = matchGroup(toks, j) + 1;
        sawParams = true;
        continue;
      }
      if (t.v === '{') {
        const close = matchGroup(toks, j);
        if (sawParams && isBodyBrace(toks, j)) return close + 1;
        j = close + 1; // object type in the header
        continue;
      }
      if (t.v === '(' || t.v === '[') {
        j = matchGroup(toks, j) + 1;
        continue;
      }
    }
    j++;
  }
  return toks.length;
}

export type TsItemKind = 'function' | 'const' | 'let' | 'var' | 'interface' | 'type' | 'class' | 'enum' | 'namespace';

export interface TsItem {
  name: string;
  kind: TsItemKind;
  /** Full text of the declaration (several declarations of one name are joined with a newline). */
  text: string;
}

/** Every named top-level declaration of a TypeScript source, in source order. */
export function extractTsItems(source: string): Map<string, TsItem> {
  const toks = new TsLexer(source).run();
  const items = new Map<string, TsItem>();
  const add = (name: string | undefined, kind: TsItemKind, from: number, to: number): void => {
    if (!name || to <= from) return;
    const text = source.slice(toks[from]!.s, toks[to - 1]!.e);
    const prev = items.get(name);
    if (prev) prev.text += '\n' + text;
    else items.set(name, { name, kind, text });
  };
  let i = 0;
  while (i < toks.length) {
    const start = i;
    let j = i;
    const w = (k: number): string | undefined => (toks[k]?.k === 'word' ? toks[k]!.v : undefined);
    while (w(j) === 'export' || w(j) === 'declare' || (w(j) === 'default' && j > start)) j++;
    if (w(j) === 'async' && w(j + 1) === 'function') j++;
    if (w(j) === 'abstract' && w(j + 1) === 'class') j++;
    if (w(j) === 'const' && w(j + 1) === 'enum') j++;
    const kw = w(j);
    let end: number;
    if (kw === 'function') {
      let n = j + 1;
      if (toks[n]?.v === '*') n++;
      end = Math.max(endBodyDecl(toks, j, true), j + 1);
      add(w(n), 'function', start, end);
    } else if ((kw === 'const' || kw === 'let' || kw === 'var') && toks[j + 1]?.k === 'word') {
      end = endGeneric(toks, j);
      add(w(j + 1), kw, start, end);
    } else if (kw === 'type' && toks[j + 1]?.k === 'word' && (toks[j + 2]?.v === '=' || toks[j + 2]?.v === '<')) {
      end = endGeneric(toks, j);
      add(w(j + 1), 'type', start, end);
    } else if ((kw === 'interface' || kw === 'class' || kw === 'enum') && toks[j + 1]?.k === 'word') {
      end = endBodyDecl(toks, j, false);
      add(w(j + 1), kw, start, end);
    } else if ((kw === 'namespace' || kw === 'module') && toks[j + 1]?.k === 'word' && toks[j + 2]?.v === '{') {
      end = endBodyDecl(toks, j, false);
      add(w(j + 1), 'namespace', start, end);
    } else {
      end = endGeneric(toks, start);
    }
    i = Math.max(end, start + 1);
  }
  return items;
}

/** Every named top-level declaration (functions, generators, const/let/var, interfaces, types …): name → full text. */
export function extractTsFunctions(source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, item] of extractTsItems(source)) out.set(name, item.text);
  return out;
}

// ---------------------------------------------------------------------------
// Step folders
// ---------------------------------------------------------------------------

/** Files of a step folder that are not kernel model. */
const NON_MODEL_FILES = new Set(['step.ts']);
/** Order in which model files are listed (then any other file, alphabetically). */
const FILE_ORDER = ['x86_ops.ts', 'tdp_mmu.ts', 'tdx.ts'];

function orderFiles(files: Iterable<string>): string[] {
  const rank = (f: string): number => {
    const r = FILE_ORDER.indexOf(f);
    return r < 0 ? FILE_ORDER.length : r;
  };
  return [...new Set(files)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The kernel-model files of a step folder (every `*.ts` but step.ts / *.d.ts / *.test.ts), in the fixed order. */
export function modelFiles(stepDir: string): string[] {
  if (!existsSync(stepDir) || !statSync(stepDir).isDirectory()) {
    throw new Error(`step folder not found: ${stepDir}`);
  }
  return orderFiles(
    readdirSync(stepDir).filter(
      (f) =>
        f.endsWith('.ts') &&
        !f.endsWith('.d.ts') &&
        !f.endsWith('.test.ts') &&
        !NON_MODEL_FILES.has(f) &&
        statSync(join(stepDir, f)).isFile(),
    ),
  );
}

export interface ModelItem extends TsItem {
  file: string;
}

/** All named items of a step's model files. Keys are bare names; a name found in two files is keyed `file.ts:name`. */
export function modelItems(stepDir: string): Map<string, ModelItem> {
  const perFile: ModelItem[] = [];
  for (const file of modelFiles(stepDir)) {
    const src = readFileSync(join(stepDir, file), 'utf8');
    for (const item of extractTsItems(src).values()) perFile.push({ ...item, file });
  }
  const count = new Map<string, number>();
  for (const it of perFile) count.set(it.name, (count.get(it.name) ?? 0) + 1);
  const out = new Map<string, ModelItem>();
  for (const it of perFile) out.set((count.get(it.name) ?? 0) > 1 ? `${it.file}:${it.name}` : it.name, it);
  return out;
}

/** name → text of every named item in a step folder's kernel-model files. */
export function modelFunctions(stepDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, item] of modelItems(stepDir)) out.set(key, item.text);
  return out;
}

export interface FunctionChanges {
  /** In both folders, body differs beyond whitespace. */
  changed: string[];
  /** Only in the second folder. */
  added: string[];
  /** Only in the first folder. */
  removed: string[];
}

/** Which named model items differ between two step folders (whitespace-only differences and moves ignored). */
export function changedFunctions(dirA: string, dirB: string): FunctionChanges {
  return changedBetween(modelFunctions(dirA), modelFunctions(dirB));
}

/** The comparison of two name → text maps that changedFunctions does. */
export function changedBetween(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): FunctionChanges {
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [name, text] of a) {
    const other = b.get(name);
    if (other === undefined) removed.push(name);
    else if (!sameModuloWhitespace(text, other)) changed.push(name);
  }
  for (const name of b.keys()) if (!a.has(name)) added.push(name);
  return { changed: changed.sort(), added: added.sort(), removed: removed.sort() };
}

function readOrEmpty(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Unified diff (git style, `a/<file>` `b/<file>`) of the kernel-model files of two step folders. Empty when identical. */
export function modelDiff(dirA: string, dirB: string, context = 3): string {
  const files = orderFiles([...modelFiles(dirA), ...modelFiles(dirB)]);
  let out = '';
  for (const file of files) {
    const pa = join(dirA, file);
    const pb = join(dirB, file);
    const inA = existsSync(pa);
    const inB = existsSync(pb);
    const oldText = readOrEmpty(pa);
    const newText = readOrEmpty(pb);
    if (oldText === newText) continue;
    const patch = structuredPatch(`a/${file}`, `b/${file}`, oldText, newText, undefined, undefined, { context });
    if (patch.hunks.length === 0) continue;
    out += `diff --git a/${file} b/${file}\n`;
    if (!inA) out += 'new file\n';
    if (!inB) out += 'deleted file\n';
    out += `--- ${inA ? `a/${file}` : '/dev/null'}\n+++ ${inB ? `b/${file}` : '/dev/null'}\n`;
    for (const h of patch.hunks) {
      const oldStart = h.oldLines === 0 ? h.oldStart - 1 : h.oldStart;
      const newStart = h.newLines === 0 ? h.newStart - 1 : h.newStart;
      out += `@@ -${oldStart},${h.oldLines} +${newStart},${h.newLines} @@\n`;
      for (const line of h.lines) out += line + '\n';
    }
  }
  return out;
}
