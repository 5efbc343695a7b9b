// Copies and keys of a replay's machine between two operations, for exploration: a
// fork goes on from a shared prefix instead of replaying it, and a state key tells an
// explorer that two prefixes reached the same machine (so the second need not go on).
// Both walk the whole object graph generically, so that no field of the model, the
// simulated module or the kernel environment can be forgotten.
import { KernelContext } from '../src/kernel/context.ts';
import { createHash } from 'node:crypto';

/** A suspended generator (a thread in the middle of an operation) cannot be copied. */
function isGenerator(v: object): boolean {
  return Object.prototype.toString.call(v) === '[object Generator]';
}

/**
 * A copy of `root`'s object graph: the same shape, prototypes, sharing and cycles.
 * Functions, and the objects in `shared` (code tables such as the step's linked
 * functions), stay shared.
 */
export function deepClone<T>(root: T, shared: readonly unknown[] = []): T {
  const copies = new Map<object, unknown>();
  for (const s of shared) if (typeof s === 'object' && s !== null) copies.set(s, s);
  const clone = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const done = copies.get(v);
    if (done !== undefined) return done;
    if (Array.isArray(v)) {
      const a = new Array<unknown>(v.length);
      copies.set(v, a);
      for (let i = 0; i < v.length; i++) a[i] = clone(v[i]);
      return a;
    }
    if (v instanceof Map) {
      const m = new Map<unknown, unknown>();
      copies.set(v, m);
      for (const [k, x] of v) m.set(clone(k), clone(x));
      return m;
    }
    if (v instanceof Set) {
      const s = new Set<unknown>();
      copies.set(v, s);
      for (const x of v) s.add(clone(x));
      return s;
    }
    if (ArrayBuffer.isView(v)) {
      if (v instanceof DataView) throw new Error('cannot copy a DataView');
      const t = (v as unknown as { slice(): object }).slice();
      copies.set(v, t);
      return t;
    }
    if (isGenerator(v)) throw new Error('cannot copy a machine with a thread inside an operation');
    const proto = Object.getPrototypeOf(v) as object | null;
    const o = Object.create(proto) as Record<PropertyKey, unknown>;
    copies.set(v, o);
    for (const k of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, k)!;
      if ('value' in d) d.value = clone(d.value);
      Object.defineProperty(o, k, d);
    }
    if (!Object.isExtensible(v)) Object.preventExtensions(o);
    return o;
  };
  return clone(root) as T;
}

/** What was recorded, not what will behave: left out of a state key. */
const CONTEXT_RECORDS = new Set<PropertyKey>(['events', 'yieldLog', 'scheduleSkipped', 'current']);
/** The operation label a thread carries only tags events. */
const RECORD_FIELDS = new Set<PropertyKey>(['opLabel']);

/**
 * A canonical key of `root`'s object graph: equal keys mean equal graphs (same values,
 * shapes, insertion orders and sharing), apart from the context's records. Objects in
 * `shared` are named by their position. null when the graph holds a function outside
 * `shared` (a pending callback: its captured state cannot be read).
 */
export function stateKey(root: unknown, shared: readonly unknown[], context: KernelContext): string | null {
  const ids = new Map<object, number>();
  shared.forEach((s, i) => typeof s === 'object' && s !== null && ids.set(s, -1 - i));
  const out: string[] = [];
  let unreadable = false;
  const walk = (v: unknown): void => {
    switch (typeof v) {
      case 'number': out.push(`n${v}`); return;
      case 'string': out.push(JSON.stringify(v)); return;
      case 'bigint': out.push(`b${v.toString(16)}`); return;
      case 'boolean': out.push(v ? 'T' : 'F'); return;
      case 'undefined': out.push('u'); return;
      case 'symbol': out.push(`y${String(v.description)}`); return;
      case 'function': unreadable = true; return;
    }
    if (v === null) { out.push('N'); return; }
    const o = v as object;
    const id = ids.get(o);
    if (id !== undefined) { out.push(`@${id}`); return; }
    ids.set(o, ids.size);
    if (Array.isArray(o)) {
      out.push(`[${o.length}`);
      for (const x of o) walk(x);
      out.push(']');
    } else if (o instanceof Map) {
      out.push(`M${o.size}`);
      for (const [k, x] of o) { walk(k); walk(x); }
    } else if (o instanceof Set) {
      out.push(`S${o.size}`);
      for (const x of o) walk(x);
    } else if (ArrayBuffer.isView(o)) {
      out.push(`A${o.constructor.name}:${Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('base64')}`);
    } else {
      const skip = o === context ? CONTEXT_RECORDS : RECORD_FIELDS;
      out.push(`{${(o.constructor as { name?: string } | undefined)?.name ?? ''}`);
      for (const k of Reflect.ownKeys(o)) {
        if (skip.has(k)) continue;
        out.push(typeof k === 'symbol' ? `:${String(k.description)}` : `:${k}`);
        walk((o as Record<PropertyKey, unknown>)[k]);
      }
      out.push('}');
    }
  };
  walk(root);
  if (unreadable) return null;
  return createHash('sha256').update(out.join('\u0001')).digest('base64');
}
