// WARN_ON / WARN_ON_ONCE / KVM_MMU_WARN_ON / BUG(): every firing is recorded with its
// site (the kernel function) and condition; `silent` marks firings that print nothing.
import { ctx, HostCrash } from './context.ts';

export function WARN_ON(cond: boolean, site: string, text: string): boolean {
  if (cond) ctx().record({ kind: 'warn', site, cond: text, silent: false });
  return cond;
}

export function WARN_ON_ONCE(cond: boolean, site: string, text: string): boolean {
  if (cond) {
    const c = ctx();
    const key = `warn:${site}:${text}`;
    const silent = c.onceFired.has(key);
    c.onceFired.add(key);
    c.record({ kind: 'warn', site, cond: text, silent });
  }
  return cond;
}

/** Evaluated only with CONFIG_KVM_PROVE_MMU (on by default); otherwise compiled out. */
export function KVM_MMU_WARN_ON(cond: boolean, site: string, text: string): boolean {
  const c = ctx();
  if (!c.prove_mmu) return false;
  if (cond) {
    const key = `mmu_warn:${site}:${text}`;
    const silent = c.onceFired.has(key);
    c.onceFired.add(key);
    c.record({ kind: 'mmu_warn', site, cond: text, silent });
  }
  return cond;
}

export function BUG(site: string, why: string): never {
  ctx().record({ kind: 'crash', site, cond: why });
  throw new HostCrash(site, why);
}
