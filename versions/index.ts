// The step registry: every step folder, in series order. The harness finds steps here.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepInfo } from '../src/step_types.ts';
import type { StepEntry } from '../src/trace_types.ts';
import * as s00 from './v00-base/step.ts';
import * as e00 from './v00-base/entry.ts';

export interface StepModel extends StepInfo {
  entry: StepEntry;
}

const here = dirname(fileURLToPath(import.meta.url));

function step(m: { manifest: StepInfo['manifest'] }, e: { entry: StepEntry }): StepModel {
  const dir = join(here, `v${String(m.manifest.step).padStart(2, '0')}-${m.manifest.slug}`);
  return { manifest: m.manifest, dir, entry: e.entry };
}

export const STEPS: readonly StepModel[] = [
  step(s00, e00),
];
