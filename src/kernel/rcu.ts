// RCU: readers mark their sections; call_rcu callbacks run at the next grace period,
// which the replay declares at quiescent operation boundaries, or rcu_barrier().
import { ctx } from './context.ts';

export function rcu_read_lock(): void {
  ctx().current.rcuDepth++;
}

export function rcu_read_unlock(): void {
  ctx().current.rcuDepth--;
}

export function call_rcu(callback: () => void): void {
  ctx().rcuQueue.push(callback);
}

/** A grace period: every callback queued so far runs, in order. */
export function rcu_grace_period(): void {
  const c = ctx();
  while (c.rcuQueue.length > 0) {
    const q = c.rcuQueue;
    c.rcuQueue = [];
    for (const cb of q) cb();
  }
}

export function rcu_barrier(): void {
  rcu_grace_period();
}
