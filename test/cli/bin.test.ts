// The installed command: bin/tdx-difftest.mjs runs the CLI in its own process (tsx's
// loader registered in process), with the documented exit statuses; commands that need
// no step model do not load one.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needsSteps } from '../../src/cli/main.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tdx-difftest.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe('bin/tdx-difftest.mjs', () => {
  it('prints the version, and help (on stdout) with no arguments', () => {
    const v = run('--version');
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = run();
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^Usage: tdx-difftest/);
    expect(h.stdout).toContain('Exit status:');
  });

  it('exits 2 on bad input, and 128 under bisect --exit-code, each with one line', () => {
    const bad = run('replay', 'no-such-trace');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('tdx-difftest: no-such-trace: no such trace file\n');
    const abort = run('bisect', 'no-such-trace', '--exit-code', '--step', '1');
    expect(abort.status).toBe(128);
    expect(abort.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('loads step models only for commands that run them', () => {
    expect(needsSteps(['--help'])).toBe(false);
    expect(needsSteps(['check', '--help'])).toBe(false);
    expect(needsSteps(['explore', 'merge', 'a.json'])).toBe(false);
    expect(needsSteps(['explore', '--out', 'merge'])).toBe(true);
    expect(needsSteps(['-V'])).toBe(false);
    expect(needsSteps(['schema', 'trace'])).toBe(false);
    expect(needsSteps(['traces'])).toBe(false);
    expect(needsSteps([])).toBe(false);
    expect(needsSteps(['check'])).toBe(true);
    expect(needsSteps(['--text', 'check'])).toBe(true);
    expect(needsSteps(['steps'])).toBe(true);
  });
});
