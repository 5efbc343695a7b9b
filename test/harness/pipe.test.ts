// Output through a pipe is complete: main() ends with process.exit(), which would drop
// what the pipe has not taken yet (the commands wait for stdout to drain).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STEPS } from '../../versions/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe.skipIf(STEPS.length < 2)('check --json through a pipe', () => {
  it('delivers the whole JSON object, far beyond one pipe buffer', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', 'remove-mirror-table-shared', '--json'], {
      cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024,
    });
    expect(r.stdout.length).toBeGreaterThan(64 * 1024);
    const j = JSON.parse(r.stdout) as { results: unknown[] };
    expect(j.results).toHaveLength(STEPS.length - 1);
  }, 60_000);
});
