// `bisect TRACE --kernel PATH --exit-code`: HEAD of a kernel tree mapped to a step
// (src/cli/link_commands.ts kernelBisectExitCode), then "does that step behave like
// step 0 on the trace".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepModel } from '../../versions/index.ts';
import { cleanupTemp, makeKernelRepo, SERIES, type KernelRepoFixture } from '../link/fixtures.ts';
import { BASE, recordWarn, runCli, sameStep, tweakedStep } from './helpers.ts';

const named = (s: StepModel, i: number): StepModel => ({ ...s, manifest: { ...s.manifest, subject: SERIES[i - 1]!.subject, commit: SERIES[i - 1]!.commit } });
// step 1 behaves like the base, step 2 WARNs on every fault
const steps: StepModel[] = [BASE, named(sameStep(1), 1), named(tweakedStep(2, [], (op) => (op.op === 'fault' ? recordWarn('syn', 'x') : undefined)), 2)];

let upTo1: KernelRepoFixture;
let upTo2: KernelRepoFixture;
let bare: KernelRepoFixture;
const notRepo = mkdtempSync(join(tmpdir(), 'tdx-not-a-repo-'));

beforeAll(async () => {
  [upTo1, upTo2, bare] = await Promise.all([makeKernelRepo({ order: [1] }), makeKernelRepo({ order: [1, 2] }), makeKernelRepo({ order: [] })]);
}, 60_000);
afterAll(() => {
  cleanupTemp();
  rmSync(notRepo, { recursive: true, force: true });
});

describe('bisect --kernel PATH --exit-code', () => {
  it('0 when HEAD is a step that behaves like step 0, 1 when not, 125 when HEAD is no step', async () => {
    expect((await runCli(['bisect', 'private-fault', '--kernel', upTo1.dir, '--exit-code'], steps)).code).toBe(0);
    expect((await runCli(['bisect', 'private-fault', '--kernel', upTo2.dir, '--exit-code'], steps)).code).toBe(1);
    expect((await runCli(['bisect', 'private-fault', '--kernel', upTo2.dir, '--exit-code', '--layer', 'functional'], steps)).code).toBe(0);
    expect((await runCli(['bisect', 'private-fault', '--kernel', bare.dir, '--exit-code'], steps)).code).toBe(125);
  });

  it('a path that is no git tree is bad input (exit 2, one line)', async () => {
    const r = await runCli(['bisect', 'private-fault', '--kernel', notRepo, '--exit-code'], steps);
    expect(r.code).toBe(2);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });
});
