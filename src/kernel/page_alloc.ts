// A deterministic page allocator: frames are numbered in allocation order and never
// reused within a replay. Freeing checks what the kernel cannot: double frees and
// frees of pages the TDX module still owns (memory corruption on real hardware).
import { ctx, type Frame } from './context.ts';
import { SHADOW_NONPRESENT_VALUE, SPTE_ENT_PER_PAGE } from './spte.ts';

export function alloc_page(kind: string): number {
  const c = ctx();
  const pfn = c.nextPfn++;
  let data: BigUint64Array | null = null;
  if (kind === 'spt') {
    // page tables come from a cache whose pages are pre-filled with the non-present value
    data = new BigUint64Array(SPTE_ENT_PER_PAGE);
    data.fill(SHADOW_NONPRESENT_VALUE);
  }
  const frame: Frame = { pfn, kind, freed: false, data, sp: null };
  c.frames.set(pfn, frame);
  return pfn;
}

export function free_page(pfn: number | null, site: string): void {
  if (pfn === null) return; // free_page(0) is a no-op
  const c = ctx();
  const frame = c.frames.get(pfn);
  if (!frame) {
    c.record({ kind: 'invariant', rule: 'free-unknown-page', site, page: pfn });
    return;
  }
  if (frame.freed) {
    c.record({ kind: 'invariant', rule: 'double-free', site, page: pfn, what: frame.kind });
    return;
  }
  if (c.hw.ownedByModule(pfn)) {
    c.record({ kind: 'invariant', rule: 'free-while-owned', site, page: pfn, what: frame.kind, owner: c.hw.pamt(pfn).owner });
  }
  frame.freed = true;
  c.record({ kind: 'free', site, page: pfn, what: frame.kind });
}

export function frame_of(pfn: number): Frame {
  const f = ctx().frames.get(pfn);
  if (!f) throw new Error(`no such page frame ${pfn}`);
  return f;
}

/** True if the kernel has given this page back: the module must not be handed it. */
export function page_is_free(pfn: number): boolean {
  const f = ctx().frames.get(pfn);
  return f !== undefined && f.freed;
}
