// Shared by the step test files: corpus observations per step (cached) and the
// differences between a step and the one before it.
import { STEPS, type StepModel } from '../../versions/index.ts';
import { compare, type Difference } from '../../harness/compare.ts';
import type { Observation } from '../../harness/observation.ts';
import { replay } from '../../harness/replay.ts';
import { loadCorpus, type Trace } from '../../harness/trace.ts';
import type { ObsEvent } from '../../src/kernel/context.ts';

export const corpus = loadCorpus();
export const byName = new Map(corpus.map((t) => [t.name, t]));

export function step(n: number): StepModel {
  const s = STEPS[n];
  if (!s) throw new Error(`step ${n} is not registered`);
  return s;
}

const cache = new Map<string, Observation>();
export function obs(trace: Trace | string, n: number): Observation {
  const t = typeof trace === 'string' ? byName.get(trace) : trace;
  if (!t) throw new Error(`no corpus trace ${String(trace)}`);
  const key = `${t.name}@${n}`;
  let o = cache.get(key);
  if (!o) cache.set(key, (o = replay(t, step(n))));
  return o;
}

export function diffs(trace: Trace | string, n: number, layer: 'functional' | 'diagnostic' | 'both' = 'both'): Difference[] {
  return compare(obs(trace, n - 1), obs(trace, n), { layer }).differences;
}

/** The differences as "± {fields}" lines without the thread, for readable failures. */
export function lines(ds: Difference[]): string[] {
  return ds.map((d) => {
    const { thread: _t, ...ev } = d.event as ObsEvent;
    return `${d.side === 'removed' ? '-' : '+'} ${JSON.stringify(ev)}`;
  });
}
