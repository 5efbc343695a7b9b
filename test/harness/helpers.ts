// Test helpers for the harness: synthetic observations, synthetic steps wrapped around
// the real base model, and running the CLI with a chosen step registry.
import { Command, CommanderError } from 'commander';
import { vi } from 'vitest';
import { ctx as kctx, type Gen, type ObsEvent } from '../../src/kernel/context.ts';
import type { Kvm } from '../../src/kernel/kvm.ts';
import { InputError } from '../../src/cli/errors.ts';
import { registerCommands } from '../../src/cli/commands.ts';
import { main } from '../../src/cli/main.ts';
import type { Intent, StepManifest } from '../../src/step_types.ts';
import type { StepEntry, TraceOp } from '../../src/trace_types.ts';
import { emptyFinal, type FinalState, type Observation } from '../../harness/observation.ts';
import { STEPS, type StepModel } from '../../versions/index.ts';

export const BASE: StepModel = STEPS[0]!;

export function final(over: Partial<FinalState> = {}): FinalState {
  return { ...emptyFinal('completed'), vm: { bugged: false, dead: false, td: 'TD_STATE_RUNNABLE', hkid: true }, ...over };
}

export function obs(events: ObsEvent[], over: Partial<FinalState> = {}, step = 0): Observation {
  return { step, trace: 't', events, final: final(over) };
}

export const seamcall = (status: string, extra: Record<string, unknown> = {}): ObsEvent => ({
  kind: 'seamcall', name: 'TDH.MEM.PAGE.AUG', gpa: '0x1000', level: 1, page: 'P4', status, thread: 'vcpu0', ...extra,
});
export const result = (value: string, extra: Record<string, unknown> = {}): ObsEvent => ({ kind: 'result', name: 'fault', op: 'fault#0', value, thread: 'vcpu0', ...extra });
export const warn = (site: string, cond = 'x', silent = false): ObsEvent => ({ kind: 'warn', site, cond, silent, thread: 'vcpu0' });

export function manifest(step: number, intents: Intent[] = []): StepManifest {
  return { ...BASE.manifest, step, slug: `synthetic-${step}`, subject: `synthetic step ${step}`, commit: step === 0 ? null : `${String(step).padStart(2, '0')}0000000000`, intents };
}

/**
 * A step that runs the base model and then, after each operation, lets `tweak` record
 * extra events (through the kernel context) and replace the operation's result.
 */
export function tweakedStep(step: number, intents: Intent[], tweak: (op: TraceOp, value: string, kvm: Kvm) => string | void): StepModel {
  const base = BASE.entry;
  const entry: StepEntry = {
    hardware_setup: (kvm) => base.hardware_setup(kvm),
    load_mmu: (kvm) => base.load_mmu(kvm),
    *run(kvm: Kvm, op: TraceOp): Gen<string> {
      const v = yield* base.run(kvm, op);
      const r = tweak(op, v, kvm);
      return r === undefined ? v : r;
    },
  };
  return { manifest: manifest(step, intents), dir: BASE.dir, entry };
}

/** The base model under another step number (behaves exactly like step 0). */
export function sameStep(step: number, intents: Intent[] = []): StepModel {
  return { manifest: manifest(step, intents), dir: BASE.dir, entry: BASE.entry };
}

/** Records a WARN from inside a tweak (the replay's kernel context is active then). */
export function recordWarn(site: string, cond: string): void {
  kctx().record({ kind: 'warn', site, cond, silent: false });
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Captures what a function writes to process.stderr. */
export async function captureStderr<T>(fn: () => Promise<T>): Promise<{ value: T; err: string }> {
  let err = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation(((s: string | Uint8Array) => {
    err += typeof s === 'string' ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stderr.write);
  try {
    const value = await fn();
    return { value, err };
  } finally {
    spy.mockRestore();
  }
}

/** The real CLI entry point (real step registry). */
export async function runMain(argv: string[]): Promise<CliRun> {
  let out = '';
  const { value, err } = await captureStderr(() => main(argv, (s) => (out += s)));
  return { code: value, out, err };
}

/** The CLI over a chosen step registry, with main()'s handling of errors and exit codes. */
export async function runCli(argv: string[], steps: readonly StepModel[]): Promise<CliRun> {
  let out = '';
  let code = 0;
  const { err } = await captureStderr(async () => {
    const program = new Command().exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => process.stderr.write(s) });
    registerCommands(program, { steps, out: (s) => (out += s), setExit: (c) => (code = c) });
    try {
      await program.parseAsync(argv, { from: 'user' });
    } catch (e) {
      if (e instanceof CommanderError) code = 2;
      else if (e instanceof InputError) {
        process.stderr.write(`tdx-difftest: ${e.message}\n`);
        code = 2;
      } else throw e;
    }
  });
  return { code, out, err };
}
