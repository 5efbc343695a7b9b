// Drafting intents: the differences a step makes on a set of traces, grouped by trace
// operation and written as exact rewrite patterns (every identifying field with its
// observed value; identical events folded into a count). A starting point for writing
// a step's manifest: the author then replaces values that really vary with
// ANY('why') and decides which groups are one intent.
import { identifyingFields } from '../src/manifest_rules.ts';
import type { StepModel } from '../versions/index.ts';
import { compare, keyOf, type Difference } from './compare.ts';
import { opKind } from './intents.ts';
import { safeReplay } from './check.ts';
import type { Trace } from './trace.ts';

export interface DraftGroup {
  trace: string;
  /** The operation label ("fault#0") and thread, or 'final' for final-state entries. */
  op: string;
  thread: string | null;
  patterns: Record<string, unknown>[];
}

/** The identifying fields of a difference as a pattern (with side and kind first). */
export function exactPattern(d: Difference): Record<string, unknown> {
  const ev = d.event as Record<string, unknown>;
  const out: Record<string, unknown> = { side: d.side, kind: ev.kind };
  const fields = identifyingFields(String(ev.kind), typeof ev.name === 'string' ? ev.name : undefined) ?? [];
  for (const f of fields) out[f] = ev[f] === undefined ? null : ev[f];
  return out;
}

/** The groups of differences of step `step` against the step before it, on each trace. */
export function draftGroups(traces: readonly Trace[], steps: readonly StepModel[], step: number): DraftGroup[] {
  const sorted = [...steps].sort((a, b) => a.manifest.step - b.manifest.step);
  const i = sorted.findIndex((s) => s.manifest.step === step);
  if (i <= 0) return [];
  const out: DraftGroup[] = [];
  for (const t of traces) {
    const a = safeReplay(t, sorted[i - 1]!).obs;
    const b = safeReplay(t, sorted[i]!).obs;
    const groups = new Map<string, DraftGroup>();
    const counts = new Map<string, Map<string, Record<string, unknown>>>();
    for (const d of compare(a, b).differences) {
      const ev = d.event as Record<string, unknown>;
      const final = ev.kind === 'final';
      const gk = final ? 'final' : `${String(ev.thread)}/${String(ev.op)}`;
      let g = groups.get(gk);
      if (!g) {
        g = { trace: t.name, op: final ? 'final' : String(ev.op), thread: final ? null : (ev.thread as string | null), patterns: [] };
        groups.set(gk, g);
        counts.set(gk, new Map());
      }
      const p = exactPattern(d);
      const pk = keyOf(p);
      const seen = counts.get(gk)!.get(pk);
      if (seen) seen.count = ((seen.count as number | undefined) ?? 1) + 1;
      else {
        counts.get(gk)!.set(pk, p);
        g.patterns.push(p);
      }
    }
    out.push(...groups.values());
  }
  return out;
}

function literal(v: unknown): string {
  return typeof v === 'string' ? `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : String(v);
}

/** The groups as TypeScript a manifest can take. */
export function formatDraft(groups: readonly DraftGroup[]): string {
  const out: string[] = [];
  for (const g of groups) {
    out.push(`// ${g.trace}: ${g.op === 'final' ? 'final state' : `${g.op} (thread ${String(g.thread)})`}`);
    if (g.op !== 'final') out.push(`{ op: '${opKind(g.op)}', events: [`);
    for (const p of g.patterns) out.push(`  { ${Object.entries(p).map(([k, v]) => `${k}: ${literal(v)}`).join(', ')} },`);
    if (g.op !== 'final') out.push(`] },`);
  }
  return out.join('\n') + '\n';
}
