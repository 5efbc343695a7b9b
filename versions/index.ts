// The step registry: every step folder (vNN-<slug>) found here, in series order.
// Folders are discovered, so adding a step is adding its folder.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { validateManifest } from '../src/manifest_rules.ts';
import type { StepInfo, StepManifest } from '../src/step_types.ts';
import type { StepEntry } from '../src/trace_types.ts';

export interface StepModel extends StepInfo {
  entry: StepEntry;
}

const here = dirname(fileURLToPath(import.meta.url));

async function loadStep(folder: string): Promise<StepModel> {
  const dir = join(here, folder);
  const m = (await import(pathToFileURL(join(dir, 'step.ts')).href)) as { manifest: StepManifest };
  const e = (await import(pathToFileURL(join(dir, 'entry.ts')).href)) as { entry: StepEntry };
  const expected = `v${String(m.manifest.step).padStart(2, '0')}-${m.manifest.slug}`;
  if (folder !== expected) throw new Error(`versions/${folder}: manifest says ${expected}`);
  validateManifest(m.manifest, `versions/${folder}/step.ts`);
  return { manifest: m.manifest, dir, entry: e.entry };
}

/** Loads a step folder that lives anywhere (e.g. a deliberately broken copy in test/). */
export async function loadStepFrom(dir: string): Promise<StepModel> {
  const m = (await import(pathToFileURL(join(dir, 'step.ts')).href)) as { manifest: StepManifest };
  const e = (await import(pathToFileURL(join(dir, 'entry.ts')).href)) as { entry: StepEntry };
  validateManifest(m.manifest, join(dir, 'step.ts'));
  return { manifest: m.manifest, dir, entry: e.entry };
}

const folders = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && /^v\d{2}-/.test(d.name))
  .map((d) => d.name)
  .sort();

export const STEPS: readonly StepModel[] = await Promise.all(folders.map(loadStep));

STEPS.forEach((s, i) => {
  if (s.manifest.step !== i) throw new Error(`versions/: step ${i} is missing (found ${s.manifest.step} in its place)`);
});
