import { expect } from 'vitest';
import { TdxModule, type SeamcallOut, type TdxModuleConfig } from '../../src/hw/tdx_module.ts';
import { statusName, TDX_SUCCESS } from '../../src/hw/status.ts';

export const K4 = 0x1000; // 4 KiB
export const M2 = 0x200000; // 2 MiB
export const G1 = 0x40000000; // 1 GiB

/** A GPA whose level-4/3/2/1 indexes are 0/1/0/0. */
export const GPA = G1;

export function mk(cfg: Partial<TdxModuleConfig> = {}): TdxModule {
  return new TdxModule({ rootLevel: 4, nrVcpus: 2, ...cfg });
}

/** Everything observable, as a string (for "nothing changed" checks). */
export function snap(m: TdxModule): string {
  return JSON.stringify(m.dumpState()) + `|inj=${m.pendingInjections()}`;
}

export function expectOk(r: SeamcallOut): void {
  expect(statusName(r.status)).toBe('TDX_SUCCESS');
  expect(r.status).toBe(TDX_SUCCESS);
}

/** Expect `call` to return `status` exactly and to change nothing observable. */
export function expectRejected(m: TdxModule, status: bigint, call: () => SeamcallOut): SeamcallOut {
  const before = snap(m);
  const r = call();
  expect(statusName(r.status)).toBe(statusName(status));
  expect(r.status).toBe(status);
  expect(snap(m)).toBe(before);
  return r;
}

/** Simple deterministic page allocator for tests. */
export class Pfns {
  private next: number;
  constructor(start = 0x10000) {
    this.next = start;
  }
  get(): number {
    return this.next++;
  }
  /** 512-aligned run of 512 pfns. */
  get2M(): number {
    this.next = Math.ceil(this.next / 512) * 512;
    const p = this.next;
    this.next += 512;
    return p;
  }
}

/** SEPT.ADD every missing level from the root down to the page holding entries of `leafLevel`. Returns the S-EPT pfns by level. */
export function buildPath(m: TdxModule, pfns: Pfns, gpa: number, leafLevel = 1): Map<number, number> {
  const res = new Map<number, number>();
  const sizes = [0, K4, M2, G1, 2 ** 39, 2 ** 48];
  for (let l = m.rootLevel; l > leafLevel; l--) {
    const base = Math.floor(gpa / sizes[l]!) * sizes[l]!;
    const e = m.septEntry(base, l);
    if (e !== null && e.state === 'NL_MAPPED') {
      res.set(l, e.pfn!);
      continue;
    }
    const p = pfns.get();
    expectOk(m.tdhMemSeptAdd(base, l, p));
    res.set(l, p);
  }
  return res;
}

/** Finalized TD with a 4K PENDING page at gpa (AUG), returns its pfn. */
export function runnableWithAug(m: TdxModule, pfns: Pfns, gpa = GPA): number {
  if (m.opState === 'INITIALIZED') expectOk(m.tdhMrFinalize());
  buildPath(m, pfns, gpa, 1);
  const p = pfns.get();
  expectOk(m.tdhMemPageAug(gpa, 1, p));
  return p;
}

/** Like expectRejected, for an injected result: the injection is consumed, the module state is untouched. */
export function expectInjected(m: TdxModule, status: bigint, call: () => SeamcallOut): SeamcallOut {
  const before = JSON.stringify(m.dumpState());
  const pending = m.pendingInjections();
  const r = call();
  expect(r.status).toBe(status);
  expect(JSON.stringify(m.dumpState())).toBe(before);
  expect(m.pendingInjections()).toBe(pending - 1);
  return r;
}
