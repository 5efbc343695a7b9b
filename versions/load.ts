// Loading step folders, with no side effect at import (versions/index.ts loads the
// registry itself): a module that only needs to load a folder, such as a mutant copy,
// does not load and validate every real step by importing this.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateManifest } from '../src/manifest_rules.ts';
import type { StepInfo, StepManifest } from '../src/step_types.ts';
import type { StepEntry } from '../src/trace_types.ts';

export interface StepModel extends StepInfo {
  entry: StepEntry;
}

/**
 * Loads the step folder `dir` (step.ts and entry.ts) and validates its manifest; `name`
 * is how error messages call the manifest file.
 */
export async function loadStepFrom(dir: string, name = join(dir, 'step.ts')): Promise<StepModel> {
  const m = (await import(pathToFileURL(join(dir, 'step.ts')).href)) as { manifest: StepManifest };
  const e = (await import(pathToFileURL(join(dir, 'entry.ts')).href)) as { entry: StepEntry };
  validateManifest(m.manifest, name);
  return { manifest: m.manifest, dir, entry: e.entry };
}
