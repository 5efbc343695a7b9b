// Fidelity of the step models: each step changes exactly the functions its manifest
// says it touches (computed from the sources with jsdiff), no step folder reaches into
// another, and every step replays the whole corpus without a model error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';
import { modelChangeSummary } from '../../harness/link/fidelity.ts';
import { replay } from '../../harness/replay.ts';
import { loadCorpus } from '../../harness/trace.ts';

/** Harness probes live beside the kernel functions but are not kernel code. */
const isKernelFunction = (name: string): boolean => !name.startsWith('probe_');

describe('step manifests', () => {
  it('steps are numbered 0..N in folder order, with unique intent ids', () => {
    STEPS.forEach((s, i) => expect(s.manifest.step).toBe(i));
    const ids = STEPS.flatMap((s) => s.manifest.intents.map((i) => i.id));
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of STEPS) for (const i of s.manifest.intents) expect(i.id.startsWith(`v${String(s.manifest.step).padStart(2, '0')}-`)).toBe(true);
  });

  it('each patch names its author', () => {
    const SEAN = 'Sean Christopherson <seanjc@google.com>';
    const RICK = 'Rick Edgecombe <rick.p.edgecombe@intel.com>';
    const YAN = 'Yan Zhao <yan.y.zhao@intel.com>';
    const want = [SEAN, SEAN, SEAN, SEAN, RICK, RICK, RICK, SEAN, SEAN, RICK, SEAN, SEAN, YAN, SEAN, SEAN];
    expect(STEPS.slice(1).map((s) => s.manifest.author)).toEqual(want);
  });

  it('a step folder holds only what its commit changes: tdp_mmu.ts, tdx.ts, x86_ops.ts and step.ts', () => {
    for (const s of STEPS) expect(readdirSync(s.dir).filter((f) => f.endsWith('.ts')).sort(), s.manifest.slug).toEqual(['step.ts', 'tdp_mmu.ts', 'tdx.ts', 'x86_ops.ts']);
  });

  it('every assumption names a corpus trace', () => {
    const names = new Set(loadCorpus().map((t) => t.name));
    for (const s of STEPS) for (const a of s.manifest.assumptions) expect(names.has(a.trace), `${s.manifest.slug}: ${a.id} → ${a.trace}`).toBe(true);
  });
});

describe.each(STEPS.slice(1).map((s) => [s.manifest.step, s] as const))('step %i', (n, step) => {
  it('changes exactly the functions it touches', () => {
    const prev = STEPS[n - 1]!;
    const changed = modelChangeSummary(prev.dir, step.dir).functions.filter(isKernelFunction).sort();
    expect(changed).toEqual([...step.manifest.touches].sort());
  });
});

describe('step folders stand alone', () => {
  it('no step folder imports another step folder', () => {
    for (const s of STEPS) {
      for (const f of readdirSync(s.dir).filter((x) => x.endsWith('.ts'))) {
        const src = readFileSync(join(s.dir, f), 'utf8');
        for (const m of src.matchAll(/from\s+['"]([^'"]+)['"]/g)) {
          const spec = m[1]!;
          const ok = spec.startsWith('./') || spec.startsWith('../../src/') || spec.startsWith('node:');
          expect(ok, `${s.dir}/${f} imports ${spec}`).toBe(true);
        }
      }
    }
  });

  it('every step replays the whole corpus without a model error', () => {
    const corpus = loadCorpus();
    for (const s of STEPS) {
      for (const t of corpus) {
        const o = replay(t, s);
        expect(o.events.filter((e) => e.kind === 'model-error'), `${t.name} on step ${s.manifest.step}`).toEqual([]);
      }
    }
  });
});
