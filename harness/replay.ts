// Replays a trace on one step model: builds the machine (simulated TDX module and
// kernel environment), runs the trace's threads through the deterministic scheduler,
// checks invariants at quiescent points, and returns the observation.
import { HostCrash, KernelContext, setContext, setPreemptible, type Gen, type KThread, type ObsEvent } from '../src/kernel/context.ts';
import { Kvm } from '../src/kernel/kvm.ts';
import { td_setup } from '../src/kernel/td_setup.ts';
import { runThreads, newThread, type ThreadRun } from '../src/kernel/sched.ts';
import { rcu_grace_period } from '../src/kernel/rcu.ts';
import { TdxModule } from '../src/hw/tdx_module.ts';
import type { TraceOp } from '../src/trace_types.ts';
import type { StepModel } from '../versions/index.ts';
import { checkInvariants, finalState } from './state.ts';
import { canonicalizePages, pageNamer, type Observation } from './observation.ts';
import type { Trace } from './trace.ts';

export interface ReplayOptions {
  /** false: record nothing (benchmark "bare" mode). */
  record?: boolean;
  /** Collects every yield point of the trace's threads as "thread:label". */
  yieldLog?: string[];
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

export function replay(trace: Trace, step: StepModel, opts: ReplayOptions = {}): Observation {
  const hw = new TdxModule({ rootLevel: trace.vm.sharedBit === 51 ? 5 : 4, nrVcpus: trace.vm.vcpus });
  const c = new KernelContext(hw);
  if (opts.record === false) c.events = null;
  c.prove_mmu = trace.vm.proveMmu;
  setContext(c);
  // yield points only matter when a schedule can switch threads at them
  setPreemptible(trace.schedule !== undefined || opts.yieldLog !== undefined);
  try {
    const kvm = new Kvm({ nr_vcpus: trace.vm.vcpus, shared_bit: trace.vm.sharedBit, ad_enabled: trace.vm.adEnabled, sept_ve_disable: trace.vm.septVeDisable });
    for (const s of trace.vm.memslots) {
      kvm.memslots.push({ id: s.id, base_gfn: s.gpa / 4096, npages: s.npages, gmem: s.gmem, invalid: false });
      // the VMM makes its guest_memfd ranges private when it builds the TD
      if (s.gmem) kvm.private_at_creation.push({ start: s.gpa / 4096, end: s.gpa / 4096 + s.npages });
    }
    step.entry.hardware_setup(kvm);
    td_setup(kvm);

    const threads: KThread[] = [];
    const violations = new Set<string>();
    let destroyed = false;
    const quiescentPoint = (): void => {
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
    };

    function* body(t: KThread, ops: TraceOp[], label: (i: number) => string): Gen {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        t.inOp = true;
        t.opLabel = label(i);
        const value = op.op === 'inject_busy' || op.op === 'inject_status' ? yield* applyInjection(hw, op) : yield* step.entry.run(kvm, op);
        t.inOp = false;
        if (op.op === 'destroy') destroyed = true;
        c.record({ kind: 'result', name: op.op, op: label(i), value });
        quiescentPoint();
      }
    }

    // set-up: roots for every vCPU, and finalize for a TD that starts runnable
    const setupThread = newThread(0, 'setup', null);
    threads.push(setupThread);
    const setupOps: TraceOp[] = trace.vm.td === 'runnable' ? [{ op: 'finalize' }] : [];
    function* setup(): Gen {
      setupThread.inOp = true;
      setupThread.opLabel = 'load_mmu';
      yield* step.entry.load_mmu(kvm);
      setupThread.inOp = false;
      yield* body(setupThread, setupOps, () => 'finalize');
    }
    let end = runThreads(c, [{ thread: setupThread, gen: setup(), done: false, blocked: false, steps: 0 }], null, trace.budget);

    if (end.end === 'completed') {
      threads.length = 0;
      if (opts.yieldLog) c.yieldLog = opts.yieldLog;
      const runs: ThreadRun[] = trace.threads.map((th, i) => {
        const t = newThread(i, th.name, null);
        threads.push(t);
        return { thread: t, gen: body(t, th.ops, (k) => `${th.ops[k]!.op}#${k}`), done: false, blocked: false, steps: 0 };
      });
      end = runThreads(c, runs, trace.schedule ?? null, trace.budget);
    }
    if (end.end !== 'completed') {
      const ev: ObsEvent = { kind: 'end', end: end.end };
      if (end.end === 'livelock') ev.thread = end.thread;
      c.record(ev);
    }

    const final = finalState(kvm, end.end, destroyed);
    const events = c.events ?? [];
    canonicalizePages(events, final, pageNamer(c));
    const obs: Observation = { step: step.manifest.step, trace: trace.name, events, final };
    const notes = scheduleNotes(trace, c.scheduleSkipped, end.end);
    if (notes.length > 0) obs.notes = notes;
    return obs;
  } catch (e) {
    if (e instanceof HostCrash) throw new Error(`unexpected crash outside the scheduler: ${e.message}`);
    throw e;
  } finally {
    setContext(null);
    setPreemptible(true);
  }
}
