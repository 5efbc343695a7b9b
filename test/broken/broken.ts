// Deliberately broken step models: a real step folder copied at test time into
// test/broken/.work/<bug-name>/, one textual patch applied (it must match exactly once,
// or the test fails loudly), then imported and run through the check in place of the
// real step.
//
// The copy lives one directory deeper than versions/vNN-…/, so the step's relative
// imports of the shared code ('../../src/…') are re-rooted while copying. The .work
// folder starts with a dot: tsc's "test" include and vitest's *.test.ts glob skip it.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCheck, type CheckReport } from '../../harness/check.ts';
import { loadCorpus, type Trace } from '../../harness/trace.ts';
import { loadStepFrom, STEPS, type StepModel } from '../../versions/index.ts';
import { rerootImports } from '../../harness/mutate.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
export const VERSIONS_DIR = join(ROOT, 'versions');
export const WORK_DIR = join(here, '.work');

export interface BrokenSpec {
  /** Folder name of the broken copy, and the bug's name in test titles. */
  name: string;
  /** The real step to break. */
  step: number;
  /** The file in the step folder the patch applies to ('tdx.ts', 'tdp_mmu.ts' …). */
  file: string;
  /** Text (or pattern) that must occur exactly once in the file. */
  find: string | RegExp;
  /** What replaces it. */
  replace: string;
  /** What the bug is, in one sentence (test titles, reports). */
  why: string;
}

/** The folder of step N (versions/vNN-<slug>), or null while it does not exist. */
export function stepFolder(n: number): string | null {
  if (!existsSync(VERSIONS_DIR)) return null;
  const prefix = `v${String(n).padStart(2, '0')}-`;
  const d = readdirSync(VERSIONS_DIR).find((f) => f.startsWith(prefix));
  return d ? join(VERSIONS_DIR, d) : null;
}

/** Whether step N is both in the folder tree and in the registry (the test can run). */
export function stepAvailable(n: number): boolean {
  return stepFolder(n) !== null && STEPS.some((s) => s.manifest.step === n);
}

function countMatches(text: string, find: string | RegExp): number {
  if (typeof find === 'string') return text.split(find).length - 1;
  const flags = find.flags.includes('g') ? find.flags : find.flags + 'g';
  return [...text.matchAll(new RegExp(find.source, flags))].length;
}

/** Applies one patch to a text; throws unless `find` occurs exactly once. */
export function applyPatch(text: string, find: string | RegExp, replace: string, where: string): string {
  const n = countMatches(text, find);
  if (n !== 1) throw new Error(`broken-model patch for ${where}: expected exactly one match of ${String(find)}, found ${n}`);
  return typeof find === 'string' ? text.replace(find, () => replace) : text.replace(find, replace);
}

export { rerootImports };

/** Copies step N's folder, applies the patch, imports the copy. */
export async function makeBroken(spec: BrokenSpec): Promise<StepModel> {
  const src = stepFolder(spec.step);
  if (!src) throw new Error(`step ${spec.step} has no folder under versions/`);
  const dir = join(WORK_DIR, spec.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(src, dir, { recursive: true });
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const p = join(dir, f);
    let text = rerootImports(readFileSync(p, 'utf8'), dir);
    if (f === spec.file) text = applyPatch(text, spec.find, spec.replace, `${spec.name} (${f})`);
    writeFileSync(p, text);
  }
  if (!existsSync(join(dir, spec.file))) throw new Error(`broken-model patch for ${spec.name}: step ${spec.step} has no ${spec.file}`);
  return loadStepFrom(dir);
}

export function cleanupBroken(): void {
  rmSync(WORK_DIR, { recursive: true, force: true });
}

/** The real registry with step N replaced by the broken model. */
export function withBroken(broken: StepModel): StepModel[] {
  return STEPS.map((s) => (s.manifest.step === broken.manifest.step ? broken : s));
}

export interface BrokenVerdicts {
  /** Real predecessor → broken step (for step 0: real step 0 → the broken copy as a step 1 with no intents). */
  predecessor: CheckReport;
  /** Broken step → real successor, when the successor exists. */
  successor: CheckReport | null;
}

let corpus: Trace[] | null = null;
export function corpusTraces(): Trace[] {
  return (corpus ??= loadCorpus());
}

/** Runs the check around a broken model (see BrokenVerdicts), over the corpus by default. */
export function checkBroken(broken: StepModel, traces: readonly Trace[] = corpusTraces()): BrokenVerdicts {
  const n = broken.manifest.step;
  let predecessor: CheckReport;
  if (n === 0) {
    // no step before the base: present the broken base as a patch on top of the real
    // one that claims no behaviour change
    const asPatch: StepModel = { ...broken, manifest: { ...broken.manifest, step: 1, intents: [] } };
    predecessor = runCheck({ traces, steps: [STEPS[0]!, asPatch], from: 1, to: 1 });
  } else {
    predecessor = runCheck({ traces, steps: withBroken(broken), from: n, to: n });
  }
  const hasNext = STEPS.some((s) => s.manifest.step === n + 1);
  const successor = hasNext ? runCheck({ traces, steps: withBroken(broken), from: n + 1, to: n + 1 }) : null;
  return { predecessor, successor };
}

/** The traces whose verdict in the report is unexpected. */
export function catchers(r: CheckReport): string[] {
  return [...new Set(r.results.filter((x) => x.verdict === 'unexpected').map((x) => x.trace))].sort();
}
