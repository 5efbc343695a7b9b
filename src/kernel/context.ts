// The replay context: the one "machine" a replay runs on. Kernel code reaches it the
// way kernel C reaches `current` and global state; a replay installs a fresh one.
import type { TdxModule } from '../hw/tdx_module.ts';

/** What a kernel thread hands the scheduler at each yield point. */
export type YieldPoint = string | typeof BLOCKED;
/** A thread that cannot make progress (waiting for a lock) yields this. */
export const BLOCKED: unique symbol = Symbol('blocked');
/** Every kernel function that may reach a yield point is a generator of this type. */
export type Gen<T = void> = Generator<YieldPoint, T, void>;

/**
 * Whether another thread may be chosen at an SPTE access or SEAMCALL. With no pinned
 * schedule the scheduler only ever switches at a thread that blocks or finishes, so
 * those yield points cannot change the outcome and are skipped (they cost a resume of
 * every generator on the call stack). Lock operations, cmpxchg and retry points always
 * yield, so that every retry loop still counts against the step budget.
 */
export let preemptible = true;

export function setPreemptible(on: boolean): void {
  preemptible = on;
}

export interface KThread {
  id: number;
  name: string;
  /** vCPU this thread runs as (a vCPU fault, enter, accept), or null for a host task. */
  vcpu: number | null;
  readLocks: Set<object>;
  writeLocks: Set<object>;
  rcuDepth: number;
  /** Inside a trace operation (not at an operation boundary). */
  inOp: boolean;
  /**
   * The trace operation this thread is in or has just finished ("fault#0"): every event
   * is tagged with it, so that a difference can be attributed to the operation that made it.
   */
  opLabel: string | null;
}

/** One observed event. `kind` decides its layer (see harness/observation.ts). */
export interface ObsEvent {
  kind: string;
  [field: string]: unknown;
}

/** BUG(): the host crashed. The replay stops and says so. */
export class HostCrash extends Error {
  constructor(readonly site: string, readonly why: string) {
    super(`BUG() in ${site}: ${why}`);
  }
}

export interface Frame {
  pfn: number;
  /** What the page is for: 'spt', 'external_spt', 'gmem', 'host', 'src'. */
  kind: string;
  freed: boolean;
  /** Page-table contents for 'spt' pages (512 SPTEs). */
  data: BigUint64Array | null;
  /** The kvm_mmu_page whose spt this is (the kernel's page->private). */
  sp: unknown;
  /** For a 'gmem' or 'host' page: the gfn it backs (naming only). */
  gfn?: number;
  /** For an 'external_spt' page: the kvm_mmu_page it was allocated for (naming only; the kernel keeps no such link). */
  externalOf?: unknown;
}

export class KernelContext {
  /** null in bare mode: nothing is recorded (benchmarks). */
  events: ObsEvent[] | null = [];
  current!: KThread;
  /** CONFIG_KVM_PROVE_MMU: KVM_MMU_WARN_ON is live, zap_root skips its 4K/2M passes. */
  prove_mmu = true;
  readonly onceFired = new Set<string>();
  readonly frames = new Map<number, Frame>();
  nextPfn = 0x100;
  /** call_rcu callbacks waiting for the next grace period. */
  rcuQueue: Array<() => void> = [];
  /**
   * At a quiescent point after an operation returned (RCU callbacks, invariant checks):
   * events recorded now carry `quiescent: true`.
   */
  quiescent = false;
  /** Entries of a pinned schedule that named a thread which had already finished. */
  scheduleSkipped = 0;
  /** When set, every yield point is logged as "thread:label" (for writing pinned schedules). */
  yieldLog: string[] | null = null;

  constructor(readonly hw: TdxModule) {}

  record(ev: ObsEvent): void {
    if (this.events) {
      ev.thread = this.current ? this.current.name : null;
      if (ev.op === undefined) ev.op = this.current ? this.current.opLabel : null;
      if (this.quiescent) ev.quiescent = true;
      this.events.push(ev);
    }
  }
}

let active: KernelContext | null = null;

export function ctx(): KernelContext {
  if (!active) throw new Error('no replay context installed');
  return active;
}

export function setContext(c: KernelContext | null): void {
  active = c;
}
