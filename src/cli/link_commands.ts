// CLI commands that look at a real kernel tree or at the model diff of a step:
// `link` and `show-step`, plus the exit-code helper the `bisect` command uses
// under `git bisect run`.

import type { Command } from 'commander';
import { basename } from 'node:path';
import { InputError } from './errors.ts';
import { wrapText, pad2 } from '../../harness/report.ts';
import type { StepInfo } from '../step_types.ts';
import { modelDiff } from '../../harness/model_functions.ts';
import {
  commitFiles,
  formatFidelity,
  formatFidelitySummary,
  formatLink,
  functionsChangedByCommit,
  headStep,
  linkTree,
  openRepo,
  showCommit,
  stepFidelity,
  tryResolve,
  type FidelityReport,
  type TreeLink,
} from '../../harness/link/index.ts';

export interface LinkCommandContext {
  /** The step registry (versions/index.ts STEPS), steps 0..N in order. */
  steps: readonly StepInfo[];
  /** Receives complete chunks of output, each ending in "\n" (e.g. `s => process.stdout.write(s)`). */
  out: (s: string) => void;
}


function stepByNumber(steps: readonly StepInfo[], n: number): StepInfo | undefined {
  return steps.find((s) => s.manifest.step === n);
}

/** A step's intents and assumptions, as show-step prints them (80 columns). */
export function formatIntents(m: StepInfo['manifest']): string {
  const lines: string[] = [];
  lines.push(m.intents.length === 0 ? 'intents: none (no behaviour change is declared)' : `intents (${m.intents.length}):`);
  for (const i of m.intents) {
    lines.push(wrapText(`  ${i.id}: ${i.summary}`, 80, '      '));
    lines.push(wrapText(`    witnessed by: ${i.witnesses.join(', ')}`, 80, '      '));
  }
  lines.push(m.assumptions.length === 0 ? 'assumptions: none' : `assumptions (${m.assumptions.length}):`);
  for (const a of m.assumptions) {
    lines.push(wrapText(`  ${a.id}: ${a.point}`, 80, '      '));
    lines.push(wrapText(`    choice: ${a.choice}`, 80, '      '));
    lines.push(wrapText(`    because: ${a.reason} (trace ${a.trace})`, 80, '      '));
  }
  return lines.join('\n') + '\n';
}

/** Parses a step number for `show-step`: an integer N with both step N-1 and N in the registry. */
export function parseStepNumber(raw: string, steps: readonly StepInfo[]): number {
  const nums = steps.map((s) => s.manifest.step).filter((n) => n >= 1 && stepByNumber(steps, n - 1));
  const max = nums.length > 0 ? Math.max(...nums) : 0;
  const min = nums.length > 0 ? Math.min(...nums) : 1;
  const text = raw.trim();
  if (!/^\d+$/.test(text)) {
    throw new InputError(`step must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  const n = Number.parseInt(text, 10);
  if (!nums.includes(n)) throw new InputError(`step ${raw} is out of range: expected an integer from ${min} to ${max}`);
  return n;
}

interface LinkOptions {
  kernel?: string;
  range?: string;
  json?: boolean;
  fidelity?: boolean;
}

interface ShowStepOptions {
  kernel?: string;
  range?: string;
  json?: boolean;
  patch?: boolean;
}

function linkJson(link: TreeLink): Record<string, unknown> {
  const { commits: _commits, ...rest } = link;
  return rest;
}

/** Real commit of step `n` in a tree: by its mainline hash, else by linking `range` (or the default window). */
async function findStepCommit(
  kernel: string,
  steps: readonly StepInfo[],
  n: number,
  range: string | undefined,
): Promise<{ hash: string; how: string }> {
  const repo = await openRepo(kernel);
  const manifest = stepByNumber(steps, n)!.manifest;
  if (range === undefined && manifest.commit) {
    const hash = await tryResolve(repo, manifest.commit);
    if (hash) return { hash, how: 'mainline hash' };
  }
  const link = await linkTree(kernel, steps, range);
  const m = link.mapped.find((x) => x.step === n);
  if (!m) throw new InputError(`step ${n} has no commit in ${kernel} ${link.range}`);
  return { hash: m.hash, how: `${m.matchedBy} in ${link.range}` };
}

export function registerLinkCommands(program: Command, ctx: LinkCommandContext): void {
  program
    .command('link')
    .description("read a kernel git tree, map its commits to the steps, compare each real commit's functions with the model's")
    .option('--kernel <path>', 'kernel git tree')
    .option('--range <A..B>', 'commits to read (default: HEAD~200..HEAD, or all of HEAD when shorter)')
    .option('--fidelity', "also compare each mapped commit's changed functions with the step model")
    .option('--json', 'print one JSON object')
    .action(async (opts: LinkOptions) => {
      if (!opts.kernel) throw new InputError('link needs --kernel PATH (a kernel git tree)');
      const link = await linkTree(opts.kernel, ctx.steps, opts.range);
      const fidelity: FidelityReport[] = [];
      if (opts.fidelity) {
        for (const m of link.mapped) {
          if (!stepByNumber(ctx.steps, m.step - 1) || !stepByNumber(ctx.steps, m.step)) continue;
          const real = await functionsChangedByCommit(opts.kernel, m.hash);
          fidelity.push(stepFidelity(ctx.steps, m.step, real.functions));
        }
      }
      const total = ctx.steps.filter((s) => s.manifest.step >= 1).length;
      if (opts.json) {
        ctx.out(JSON.stringify({ ...linkJson(link), ...(opts.fidelity ? { fidelity } : {}) }, null, 2) + '\n');
        return;
      }
      let text = formatLink(link, total);
      if (opts.fidelity) text += '\n' + formatFidelitySummary(fidelity);
      ctx.out(text);
    });

  program
    .command('show-step')
    .description('the model diff between step N-1 and N, the real commit beside it, and the fidelity report')
    .argument('<N>', 'step number')
    .option('--kernel <path>', 'kernel git tree holding the real commit')
    .option('--range <A..B>', 'where to look for the commit (default: its mainline hash, else HEAD~200..HEAD)')
    .option('--json', 'print one JSON object')
    .option('--patch', 'print only the model diff, exactly (long code lines unwrapped)')
    .action(async (rawN: string, opts: ShowStepOptions) => {
      const n = parseStepNumber(rawN, ctx.steps);
      if (opts.range !== undefined && !opts.kernel) throw new InputError('--range needs --kernel PATH');
      if (opts.patch && (opts.json || opts.kernel)) throw new InputError('--patch prints the model diff alone: not with --json or --kernel');
      const cur = stepByNumber(ctx.steps, n)!;
      const prev = stepByNumber(ctx.steps, n - 1)!;
      const diff = modelDiff(prev.dir, cur.dir);
      if (opts.patch) {
        ctx.out(diff);
        return;
      }
      let real: { hash: string; how: string; show: string; functions: string[] } | null = null;
      if (opts.kernel) {
        const found = await findStepCommit(opts.kernel, ctx.steps, n, opts.range);
        const repo = await openRepo(opts.kernel);
        const changes = await functionsChangedByCommit(opts.kernel, found.hash);
        const files = (await commitFiles(repo, found.hash)).filter((f) => f.endsWith('.c') || f.endsWith('.h'));
        const show = await showCommit(repo, found.hash, files);
        real = { hash: found.hash, how: found.how, show, functions: changes.functions };
      }
      const fidelity = stepFidelity(ctx.steps, n, real ? real.functions : null);
      if (opts.json) {
        ctx.out(
          JSON.stringify(
            {
              step: n,
              subject: cur.manifest.subject,
              from: prev.dir,
              to: cur.dir,
              modelDiff: diff,
              real: real ? { kernel: opts.kernel, hash: real.hash, foundBy: real.how, show: real.show, functions: real.functions } : null,
              fidelity,
              intents: cur.manifest.intents.map((i) => ({ id: i.id, summary: i.summary, witnesses: i.witnesses })),
              assumptions: cur.manifest.assumptions,
            },
            null,
            2,
          ) + '\n',
        );
        return;
      }
      let text = `step ${pad2(n)}: ${cur.manifest.subject}\n`;
      text += `model diff: ${basename(prev.dir)} -> ${basename(cur.dir)}\n\n`;
      text += diff.length > 0 ? diff : '(the model files do not differ)\n';
      if (real) {
        text += `\nreal commit ${real.hash.slice(0, 12)} in ${opts.kernel} (found by ${real.how}):\n\n`;
        text += real.show.endsWith('\n') ? real.show : real.show + '\n';
      }
      text += '\n' + formatFidelity(fidelity);
      text += '\n' + formatIntents(cur.manifest);
      ctx.out(text);
    });
}

/**
 * Exit status for `git bisect run` in a kernel tree: maps HEAD to a step
 * (HEAD itself or the newest series commit it contains) and returns 0 when
 * that step behaves like the base, 1 when it does not, 125 (skip) when HEAD
 * cannot be mapped. Throws InputError when kernelPath is no git repository.
 */
export async function kernelBisectExitCode(opts: {
  kernelPath: string;
  steps: readonly StepInfo[];
  behavesLikeBase: (step: number) => Promise<boolean> | boolean;
}): Promise<0 | 1 | 125> {
  const mapping = await headStep(opts.kernelPath, opts.steps);
  if (!mapping) return 125;
  return (await opts.behavesLikeBase(mapping.step)) ? 0 : 1;
}
