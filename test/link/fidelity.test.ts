import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/cli/errors.ts';
import {
  fidelityReport,
  functionsChangedByCommit,
  modelChangeSummary,
  stepFidelity,
} from '../../harness/link/fidelity.ts';
import { extractTsFunctions } from '../../harness/model_functions.ts';
import type { StepInfo } from '../../src/step_types.ts';
import {
  SERIES,
  TDP_MMU_C,
  TDX_C,
  cleanupTemp,
  expectedFunctions,
  expectedHooks,
  makeKernelRepo,
  makeSteps,
  tempDir,
  type KernelRepoFixture,
} from './fixtures.ts';

afterAll(cleanupTemp);

let steps: StepInfo[];
let repo: KernelRepoFixture;

beforeAll(async () => {
  steps = makeSteps();
  repo = await makeKernelRepo();
}, 60_000);

describe('functionsChangedByCommit', () => {
  it('finds the functions each toy patch changes, and hook lines', async () => {
    for (const e of SERIES) {
      const r = await functionsChangedByCommit(repo.dir, repo.hashes[e.step]!);
      expect(r.hash).toBe(repo.hashes[e.step]);
      expect(r.functions).toEqual([...expectedFunctions(e.step), ...expectedHooks(e.step)].sort());
    }
  });

  it('splits by file: step 3 deletes a helper and changes its caller', async () => {
    const r = await functionsChangedByCommit(repo.dir, repo.hashes[3]!);
    expect(r.files).toEqual([
      { file: TDP_MMU_C, changed: ['__tdp_mmu_set_spte_atomic'], added: [], removed: ['set_external_spte_present'], hooks: [] },
    ]);
  });

  it('reports renames as removed + added, moves and reformatting as nothing', async () => {
    const r13 = await functionsChangedByCommit(repo.dir, repo.hashes[13]!);
    expect(r13.files).toEqual([
      {
        file: TDX_C,
        changed: ['tdx_flush_tlb_all', 'tdx_sept_set_private_spte'],
        added: ['tdx_sept_remove_leaf_spte'],
        removed: ['tdx_sept_remove_private_spte'],
        hooks: [],
      },
    ]);
    expect((await functionsChangedByCommit(repo.dir, repo.hashes[11]!)).functions).toEqual([]);
    // step 7 also reformats tdp_mmu_iter_set_spte: whitespace only
    expect((await functionsChangedByCommit(repo.dir, repo.hashes[7]!)).functions).toEqual(['__tdp_mmu_set_spte_atomic']);
    // step 4 changes only a struct member in kvm_host.h besides two functions
    const r4 = await functionsChangedByCommit(repo.dir, repo.hashes[4]!);
    expect(r4.files.map((f) => f.file)).toEqual(['arch/x86/include/asm/kvm_host.h', TDP_MMU_C, TDX_C]);
    expect(r4.functions).toEqual(['__tdp_mmu_set_spte_atomic', 'tdx_sept_set_private_spte']);
  });

  it('limits itself to the files given, and treats a root commit as all-added', async () => {
    const r = await functionsChangedByCommit(repo.dir, repo.hashes[12]!, [TDX_C]);
    expect(r.functions).toEqual(['tdx_hardware_setup', 'tdx_sept_remove_private_spte', 'tdx_sept_set_private_spte']);
    const root = await functionsChangedByCommit(repo.dir, repo.base, [TDX_C]);
    expect(root.files[0]!.added).toContain('tdx_sept_link_private_spt');
    expect(root.files[0]!.added).toHaveLength(8);
  });

  it('rejects an unknown commit', async () => {
    await expect(functionsChangedByCommit(repo.dir, 'feedface1234')).rejects.toThrow(InputError);
  });
});

describe('fidelityReport', () => {
  it('finds the faithful toy models faithful at every step', async () => {
    for (const e of SERIES) {
      const real = await functionsChangedByCommit(repo.dir, repo.hashes[e.step]!);
      const r = stepFidelity(steps, e.step, real.functions);
      expect(r.ok, `step ${e.step}`).toBe(true);
      expect(r.reference).toBe('real');
      expect(r.matching).toEqual(real.functions);
      expect(r.missingInModel).toEqual([]);
      expect(r.extraInModel).toEqual([]);
      expect(r.realNotInTouches).toEqual([]);
      expect(r.touchesNotInReal).toEqual([]);
    }
  });

  it('matches a real KVM_X86_OP change with the model hook table, which is no extra function', async () => {
    const real = await functionsChangedByCommit(repo.dir, repo.hashes[1]!);
    expect(real.functions).toContain('KVM_X86_OP:link_external_spt');
    const r = stepFidelity(steps, 1, real.functions);
    expect(r.matching).toContain('KVM_X86_OP:link_external_spt');
    expect(r.modelOther).toEqual(['kvm_x86_ops_decl']);
    expect(r.extraInModel).toEqual([]);
  });

  it('reports a function the model changes too many as extra in the model', async () => {
    const bad = join(tempDir('bad-model'), 'v05-extra');
    cpSync(steps[5]!.dir, bad, { recursive: true });
    const tdx = join(bad, 'tdx.ts');
    const text = readFileSync(tdx, 'utf8');
    const patched = text.replace(
      /(export function tdx_track\(kvm: Kvm, spte: bigint\): number \{\n)/,
      '$1  fixture_extra_change(kvm);\n',
    );
    expect(patched).not.toBe(text);
    writeFileSync(tdx, patched);
    const real = await functionsChangedByCommit(repo.dir, repo.hashes[5]!);
    const r = fidelityReport(steps[5]!, real.functions, modelChangeSummary(steps[4]!.dir, bad));
    expect(r.ok).toBe(false);
    expect(r.extraInModel).toEqual(['tdx_track']);
    expect(r.missingInModel).toEqual([]);
    expect(r.matching).toEqual(['__tdp_mmu_set_spte_atomic', 'tdx_sept_set_private_spte']);
    expect(r.modelNotInTouches).toEqual(['tdx_track']);
  });

  it('reports a function the model fails to change as missing in the model', async () => {
    const bad = join(tempDir('bad-model'), 'v05-missing');
    cpSync(steps[5]!.dir, bad, { recursive: true });
    const tdx = join(bad, 'tdx.ts');
    const before = extractTsFunctions(readFileSync(join(steps[4]!.dir, 'tdx.ts'), 'utf8')).get('tdx_sept_set_private_spte')!;
    const now = extractTsFunctions(readFileSync(tdx, 'utf8')).get('tdx_sept_set_private_spte')!;
    expect(now).not.toBe(before);
    writeFileSync(tdx, readFileSync(tdx, 'utf8').replace(now, before));
    const real = await functionsChangedByCommit(repo.dir, repo.hashes[5]!);
    const r = fidelityReport(steps[5]!, real.functions, modelChangeSummary(steps[4]!.dir, bad));
    expect(r.ok).toBe(false);
    expect(r.missingInModel).toEqual(['tdx_sept_set_private_spte']);
    expect(r.extraInModel).toEqual([]);
    expect(r.matching).toEqual(['__tdp_mmu_set_spte_atomic']);
    expect(r.touchesNotInModel).toEqual(['tdx_sept_set_private_spte']);
  });

  it('checks the model against manifest.touches when no tree is given', () => {
    const r = stepFidelity(steps, 3, null);
    expect(r.reference).toBe('touches');
    expect(r.real).toBeNull();
    expect(r.matching).toEqual(['__tdp_mmu_set_spte_atomic', 'set_external_spte_present']);
    expect(r.ok).toBe(true);
    const wrongTouches = makeSteps({ touches: { 3: ['__tdp_mmu_set_spte_atomic', 'tdp_mmu_set_spte'] } });
    const w = stepFidelity(wrongTouches, 3, null);
    expect(w.missingInModel).toEqual(['tdp_mmu_set_spte']);
    expect(w.extraInModel).toEqual(['set_external_spte_present']);
  });

  it('compares manifest.touches with the real commit', async () => {
    const wrongTouches = makeSteps({ touches: { 9: ['__handle_changed_spte', 'handle_changed_spte', 'tdp_mmu_zap_leafs'] } });
    const real = await functionsChangedByCommit(repo.dir, repo.hashes[9]!);
    const r = stepFidelity(wrongTouches, 9, real.functions);
    expect(r.ok).toBe(true); // the model matches the real commit
    expect(r.touchesNotInReal).toEqual(['tdp_mmu_zap_leafs']);
    expect(r.realNotInTouches).toEqual(['__tdp_mmu_set_spte_atomic', 'kvm_tdp_mmu_age_spte', 'tdp_mmu_set_spte_atomic']);
  });
});
