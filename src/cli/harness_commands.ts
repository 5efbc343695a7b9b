// check / diff / bisect / matrix: registered by the differential harness.
import type { Command } from 'commander';
import type { CliContext } from './commands.ts';

export function registerHarnessCommands(_program: Command, _ctx: CliContext): void {}
