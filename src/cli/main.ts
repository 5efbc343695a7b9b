// tdx-difftest command line. Bad input → one line on stderr and exit status 2.
import { Command, CommanderError } from 'commander';
import { InputError } from './errors.ts';
import { ManifestError } from '../manifest_rules.ts';
import { registerCommands } from './commands.ts';

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const program = new Command();
  program
    .name('tdx-difftest')
    .description('Differential tester for the KVM "TDX MMU refactors" series (16 step models)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s), writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false);
  let code = 0;
  // the step registry is loaded here, not imported: a step manifest the loader rejects is
  // bad input (file, path, what is missing), not a crash
  let steps;
  try {
    steps = (await import('../../versions/index.ts')).STEPS;
  } catch (e) {
    if (e instanceof ManifestError) {
      process.stderr.write(`tdx-difftest: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  registerCommands(program, { steps, out, setExit: (c) => (code = c), realFolders: true });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2; // commander already printed one line
    }
    if (e instanceof InputError) {
      process.stderr.write(`tdx-difftest: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  return code;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  // exitCode, not exit(): a pipe may still hold output that must be written first
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`tdx-difftest: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 3;
    },
  );
}
