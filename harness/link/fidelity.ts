// How faithfully a step model follows its real commit: the C functions the
// commit changed, the model items the step changed, and manifest.touches.

import { structuredPatch } from 'diff';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepInfo, StepManifest } from '../../src/step_types.ts';
import { changedBetween, modelItems, type FunctionChanges } from '../model_functions.ts';
import { compareCSources, type CFileChanges } from './c_functions.ts';
import { commitFiles, fileAt, firstParent, openRepo, resolveRev } from './git.ts';

export const HOOK_PREFIX = 'KVM_X86_OP:';

export interface CommitFunctionChanges {
  /** Full hash of the commit. */
  hash: string;
  /** One entry per changed `.c` / `.h` file. */
  files: CFileChanges[];
  /** Sorted, unique: functions changed, added or removed, and `KVM_X86_OP:<name>` hook lines. */
  functions: string[];
}

const isCSource = (f: string): boolean => f.endsWith('.c') || f.endsWith('.h');

/**
 * The C functions whose bodies differ between `hash^` and `hash` (added and
 * deleted ones included) in the commit's changed `.c`/`.h` files (or in
 * `files`), plus `KVM_X86_OP:<name>` for hook lines changed in headers.
 */
export async function functionsChangedByCommit(
  kernelPath: string,
  hash: string,
  files?: readonly string[],
): Promise<CommitFunctionChanges> {
  const repo = await openRepo(kernelPath);
  const full = await resolveRev(repo, hash);
  const parent = await firstParent(repo, full);
  const list = (files ?? (await commitFiles(repo, full))).filter(isCSource);
  const out: CFileChanges[] = [];
  for (const file of list) {
    const before = parent ? ((await fileAt(repo, parent, file)) ?? '') : '';
    const after = (await fileAt(repo, full, file)) ?? '';
    if (before === after) continue;
    out.push(compareCSources(file, before, after));
  }
  const all = new Set<string>();
  for (const f of out) for (const n of [...f.changed, ...f.added, ...f.removed, ...f.hooks]) all.add(n);
  return { hash: full, files: out, functions: [...all].sort() };
}

export interface ModelChangeSummary {
  /** Function / generator declarations changed, added or removed (bare names). */
  functions: string[];
  /** Other named items (const, let, type, interface …) changed, added or removed (bare names). */
  others: string[];
  /** Identifiers on the lines of x86_ops.ts that differ; a real `KVM_X86_OP:<name>` change matches these. */
  hookIdentifiers: string[];
  /** The raw result of changedFunctions (keys as modelFunctions gives them). */
  detail: FunctionChanges;
}

const bare = (key: string): string => key.replace(/^[^:]*\.ts:/, '');

/** What changed in the model between two step folders, split for the fidelity check. */
export function modelChangeSummary(dirA: string, dirB: string): ModelChangeSummary {
  const a = modelItems(dirA);
  const b = modelItems(dirB);
  const texts = (m: typeof a): Map<string, string> => new Map([...m].map(([k, v]) => [k, v.text]));
  const detail = changedBetween(texts(a), texts(b));
  const functions = new Set<string>();
  const others = new Set<string>();
  for (const key of [...detail.changed, ...detail.added, ...detail.removed]) {
    const item = b.get(key) ?? a.get(key)!;
    (item.kind === 'function' ? functions : others).add(bare(key));
  }
  const hookIdentifiers = new Set<string>();
  const pa = join(dirA, 'x86_ops.ts');
  const pb = join(dirB, 'x86_ops.ts');
  const oldOps = existsSync(pa) ? readFileSync(pa, 'utf8') : '';
  const newOps = existsSync(pb) ? readFileSync(pb, 'utf8') : '';
  if (oldOps !== newOps) {
    const patch = structuredPatch('a', 'b', oldOps, newOps, undefined, undefined, { context: 0 });
    for (const h of patch.hunks) {
      for (const line of h.lines) {
        if (!line.startsWith('+') && !line.startsWith('-')) continue;
        for (const id of line.slice(1).match(/[A-Za-z_$][\w$]*/g) ?? []) hookIdentifiers.add(id);
      }
    }
  }
  return {
    functions: [...functions].sort(),
    others: [...others].sort(),
    hookIdentifiers: [...hookIdentifiers].sort(),
    detail,
  };
}

export interface FidelityReport {
  step: number;
  subject: string;
  /** What the model is checked against: the real commit's functions, or manifest.touches without a tree. */
  reference: 'real' | 'touches';
  real: string[] | null;
  /** Model functions changed by the step (plus other model items named like a reference function). */
  model: string[];
  /** Other model items changed (consts, types …), for information only. */
  modelOther: string[];
  touches: string[];
  /** In the reference and changed in the model. */
  matching: string[];
  /** In the reference, not changed in the model. */
  missingInModel: string[];
  /** Changed in the model, not in the reference. */
  extraInModel: string[];
  /** Real functions (hook lines excepted, unless touches lists them) that manifest.touches leaves out. */
  realNotInTouches: string[];
  /** manifest.touches entries the real commit does not change. */
  touchesNotInReal: string[];
  /** manifest.touches entries the model does not change. */
  touchesNotInModel: string[];
  /** Model functions manifest.touches leaves out. */
  modelNotInTouches: string[];
  /** No function missing in or extra in the model. */
  ok: boolean;
}

const sorted = (s: Iterable<string>): string[] => [...new Set(s)].sort();

/**
 * Compares the real commit's functions (null: no tree given), the model's changed
 * items and the manifest's `touches` of one step.
 */
export function fidelityReport(
  step: StepInfo | StepManifest,
  realFunctions: readonly string[] | null,
  modelChanged: ModelChangeSummary | readonly string[],
): FidelityReport {
  const manifest: StepManifest = 'manifest' in step ? step.manifest : step;
  const summary: ModelChangeSummary = Array.isArray(modelChanged)
    ? { functions: (modelChanged as readonly string[]).map(bare), others: [], hookIdentifiers: [], detail: { changed: [], added: [], removed: [] } }
    : (modelChanged as ModelChangeSummary);
  const touches = sorted(manifest.touches);
  const real = realFunctions ? sorted(realFunctions) : null;
  const reference = real ?? touches;
  const refSet = new Set(reference);
  const hookIds = new Set(summary.hookIdentifiers);

  // Model items that count: its functions, plus other items named like a reference entry.
  const modelSet = new Set(summary.functions);
  for (const o of summary.others) if (refSet.has(o)) modelSet.add(o);
  const model = sorted(modelSet);
  const modelOther = sorted(summary.others.filter((o) => !modelSet.has(o)));

  const inModel = (name: string): boolean => {
    if (modelSet.has(name)) return true;
    if (name.startsWith(HOOK_PREFIX)) return hookIds.has(name.slice(HOOK_PREFIX.length));
    return false;
  };

  const matching = reference.filter(inModel);
  const missingInModel = reference.filter((n) => !inModel(n));
  const extraInModel = model.filter((n) => !refSet.has(n));

  const touchSet = new Set(touches);
  const realSet = new Set(real ?? []);
  const realNotInTouches = real ? real.filter((n) => !touchSet.has(n) && !n.startsWith(HOOK_PREFIX)) : [];
  const touchesNotInReal = real ? touches.filter((n) => !realSet.has(n)) : [];
  const touchesNotInModel = touches.filter((n) => !inModel(n));
  const modelNotInTouches = model.filter((n) => !touchSet.has(n));

  return {
    step: manifest.step,
    subject: manifest.subject,
    reference: real ? 'real' : 'touches',
    real,
    model,
    modelOther,
    touches,
    matching,
    missingInModel,
    extraInModel,
    realNotInTouches,
    touchesNotInReal,
    touchesNotInModel,
    modelNotInTouches,
    ok: missingInModel.length === 0 && extraInModel.length === 0,
  };
}

/** Fidelity of step N: model of step N-1 vs N, against the real commit's functions when given. */
export function stepFidelity(
  steps: readonly StepInfo[],
  n: number,
  realFunctions: readonly string[] | null,
): FidelityReport {
  const cur = steps.find((s) => s.manifest.step === n);
  const prev = steps.find((s) => s.manifest.step === n - 1);
  if (!cur || !prev) throw new Error(`no step ${n} or ${n - 1} in the registry`);
  return fidelityReport(cur, realFunctions, modelChangeSummary(prev.dir, cur.dir));
}
