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

/** A final state with nothing in it (a replay that never got going). */
export function emptyFinal(end: string): FinalState {
  return {
    end,
    vm: { bugged: false, dead: false, td: '-', hkid: false },
    mirror: [],
    direct: [],
    sept: [],
    septPages: [],
    pages: { leaked: [], heldByModule: [] },
    stats: { tdp_mmu_pages: 0, leaves4k: 0 },
  };
}

export interface Observation {
  step: number;
  trace: string;
  events: ObsEvent[];
  final: FinalState;
}

/**
 * Renames page frames in order of first appearance (P1, P2, …), so that a step that
 * allocates in another order shows no false difference. Events first, then the final
 * state; both are rewritten in place (they are fresh objects of one replay).
 */
export function canonicalizePages(events: ObsEvent[], final: FinalState): void {
  const names = new Map<unknown, string>();
  const nameOf = (pfn: unknown): string => {
    if (pfn === null) return 'NULL'; // a NULL page handed on, as a broken caller might
    let n = names.get(pfn);
    if (!n) {
      n = `P${names.size + 1}`;
      names.set(pfn, n);
    }
    return n;
  };
  for (const e of events) {
    if (e.page !== undefined) e.page = nameOf(e.page);
    if (e.src !== undefined) e.src = nameOf(e.src);
  }
  for (const m of final.mirror) if (m.page !== undefined) m.page = nameOf(m.page);
  for (const m of final.direct) if (m.page !== undefined) m.page = nameOf(m.page);
  for (const s of final.sept) s.page = nameOf(s.page);
  final.septPages = final.septPages.map(nameOf);
  for (const l of final.pages.leaked) l.page = nameOf(l.page);
  final.pages.heldByModule = final.pages.heldByModule.map(nameOf);
}

