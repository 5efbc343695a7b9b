// Comparing two observations of the same trace: a structured list of differences in
// two layers.
//
// - functional: SEAMCALLs (name, GPA, level, page, status), operation results, kicks,
//   VM bugged, frees, invariant violations, livelocks / deadlocks / crashes, and the
//   final state (end, VM, mirror / direct / S-EPT trees, S-EPT pages, leaked pages,
//   pages the module holds, stats);
// - diagnostic: KVM_BUG_ON ('bug'), WARN / WARN_ON_ONCE ('warn'), KVM_MMU_WARN_ON
//   ('mmu_warn') and lockdep splats ('lockdep'), each with its site and condition.
//
// Decisions:
// - the `thread` field of an event is compared: which thread did something is part of
//   the behaviour (a SEAMCALL moving from the vCPU to the host thread is a change);
// - `silent` diagnostic firings count: the condition was true, the kernel merely did
//   not print. They stay in the diagnostic layer with `silent: true`, so a firing that
//   turns silent (or loud) is a difference too;
// - events are compared in order (jsdiff's diffArrays over one JSON key per event,
//   per layer), so a moved event is one removed plus one added;
// - the final state is diffed section by section, each section as an array of
//   entries keyed by their JSON text: one changed entry gives one removed + one added.
import { diffArrays } from 'diff';
import { FINAL_SECTION_NAMES } from '../src/manifest_rules.ts';
import type { ObsEvent } from '../src/kernel/context.ts';
import { layerOf, type FinalState, type Layer, type Observation } from './observation.ts';

export type Side = 'removed' | 'added';

/** One event (or final-state entry) that only one of the two observations has. */
export interface Difference {
  layer: Layer;
  side: Side;
  /** The event; final-state entries are `{ kind: 'final', what: <section>, key, value }`. */
  event: ObsEvent;
}

export type LayerChoice = Layer | 'both';

export interface CompareOptions {
  /** Which layer(s) to compare (default both). */
  layer?: LayerChoice;
  /**
   * Upper bound on the edit script jsdiff searches for, per array (default 10 000, less
   * for long arrays so that the work stays bounded; see diffKeyed).
   */
  maxEditLength?: number;
  /**
   * Milliseconds jsdiff may spend per array before giving up (default: none). A wall-clock
   * limit makes the result depend on the machine's load: only for interactive use.
   */
  timeout?: number;
}

export interface Comparison {
  differences: Difference[];
  /**
   * True when jsdiff gave up (edit script longer than maxEditLength, or timeout) for at
   * least one array: the differences are then "everything between the common prefix and
   * the common suffix", still correct as a verdict input but not minimal.
   */
  approximate: boolean;
}

/** Final-state sections, in the order their differences are listed. */
export const FINAL_SECTIONS = FINAL_SECTION_NAMES;
export type FinalSection = (typeof FINAL_SECTIONS)[number];

const DEFAULT_MAX_EDIT = 10_000;
/**
 * Myers' algorithm costs about (n+m)·D: the default edit-length bound shrinks for long
 * arrays so that this stays under DIFF_WORK steps. A bound in steps, not in milliseconds,
 * keeps every verdict the same on an idle and on a loaded machine.
 */
const DIFF_WORK = 50_000_000;
/** Largest n·m table the short-side LCS builds (16 MB). */
const LCS_MAX_CELLS = 4_000_000;

const bigintSafe = (_k: string, x: unknown): unknown => (typeof x === 'bigint' ? '0x' + x.toString(16) : x);

const keyCache = new WeakMap<object, string>();

/**
 * JSON text of a value, bigint-safe; object keys keep their insertion order. Keys of
 * objects are cached (events are never changed once an observation is made).
 */
export function keyOf(v: unknown): string {
  if (typeof v === 'object' && v !== null) {
    let k = keyCache.get(v);
    if (k === undefined) {
      k = jsonKey(v);
      keyCache.set(v, k);
    }
    return k;
  }
  return jsonKey(v);
}

function jsonKey(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'undefined';
  } catch {
    // a bigint somewhere (the fast path above has no replacer, which is much quicker)
    return JSON.stringify(v, bigintSafe) ?? 'undefined';
  }
}

/**
 * Exact LCS by dynamic programming, for middles where one side is short: O(n·m), where
 * Myers' algorithm costs O((n+m)·d) with d at least |n-m|. Returns jsdiff-style parts.
 */
function lcsParts(ma: readonly number[], mb: readonly number[]): { count: number; added: boolean; removed: boolean }[] {
  const n = ma.length;
  const m = mb.length;
  const w = m + 1;
  const t = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      t[i * w + j] = ma[i] === mb[j] ? t[(i + 1) * w + j + 1]! + 1 : Math.max(t[(i + 1) * w + j]!, t[i * w + j + 1]!);
    }
  }
  const parts: { count: number; added: boolean; removed: boolean }[] = [];
  const push = (added: boolean, removed: boolean): void => {
    const last = parts[parts.length - 1];
    if (last && last.added === added && last.removed === removed) last.count++;
    else parts.push({ count: 1, added, removed });
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && ma[i] === mb[j]) {
      push(false, false);
      i++;
      j++;
    } else if (j >= m || (i < n && t[(i + 1) * w + j]! >= t[i * w + j + 1]!)) {
      push(false, true);
      i++;
    } else {
      push(true, false);
      j++;
    }
  }
  return parts;
}

/** A stretch of a diff: `count` items removed, added, or common (neither). */
type Part = { count?: number; value?: unknown[]; added: boolean; removed: boolean };

/** How deep anchoredParts recurses into the stretches between its anchors. */
const ANCHOR_DEPTH = 4;

/**
 * A diff for arrays too different for Myers' bound (patience diff): the items that occur
 * exactly once on each side and keep their order (the longest increasing run of them)
 * anchor the alignment; each stretch between two anchors is diffed again, exactly when
 * it is small, else by its own anchors (`depth` levels), else as all removed and all
 * added. Always a valid edit script, not always a shortest one (a retry loop cut by the
 * livelock bound: every pass has a page of its own to anchor on). Null: nothing to
 * anchor on.
 */
function anchoredParts(ma: readonly number[], mb: readonly number[], depth: number): Part[] | null {
  const parts: Part[] = [];
  const push = (count: number, added: boolean, removed: boolean): void => {
    if (count === 0) return;
    const last = parts[parts.length - 1];
    if (last && last.added === added && last.removed === removed) last.count! += count;
    else parts.push({ count, added, removed });
  };
  const stretch = (a0: number, a1: number, b0: number, b1: number): void => {
    // common ends first
    while (a0 < a1 && b0 < b1 && ma[a0] === mb[b0]) {
      push(1, false, false);
      a0++;
      b0++;
    }
    let tail = 0;
    while (a0 < a1 - tail && b0 < b1 - tail && ma[a1 - 1 - tail] === mb[b1 - 1 - tail]) tail++;
    const n = a1 - tail - a0;
    const m = b1 - tail - b0;
    if (n === 0 || m === 0 || n * m > LCS_MAX_CELLS) {
      const inner = n > 0 && m > 0 && depth > 1 ? anchoredParts(ma.slice(a0, a0 + n), mb.slice(b0, b0 + m), depth - 1) : null;
      if (inner) for (const p of inner) push(p.count!, p.added, p.removed);
      else {
        push(n, false, true);
        push(m, true, false);
      }
    } else for (const p of lcsParts(ma.slice(a0, a0 + n), mb.slice(b0, b0 + m))) push(p.count, p.added, p.removed);
    push(tail, false, false);
  };
  // the items each side has once, in a's order, with their place in b
  const seen = new Map<number, { a: number; b: number; na: number; nb: number }>();
  ma.forEach((id, i) => {
    const e = seen.get(id);
    if (e) e.na++;
    else seen.set(id, { a: i, b: -1, na: 1, nb: 0 });
  });
  mb.forEach((id, j) => {
    const e = seen.get(id);
    if (e) {
      e.nb++;
      e.b = j;
    }
  });
  const unique = [...seen.values()].filter((e) => e.na === 1 && e.nb === 1).sort((x, y) => x.a - y.a);
  // the longest run of them increasing in b too (patience sorting)
  const tops: number[] = [];
  const back = new Int32Array(unique.length).fill(-1);
  unique.forEach((e, k) => {
    let lo = 0;
    let hi = tops.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (unique[tops[mid]!]!.b < e.b) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) back[k] = tops[lo - 1]!;
    tops[lo] = k;
  });
  const anchors: { a: number; b: number }[] = [];
  for (let k = tops.length > 0 ? tops[tops.length - 1]! : -1; k >= 0; k = back[k]!) anchors.push(unique[k]!);
  if (anchors.length === 0) return null;
  anchors.reverse();
  let a = 0;
  let b = 0;
  for (const x of anchors) {
    stretch(a, x.a, b, x.b);
    push(1, false, false);
    a = x.a + 1;
    b = x.b + 1;
  }
  stretch(a, ma.length, b, mb.length);
  return parts;
}

/** Structural equality of two events (or entries): same fields in the same order, equal values. */
export function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameValue(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (let i = 0; i < kx.length; i++) {
    const k = kx[i]!;
    if (k !== ky[i] || !sameValue((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** One final-state entry: what identifies it in its section, and what it holds. */
export interface FinalEntry {
  key: string;
  value: string;
}

function fieldEntries(o: object | undefined): FinalEntry[] {
  if (!o) return [];
  return Object.entries(o).map(([k, v]) => ({ key: k, value: typeof v === 'object' && v !== null ? keyOf(v) : String(v) }));
}

function treeEntry(e: { gpa: string; level: number; kind?: string; state?: string; page?: string; accessed?: boolean }): FinalEntry {
  const parts = [e.kind ?? e.state ?? '?'];
  if (e.page !== undefined) parts.push(String(e.page));
  if (e.accessed !== undefined) parts.push(e.accessed ? 'accessed' : 'not-accessed');
  return { key: `${e.gpa}@L${e.level}`, value: parts.join(' ') };
}

/**
 * The entries of one final-state section, each a key (the GPA and level of a tree
 * entry, the page of a page list, the field of 'vm' and 'stats') and a value, so that
 * a difference is one entry changed, added or gone, and an intent names it exactly.
 */
export function finalSection(final: FinalState, what: FinalSection): FinalEntry[] {
  const f = final as Partial<FinalState>;
  switch (what) {
    case 'end': return f.end === undefined ? [] : [{ key: 'end', value: String(f.end) }];
    case 'vm': return fieldEntries(f.vm);
    case 'stats': return fieldEntries(f.stats);
    case 'mirror': return (f.mirror ?? []).map(treeEntry);
    case 'direct': return (f.direct ?? []).map(treeEntry);
    case 'sept': return (f.sept ?? []).map(treeEntry);
    case 'septPages': return (f.septPages ?? []).map((p) => ({ key: String(p), value: 'S-EPT page' }));
    case 'pages.leaked': return (f.pages?.leaked ?? []).map((l) => ({ key: String(l.page), value: l.what }));
    case 'pages.heldByModule': return (f.pages?.heldByModule ?? []).map((p) => ({ key: String(p), value: 'held' }));
  }
}

/** Every final-state entry as an event-like record (what the diff and the text rendering use). */
export function finalEvents(final: FinalState): ObsEvent[] {
  const out: ObsEvent[] = [];
  for (const what of FINAL_SECTIONS) for (const e of finalSection(final, what)) out.push({ kind: 'final', what, key: e.key, value: e.value });
  return out;
}

/**
 * Diffs two arrays by key. Returns the items only in `a` (removed) and only in `b`
 * (added), interleaved in diff order (each hunk's removals before its additions).
 * The common prefix and suffix are stripped first; jsdiff's diffArrays (bounded by
 * maxEditLength / timeout) aligns the rest, except when one side of the rest is so
 * much shorter that an exact n·m LCS is cheaper than Myers' (n+m)·d (e.g. a step
 * that adds 3600 splats to a 3-event middle).
 */
export function diffKeyed<T>(
  a: readonly T[],
  b: readonly T[],
  key: (x: T) => string,
  opts: { maxEditLength?: number; timeout?: number; equal?: (x: T, y: T) => boolean } = {},
): { changes: { side: Side; item: T }[]; approximate: boolean } {
  // the common prefix and suffix by equality (no keys needed: most pairs are the same)
  const eq = opts.equal ?? ((x: T, y: T) => key(x) === key(y));
  let pre = 0;
  while (pre < a.length && pre < b.length && eq(a[pre]!, b[pre]!)) pre++;
  if (pre === a.length && pre === b.length) return { changes: [], approximate: false };
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && eq(a[a.length - 1 - suf]!, b[b.length - 1 - suf]!)) suf++;
  const ka = a.slice(pre, a.length - suf).map(key);
  const kb = b.slice(pre, b.length - suf).map(key);

  const changes: { side: Side; item: T }[] = [];
  // keys interned as small integers: jsdiff compares tokens with ===, which is then cheap
  const ids = new Map<string, number>();
  const intern = (k: string): number => {
    let id = ids.get(k);
    if (id === undefined) ids.set(k, (id = ids.size));
    return id;
  };
  const ma = ka.map(intern);
  const mb = kb.map(intern);
  const n = ma.length;
  const m = mb.length;
  let parts: Part[] | undefined;
  let approximate = false;
  if (n === 0 || m === 0) parts = [{ count: n, removed: true, added: false }, { count: m, removed: false, added: true }];
  else if (n * m <= (n + m) * Math.abs(n - m) && n * m <= LCS_MAX_CELLS) parts = lcsParts(ma, mb);
  else {
    const maxEditLength = opts.maxEditLength ?? Math.max(100, Math.min(DEFAULT_MAX_EDIT, Math.floor(DIFF_WORK / (n + m))));
    parts = diffArrays(ma, mb, { maxEditLength, ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}) });
    if (!parts) {
      // Myers' bound was hit: align on the events each side has once
      parts = anchoredParts(ma, mb, ANCHOR_DEPTH) ?? undefined;
      approximate = true;
    }
  }
  if (parts) {
    let ia = pre;
    let ib = pre;
    for (const p of parts) {
      const n = p.count ?? p.value!.length;
      if (p.removed) for (let i = 0; i < n; i++) changes.push({ side: 'removed', item: a[ia++]! });
      else if (p.added) for (let i = 0; i < n; i++) changes.push({ side: 'added', item: b[ib++]! });
      else {
        ia += n;
        ib += n;
      }
    }
    return { changes, approximate };
  }
  // jsdiff gave up: report everything between the common prefix and suffix
  for (let i = pre; i < a.length - suf; i++) changes.push({ side: 'removed', item: a[i]! });
  for (let i = pre; i < b.length - suf; i++) changes.push({ side: 'added', item: b[i]! });
  return { changes, approximate: true };
}

function wants(choice: LayerChoice, layer: Layer): boolean {
  return choice === 'both' || choice === layer;
}

/** Compares observation `a` (before) with `b` (after). */
export function compare(a: Observation, b: Observation, opts: CompareOptions = {}): Comparison {
  const choice = opts.layer ?? 'both';
  const dopts = { ...(opts.maxEditLength !== undefined ? { maxEditLength: opts.maxEditLength } : {}), ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}) };
  const differences: Difference[] = [];
  let approximate = false;

  for (const layer of ['functional', 'diagnostic'] as const) {
    if (!wants(choice, layer)) continue;
    const ea: ObsEvent[] = [];
    const eb: ObsEvent[] = [];
    for (const e of a.events) if (layerOf(e.kind) === layer) ea.push(e);
    for (const e of b.events) if (layerOf(e.kind) === layer) eb.push(e);
    const r = diffKeyed(ea, eb, keyOf, { ...dopts, equal: sameValue });
    approximate ||= r.approximate;
    for (const c of r.changes) differences.push({ layer, side: c.side, event: c.item });

    if (layer === 'functional') {
      for (const what of FINAL_SECTIONS) {
        const fr = diffKeyed(finalSection(a.final, what), finalSection(b.final, what), keyOf, { ...dopts, equal: sameValue });
        approximate ||= fr.approximate;
        for (const c of fr.changes) differences.push({ layer, side: c.side, event: { kind: 'final', what, key: c.item.key, value: c.item.value } });
      }
    }
  }
  return { differences, approximate };
}

/** The differences between `a` (before) and `b` (after); see `compare`. */
export function compareObservations(a: Observation, b: Observation, opts: CompareOptions = {}): Difference[] {
  return compare(a, b, opts).differences;
}

/** True when the two observations do not differ in the chosen layer(s). */
export function sameBehaviour(a: Observation, b: Observation, layer: LayerChoice = 'both'): boolean {
  return compare(a, b, { layer }).differences.length === 0;
}

/** A difference with its side flipped: comparing B with A instead of A with B. */
export function flipDifference(d: Difference): Difference {
  return { ...d, side: d.side === 'removed' ? 'added' : 'removed' };
}
