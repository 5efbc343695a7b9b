// Verdicts: does a step's declared intent explain each difference it makes?
//
// A comparison of step A with step B (A < B) is explained by the union of the intents
// of the steps after A up to B. A difference is explained when a pattern of one of
// those intents matches it: the pattern's `side` ('removed' / 'added' / 'either')
// must fit, and every other field the pattern gives must equal the event's field of
// the same name. Comparing backwards (A > B) flips every side first, so a diff of
// 5 → 3 is read as the undo of 3 → 5.
//
// Verdict per comparison: `same` (no difference), `intended` (every difference is
// explained), `unexpected` (at least one is not). The intents a result reports are
// a small set that explains all of its differences (see explainDifferences); an
// intent credited in no (trace, step) result of a check is a coverage gap.
import type { EventPattern, Intent, StepManifest } from '../src/step_types.ts';
import { flipDifference, keyOf, type Difference } from './compare.ts';

export type Verdict = 'same' | 'intended' | 'unexpected';

/** An intent with the step that declares it. */
export interface StepIntent extends Intent {
  step: number;
}

/** A difference with the ids of the intents that explain it (empty: unexplained). */
export interface ExplainedDifference extends Difference {
  intents: string[];
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

function fieldMatches(want: string, got: unknown): boolean {
  if (got === undefined || got === null) return false;
  if (typeof got === 'string') return got === want;
  if (typeof got === 'number' || typeof got === 'boolean' || typeof got === 'bigint') return String(got) === want;
  return false;
}

/** A pattern's fields other than `side`, as [name, value] pairs (computed once per pattern). */
const fieldCache = new WeakMap<EventPattern, [string, string][]>();
function fieldsOf(p: EventPattern): [string, string][] {
  let f = fieldCache.get(p);
  if (!f) {
    f = Object.entries(p).filter(([k, v]) => k !== 'side' && v !== undefined).map(([k, v]) => [k, String(v)]);
    fieldCache.set(p, f);
  }
  return f;
}

/** Does `p` match the difference `d` (side and every given field)? */
export function patternMatches(p: EventPattern, d: Difference): boolean {
  if (p.side !== 'either' && p.side !== d.side) return false;
  const ev = d.event as Record<string, unknown>;
  for (const [k, v] of fieldsOf(p)) if (!fieldMatches(v, ev[k])) return false;
  return true;
}

export function intentExplains(intent: Intent, d: Difference): boolean {
  for (const p of intent.differences) if (patternMatches(p, d)) return true;
  return false;
}

/**
 * The differences an intent's moves explain, pairwise: a removed event matching a
 * move's `from` and the one added event equal to it with `to` applied. Count-preserving.
 */
function moveHits(intent: Intent, differences: readonly Difference[]): boolean[] {
  const hit = differences.map(() => false);
  for (const mv of intent.moves ?? []) {
    const added = new Map<string, number[]>();
    differences.forEach((d, k) => {
      if (d.side !== 'added' || hit[k] || (d.event as Record<string, unknown>).kind !== mv.kind) return;
      const key = keyOf(d.event);
      const list = added.get(key);
      if (list) list.push(k);
      else added.set(key, [k]);
    });
    differences.forEach((d, k) => {
      const ev = d.event as Record<string, unknown>;
      if (d.side !== 'removed' || hit[k] || ev.kind !== mv.kind) return;
      if (!Object.entries(mv.from).every(([f, v]) => fieldMatches(v, ev[f]))) return;
      const partner = added.get(keyOf({ ...ev, ...mv.to }))?.shift();
      if (partner === undefined) return;
      hit[k] = true;
      hit[partner] = true;
    });
  }
  return hit;
}

/**
 * Classifies a list of differences against a set of intents.
 *
 * When intents overlap (two intents of a step share a pattern), the result credits a
 * small set of intents that together explain every explainable difference, chosen
 * greedily: first the intent that explains the most differences (declaration order
 * breaks ties), then the one that explains most of the rest, and so on. Each
 * difference lists the chosen intents that explain it. So a trace that shows one
 * scenario witnesses that scenario's intent, not every intent that happens to share
 * one of its patterns — coverage gaps stay visible.
 */
export function explainDifferences(differences: readonly Difference[], intents: readonly Intent[]): Explanation {
  // identical differences (a splat repeated for 512 children) are matched once
  const memo = new Map<string, boolean[]>();
  const perDiff = differences.map((d) => {
    const k = d.side + keyOf(d.event);
    let m = memo.get(k);
    if (!m) memo.set(k, (m = intents.map((i) => intentExplains(i, d))));
    return m;
  });
  const matches = intents.map((intent, i) => {
    const moved = intent.moves ? moveHits(intent, differences) : null;
    return perDiff.map((m, k) => m[i]! || (moved !== null && moved[k]!));
  });
  const explainable = differences.map((_, k) => matches.some((m) => m[k]));
  const chosen = new Set<number>();
  const covered = differences.map(() => false);
  for (;;) {
    let best = -1;
    let bestCount = 0;
    for (let i = 0; i < matches.length; i++) {
      if (chosen.has(i)) continue;
      const m = matches[i]!;
      let n = 0;
      for (let k = 0; k < m.length; k++) if (m[k] && !covered[k]) n++;
      if (n > bestCount) {
        best = i;
        bestCount = n;
      }
    }
    if (best < 0) break;
    chosen.add(best);
    matches[best]!.forEach((hit, k) => {
      if (hit) covered[k] = true;
    });
  }
  const order = [...chosen].sort((x, y) => x - y);
  const out: ExplainedDifference[] = differences.map((d, k) => ({ ...d, intents: order.filter((i) => matches[i]![k]).map((i) => intents[i]!.id) }));
  const unexplained = differences.filter((_, k) => !explainable[k]);
  const verdict: Verdict = differences.length === 0 ? 'same' : unexplained.length === 0 ? 'intended' : 'unexpected';
  return { verdict, intents: order.map((i) => intents[i]!.id), differences: out, unexplained };
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
 * obs(b)) lists them) with the intents of the steps in between.
 */
export function explainRange(steps: readonly HasManifest[], a: number, b: number, differences: readonly Difference[]): Explanation {
  if (a <= b) return explainDifferences(differences, intentsBetween(steps, a, b));
  // backwards: b → a is the forward comparison; explain the flipped differences, report them as given
  const r = explainDifferences(differences.map(flipDifference), intentsBetween(steps, b, a));
  return { ...r, differences: r.differences.map((d) => ({ ...flipDifference(d), intents: d.intents })), unexplained: r.unexplained.map(flipDifference) };
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
