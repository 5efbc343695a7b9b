// Replays a trace on one step model: builds the machine (simulated TDX module and
// kernel environment), runs the trace's threads through the deterministic scheduler,
// checks invariants at quiescent points, and returns the observation. A ReplaySession
// also runs a one-thread trace one operation at a time and forks at operation
// boundaries, so that exploration replays a shared prefix once (harness/exhaustive.ts).
import { HostCrash, KernelContext, setContext, setPreemptible, type Gen, type KThread, type ObsEvent } from '../src/kernel/context.ts';
import { Kvm } from '../src/kernel/kvm.ts';
import { td_setup } from '../src/kernel/td_setup.ts';
import { runThreads, newThread, type Chooser, type SchedEnd, type ThreadRun } from '../src/kernel/sched.ts';
import { rcu_grace_period } from '../src/kernel/rcu.ts';
import { TdxModule } from '../src/hw/tdx_module.ts';
import type { TraceOp } from '../src/trace_types.ts';
import type { StepModel } from '../versions/index.ts';
import { checkInvariants, finalState } from './state.ts';
import { canonicalizePages, pageNamer, type Observation } from './observation.ts';
import { deepClone, stateKey } from './snapshot.ts';
import type { Trace } from './trace.ts';

export interface ReplayOptions {
  /** false: record nothing (benchmark "bare" mode). */
  record?: boolean;
  /** Collects every yield point of the trace's threads as "thread:label". */
  yieldLog?: string[];
  /** Makes the schedule up as the run goes (systematic exploration), instead of the trace's. */
  chooser?: Chooser;
}

function* applyInjection(hw: TdxModule, op: Extract<TraceOp, { op: 'inject_busy' | 'inject_status' }>): Gen<string> {
  if (op.op === 'inject_busy') hw.injectBusy({ kind: op.seamcall, count: op.count, ...(op.gpa !== undefined ? { gpa: op.gpa } : {}) });
  else hw.injectStatus({ kind: op.seamcall, status: op.status, count: op.count, ...(op.gpa !== undefined ? { gpa: op.gpa } : {}), ...(op.page !== undefined ? { owner: op.page } : {}) });
  return 'armed';
}

/**
 * What a reader of a pinned schedule should know: entries that named a finished thread
 * were skipped, and once the schedule ran out the threads ran on in thread order.
 */
function scheduleNotes(trace: Trace, skipped: number, end: string): string[] {
  if (!trace.schedule) return [];
  const notes: string[] = [];
  if (skipped > 0) notes.push(`${skipped} schedule entr${skipped === 1 ? 'y' : 'ies'} named a thread that had already finished: skipped`);
  const named = new Set(trace.schedule);
  const never = trace.threads.map((t, i) => (named.has(i) ? null : t.name)).filter((n): n is string => n !== null);
  if (never.length > 0 && end === 'completed') notes.push(`thread${never.length === 1 ? '' : 's'} ${never.join(', ')} never named in the schedule: run after it ran out, in thread order`);
  return notes;
}

/** The machine of one replay between two operations: everything a fork copies. */
interface Machine {
  c: KernelContext;
  kvm: Kvm;
  /** The trace's threads (the set-up thread until it finished). */
  threads: KThread[];
  /** Invariant violations present now (each is reported when it appears). */
  violations: Set<string>;
  destroyed: boolean;
  /** How the run ended, once it did not complete (no later operation runs). */
  end: SchedEnd;
  /** Yield points the one thread of a stepwise run has passed (the budget counts them). */
  steps: number;
}

export class ReplaySession {
  private constructor(
    private readonly step: StepModel,
    private readonly budget: number,
    private m: Machine,
  ) {}

  /**
   * The machine of `trace`'s VM after its set-up (roots loaded, finalize for a runnable
   * TD), before any of its threads ran.
   */
  static start(trace: Trace, step: StepModel, opts: ReplayOptions = {}): ReplaySession {
    const hw = new TdxModule({ rootLevel: trace.vm.sharedBit === 51 ? 5 : 4, nrVcpus: trace.vm.vcpus });
    const c = new KernelContext(hw);
    if (opts.record === false) c.events = null;
    c.prove_mmu = trace.vm.proveMmu;
    const kvm = new Kvm({ nr_vcpus: trace.vm.vcpus, shared_bit: trace.vm.sharedBit, ad_enabled: trace.vm.adEnabled, sept_ve_disable: trace.vm.septVeDisable });
    const s = new ReplaySession(step, trace.budget, { c, kvm, threads: [], violations: new Set(), destroyed: false, end: { end: 'completed' }, steps: 0 });
    s.enter(trace.schedule !== undefined || opts.yieldLog !== undefined, () => {
      for (const slot of trace.vm.memslots) {
        kvm.memslots.push({ id: slot.id, base_gfn: slot.gpa / 4096, npages: slot.npages, gmem: slot.gmem, invalid: false });
        // the VMM makes its guest_memfd ranges private when it builds the TD
        if (slot.gmem) kvm.private_at_creation.push({ start: slot.gpa / 4096, end: slot.gpa / 4096 + slot.npages });
      }
      step.entry.hardware_setup(kvm);
      td_setup(kvm);
      // set-up: roots for every vCPU, and finalize for a TD that starts runnable
      const setupThread = newThread(0, 'setup', null);
      s.m.threads.push(setupThread);
      const setupOps: TraceOp[] = trace.vm.td === 'runnable' ? [{ op: 'finalize' }] : [];
      const body = s.body.bind(s);
      function* setup(): Gen {
        setupThread.inOp = true;
        setupThread.opLabel = 'load_mmu';
        yield* step.entry.load_mmu(kvm);
        setupThread.inOp = false;
        yield* body(setupThread, setupOps, () => 'finalize');
      }
      s.finishRun(runThreads(c, [{ thread: setupThread, gen: setup(), done: false, blocked: false, steps: 0 }], null, trace.budget));
      s.m.threads = [];
    });
    return s;
  }

  /** Runs `fn` with this machine installed as the replay context. */
  private enter<T>(preemptible: boolean, fn: () => T): T {
    setContext(this.m.c);
    // yield points only matter when a schedule can switch threads at them
    setPreemptible(preemptible);
    try {
      return fn();
    } catch (e) {
      if (e instanceof HostCrash) throw new Error(`unexpected crash outside the scheduler: ${e.message}`);
      throw e;
    } finally {
      setContext(null);
      setPreemptible(true);
    }
  }

  private quiescentPoint(): void {
    const { c, kvm, threads, violations } = this.m;
    if (threads.some((t) => t.inOp || t.rcuDepth > 0)) return;
    // what happens here (RCU callbacks, invariant checks) is tagged as happening after
    // the operation returned: moving a free into an RCU callback is a change
    c.quiescent = true;
    try {
      rcu_grace_period();
      checkInvariants(kvm, violations);
    } finally {
      c.quiescent = false;
    }
  }

  private *body(t: KThread, ops: readonly TraceOp[], label: (i: number) => string): Gen {
    const { c, kvm } = this.m;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      t.inOp = true;
      t.opLabel = label(i);
      const value = op.op === 'inject_busy' || op.op === 'inject_status' ? yield* applyInjection(c.hw, op) : yield* this.step.entry.run(kvm, op);
      t.inOp = false;
      if (op.op === 'destroy') this.m.destroyed = true;
      c.record({ kind: 'result', name: op.op, op: label(i), value });
      this.quiescentPoint();
    }
  }

  private finishRun(end: SchedEnd): void {
    this.m.end = end;
    if (end.end !== 'completed') {
      const ev: ObsEvent = { kind: 'end', end: end.end };
      if (end.end === 'livelock') ev.thread = end.thread;
      this.m.c.record(ev);
    }
  }

  get ended(): boolean {
    return this.m.end.end !== 'completed';
  }

  /** Runs all of `trace`'s threads, under its pinned schedule if it has one. */
  runThreads(trace: Trace, opts: ReplayOptions = {}): void {
    if (this.ended) return;
    this.enter(trace.schedule !== undefined || opts.yieldLog !== undefined || opts.chooser !== undefined, () => {
      if (opts.yieldLog) this.m.c.yieldLog = opts.yieldLog;
      const runs: ThreadRun[] = trace.threads.map((th, i) => {
        const t = newThread(i, th.name, null);
        this.m.threads.push(t);
        return { thread: t, gen: this.body(t, th.ops, (k) => `${th.ops[k]!.op}#${k}`), done: false, blocked: false, steps: 0 };
      });
      this.finishRun(runThreads(this.m.c, runs, trace.schedule ?? null, trace.budget, opts.chooser));
    });
  }

  /**
   * Runs one more operation, the `index`-th, of a one-thread trace whose thread is
   * `thread`: the same events, results and budget as the whole trace replayed at once.
   */
  runOp(thread: string, op: TraceOp, index: number): void {
    if (this.ended) return;
    this.enter(false, () => {
      if (this.m.threads.length === 0) this.m.threads.push(newThread(0, thread, null));
      const t = this.m.threads[0]!;
      const run: ThreadRun = { thread: t, gen: this.body(t, [op], () => `${op.op}#${index}`), done: false, blocked: false, steps: this.m.steps };
      this.finishRun(runThreads(this.m.c, [run], null, this.budget));
      // a whole-trace replay passes one final yield for its thread, not one per operation
      this.m.steps = run.steps - 1;
    });
  }

  /** The code a machine links to (the step's functions, the VM's x86 ops table): shared, never copied. */
  private code(): unknown[] {
    return [this.m.kvm.step, this.m.kvm.x86_ops];
  }

  /** An independent copy of this machine, to go on from here another way. */
  fork(): ReplaySession {
    return new ReplaySession(this.step, this.budget, deepClone(this.m, this.code()));
  }

  /**
   * A canonical key of the machine's state (model, simulated module, kernel environment),
   * leaving out what was recorded so far: two machines with the same key behave the same
   * from here on. null when the state holds something the key cannot describe.
   */
  stateKey(): string | null {
    // the budget a stepwise run has used is left out: the alphabet's operations each end
    // well within it, and a run that does not is reported as a livelock anyway
    const { steps: _used, ...state } = this.m;
    return stateKey(state, this.code(), this.m.c);
  }

  /**
   * The observation of the run so far, named after `trace`. The machine is not changed
   * unless `last` (no further operation or fork: its events are renamed in place).
   */
  observe(trace: Trace, last = false): Observation {
    return this.enter(false, () => {
      const { c, kvm } = this.m;
      const final = finalState(kvm, this.m.end.end, this.m.destroyed);
      // page renaming rewrites an event's own fields: a machine that goes on keeps its own
      const events = c.events ? (last ? c.events : c.events.map((e) => ({ ...e }))) : [];
      canonicalizePages(events, final, pageNamer(c));
      const obs: Observation = { step: this.step.manifest.step, trace: trace.name, events, final };
      const notes = scheduleNotes(trace, c.scheduleSkipped, this.m.end.end);
      if (notes.length > 0) obs.notes = notes;
      return obs;
    });
  }
}

export function replay(trace: Trace, step: StepModel, opts: ReplayOptions = {}): Observation {
  const s = ReplaySession.start(trace, step, opts);
  s.runThreads(trace, opts);
  return s.observe(trace, true);
}
