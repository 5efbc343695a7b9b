// mmu_lock is a reader/writer lock whose holders are known, so lockdep asserts can
// tell who holds it in which mode. Taking and dropping a lock are yield points.
import { BLOCKED, ctx, type Gen, type KThread } from './context.ts';

/**
 * rwlock_t as x86 builds it (qrwlock): a reader gets in at once only while no writer
 * holds or waits for the lock; otherwise it queues in arrival order behind the waiting
 * writer (process context: KVM never takes mmu_lock in interrupt context). The writer
 * at the head of the queue marks itself waiting, which keeps new readers out, and takes
 * the lock once the readers inside have drained.
 */
export class RwLock {
  readers = new Set<KThread>();
  writer: KThread | null = null;
  /** _QW_WAITING: the writer at the head of the queue waits for readers to drain. */
  writer_waiting = false;
  /** wait_lock's queue, in arrival order. */
  readonly queue: KThread[] = [];
  constructor(readonly name: string) {}
}

export function* read_lock(lock: RwLock): Gen {
  const me = ctx().current;
  yield 'lock';
  if (lock.writer !== null || lock.writer_waiting) {
    // queued_read_lock_slowpath(): in line, then wait for the writer to leave
    lock.queue.push(me);
    while (lock.queue[0] !== me || lock.writer !== null) yield BLOCKED;
    lock.queue.shift();
  }
  lock.readers.add(me);
  me.readLocks.add(lock);
}

export function* read_unlock(lock: RwLock): Gen {
  const me = ctx().current;
  lock.readers.delete(me);
  me.readLocks.delete(lock);
  yield 'unlock';
}

export function* write_lock(lock: RwLock): Gen {
  const me = ctx().current;
  yield 'lock';
  if (lock.writer !== null || lock.readers.size > 0 || lock.writer_waiting || lock.queue.length > 0) {
    // queued_write_lock_slowpath(): in line; at the head, keep new readers out and wait
    lock.queue.push(me);
    while (lock.queue[0] !== me) yield BLOCKED;
    while (lock.writer !== null || lock.readers.size > 0) {
      lock.writer_waiting = true;
      yield BLOCKED;
    }
    lock.writer_waiting = false;
    lock.queue.shift();
  }
  lock.writer = me;
  me.writeLocks.add(lock);
}

export function* write_unlock(lock: RwLock): Gen {
  const me = ctx().current;
  if (lock.writer === me) lock.writer = null;
  me.writeLocks.delete(lock);
  yield 'unlock';
}

/** A sleeping lock that only needs to be known as held (slots_lock, gmem invalidate lock). */
export class Mutex {
  owner: KThread | null = null;
  constructor(readonly name: string) {}
}

export function* mutex_lock(m: Mutex): Gen {
  yield 'lock';
  while (m.owner !== null) yield BLOCKED;
  m.owner = ctx().current;
}

export function* mutex_unlock(m: Mutex): Gen {
  m.owner = null;
  yield 'unlock';
}

function splat(site: string, lock: { name: string }, assertion: string): void {
  ctx().record({ kind: 'lockdep', site, cond: `${assertion}(${lock.name})` });
}

export function lockdep_assert_held(lock: RwLock | Mutex, site: string): void {
  const me = ctx().current;
  const held = lock instanceof RwLock ? lock.writer === me || lock.readers.has(me) : lock.owner === me;
  if (!held) splat(site, lock, 'lockdep_assert_held');
}

export function lockdep_assert_held_read(lock: RwLock, site: string): void {
  if (!lock.readers.has(ctx().current)) splat(site, lock, 'lockdep_assert_held_read');
}

export function lockdep_assert_held_write(lock: RwLock, site: string): void {
  if (lock.writer !== ctx().current) splat(site, lock, 'lockdep_assert_held_write');
}
