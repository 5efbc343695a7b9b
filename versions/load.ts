// Loading step folders, with no side effect at import (versions/index.ts loads the
// registry itself): a module that only needs to load a folder, such as a mutant copy,
// does not load and validate every real step by importing this.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateManifest } from '../src/manifest_rules.ts';
import type { StepInfo, StepManifest } from '../src/step_types.ts';
import type { StepEntry } from '../src/trace_types.ts';
import type { TdpMmuApi, TdxApi } from '../src/kernel/step_kernel.ts';
import { link_step } from '../src/kernel/trace_ops.ts';

export interface StepModel extends StepInfo {
  entry: StepEntry;
}

/**
 * Loads the step folder `dir` (step.ts, and tdp_mmu.ts / tdx.ts linked into the shared
 * kernel paths) and validates its manifest; `name` is how error messages call the
 * manifest file.
 */
export async function loadStepFrom(dir: string, name = join(dir, 'step.ts')): Promise<StepModel> {
  const m = (await import(pathToFileURL(join(dir, 'step.ts')).href)) as { manifest: StepManifest };
  const tdp_mmu = (await import(pathToFileURL(join(dir, 'tdp_mmu.ts')).href)) as TdpMmuApi;
  const tdx = (await import(pathToFileURL(join(dir, 'tdx.ts')).href)) as TdxApi;
  validateManifest(m.manifest, name);
  return { manifest: m.manifest, dir, entry: link_step({ tdp_mmu, tdx }) };
}
