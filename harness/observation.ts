// What one replay of one trace on one step yields, and the two layers it splits into.
import type { KernelContext, ObsEvent } from '../src/kernel/context.ts';
import type { KvmMmuPage } from '../src/kernel/mmu_page.ts';

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
  /** How a pinned schedule fitted the run (skipped or unused entries): never compared. */
  notes?: string[];
}

/**
 * Names a page frame by what it is, not by when it first appears, so that a step which
 * drops or adds one event does not rename other pages: a page table of level L whose
 * first entry maps gfn G is "mirror.L<L>@<G>" (or "direct.…"), the S-EPT page donated
 * for it "sept.L<L>@<G>", guest memory "gmem@<G>" / "host@<G>", a populate source "src".
 * Frames that would share a name (a table freed and allocated again for the same range)
 * get "#2", "#3" … in order of first appearance.
 */
export function pageNamer(c: KernelContext): (pfn: unknown) => string {
  const baseName = (pfn: number): string => {
    const f = c.frames.get(pfn);
    if (!f) return 'unknown';
    if ((f.kind === 'gmem' || f.kind === 'host') && f.gfn !== undefined) return `${f.kind}@0x${f.gfn.toString(16)}`;
    const sp = (f.kind === 'external_spt' ? f.externalOf : f.sp) as KvmMmuPage | null | undefined;
    if ((f.kind === 'spt' || f.kind === 'external_spt') && sp) {
      const where = `L${sp.role.level}@0x${sp.gfn.toString(16)}`;
      if (f.kind === 'external_spt') return `sept.${where}`;
      return `${sp.role.is_mirror ? 'mirror' : 'direct'}.${where}`;
    }
    return f.kind === 'spt' ? 'spt.unused' : f.kind;
  };
  const names = new Map<unknown, string>();
  const used = new Map<string, number>();
  return (pfn: unknown): string => {
    if (pfn === null) return 'NULL'; // a NULL page handed on, as a broken caller might
    let n = names.get(pfn);
    if (n === undefined) {
      const base = typeof pfn === 'number' ? baseName(pfn) : `?${String(pfn)}`;
      const k = (used.get(base) ?? 0) + 1;
      used.set(base, k);
      n = k === 1 ? base : `${base}#${k}`;
      names.set(pfn, n);
    }
    return n;
  };
}

/**
 * Renames page frames with `nameOf` (see pageNamer), events first, then the final
 * state; both are rewritten in place (they are fresh objects of one replay).
 */
export function canonicalizePages(events: ObsEvent[], final: FinalState, nameOf: (pfn: unknown) => string): void {
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
