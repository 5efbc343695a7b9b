// The step registry: every step folder (vNN-<slug>) found here, in series order.
// Folders are discovered, so adding a step is adding its folder.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStepFrom, type StepModel } from './load.ts';

export { loadStepFrom, type StepModel };

const here = dirname(fileURLToPath(import.meta.url));

async function loadStep(folder: string): Promise<StepModel> {
  const step = await loadStepFrom(join(here, folder), `versions/${folder}/step.ts`);
  const expected = `v${String(step.manifest.step).padStart(2, '0')}-${step.manifest.slug}`;
  if (folder !== expected) throw new Error(`versions/${folder}: manifest says ${expected}`);
  return step;
}

const folders = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && /^v\d{2}-/.test(d.name))
  .map((d) => d.name)
  .sort();

export const STEPS: readonly StepModel[] = await Promise.all(folders.map(loadStep));

STEPS.forEach((s, i) => {
  if (s.manifest.step !== i) throw new Error(`versions/: step ${i} is missing (found ${s.manifest.step} in its place)`);
});
