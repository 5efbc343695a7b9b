// Top-level C function definitions of a kernel source file, found with a small
// brace-matching scanner that skips comments, string / character literals and
// preprocessor lines. Also the `KVM_X86_OP*(name)` lines of kvm-x86-ops.h.

import { changedBetween, type FunctionChanges } from '../model_functions.ts';

interface CTok {
  k: 'word' | 'num' | 'str' | 'punct' | 'pp';
  v: string;
  s: number;
  e: number;
}

/**
 * Tokens of a C source. Of each `#if … #elif/#else … #endif` group only the
 * first branch is kept, so that braces opened differently in two branches do
 * not unbalance the nesting (a definition found only in a later branch is missed).
 */
function lexC(src: string): CTok[] {
  const all: CTok[] = [];
  let i = 0;
  // one entry per open conditional: true while its current branch is skipped
  const cond: boolean[] = [];
  let skipping = 0;
  const toks = {
    push(t: CTok): void {
      if (t.k === 'pp') {
        const d = /^#\s*(\w+)/.exec(t.v)?.[1] ?? '';
        if (d === 'if' || d === 'ifdef' || d === 'ifndef') {
          cond.push(false);
        } else if ((d === 'else' || d === 'elif' || d === 'elifdef' || d === 'elifndef') && cond.length > 0) {
          if (!cond[cond.length - 1]) {
            cond[cond.length - 1] = true;
            skipping++;
          }
        } else if (d === 'endif' && cond.length > 0) {
          if (cond.pop()) skipping--;
        }
        if (skipping === 0) all.push(t);
        return;
      }
      if (skipping === 0) all.push(t);
    },
  };
  let lineStart = true; // only whitespace since the last newline
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      lineStart = true;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      continue;
    }
    const s = i;
    if (c === '#' && lineStart) {
      // preprocessor line, with backslash continuations and comments inside
      while (i < src.length && src[i] !== '\n') {
        if (src[i] === '\\' && src[i + 1] === '\n') { i += 2; continue; }
        if (src[i] === '\\' && src[i + 1] === '\r' && src[i + 2] === '\n') { i += 3; continue; }
        if (src[i] === '/' && src[i + 1] === '*') {
          const end = src.indexOf('*/', i + 2);
          i = end < 0 ? src.length : end + 2;
          continue;
        }
        if (src[i] === '/' && src[i + 1] === '/') {
          while (i < src.length && src[i] !== '\n') i++;
          break;
        }
        i++;
      }
      toks.push({ k: 'pp', v: src.slice(s, i), s, e: i });
      continue;
    }
    lineStart = false;
    if (c === '"' || c === "'") {
      i++;
      while (i < src.length) {
        const d = src[i]!;
        if (d === '\\') { i += 2; continue; }
        if (d === c) { i++; break; }
        if (d === '\n') break;
        i++;
      }
      toks.push({ k: 'str', v: src.slice(s, i), s, e: i });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i]!)) i++;
      toks.push({ k: 'word', v: src.slice(s, i), s, e: i });
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_.]/.test(src[i]!)) i++;
      toks.push({ k: 'num', v: src.slice(s, i), s, e: i });
      continue;
    }
    i++;
    toks.push({ k: 'punct', v: c, s, e: i });
  }
  return all;
}

/** Attribute-like macros that may follow a parameter list or precede a name, with their own `( … )`. */
const ATTRIBUTE_MACROS = new Set([
  '__attribute__', '__attribute', '__aligned', '__section', '__printf', '__scanf', '__alloc_size',
  '__must_hold', '__acquires', '__releases', '__cond_acquires', '__cond_releases', '__cond_lock',
  '__acquire', '__release', '__diagnose_as', '__assume_aligned', '__cleanup', '__counted_by',
  '__no_sanitize_or_inline', '__nocapture', '__nonstring', '__malloc', '__realloc_size',
  '__no_context_analysis', '__must_not_hold', '__guarded_by', '__pt_guarded_by', 'asm', '__asm__',
]);
const C_KEYWORDS = new Set(['if', 'while', 'for', 'switch', 'return', 'sizeof', 'typeof', '__typeof__', 'do', 'else']);

function matchC(toks: CTok[], i: number): number {
  let depth = 0;
  for (let j = i; j < toks.length; j++) {
    const t = toks[j]!;
    if (t.k !== 'punct') continue;
    if (t.v === '(' || t.v === '[' || t.v === '{') depth++;
    else if (t.v === ')' || t.v === ']' || t.v === '}') {
      depth--;
      if (depth === 0) return j;
    }
  }
  return toks.length - 1;
}

function matchBack(toks: CTok[], close: number): number {
  let depth = 0;
  for (let j = close; j >= 0; j--) {
    const t = toks[j]!;
    if (t.k !== 'punct') continue;
    if (t.v === ')' || t.v === ']' || t.v === '}') depth++;
    else if (t.v === '(' || t.v === '[' || t.v === '{') {
      depth--;
      if (depth === 0) return j;
    }
  }
  return -1;
}

/** For a header token range [from, brace), the token index of the function name, or -1 when it is no function header. */
function functionNameIndex(toks: CTok[], from: number, brace: number): number {
  let k = brace - 1;
  while (k >= from) {
    const t = toks[k]!;
    if (t.k === 'word' && ATTRIBUTE_MACROS.has(t.v)) { k--; continue; }
    if (t.k === 'punct' && t.v === ')') {
      const open = matchBack(toks, k);
      if (open <= from) return -1;
      const w = toks[open - 1]!;
      if (w.k === 'word' && ATTRIBUTE_MACROS.has(w.v)) { k = open - 2; continue; }
      if (w.k !== 'word' || C_KEYWORDS.has(w.v)) return -1;
      // an initializer (`x = …`) before the name means this is no function
      for (let m = from; m < open - 1; m++) {
        const tm = toks[m]!;
        if (tm.k === 'punct' && tm.v === '=') return -1;
      }
      return open - 1;
    }
    return -1;
  }
  return -1;
}

/** Every top-level function definition of a C source: name → text (only the first branch of each #if group is read; two definitions of one name are joined). */
export function extractCFunctions(source: string): Map<string, string> {
  const toks = lexC(source);
  const out = new Map<string, string>();
  let stmt = 0;
  let depth = 0;
  for (let j = 0; j < toks.length; j++) {
    const t = toks[j]!;
    if (t.k === 'pp') {
      if (depth === 0) stmt = j + 1;
      continue;
    }
    if (t.k !== 'punct') continue;
    if (depth === 0 && t.v === ';') {
      stmt = j + 1;
      continue;
    }
    if (depth === 0 && t.v === '{') {
      const close = matchC(toks, j);
      const nameIdx = functionNameIndex(toks, stmt, j);
      if (nameIdx >= 0) {
        // The definition starts after any earlier `MACRO(…)` invocation without a `;`.
        let first = stmt;
        for (let m = stmt; m < nameIdx; m++) {
          const tm = toks[m]!;
          if (tm.k === 'punct' && tm.v === '(') {
            const end = matchC(toks, m);
            if (end < nameIdx) {
              const w = toks[m - 1];
              if (w && w.k === 'word' && /^[A-Z0-9_]+$/.test(w.v)) first = end + 1;
              m = end;
            }
          }
        }
        const name = toks[nameIdx]!.v;
        const text = source.slice(toks[first]!.s, toks[close]!.e);
        const prev = out.get(name);
        out.set(name, prev === undefined ? text : prev + '\n' + text);
        j = close;
        stmt = close + 1;
        continue;
      }
      j = close; // struct / union / enum body or initializer: skip, the statement ends at `;`
      continue;
    }
    if (t.v === '(' || t.v === '[' || t.v === '{') depth++;
    else if (t.v === ')' || t.v === ']' || t.v === '}') depth = Math.max(0, depth - 1);
  }
  return out;
}

/** `KVM_X86_OP*(name)` lines of a header: hook name → its normalised lines. */
export function extractKvmX86Ops(source: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of source.split('\n')) {
    const m = /^\s*(KVM_X86_OP(?:_[A-Z0-9_]+)?)\s*\(\s*([A-Za-z_]\w*)\s*\)/.exec(raw);
    if (!m) continue;
    const line = `${m[1]}(${m[2]})`;
    const list = out.get(m[2]!);
    if (list) list.push(line);
    else out.set(m[2]!, [line]);
  }
  return out;
}

export interface CFileChanges extends FunctionChanges {
  file: string;
  /** `KVM_X86_OP:<name>` for every hook line added, removed or changed (headers only). */
  hooks: string[];
}

/** Functions (and, for headers, KVM_X86_OP lines) that differ between two versions of one C file. */
export function compareCSources(file: string, oldSrc: string, newSrc: string): CFileChanges {
  const fn = changedBetween(extractCFunctions(oldSrc), extractCFunctions(newSrc));
  const hooks: string[] = [];
  if (file.endsWith('.h')) {
    const a = extractKvmX86Ops(oldSrc);
    const b = extractKvmX86Ops(newSrc);
    for (const name of new Set([...a.keys(), ...b.keys()])) {
      const la = (a.get(name) ?? []).join('\n');
      const lb = (b.get(name) ?? []).join('\n');
      if (la !== lb) hooks.push(`KVM_X86_OP:${name}`);
    }
    hooks.sort();
  }
  return { file, ...fn, hooks };
}
