// Reading the machine from outside, without yield points: the invariants checked at
// quiescent points, and the final state an observation ends with.
import { ctx } from '../src/kernel/context.ts';
import type { Kvm } from '../src/kernel/kvm.ts';
import type { KvmMmuPage } from '../src/kernel/mmu_page.ts';
import { SHADOW_NONPRESENT_VALUE, is_accessed_spte, is_frozen_spte, is_last_spte, is_shadow_present_pte, KVM_PAGES_PER_HPAGE, spte_to_pfn, SPTE_ENT_PER_PAGE } from '../src/kernel/spte.ts';
import { read_table } from '../src/kernel/tdp_iter.ts';
import type { FinalState, MirrorEntry } from './observation.ts';

interface RawEntry { gfn: number; level: number; kind: 'LEAF' | 'NONLEAF' | 'FROZEN'; pfn?: number; accessed?: boolean }

/**
 * SHADOW_NONPRESENT_VALUE as the two 32-bit words a table holds it in (in this machine's
 * byte order): most entries are non-present, and testing their words, unlike reading
 * each as a bigint, allocates nothing.
 */
const NONPRESENT_WORDS = new Uint32Array(new BigUint64Array([SHADOW_NONPRESENT_VALUE]).buffer);
const [NP_LO, NP_HI] = [NONPRESENT_WORDS[0]!, NONPRESENT_WORDS[1]!];

function walkRoot(root: KvmMmuPage, out: RawEntry[]): void {
  const visit = (pt: number, level: number, base_gfn: number): void => {
    const data = read_table(pt);
    const words = new Uint32Array(data.buffer, data.byteOffset, 2 * SPTE_ENT_PER_PAGE);
    for (let i = 0; i < SPTE_ENT_PER_PAGE; i++) {
      if (words[2 * i] === NP_LO && words[2 * i + 1] === NP_HI) continue; // the common case
      const spte = data[i]!;
      const gfn = base_gfn + i * KVM_PAGES_PER_HPAGE(level);
      if (is_frozen_spte(spte)) out.push({ gfn, level, kind: 'FROZEN' });
      else if (!is_shadow_present_pte(spte)) continue;
      else if (is_last_spte(spte, level)) out.push({ gfn, level, kind: 'LEAF', pfn: spte_to_pfn(spte), accessed: is_accessed_spte(spte) });
      else {
        out.push({ gfn, level, kind: 'NONLEAF', pfn: spte_to_pfn(spte) });
        visit(spte_to_pfn(spte), level - 1, gfn);
      }
    }
  };
  visit(root.spt, root.role.level, 0);
}

function entries(kvm: Kvm, mirror: boolean): RawEntry[] {
  const out: RawEntry[] = [];
  for (const root of kvm.arch.tdp_mmu_roots) if (root.role.is_mirror === mirror && !root.header_freed) walkRoot(root, out);
  return out;
}

const hex = (n: number): string => '0x' + n.toString(16);

/**
 * Mirror ↔ S-EPT leaves, and S-EPT pages ↔ donated external pages. Each violation is
 * recorded once when it appears (and again only if it goes away and comes back).
 */
export function checkInvariants(kvm: Kvm, active: Set<string>): void {
  const c = ctx();
  const now = new Map<string, Record<string, unknown>>();
  const mirrorLeaves = new Map<number, number>();
  for (const e of entries(kvm, true)) if (e.kind === 'LEAF') mirrorLeaves.set(e.gfn * 4096, e.pfn!);
  const septLeaves = new Map<number, number>();
  for (const l of c.hw.septLeaves()) septLeaves.set(l.gpa, l.pfn);

  for (const [gpa, pfn] of mirrorLeaves) {
    const s = septLeaves.get(gpa);
    if (s === undefined) now.set(`mirror-leaf-without-sept:${gpa}`, { rule: 'mirror-leaf-without-sept', gpa: hex(gpa), page: pfn });
    else if (s !== pfn) now.set(`mirror-sept-pfn-mismatch:${gpa}`, { rule: 'mirror-sept-pfn-mismatch', gpa: hex(gpa), page: pfn });
  }
  for (const [gpa, pfn] of septLeaves) {
    if (!mirrorLeaves.has(gpa)) now.set(`sept-leaf-without-mirror:${gpa}`, { rule: 'sept-leaf-without-mirror', gpa: hex(gpa), page: pfn });
  }
  for (const pfn of c.hw.septPages()) {
    const f = c.frames.get(pfn);
    if (!f || f.kind !== 'external_spt') now.set(`sept-page-not-external:${pfn}`, { rule: 'sept-page-not-donated-external-page', page: pfn });
    else if (f.freed) now.set(`sept-page-freed:${pfn}`, { rule: 'sept-page-freed-by-kernel', page: pfn });
  }
  for (const [key, ev] of now) if (!active.has(key)) c.record({ kind: 'invariant', ...ev });
  active.clear();
  for (const key of now.keys()) active.add(key);
}

function publicEntry(e: RawEntry): MirrorEntry {
  const out: MirrorEntry = { gpa: hex(e.gfn * 4096), level: e.level, kind: e.kind };
  if (e.pfn !== undefined) (out as unknown as Record<string, unknown>).page = e.pfn;
  if (e.accessed !== undefined) out.accessed = e.accessed;
  return out;
}

export function finalState(kvm: Kvm, end: string, destroyed: boolean): FinalState {
  const c = ctx();
  const leaked: { page: string; what: string }[] = [];
  const heldByModule: string[] = [];
  for (const f of c.frames.values()) {
    if (destroyed && !f.freed && (f.kind === 'spt' || f.kind === 'external_spt')) leaked.push({ page: f.pfn as unknown as string, what: f.kind });
    if (c.hw.ownedByModule(f.pfn)) heldByModule.push(f.pfn as unknown as string);
  }
  return {
    end,
    vm: { bugged: kvm.vm_bugged, dead: kvm.vm_dead, td: kvm.tdx.state, hkid: kvm.tdx.hkid_assigned },
    mirror: entries(kvm, true).map(publicEntry),
    direct: entries(kvm, false).map(publicEntry),
    sept: c.hw.septLeaves().map((l) => ({ gpa: hex(l.gpa), level: l.level, state: l.state, page: l.pfn as unknown as string })),
    septPages: c.hw.septPages() as unknown as string[],
    pages: { leaked, heldByModule },
    stats: { tdp_mmu_pages: kvm.arch.tdp_mmu_pages, leaves4k: kvm.arch.pages_by_level[1]! },
  };
}
