import { describe, expect, it } from 'vitest';
import { runCheck } from '../../harness/check.ts';
import { runCheckPool } from '../../harness/pool.ts';
import { resolveTrace } from '../../harness/trace.ts';
import { STEPS } from '../../versions/index.ts';

describe.skipIf(STEPS.length < 2)('worker pool', () => {
  it('gives the same report as the in-process check', async () => {
    const traces = ['private-fault', 'atomic-zap-mirror-leaf', 'teardown'].map(resolveTrace);
    const seen: number[] = [];
    const pooled = await runCheckPool({ traces, steps: STEPS, onProgress: (d) => seen.push(d) });
    const local = runCheck({ traces, steps: STEPS });
    expect(JSON.stringify(pooled)).toBe(JSON.stringify(local));
    expect(seen[seen.length - 1]).toBe(traces.length * STEPS.length);
    // every case has its time (JUnit), measured where its replay ran, worker or not
    for (const r of pooled.results) expect((r as { seconds?: number }).seconds).toBeGreaterThan(0);
  }, 60_000);
});
