// What one replay of one trace on one step yields, and the two layers it splits into.
import type { ObsEvent } from '../src/kernel/context.ts';

export type Layer = 'functional' | 'diagnostic';

const DIAGNOSTIC_KINDS = new Set(['bug', 'warn', 'mmu_warn', 'lockdep']);

export function layerOf(kind: string): Layer {
  return DIAGNOSTIC_KINDS.has(kind) ? 'diagnostic' : 'functional';
}

export interface MirrorEntry {
  gpa: string;
  level: number;
  kind: string;
  page?: string;
  accessed?: boolean;
}

export interface FinalState {
  end: string;
  vm: { bugged: boolean; dead: boolean; td: string; hkid: boolean };
  mirror: MirrorEntry[];
  direct: MirrorEntry[];
  sept: { gpa: string; level: number; state: string; page: string }[];
  septPages: string[];
  pages: { leaked: { page: string; what: string }[]; heldByModule: string[] };
  stats: { tdp_mmu_pages: number; leaves4k: number };
}

export interface Observation {
  step: number;
  trace: string;
  events: ObsEvent[];
  final: FinalState;
}

/**
 * Renames page frames in order of first appearance (P1, P2, …), so that a step that
 * allocates in another order shows no false difference.
 */
export function canonicalizePages(events: ObsEvent[], final: unknown): { events: ObsEvent[]; final: unknown } {
  const names = new Map<number, string>();
  const nameOf = (pfn: number): string => {
    let n = names.get(pfn);
    if (!n) {
      n = `P${names.size + 1}`;
      names.set(pfn, n);
    }
    return n;
  };
  const PAGE_FIELDS = new Set(['page', 'src']);
  const walk = (v: unknown, key: string | null): unknown => {
    if (typeof v === 'number' && key !== null && PAGE_FIELDS.has(key)) return nameOf(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, key === 'pages' || key === 'septPages' || key === 'heldByModule' ? 'page' : null));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, k);
      return out;
    }
    return v;
  };
  const ev = events.map((e) => walk(e, null) as ObsEvent);
  return { events: ev, final: walk(final, null) };
}

/** A stable one-line key for an event: what the array diff compares. */
export function eventKey(e: ObsEvent): string {
  return JSON.stringify(e);
}
