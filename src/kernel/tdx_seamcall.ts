// The SEAMCALL wrappers of arch/x86/virt/vmx/tdx/tdx.c as the series base has them
// (pg_level arguments, PFNs for guest pages). Each is a yield point, and each call is
// recorded with its arguments and the module's status.
import { ctx, preemptible, type Gen } from './context.ts';
import { page_is_free } from './page_alloc.ts';
import { statusName } from '../hw/status.ts';
import type { SeamcallName, SeamcallOut } from '../hw/tdx_module.ts';

/** What a SEAMCALL wrapper hands back: status plus the extended error info (entry, level_state). */
export interface TdxErr {
  err: bigint;
  entry: bigint;
  level_state: bigint;
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}

function done(name: SeamcallName, out: SeamcallOut, args: { gpa?: number; level?: number; page?: number; src?: number }): TdxErr {
  const ev: Record<string, unknown> = { kind: 'seamcall', name };
  if (args.gpa !== undefined) ev.gpa = hex(args.gpa);
  if (args.level !== undefined) ev.level = args.level;
  if (args.page !== undefined) ev.page = args.page;
  if (args.src !== undefined) ev.src = args.src;
  ev.status = statusName(out.status);
  const injected = ctx().hw.lastInjected;
  // an injected answer is marked, and one the real module cannot give says so
  if (injected !== null) ev.injected = injected === '' ? 'within the module\'s contract' : `outside the module's contract: ${injected}`;
  ctx().record(ev as { kind: string });
  return { err: out.status, entry: out.rcx, level_state: out.rdx };
}

/** The kernel hands the module a page it has already freed: a use-after-free on hardware. */
function check_handed_page(pfn: number, name: string): void {
  if (page_is_free(pfn)) ctx().record({ kind: 'invariant', rule: 'module-given-freed-page', site: name, page: pfn });
}

export function* tdh_mem_page_add(gpa: number, pfn: number, source: number | null): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  check_handed_page(pfn, 'TDH.MEM.PAGE.ADD');
  const out = ctx().hw.tdhMemPageAdd(gpa, pfn, source);
  return done('TDH.MEM.PAGE.ADD', out, { gpa, page: pfn, ...(source !== null ? { src: source } : {}) });
}

export function* tdh_mem_sept_add(gpa: number, level: number, page: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  check_handed_page(page, 'TDH.MEM.SEPT.ADD');
  const out = ctx().hw.tdhMemSeptAdd(gpa, level, page);
  return done('TDH.MEM.SEPT.ADD', out, { gpa, level, page });
}

export function* tdh_mem_page_aug(gpa: number, level: number, pfn: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  check_handed_page(pfn, 'TDH.MEM.PAGE.AUG');
  const out = ctx().hw.tdhMemPageAug(gpa, level, pfn);
  return done('TDH.MEM.PAGE.AUG', out, { gpa, level, page: pfn });
}

export function* tdh_mem_range_block(gpa: number, level: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhMemRangeBlock(gpa, level);
  return done('TDH.MEM.RANGE.BLOCK', out, { gpa, level });
}

export function* tdh_mem_track(): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhMemTrack();
  return done('TDH.MEM.TRACK', out, {});
}

export function* tdh_mem_page_remove(gpa: number, level: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhMemPageRemove(gpa, level);
  return done('TDH.MEM.PAGE.REMOVE', out, { gpa, level });
}

/** WBINVD of a guest page keyed with the TD's HKID (mk_keyed_paddr on the PFN). */
export function* tdh_phymem_page_wbinvd_hkid(pfn: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhPhymemPageWbinvd(pfn);
  return done('TDH.PHYMEM.PAGE.WBINVD', out, { page: pfn });
}

/** WBINVD of the TDR page keyed with the global TDX KeyID (the TD's HKID is gone by then). */
export function* tdh_phymem_page_wbinvd_tdr(tdr: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhPhymemPageWbinvdGlobal(tdr);
  return done('TDH.PHYMEM.PAGE.WBINVD', out, { page: tdr });
}

export function* tdh_phymem_page_reclaim(page: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhPhymemPageReclaim(page);
  return done('TDH.PHYMEM.PAGE.RECLAIM', out, { page });
}

export function* tdh_mr_finalize(): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.tdhMrFinalize();
  return done('TDH.MR.FINALIZE', out, {});
}

/** TDH.VP.FLUSH on every vCPU, VPFLUSHDONE, CACHE.WB and KEY.FREEID, as one step. */
export function* tdh_mng_key_freeid(): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.releaseHkid();
  return done('TDH.MNG.KEY.FREEID', out, {});
}

/** tdx_operand_busy(): any operand id counts. */
export function tdx_operand_busy(err: bigint): boolean {
  return (err & 0xFFFFFFFF00000000n) === 0x8000020000000000n;
}

/** TDH.VP.ENTER: the vCPU runs the guest from now on, in the current TLB epoch. */
export function* tdh_vp_enter(vcpu: number): Gen<TdxErr> {
  if (preemptible) yield 'seamcall';
  const out = ctx().hw.vcpuEnter(vcpu);
  const ev: Record<string, unknown> = { kind: 'seamcall', name: 'TDH.VP.ENTER', vcpu, status: statusName(out.status) };
  if (ctx().hw.lastInjected !== null) ev.injected = 'within the module\'s contract';
  ctx().record(ev as { kind: string });
  return { err: out.status, entry: out.rcx, level_state: out.rdx };
}
