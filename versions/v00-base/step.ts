import type { StepManifest } from '../../src/step_types.ts';

export const manifest: StepManifest = {
  step: 0,
  slug: 'base',
  subject: 'base: Linux 7.1 + the 8 prerequisites',
  author: '-',
  commit: null,
  v2Subject: null,
  touches: [],
  intents: [],
  assumptions: [],
};
