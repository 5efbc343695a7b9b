// The deterministic scheduler. Kernel threads are generators; at each yield point
// the scheduler picks who continues: the pinned schedule while it lasts, then the
// current thread until it finishes or blocks, then the lowest-numbered runnable one.
import { BLOCKED, HostCrash, type Gen, type KernelContext, type KThread } from './context.ts';

export interface ThreadRun {
  thread: KThread;
  gen: Gen;
  done: boolean;
  blocked: boolean;
  steps: number;
}

export type SchedEnd =
  | { end: 'completed' }
  | { end: 'crash'; site: string; why: string }
  | { end: 'livelock'; thread: string }
  | { end: 'deadlock'; threads: string[] }
  | { end: 'model-error'; thread: string; message: string };

/** Yield points where a kernel thread gives up the CPU of its own accord (a retry loop). */
export const VOLUNTARY: ReadonlySet<unknown> = new Set(['cond_resched', 'cpu_relax', 'resched']);

/**
 * A schedule made up as the run goes (systematic exploration): at every point where a
 * pinned schedule would be read, it names the thread (an index into the runs) that goes
 * on, given the runs and who ran last with what it yielded (null at the start), or
 * DEADLOCKED when every thread left waits and re-checking did not help. The choices it
 * made, as a pinned schedule, replay the same run.
 */
export type Chooser = (runs: readonly ThreadRun[], last: ThreadRun | null, yielded: unknown) => number;
export const DEADLOCKED = -1;

export function newThread(id: number, name: string, vcpu: number | null): KThread {
  return { id, name, vcpu, readLocks: new Set(), writeLocks: new Set(), rcuDepth: 0, inOp: false, opLabel: null };
}

/**
 * Runs every thread to completion. `budget` bounds the yield points one thread may
 * pass: a retry loop that exceeds it is a livelock, reported, never a hang.
 */
export function runThreads(c: KernelContext, runs: ThreadRun[], schedule: readonly number[] | null, budget: number, chooser?: Chooser): SchedEnd {
  let si = 0;
  let cur: ThreadRun | null = null;
  let yielded: unknown = null;
  let blockedRounds = 0;
  /** After a voluntary yield: the other in-operation threads, in turn, to re-check what they wait for. */
  let recheck: ThreadRun[] = [];
  for (;;) {
    let t: ThreadRun | undefined;
    while (recheck.length > 0 && recheck[0]!.done) recheck.shift();
    if (chooser) {
      if (runs.every((r) => r.done)) return { end: 'completed' };
      const pick = chooser(runs, cur, yielded);
      if (pick === DEADLOCKED) {
        const names = runs.filter((r) => !r.done).map((r) => r.thread.name);
        c.record({ kind: 'deadlock', threads: names });
        return { end: 'deadlock', threads: names };
      }
      t = runs[pick]!;
      t.blocked = false; // it re-checks what it waits for
      cur = t;
    } else if (recheck.length > 0) {
      t = recheck.shift()!;
      t.blocked = false;
      cur = t;
    } else if (schedule && si < schedule.length) {
      const want = runs[schedule[si++]!];
      if (!want || want.done) {
        c.scheduleSkipped++; // the pinned choice has finished: skip it
        continue;
      }
      t = want;
    } else {
      if (cur && !cur.done && !cur.blocked) t = cur;
      else {
        // after a pinned schedule, too, the lowest-numbered runnable thread goes first
        t = runs.find((r) => !r.done && !r.blocked);
        cur = t ?? null;
        if (!t) {
          const waiting = runs.filter((r) => !r.done);
          if (waiting.length === 0) return { end: 'completed' };
          // everyone is blocked: let each re-check its lock once before calling it a deadlock
          if (++blockedRounds > 2) {
            const names = waiting.map((r) => r.thread.name);
            c.record({ kind: 'deadlock', threads: names });
            return { end: 'deadlock', threads: names };
          }
          for (const r of waiting) r.blocked = false;
          continue;
        }
      }
    }
    c.current = t.thread;
    let r: IteratorResult<unknown, void>;
    try {
      r = t.gen.next();
    } catch (e) {
      if (e instanceof HostCrash) return { end: 'crash', site: e.site, why: e.why };
      const message = e instanceof Error ? e.message : String(e);
      c.record({ kind: 'model-error', message });
      return { end: 'model-error', thread: t.thread.name, message };
    }
    t.steps++;
    if (r.done) {
      t.done = true;
      continue;
    }
    t.blocked = r.value === BLOCKED;
    yielded = r.value;
    if (c.yieldLog) c.yieldLog.push(`${t.thread.id}:${t.blocked ? 'BLOCKED' : String(r.value)}`);
    // a thread spinning in a retry loop must not starve one that a pinned schedule left
    // in the middle of an operation (holding an entry FROZEN, say): the others in an
    // operation get a turn, in order after it, each re-checking what it waits for (the
    // lock or grace period may be free by now); the first that can go on runs
    if (!chooser && !(schedule && si < schedule.length) && typeof r.value === 'string' && VOLUNTARY.has(r.value)) {
      const at = runs.indexOf(t);
      recheck = [...runs.slice(at + 1), ...runs.slice(0, at)].filter((x) => !x.done && x.thread.inOp);
    } else if (recheck.length > 0 && !t.blocked) {
      recheck = [];
    }
    if (!t.blocked) blockedRounds = 0;
    if (t.steps > budget) {
      c.record({ kind: 'livelock', budget });
      return { end: 'livelock', thread: t.thread.name };
    }
  }
}
