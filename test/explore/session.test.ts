// Replay sessions: a trace run one operation at a time, forked at operation boundaries,
// gives byte for byte the observation of the whole trace replayed at once; a fork is
// independent of its origin; the state key leaves out only what was recorded.
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { replay, ReplaySession } from '../../harness/replay.ts';
import { ALPHABET, exhaustiveTrace, sequences } from '../../harness/exhaustive.ts';
import { ctx } from '../../src/kernel/context.ts';

const stepwise = (root: ReplaySession, seq: readonly number[]): ReplaySession => {
  const t = exhaustiveTrace(seq);
  let s = root;
  t.threads[0]!.ops.forEach((op, k) => {
    s = s.fork();
    s.runOp('vcpu0', op, k);
  });
  return s;
};

describe('replay sessions', () => {
  it('stepwise with forks = the whole trace at once, on every operation pair of the alphabet', () => {
    for (const step of [STEPS[0]!, STEPS[9]!, STEPS[12]!, STEPS[15]!]) {
      const root = ReplaySession.start(exhaustiveTrace([0]), step);
      for (const seq of sequences(ALPHABET.length, 2)) {
        const t = exhaustiveTrace(seq);
        expect(JSON.stringify(stepwise(root, seq).observe(t)), `${t.name} on step ${step.manifest.step}`).toBe(JSON.stringify(replay(t, step)));
      }
    }
  });

  it('a fork goes its own way; the origin is unchanged', () => {
    const root = ReplaySession.start(exhaustiveTrace([0]), STEPS[15]!);
    const before = JSON.stringify(root.observe(exhaustiveTrace([0])));
    const key = root.stateKey();
    const child = stepwise(root, [0]);
    expect(child.stateKey()).not.toBe(key);
    expect(JSON.stringify(root.observe(exhaustiveTrace([0])))).toBe(before);
    expect(root.stateKey()).toBe(key);
    expect(root.fork().stateKey()).toBe(key);
  });

  it('the state key leaves out what was recorded, not what behaves', () => {
    const root = ReplaySession.start(exhaustiveTrace([0]), STEPS[0]!);
    // aging a shared page nothing maps records a result and changes nothing
    const age = ALPHABET.findIndex((o) => o.op === 'age');
    const aged = stepwise(root, [age]);
    const twice = stepwise(root, [age, age]);
    expect(twice.observe(exhaustiveTrace([age, age])).events.length).toBeGreaterThan(aged.observe(exhaustiveTrace([age])).events.length);
    expect(twice.stateKey()).toBe(aged.stateKey());
    // two faults in either order map the same two GFNs, but not with the same pages
    expect(stepwise(root, [0, 1]).stateKey()).not.toBe(stepwise(root, [0]).stateKey());
  });

  it('a pending callback makes a state unkeyable (its captured state cannot be read)', () => {
    const s = ReplaySession.start(exhaustiveTrace([0]), STEPS[0]!);
    const m = (s as unknown as { m: { c: ReturnType<typeof ctx> } }).m;
    m.c.rcuQueue.push(() => undefined);
    expect(s.stateKey()).toBeNull();
  });
});
