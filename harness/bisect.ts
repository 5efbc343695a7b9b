// Bisecting a behaviour: at which steps does a trace's observation change, and does
// the step mean to change it? Plus the exit status `git bisect run` wants.
import type { StepModel } from '../versions/index.ts';
import { compare, type LayerChoice } from './compare.ts';
import { attributeRange, explainRange, type ExplainedDifference, type Explanation, type StepExplanation } from './intents.ts';
import type { Observation } from './observation.ts';
import { safeReplay } from './check.ts';
import type { Trace } from './trace.ts';

export interface BisectChange {
  step: number;
  /** The step it is compared with (the one before it). */
  base: number;
  subject: string;
  verdict: 'intended' | 'unexpected';
  /** Intents of the step that explain its differences. */
  intents: string[];
  differences: ExplainedDifference[];
}

function sorted(steps: readonly StepModel[]): StepModel[] {
  return [...steps].sort((a, b) => a.manifest.step - b.manifest.step);
}

/** Every step whose observation differs (in `layer`) from the step before it, first one first. */
export function bisectObservations(steps: readonly StepModel[], obsByStep: ReadonlyMap<number, Observation>, layer: LayerChoice = 'both'): BisectChange[] {
  const s = sorted(steps);
  const out: BisectChange[] = [];
  for (let i = 1; i < s.length; i++) {
    const base = s[i - 1]!.manifest.step;
    const step = s[i]!.manifest.step;
    const a = obsByStep.get(base);
    const b = obsByStep.get(step);
    if (!a || !b) continue;
    const diff = compare(a, b, { layer }).differences;
    if (diff.length === 0) continue;
    const ex = explainRange(steps, base, step, diff, layer);
    out.push({
      step,
      base,
      subject: s[i]!.manifest.subject,
      verdict: ex.verdict === 'intended' ? 'intended' : 'unexpected',
      intents: ex.intents,
      differences: ex.differences,
    });
  }
  return out;
}

/** Replays the trace on every step and bisects it. */
export function bisectTrace(trace: Trace, steps: readonly StepModel[], layer: LayerChoice = 'both'): BisectChange[] {
  const obs = new Map<number, Observation>();
  for (const s of steps) obs.set(s.manifest.step, safeReplay(trace, s).obs);
  return bisectObservations(steps, obs, layer);
}

/** Parses a step argument; null when it is not the number of a registered step. */
export function findStep(steps: readonly StepModel[], raw: string | number): StepModel | null {
  const text = String(raw).trim();
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return steps.find((s) => s.manifest.step === n) ?? null;
}

/** Does step `n` behave like the base (the first step) on this trace, in `layer`? */
export function behavesLikeBase(trace: Trace, steps: readonly StepModel[], n: number, layer: LayerChoice = 'both'): boolean {
  const base = sorted(steps)[0];
  const step = steps.find((s) => s.manifest.step === n);
  if (!base || !step) throw new Error(`step ${n} is not registered`);
  if (step === base) return true;
  return compare(safeReplay(trace, base).obs, safeReplay(trace, step).obs, { layer }).differences.length === 0;
}

/**
 * `git bisect run` status for "does step N still behave like the base on this trace":
 * 0 same (good), 1 different (bad), 125 when N is not a step (skip).
 */
export function bisectExitCode(trace: Trace, steps: readonly StepModel[], raw: string | number, layer: LayerChoice = 'both'): 0 | 1 | 125 {
  const step = findStep(steps, raw);
  if (!step) return 125;
  return behavesLikeBase(trace, steps, step.manifest.step, layer) ? 0 : 1;
}

/**
 * Step `a` → step `b` of one trace, each difference attributed to the step that made it
 * (replaying every registered step in between) and explained only by that step's
 * intents. Neighbouring steps are the plain comparison.
 */
export function explainTraceRange(trace: Trace, steps: readonly StepModel[], a: number, b: number, layer: LayerChoice = 'both'): { a: Observation; b: Observation; approximate: boolean; explanation: Explanation } {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  const path = sorted(steps).filter((s) => s.manifest.step >= lo && s.manifest.step <= hi);
  if (a > b) path.reverse();
  const obs = path.map((s) => safeReplay(trace, s).obs);
  const cmp = compare(obs[0]!, obs[obs.length - 1]!, { layer });
  if (path.length <= 2) {
    const ex = explainRange(steps, a, b, cmp.differences, layer);
    return { a: obs[0]!, b: obs[obs.length - 1]!, approximate: cmp.approximate, explanation: { ...ex, differences: ex.differences.map((d) => ({ ...d, madeBy: Math.max(a, b) })) } };
  }
  const perStep: StepExplanation[] = [];
  for (let i = 1; i < path.length; i++) {
    const from = path[i - 1]!.manifest.step;
    const to = path[i]!.manifest.step;
    const ex = explainRange(steps, from, to, compare(obs[i - 1]!, obs[i]!, { layer }).differences, layer);
    // the step that made a difference is the later one of the pair, whichever way we walk
    perStep.push({ step: Math.max(from, to), differences: ex.differences });
  }
  return { a: obs[0]!, b: obs[obs.length - 1]!, approximate: cmp.approximate, explanation: attributeRange(cmp.differences, perStep) };
}
