import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/cli/errors.ts';
import { kernelBisectExitCode, parseStepNumber, registerLinkCommands } from '../../src/cli/link_commands.ts';
import type { StepInfo } from '../../src/step_types.ts';
import { SERIES, cleanupTemp, makeKernelRepo, makeSteps, tempDir, type KernelRepoFixture } from './fixtures.ts';

afterAll(cleanupTemp);

let steps: StepInfo[];
let repo: KernelRepoFixture;

beforeAll(async () => {
  steps = makeSteps();
  repo = await makeKernelRepo({ order: [1, 2, 3, 4, 6, 5, 7, 9, 10, 11, 12, 13, 14, 15], extras: [{ after: 2, subject: 'KVM: x86: Unrelated fixture cleanup' }] });
}, 60_000);

async function run(args: string[]): Promise<string> {
  let text = '';
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerLinkCommands(program, { steps, out: (s) => (text += s) });
  await program.parseAsync(args, { from: 'user' });
  return text;
}

describe('link command', () => {
  it('prints mapped steps, missing steps, extra commits and order differences', async () => {
    const out = await run(['link', '--kernel', repo.dir, '--range', `${repo.base}..HEAD`]);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`kernel: ${repo.dir}`);
    expect(lines[1]).toBe(`range:  ${repo.base}..HEAD (15 commits)`);
    expect(lines).toContain('mapped steps (14/15):');
    expect(lines).toContain(`  01  ${repo.hashes[1]!.slice(0, 12)}  subject     ${SERIES[0]!.subject}`);
    expect(lines).toContain('missing steps: 08');
    expect(lines).toContain('extra commits: 1');
    expect(lines).toContain(`  ${repo.extras[0]!.slice(0, 12)}  KVM: x86: Unrelated fixture cleanup`);
    expect(lines).toContain('order differences: 1');
    expect(lines).toContain(`  step 06 (${repo.hashes[6]!.slice(0, 12)}) comes after step 04`);
    expect(lines.filter((l) => !l.startsWith('  ')).every((l) => l.length <= 80)).toBe(true);
  });

  it('prints one JSON object with --json, and fidelity with --fidelity', async () => {
    const out = await run(['link', '--kernel', repo.dir, '--range', `${repo.base}..HEAD`, '--json', '--fidelity']);
    const j = JSON.parse(out) as {
      kernel: string;
      mapped: Array<{ step: number; hash: string }>;
      missingSteps: number[];
      extraCommits: Array<{ hash: string }>;
      orderDifferences: Array<{ step: number }>;
      fidelity: Array<{ step: number; ok: boolean; missingInModel: string[] }>;
      commits?: unknown;
    };
    expect(j.kernel).toBe(repo.dir);
    expect(j.mapped.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]);
    expect(j.missingSteps).toEqual([8]);
    expect(j.extraCommits.map((e) => e.hash)).toEqual([repo.extras[0]]);
    expect(j.orderDifferences.map((d) => d.step)).toEqual([6]);
    expect(j.commits).toBeUndefined();
    // every commit present changes what its step model changes
    expect(j.fidelity.map((f) => f.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]);
    expect(j.fidelity.filter((f) => !f.ok)).toEqual([]);
    // without --fidelity there is no such key
    const plain = JSON.parse(await run(['link', '--kernel', repo.dir, '--range', `${repo.base}..HEAD`, '--json'])) as object;
    expect('fidelity' in plain).toBe(false);
  });

  it('needs --kernel and a git tree', async () => {
    await expect(run(['link'])).rejects.toThrow('link needs --kernel PATH (a kernel git tree)');
    const plain = tempDir('plain');
    await expect(run(['link', '--kernel', plain])).rejects.toThrow(InputError);
    await expect(run(['link', '--kernel', repo.dir, '--range', 'nope..HEAD'])).rejects.toThrow(/unknown revision: nope/);
    await expect(run(['link', '--kernel', repo.dir, '--range', 'HEAD..HEAD'])).rejects.toThrow(/empty range/);
    await expect(run(['link', '--kernel', repo.dir, '--range', `${repo.base}~0..${repo.base}`])).rejects.toThrow(/empty range/);
  });
});

describe('show-step command', () => {
  it('prints the model diff and the model-vs-touches fidelity without a tree', async () => {
    const out = await run(['show-step', '3']);
    expect(out.startsWith(`step 03: ${SERIES[2]!.subject}\nmodel diff: v02-`)).toBe(true);
    expect(out).toContain('diff --git a/tdp_mmu.ts b/tdp_mmu.ts\n--- a/tdp_mmu.ts\n+++ b/tdp_mmu.ts\n');
    expect(out).toContain('-export function set_external_spte_present(kvm: Kvm, spte: bigint): number {');
    expect(out).not.toContain('diff --git a/tdx.ts');
    expect(out).toContain('fidelity of step 03 (model vs manifest.touches): ok');
    expect(out).toContain('  matching (2):\n    __tdp_mmu_set_spte_atomic, set_external_spte_present\n');
    expect(out).not.toContain('real commit');
  });

  it('adds the real commit and compares with it when a tree is given', async () => {
    const full = await makeKernelRepo();
    const out = await run(['show-step', '12', '--kernel', full.dir, '--range', `${full.base}..HEAD`]);
    expect(out).toContain(`real commit ${full.hashes[12]!.slice(0, 12)} in ${full.dir} (found by subject in ${full.base}..HEAD):`);
    expect(out).toContain('diff --git a/arch/x86/include/asm/kvm-x86-ops.h b/arch/x86/include/asm/kvm-x86-ops.h');
    expect(out).toContain('-KVM_X86_OP_OPTIONAL(remove_external_spte)');
    expect(out).toContain('fidelity of step 12 (model vs the real commit): ok');
    expect(out).toContain('  real commit changes (8):');
    expect(out).toContain('KVM_X86_OP:remove_external_spte');
    const j = JSON.parse(await run(['show-step', '12', '--kernel', full.dir, '--json'])) as {
      real: { hash: string; foundBy: string; functions: string[] };
      fidelity: { ok: boolean; matching: string[] };
    };
    expect(j.real.hash).toBe(full.hashes[12]);
    expect(j.real.foundBy).toBe('subject in HEAD (whole history)');
    expect(j.fidelity.ok).toBe(true);
    expect(j.fidelity.matching).toEqual(j.real.functions);
  });

  it('rejects bad step numbers and a step missing from the tree', async () => {
    for (const bad of ['0', '16', 'abc', '2.5', '-1', '']) {
      await expect(run(['show-step', bad])).rejects.toThrow(InputError);
    }
    await expect(run(['show-step', '16'])).rejects.toThrow('step 16 is out of range: expected an integer from 1 to 15');
    await expect(run(['show-step', 'x'])).rejects.toThrow('step must be an integer from 1 to 15, got "x"');
    await expect(run(['show-step', '8', '--kernel', repo.dir, '--range', `${repo.base}..HEAD`])).rejects.toThrow(
      `step 8 has no commit in ${repo.dir} ${repo.base}..HEAD`,
    );
    await expect(run(['show-step', '8', '--range', 'a..b'])).rejects.toThrow('--range needs --kernel PATH');
    expect(parseStepNumber('07', steps)).toBe(7);
  });
});

describe('kernelBisectExitCode', () => {
  it('returns 0 / 1 by the mapped step and 125 when HEAD cannot be mapped', async () => {
    const seen: number[] = [];
    const like = (s: number): boolean => {
      seen.push(s);
      return s < 6;
    };
    expect(await kernelBisectExitCode({ kernelPath: repo.dir, steps, behavesLikeBase: like })).toBe(1);
    await repo.git.raw(['checkout', '-q', '--detach', repo.extras[0]!]);
    expect(await kernelBisectExitCode({ kernelPath: repo.dir, steps, behavesLikeBase: async (s) => like(s) })).toBe(0);
    await repo.git.raw(['checkout', '-q', '--detach', repo.base]);
    expect(await kernelBisectExitCode({ kernelPath: repo.dir, steps, behavesLikeBase: like })).toBe(125);
    await repo.git.raw(['checkout', '-q', 'master']);
    expect(seen).toEqual([15, 2]);
  });
});
