// tdx-difftest command line. Bad input → one line on stderr and exit status 2 (128 for
// `bisect --exit-code`, so that `git bisect run` aborts instead of marking a commit bad).
import { Command, CommanderError } from 'commander';
import { InputError } from './errors.ts';
import { ManifestError } from '../manifest_rules.ts';
import { registerCommands } from './commands.ts';
import { fitText } from '../../harness/report.ts';
import { packageVersion } from './version.ts';

/**
 * The exit statuses every command keeps to. `git bisect run` reads 1-127 (but 125) as
 * "bad", so under `bisect --exit-code` a failure of the tool itself must not look like one.
 */
export const EXIT_STATUS_HELP = `
Exit status:
  0    nothing unexpected (check, explore, mutate);
       bisect --exit-code: the step behaves like step 0
  1    something unexpected, a coverage gap, a masked mutant, a race;
       bisect --exit-code: the step differs from step 0
  2    bad input: one line on stderr (file, JSON path, what was expected)
  3    an internal error of the tool
  125  bisect --exit-code: the commit maps to no step (git bisect skips it)
  128  bisect --exit-code: bad input or an internal error (git bisect aborts)
  141  the reader of the output went away (\`… | head\`): stopped quietly
`;

/** `bisect … --exit-code`: a failure of the tool must abort git bisect run, not mark a commit. */
export function isBisectRun(argv: readonly string[]): boolean {
  return argv.includes('bisect') && argv.includes('--exit-code');
}

export const BISECT_ABORT = 128;
/** 128 + SIGPIPE: what the shell reports for a writer whose reader went away. */
const SIGPIPE_EXIT = 141;


/** Commands that never touch a step model. */
const WITHOUT_STEPS = new Set(['help', 'traces', 'schema']);

/** Whether the command line runs step models (help and version never do). */
export function needsSteps(argv: readonly string[]): boolean {
  if (argv.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-V')) return false;
  const at = argv.findIndex((a) => !a.startsWith('-'));
  const command = argv[at];
  // explore merge (the word right after explore) only reads the shards' JSON
  if (command === 'explore' && argv[at + 1] === 'merge') return false;
  return command !== undefined && !WITHOUT_STEPS.has(command);
}

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const failure = (code: 2 | 3): number => (isBisectRun(argv) ? BISECT_ABORT : code);
  const program = new Command();
  program
    .name('tdx-difftest')
    .description('Differential tester for the KVM "TDX MMU refactors" series (16 step models)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s), writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false)
    .addHelpText('after', EXIT_STATUS_HELP)
    .version(packageVersion(), '-V, --version', 'print the version');
  let code = 0;
  // the step registry is loaded here, not imported: a step manifest the loader rejects is
  // bad input (file, path, what is missing), not a crash; and only for a command that
  // runs steps (help, --version, traces and schema start faster without 16 models)
  let steps: Awaited<typeof import('../../versions/index.ts')>['STEPS'] = [];
  try {
    if (needsSteps(argv)) steps = (await import('../../versions/index.ts')).STEPS;
  } catch (e) {
    if (e instanceof ManifestError) {
      process.stderr.write(`tdx-difftest: ${e.message}\n`);
      return failure(2);
    }
    throw e;
  }
  // every command's plain text fits 80 columns (one renderer: harness/report.ts fitText);
  // machine-readable output is left alone
  const machine = argv.some((a) => a === '--json' || a === '--ktap' || a === '--patch') || argv.find((a) => !a.startsWith('-')) === 'schema';
  const write = machine ? out : (s: string) => out(fitText(s));
  registerCommands(program, { steps, out: write, setExit: (c) => (code = c), realFolders: true });
  if (argv.length === 0) {
    // no command: the help, on stdout, as a question answered
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return failure(2); // commander already printed one line
    }
    if (e instanceof InputError) {
      process.stderr.write(`tdx-difftest: ${e.message}\n`);
      return failure(2);
    }
    process.stderr.write(`tdx-difftest: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    return failure(3);
  }
  return code;
}

/** The process's own run: the command line, then the exit status (the bin and `tsx main.ts` both come here). */
export function runProcess(argv: string[]): void {
  // the reader went away (`… | head`): stop quietly, as a C tool killed by SIGPIPE would
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(SIGPIPE_EXIT);
    throw e;
  });
  // exitCode, not exit(): a pipe may still hold output that must be written first
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`tdx-difftest: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = isBisectRun(argv) ? BISECT_ABORT : 3;
    },
  );
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) runProcess(process.argv.slice(2));
