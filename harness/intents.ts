// Verdicts: does a step's declared intent explain each difference it makes?
//
// Differences are attributed to the trace operation that produced them (every event
// carries its thread and operation label, "fault#0"). The differences of one
// operation form a group, and a group is explained only when ONE rewrite of ONE intent
// accounts for it as a whole: every difference matches one of the rewrite's patterns
// (or is half of one of its moves), and every pattern is matched by as many
// differences as its count says. Fragments of several intents that happen to cover a
// group do not explain it. (Only the report's undo detection, explainThrough, composes
// two steps' rewrites on one operation, in step order.)
//
// The final state is explained entry by entry: the differences of one entry (section
// and key) are explained by a final pattern of an intent that explained an operation
// group of the same comparison (an intent that did not happen explains no final state).
//
// A comparison of step A with step B (A < B) uses the intents of the steps after A up
// to B (more than one step only where the registry skips steps); comparing backwards
// flips every side first. Verdict per comparison: `same`, `intended` (every
// difference explained) or `unexpected`.
import { exactText, PATTERN_META } from '../src/manifest_rules.ts';
import type { EventMove, EventPattern, FieldValue, Intent, Rewrite, StepManifest } from '../src/step_types.ts';
import { flipDifference, keyOf, type Difference, type LayerChoice } from './compare.ts';
import { layerOf } from './observation.ts';

export type Verdict = 'same' | 'intended' | 'unexpected';

/** An intent with the step that declares it. */
export interface StepIntent extends Intent {
  step: number;
}

/** A difference with the ids of the intents that explain it (empty: unexplained). */
export interface ExplainedDifference extends Difference {
  intents: string[];
  /** The step that made this difference (range explanations only). */
  madeBy?: number;
}

export interface Explanation {
  verdict: Verdict;
  /** Ids of the intents credited with explaining the differences, in declaration order. */
  intents: string[];
  differences: ExplainedDifference[];
  /** The differences no intent explains. */
  unexplained: Difference[];
}

/** What a step registry has to offer here: its manifests. */
export interface HasManifest {
  manifest: StepManifest;
}

function fieldMatches(want: FieldValue, got: unknown): boolean {
  const text = exactText(want);
  if (text === null) return got !== undefined; // ANY: the field must exist, any value
  if (got === undefined || got === null) return false;
  if (typeof got === 'string') return got === text;
  if (typeof got === 'number' || typeof got === 'boolean' || typeof got === 'bigint') return String(got) === text;
  return false;
}

/** A pattern's event fields, as [name, value] pairs (computed once per pattern). */
const fieldCache = new WeakMap<EventPattern, [string, FieldValue][]>();
function fieldsOf(p: EventPattern): [string, FieldValue][] {
  let f = fieldCache.get(p);
  if (!f) {
    f = Object.entries(p).filter(([k, v]) => !PATTERN_META.has(k) && v !== undefined) as [string, FieldValue][];
    fieldCache.set(p, f);
  }
  return f;
}

/** Does `p` match the difference `d` (side, kind and every given field)? */
export function patternMatches(p: EventPattern, d: Difference): boolean {
  if (p.side !== d.side) return false;
  const ev = d.event as Record<string, unknown>;
  if (ev.kind !== p.kind) return false;
  for (const [k, v] of fieldsOf(p)) if (!fieldMatches(v, ev[k])) return false;
  return true;
}

/** The operation kind of an event's label: "fault#0" → "fault". */
export function opKind(label: unknown): string {
  if (typeof label !== 'string') return '-';
  const i = label.indexOf('#');
  return i < 0 ? label : label.slice(0, i);
}

/** The group an event difference belongs to: its thread and operation. */
function groupKey(d: Difference): string {
  const ev = d.event as Record<string, unknown>;
  if (ev.kind === 'final') return `final\u0000${String(ev.what)}\u0000${String(ev.key)}`;
  return `op\u0000${String(ev.thread)}\u0000${String(ev.op)}`;
}

function bounds(p: EventPattern): [number, number] {
  const max = p.count === 'some' ? Infinity : (p.count ?? 1);
  const min = p.optional !== undefined ? 0 : p.count === 'some' ? 1 : max;
  return [min, max];
}

/** Does a move rename (change a field), rather than only reorder (`to: {}`)? */
function renames(mv: EventMove): boolean {
  return Object.keys(mv.to).length > 0;
}

/** Is `ev` one a move takes (its kind, and every `from` field)? */
function moveTakes(mv: EventMove, ev: Record<string, unknown>): boolean {
  return ev.kind === mv.kind && Object.entries(mv.from).every(([f, v]) => fieldMatches(v, ev[f]));
}

/** An event as a difference on `side`, in its own layer. */
function differenceOf(event: Record<string, unknown>, side: Difference['side']): Difference {
  return { layer: layerOf(event.kind as string), side, event: event as Difference['event'] };
}

/** Indices of a list of differences, by group (operation, or final-state entry). */
function groupIndices(differences: readonly Difference[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  differences.forEach((d, k) => {
    const g = groupKey(d);
    const list = groups.get(g);
    if (list) list.push(k);
    else groups.set(g, [k]);
  });
  return groups;
}

/**
 * Pairs removed and added differences by the moves; returns the indices of `group` they
 * consumed, or null when a move that is not optional pairs nothing, or when renamed
 * events come out in another order.
 */
function applyMoves(moves: readonly EventMove[], group: readonly Difference[]): Set<number> | null {
  const used = new Set<number>();
  /** removed index → added index, for renames (moves that change a field) */
  const renamed = new Map<number, number>();
  for (const mv of moves) {
    let pairs = 0;
    const added = new Map<string, number[]>();
    group.forEach((d, k) => {
      if (d.side !== 'added' || used.has(k) || (d.event as Record<string, unknown>).kind !== mv.kind) return;
      const key = keyOf(d.event);
      const list = added.get(key);
      if (list) list.push(k);
      else added.set(key, [k]);
    });
    group.forEach((d, k) => {
      const ev = d.event as Record<string, unknown>;
      if (d.side !== 'removed' || used.has(k) || !moveTakes(mv, ev)) return;
      const partner = added.get(keyOf({ ...ev, ...mv.to }))?.shift();
      if (partner === undefined) return;
      used.add(k);
      used.add(partner);
      if (renames(mv) && mv.reorders === undefined) renamed.set(k, partner);
      pairs++;
    });
    if (pairs === 0 && mv.optional === undefined) return null;
  }
  // a rename keeps the order of what it renames (a reorder, `to: {}`, or a move that says
  // why it `reorders`, is free to permute):
  // the renamed events must come in the same order on both sides
  let last = -1;
  for (const k of [...renamed.keys()].sort((x, y) => x - y)) {
    const partner = renamed.get(k)!;
    if (partner < last) return null;
    last = partner;
  }
  return used;
}

/** Upper bound on the assignment search for one group and one rewrite. */
const SEARCH_LIMIT = 20_000;

/**
 * Does `rw` account for the whole group? Identical differences form classes; each
 * class is assigned wholly to one pattern it matches, and every pattern's total must
 * fall within its count. A small depth-first search settles overlapping patterns.
 */
export function rewriteExplains(rw: Rewrite, group: readonly Difference[], layer: LayerChoice = 'both'): boolean {
  return rewriteApplications(rw, group, layer) > 0;
}

/**
 * How many applications of `rw` the group is: 1, or for a rewrite that `repeats`, the
 * smallest n for which every pattern's count times n accounts for it; 0 when it does not.
 */
export function rewriteApplications(rw: Rewrite, group: readonly Difference[], layer: LayerChoice = 'both'): number {
  const moved = rw.moves && rw.moves.length > 0 ? applyMoves(rw.moves, group) : new Set<number>();
  if (moved === null) return 0;
  const classes = new Map<string, { d: Difference; n: number }>();
  group.forEach((d, k) => {
    if (moved.has(k)) return;
    const key = d.side + keyOf(d.event);
    const c = classes.get(key);
    if (c) c.n++;
    else classes.set(key, { d, n: 1 });
  });
  const pats = layerPatterns(rw, layer);
  const list = [...classes.values()].map((c) => ({ n: c.n, cands: matchingPatterns(pats, c.d) }));
  return fitApplications(rw, pats, list, moved.size > 0, group.length);
}

/** A rewrite's event patterns a comparison of `layer` can see. */
function layerPatterns(rw: Rewrite, layer: LayerChoice): readonly EventPattern[] {
  // a one-layer comparison cannot see the other layer's half of a rewrite
  return layer === 'both' ? rw.events : rw.events.filter((p) => layerOf(p.kind) === layer);
}

/** The indices of the patterns that match `d`. */
function matchingPatterns(pats: readonly EventPattern[], d: Difference): number[] {
  return pats.map((p, i) => (patternMatches(p, d) ? i : -1)).filter((i) => i >= 0);
}

/** A class of identical differences: how many, and the patterns that match them. */
interface CountedClass {
  n: number;
  cands: readonly number[];
}

/**
 * The search of rewriteApplications over the classes its moves left (`moved`: some
 * differences were paired by a move; `size`: the group's number of differences).
 */
function fitApplications(rw: Rewrite, pats: readonly EventPattern[], classes: readonly CountedClass[], moved: boolean, size: number): number {
  if (classes.some((c) => c.cands.length === 0)) return 0;
  if (!moved && classes.length === 0) return 0;
  const list = [...classes];
  list.sort((x, y) => x.cands.length - y.cands.length);
  const total = pats.map(() => 0);
  let budget = SEARCH_LIMIT;
  const fits = (b: readonly [number, number][]): boolean => {
    const search = (i: number): boolean => {
      if (--budget < 0) return false;
      if (i === list.length) return b.every(([min], k) => total[k]! >= min);
      const c = list[i]!;
      for (const p of c.cands) {
        if (total[p]! + c.n > b[p]![1]) continue;
        total[p]! += c.n;
        if (search(i + 1)) return true;
        total[p]! -= c.n;
      }
      return false;
    };
    return search(0);
  };
  const b = pats.map(bounds);
  // n applications cannot be more than the group has differences
  const most = rw.repeats !== undefined ? size : 1;
  for (let n = 1; n <= most; n++) if (fits(b.map(([min, max]) => [min * n, max * n] as [number, number]))) return n;
  return 0;
}

/** Does the rewrite apply to operations of this kind? */
function rewriteApplies(rw: Rewrite, kind: string): boolean {
  if (Array.isArray(rw.op)) return rw.op.includes(kind);
  if (typeof rw.op === 'string') return rw.op === kind;
  return true; // ANY('why')
}

/**
 * The first intent (declaration order) one of whose rewrites explains the whole group:
 * [intent, rewrite, applications].
 */
function explainGroup(group: readonly Difference[], intents: readonly Intent[], layer: LayerChoice): [number, number, number] | null {
  const ev = group[0]!.event as Record<string, unknown>;
  const kind = opKind(ev.op);
  for (let i = 0; i < intents.length; i++) {
    const rws = intents[i]!.rewrites;
    for (let r = 0; r < rws.length; r++) {
      if (!rewriteApplies(rws[r]!, kind)) continue;
      const n = rewriteApplications(rws[r]!, group, layer);
      if (n > 0) return [i, r, n];
    }
  }
  return null;
}

/** The numeric change of one final-state entry (a removed and an added value), or null. */
function entryChange(group: readonly Difference[]): { what: unknown; key: unknown; by: number } | null {
  if (group.length !== 2) return null;
  const removed = group.find((d) => d.side === 'removed')?.event as Record<string, unknown> | undefined;
  const added = group.find((d) => d.side === 'added')?.event as Record<string, unknown> | undefined;
  if (!removed || !added || removed.kind !== 'final' || added.kind !== 'final') return null;
  const a = Number(removed.value);
  const b = Number(added.value);
  return Number.isFinite(a) && Number.isFinite(b) ? { what: added.what, key: added.key, by: b - a } : null;
}

/** Is `p` a delta pattern of this entry? */
function deltaOf(p: EventPattern, what: unknown, key: unknown): boolean {
  return p.delta !== undefined && p.what !== undefined && p.key !== undefined && fieldMatches(p.what as FieldValue, what) && fieldMatches(p.key as FieldValue, key);
}

/** One rewrite's share of a group: [intent, rewrite, applications]. */
type Hit = [number, number, number];

/** Another way to explain a group no single rewrite explains (a composition, below). */
type GroupFallback = (group: readonly Difference[], key: string) => Hit[] | null;

/**
 * Classifies a list of differences (of one comparison) against a set of intents:
 * operation groups first, then final-state entries with the intents that happened.
 */
export function explainDifferences(differences: readonly Difference[], intents: readonly Intent[], layer: LayerChoice = 'both'): Explanation {
  return explainWith(differences, intents, layer);
}

function explainWith(differences: readonly Difference[], intents: readonly Intent[], layer: LayerChoice, fallback?: GroupFallback): Explanation {
  const groups = groupIndices(differences);
  const finals: number[][] = [];
  /** the operation groups some rewrite (or a composition of two) accounts for */
  const explained: { ks: number[]; hits: Hit[] }[] = [];
  /** intent → rewrite → how many applications (operations, or repeats) */
  const used = new Map<number, Map<number, number>>();
  for (const [g, ks] of groups) {
    if (g.startsWith('final\u0000')) {
      finals.push(ks);
      continue;
    }
    const group = ks.map((k) => differences[k]!);
    const one = explainGroup(group, intents, layer);
    const hits = one ? [one] : (fallback?.(group, g) ?? null);
    if (!hits) continue;
    explained.push({ ks, hits });
    for (const [i, r, n] of hits) {
      let m = used.get(i);
      if (!m) used.set(i, (m = new Map()));
      m.set(r, (m.get(r) ?? 0) + n);
    }
  }
  // final-state entries: patterns of the intents (and of their rewrites) that happened
  const active = [...used.keys()].sort((x, y) => x - y);
  const valuePatterns = new Map(active.map((a) => [a, [...(intents[a]!.final ?? []), ...[...used.get(a)!.keys()].flatMap((r) => intents[a]!.rewrites[r]!.final ?? [])].filter((p) => p.delta === undefined)] as const));
  const finalBy = differences.map(() => -1);
  /** delta patterns that explained an entry */
  const deltaSeen = new Set<EventPattern>();
  for (const ks of finals) {
    const group = ks.map((k) => differences[k]!);
    let i = active.find((a) => group.every((d) => valuePatterns.get(a)!.some((p) => patternMatches(p, d))));
    const change = i === undefined ? entryChange(group) : null;
    if (change) {
      // a counter changes by the sum, over the rewrites that explained operations here, of
      // each one's `delta` times its applications (two refused removals, one in a zap and
      // one at teardown, leave two more leaves counted)
      const hits = active.flatMap((a) => [...used.get(a)!].flatMap(([r, n]) => (intents[a]!.rewrites[r]!.final ?? []).filter((p) => deltaOf(p, change.what, change.key)).map((p) => ({ a, p, n }))));
      if (hits.length > 0 && hits.reduce((s, h) => s + h.p.delta! * h.n, 0) === change.by) {
        i = hits[0]!.a;
        for (const h of hits) deltaSeen.add(h.p);
      }
    }
    if (i !== undefined) for (const k of ks) finalBy[k] = i;
  }
  // the final-state changes an intent (or one of its rewrites) declares must be seen
  const required = (p: EventPattern): boolean => p.optional === undefined;
  const seen = (p: EventPattern): boolean => (p.delta !== undefined ? deltaSeen.has(p) : differences.some((d, k) => finalBy[k]! >= 0 && patternMatches(p, d)));
  const happened = ([i, r]: Hit): boolean => (intents[i]!.final ?? []).filter(required).every(seen) && (intents[i]!.rewrites[r]!.final ?? []).filter(required).every(seen);
  const by: number[][] = differences.map(() => []);
  const credited = new Set<number>();
  for (const { ks, hits } of explained) {
    if (!hits.every(happened)) continue;
    const ids = hits.map(([i]) => i);
    for (const i of ids) credited.add(i);
    for (const k of ks) by[k] = ids;
  }
  differences.forEach((_, k) => {
    if (finalBy[k]! >= 0 && credited.has(finalBy[k]!)) by[k] = [finalBy[k]!];
  });
  const out: ExplainedDifference[] = differences.map((d, k) => ({ ...d, intents: by[k]!.map((i) => intents[i]!.id) }));
  const unexplained = differences.filter((_, k) => by[k]!.length === 0);
  const verdict: Verdict = differences.length === 0 ? 'same' : unexplained.length === 0 ? 'intended' : 'unexpected';
  return { verdict, intents: [...credited].sort((x, y) => x - y).map((i) => intents[i]!.id), differences: out, unexplained };
}

/** The intents of every step numbered in (lo, hi], in step order. */
export function intentsBetween(steps: readonly HasManifest[], lo: number, hi: number): StepIntent[] {
  const out: StepIntent[] = [];
  const sorted = [...steps].sort((x, y) => x.manifest.step - y.manifest.step);
  for (const s of sorted) {
    const n = s.manifest.step;
    if (n > lo && n <= hi) for (const i of s.manifest.intents) out.push({ ...i, step: n });
  }
  return out;
}

/**
 * Explains the differences of step `a` → step `b` (as compareObservations(obs(a),
 * obs(b)) lists them) with the intents of the steps in between. For neighbouring steps
 * (or steps the registry has nothing between); a longer range is explained step by
 * step with attributeRange().
 */
export function explainRange(steps: readonly HasManifest[], a: number, b: number, differences: readonly Difference[], layer: LayerChoice = 'both'): Explanation {
  if (a <= b) return explainDifferences(differences, intentsBetween(steps, a, b), layer);
  // backwards: b → a is the forward comparison; explain the flipped differences, report them as given
  const r = explainDifferences(differences.map(flipDifference), intentsBetween(steps, b, a), layer);
  return { ...r, differences: r.differences.map((d) => ({ ...flipDifference(d), intents: d.intents })), unexplained: r.unexplained.map(flipDifference) };
}

/** One neighbouring comparison of a range: the step it reaches and its explained differences. */
export interface StepExplanation {
  step: number;
  differences: readonly ExplainedDifference[];
}

/**
 * Range attribution: each difference of A → B is credited to the step that made it (the
 * first neighbouring comparison, in the direction of travel, that has the same
 * difference) and explained only as that step's comparison explains it. A difference no
 * single step made (it only appears through the combination of several) is unexplained.
 * `perStep` lists the neighbouring comparisons from A towards B, each as
 * explainRange gave it (already flipped when going backwards).
 */
export function attributeRange(differences: readonly Difference[], perStep: readonly StepExplanation[]): Explanation {
  const pool = perStep.map((s) => {
    const m = new Map<string, ExplainedDifference[]>();
    for (const d of s.differences) {
      const k = d.side + keyOf(d.event);
      const list = m.get(k);
      if (list) list.push(d);
      else m.set(k, [d]);
    }
    return m;
  });
  const out: ExplainedDifference[] = differences.map((d) => {
    const k = d.side + keyOf(d.event);
    for (let i = 0; i < pool.length; i++) {
      const hit = pool[i]!.get(k)?.shift();
      if (hit) return { ...d, intents: hit.intents, madeBy: perStep[i]!.step };
    }
    return { ...d, intents: [] };
  });
  const unexplained = out.filter((d) => d.intents.length === 0).map(({ intents: _i, madeBy: _m, ...d }) => d);
  const ids: string[] = [];
  for (const d of out) for (const id of d.intents) if (!ids.includes(id)) ids.push(id);
  const verdict: Verdict = differences.length === 0 ? 'same' : unexplained.length === 0 ? 'intended' : 'unexpected';
  return { verdict, intents: ids, differences: out, unexplained };
}

export interface CoverageEntry {
  step: number;
  intent: string;
  summary: string;
  /** Traces whose result (at any step in range) used this intent. */
  witnesses: string[];
}

/**
 * Intent coverage over a set of results: every intent of every step in [from, to]
 * with the traces that witnessed it. A result witnesses an intent when the intent
 * explains one of its differences (results list them in `intents`).
 */
export function intentCoverage(
  steps: readonly HasManifest[],
  from: number,
  to: number,
  results: readonly { trace: string; step: number; intents: readonly string[] }[],
): CoverageEntry[] {
  const witnesses = new Map<string, Set<string>>();
  for (const r of results) {
    for (const id of r.intents) {
      let s = witnesses.get(id);
      if (!s) witnesses.set(id, (s = new Set()));
      s.add(r.trace);
    }
  }
  return intentsBetween(steps, from - 1, to).map((i) => ({
    step: i.step,
    intent: i.id,
    summary: i.summary,
    witnesses: [...(witnesses.get(i.id) ?? [])].sort(),
  }));
}

/** The entries of a coverage list no trace witnesses. */
export function coverageGaps(coverage: readonly CoverageEntry[]): CoverageEntry[] {
  return coverage.filter((c) => c.witnesses.length === 0);
}

/** Upper bound on the middles a composition tries for one group and one pair of rewrites. */
const COMPOSE_LIMIT = 4096;

/** Could `rw` change the count of `event` by `n` (one of its patterns or moves has that side)? */
function canChange(rw: Rewrite, event: Record<string, unknown>, n: number, layer: LayerChoice): boolean {
  if (n === 0) return true;
  const d = differenceOf(event, n > 0 ? 'added' : 'removed');
  if (layer !== 'both' && d.layer !== layer) return false;
  if (rw.events.some((p) => patternMatches(p, d))) return true;
  // a rename (a reorder is invisible in counts)
  return (rw.moves ?? []).some((mv) => renames(mv) && mv.kind === event.kind && (n > 0 || moveTakes(mv, event)));
}

/** One event's net change: added minus removed. */
interface NetEntry {
  event: Record<string, unknown>;
  n: number;
}

/** Net change per event, keyed by the event. */
function netChange(list: readonly Difference[]): Map<string, NetEntry> {
  const m = new Map<string, NetEntry>();
  for (const d of list) {
    const key = keyOf(d.event);
    let e = m.get(key);
    if (!e) m.set(key, (e = { event: d.event as Record<string, unknown>, n: 0 }));
    e.n += d.side === 'added' ? 1 : -1;
  }
  return m;
}

/**
 * rewriteApplications for a net change (a composition's share of an operation): counts,
 * not order, so a pure reorder is not required and a rename pairs as many as both sides
 * have.
 */
function netApplications(rw: Rewrite, change: ReadonlyMap<string, NetEntry>, pats: readonly EventPattern[], cands: (key: string, d: Difference) => readonly number[]): number {
  const left = new Map([...change].map(([k, e]) => [k, { ...e }]));
  let moved = false;
  for (const mv of rw.moves ?? []) {
    if (!renames(mv)) continue; // a reorder: invisible in counts
    let pairs = 0;
    for (const e of left.values()) {
      if (e.n >= 0 || !moveTakes(mv, e.event)) continue;
      const partner = left.get(keyOf({ ...e.event, ...mv.to }));
      if (!partner || partner.n <= 0) continue;
      const k = Math.min(-e.n, partner.n);
      e.n += k;
      partner.n -= k;
      pairs += k;
    }
    if (pairs === 0 && mv.optional === undefined) return 0;
    if (pairs > 0) moved = true;
  }
  const classes: CountedClass[] = [];
  let size = 0;
  for (const [key, { event, n }] of left) {
    size += Math.abs(n);
    if (n !== 0) classes.push({ n: Math.abs(n), cands: cands(key, differenceOf(event, n > 0 ? 'added' : 'removed')) });
  }
  return fitApplications(rw, pats, classes, moved, size);
}

/**
 * Applications of `first` then `second` that account for an operation's change A → B,
 * through a middle that is searched for: per event, the middle has as many of it as A,
 * as the broken middle step, or as B. Events the two rewrites cannot tell apart (the
 * same patterns match them, their counts have the same shape) choose alike and are
 * counted together; events a rename moves stay apart (a rename pairs exact events).
 * `whole` is the operation's net change A → B, `mid` its net change A → the broken
 * middle. [first's applications, second's], or null.
 */
function composeRewrites(first: Rewrite, second: Rewrite, whole: ReadonlyMap<string, NetEntry>, mid: ReadonlyMap<string, NetEntry>, layer: LayerChoice): [number, number] | null {
  const renamed = new Set([...(first.moves ?? []), ...(second.moves ?? [])].filter(renames).map((mv) => mv.kind));
  /** per unit: an event, and per choice of the middle (like A, like the broken step, like B) the two rewrites' changes */
  const units = new Map<string, { event: Record<string, unknown>; choices: number[]; first: [number, number, number]; second: [number, number, number] }>();
  for (const key of [...new Set([...whole.keys(), ...mid.keys()])].sort()) {
    const event = (whole.get(key) ?? mid.get(key))!.event;
    const d = whole.get(key)?.n ?? 0;
    const m = mid.get(key)?.n ?? 0;
    // the first rewrite's change when the middle is like A (none), like the broken step, or like B (all)
    const v: [number, number, number] = [0, m, d];
    // the broken step's count first: most of what it does is right
    const choices = [1, 0, 2].filter((c) => (c === 1 || v[c] !== v[1]) && (c !== 2 || v[2] !== v[0]) && canChange(first, event, v[c]!, layer) && canChange(second, event, d - v[c]!, layer));
    if (choices.length === 0) return null;
    const matches = (rw: Rewrite): string => rw.events.map((p) => (patternMatches(p, differenceOf(event, p.side)) ? 1 : 0)).join('');
    const unit = renamed.has(event.kind as string) ? key : `${matches(first)}|${matches(second)}|${choices.join('')}|${[m, d, d - m].map(Math.sign).join(',')}|${String(event.kind)}`;
    const u = units.get(unit);
    if (u) for (let c = 0; c < 3; c++) {
      u.first[c]! += v[c]!;
      u.second[c]! += d - v[c]!;
    }
    else units.set(unit, { event, choices, first: [...v], second: [d - v[0], d - v[1], d - v[2]] });
  }
  const list = [...units];
  let combos = 1;
  for (const [, u] of list) if ((combos *= u.choices.length) > COMPOSE_LIMIT) return null;
  const [pats1, pats2] = [layerPatterns(first, layer), layerPatterns(second, layer)];
  const memo = (pats: readonly EventPattern[]): ((key: string, d: Difference) => readonly number[]) => {
    const seen = new Map<string, readonly number[]>();
    return (key, d) => {
      let c = seen.get(d.side + key);
      if (!c) seen.set(d.side + key, (c = matchingPatterns(pats, d)));
      return c;
    };
  };
  const [cands1, cands2] = [memo(pats1), memo(pats2)];
  for (let c = 0; c < combos; c++) {
    const p1 = new Map<string, NetEntry>();
    const p2 = new Map<string, NetEntry>();
    let rest = c;
    for (const [unit, u] of list) {
      const pick = u.choices[rest % u.choices.length]!;
      rest = Math.floor(rest / u.choices.length);
      if (u.first[pick] !== 0) p1.set(unit, { event: u.event, n: u.first[pick]! });
      if (u.second[pick] !== 0) p2.set(unit, { event: u.event, n: u.second[pick]! });
    }
    if (p1.size === 0 || p2.size === 0) continue; // one rewrite alone: not a composition
    const n1 = netApplications(first, p1, pats1, cands1);
    const n2 = n1 > 0 ? netApplications(second, p2, pats2, cands2) : 0;
    if (n2 > 0) return [n1, n2];
  }
  return null;
}

/**
 * Explains step A → step B across a middle step whose model is broken: an operation no
 * single rewrite accounts for is explained when a rewrite of a step up to `mid` followed
 * by one of a step after it does, through some correct middle (composeRewrites). Counts,
 * not order: a composed operation's order is not checked, and a pure reorder of either
 * rewrite is not required. The report uses it to tell "step N+1 only undoes step N's
 * unexpected change" from a second defect; verdicts never compose.
 * `differences` is A → B, `toMid` is A → the broken middle.
 */
export function explainThrough(steps: readonly HasManifest[], a: number, mid: number, b: number, differences: readonly Difference[], toMid: readonly Difference[], layer: LayerChoice = 'both'): Explanation {
  const intents = intentsBetween(steps, a, b);
  const midGroups = groupIndices(toMid);
  const fallback: GroupFallback = (group, key) => {
    const kind = opKind((group[0]!.event as Record<string, unknown>).op);
    const whole = netChange(group);
    const middle = netChange((midGroups.get(key) ?? []).map((k) => toMid[k]!));
    // the rewrites of the steps up to the middle, and of those after it, for this operation
    const rewrites = (before: boolean) =>
      intents.flatMap((it, i) => ((it.step <= mid) === before ? it.rewrites.map((rw, r) => ({ i, r, rw })) : [])).filter((x) => rewriteApplies(x.rw, kind));
    const later = rewrites(false);
    for (const x of rewrites(true)) {
      for (const y of later) {
        const n = composeRewrites(x.rw, y.rw, whole, middle, layer);
        if (n) return [[x.i, x.r, n[0]], [y.i, y.r, n[1]]];
      }
    }
    return null;
  };
  return explainWith(differences, intents, layer, fallback);
}
