// The commands: steps, replay (and the harness's check / diff / bisect / matrix).
import type { Command } from 'commander';
import { InputError } from './errors.ts';
import type { StepModel } from '../../versions/index.ts';
import { replay } from '../../harness/replay.ts';
import { loadCorpus, resolveTrace } from '../../harness/trace.ts';
import { formatObservationText, toJson, wrapText } from '../../harness/report.ts';
import { registerHarnessCommands } from './harness_commands.ts';
import { registerLinkCommands } from './link_commands.ts';
import { registerExploreCommand } from './explore_command.ts';

export interface CliContext {
  steps: readonly StepModel[];
  out: (s: string) => void;
  setExit: (code: number) => void;
  /** The steps are the real folders under versions/ (worker threads can import them). */
  realFolders?: boolean;
}

export function parseStep(arg: string, steps: readonly StepModel[]): number {
  if (!/^\d+$/.test(arg)) throw new InputError(`step must be a whole number from 0 to ${steps.length - 1}, got "${arg}"`);
  const n = Number(arg);
  if (n >= steps.length) throw new InputError(`step ${n} does not exist (steps are 0 to ${steps.length - 1})`);
  return n;
}

/**
 * The yield points of a run: entry i of a pinned schedule picks the thread that runs from
 * yield point i on. "0:lock" is thread 0 about to take a lock.
 */
function formatYields(trace: { threads: { name: string }[] }, log: readonly string[]): string {
  const names = trace.threads.map((t, i) => `${i}=${t.name}`).join(', ');
  const items = log.map((y, i) => `${i}:${y}`);
  return `  yield points (${log.length}; threads ${names}):\n` + wrapText('    ' + items.join(' '), 80, '    ') + '\n';
}

export function registerCommands(program: Command, ctx: CliContext): void {
  program
    .command('steps')
    .description('list the steps: number, folder, subject, mainline commit')
    .option('--json', 'one JSON array')
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        ctx.out(toJson(ctx.steps.map((s) => ({ step: s.manifest.step, folder: s.dir.split('/').pop(), subject: s.manifest.subject, commit: s.manifest.commit }))) + '\n');
        return;
      }
      for (const s of ctx.steps) {
        const m = s.manifest;
        ctx.out(`${String(m.step).padStart(2, '0')}  ${(m.commit ?? '-').padEnd(12)}  ${m.subject}\n`);
      }
    });

  program
    .command('traces')
    .description('list the built-in traces with their descriptions')
    .option('--json', 'one JSON array')
    .action((opts: { json?: boolean }) => {
      const traces = loadCorpus();
      if (opts.json) {
        ctx.out(toJson(traces.map((t) => ({ name: t.name, description: t.description, threads: t.threads.length, pinned: t.schedule !== undefined }))) + '\n');
        return;
      }
      for (const t of traces) ctx.out(wrapText(`${t.name}${t.schedule !== undefined ? ' (pinned schedule)' : ''}: ${t.description}`, 80, '    ') + '\n');
    });

  program
    .command('replay <trace>')
    .description('replay one trace on one step (default: every step) and print the observation')
    .option('--step <n>', 'only this step')
    .option('--json', 'one JSON object per step, one per line')
    .option('--yields', 'also list every yield point, numbered: the choices a pinned "schedule" makes')
    .action((traceArg: string, opts: { step?: string; json?: boolean; yields?: boolean }) => {
      const trace = resolveTrace(traceArg);
      const which = opts.step !== undefined ? [ctx.steps[parseStep(opts.step, ctx.steps)]!] : ctx.steps;
      for (const s of which) {
        const yieldLog: string[] | undefined = opts.yields ? [] : undefined;
        const obs = replay(trace, s, yieldLog ? { yieldLog } : {});
        if (opts.json) ctx.out(toJson(yieldLog ? { ...obs, yields: yieldLog } : obs) + '\n');
        else {
          ctx.out(formatObservationText(obs));
          if (yieldLog) ctx.out(formatYields(trace, yieldLog));
        }
      }
    });

  registerHarnessCommands(program, ctx);
  registerLinkCommands(program, { steps: ctx.steps, out: ctx.out });
  registerExploreCommand(program, ctx);
}
