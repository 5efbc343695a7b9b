// A real `git bisect run` session over a toy series tree, with the project's own
// kernelBisectExitCode deciding good / bad / skip through a small runner script.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTemp, makeKernelRepo, makeSteps, tempDir } from './fixtures.ts';

afterAll(cleanupTemp);

const require = createRequire(import.meta.url);
const tsxCli = require.resolve('tsx/cli');
const linkCommands = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'cli', 'link_commands.ts')).href;
const mainTs = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function writeRunner(dir: string): string {
  const runner = join(dir, 'bisect-runner.mts');
  writeFileSync(
    runner,
    [
      "import { appendFileSync, readFileSync } from 'node:fs';",
      `import { kernelBisectExitCode } from ${JSON.stringify(linkCommands)};`,
      'const [stepsFile, firstChanged, logFile] = process.argv.slice(2);',
      "const steps = JSON.parse(readFileSync(stepsFile, 'utf8'));",
      '// stub behaviour: steps before `firstChanged` behave like the base',
      'const code = await kernelBisectExitCode({',
      '  kernelPath: process.cwd(),',
      '  steps,',
      '  behavesLikeBase: (step) => step < Number(firstChanged),',
      '});',
      'appendFileSync(logFile, `${code}\\n`);',
      'process.exit(code);',
      '',
    ].join('\n'),
  );
  return runner;
}

/** A bisect workspace: the steps as JSON, an empty log of exit codes, the runner script; and the run command. */
function bisectWorkspace(name: string, firstChanged: number): { logFile: string; run: string[] } {
  const work = tempDir(name);
  const stepsFile = join(work, 'steps.json');
  writeFileSync(stepsFile, JSON.stringify(makeSteps()));
  const logFile = join(work, 'codes.log');
  writeFileSync(logFile, '');
  const runner = writeRunner(work);
  return { logFile, run: ['bisect', 'run', process.execPath, tsxCli, runner, stepsFile, String(firstChanged), logFile] };
}

describe('git bisect run with kernelBisectExitCode', () => {
  it('ends on the commit of the first step that behaves differently', async () => {
    const K = 9;
    const repo = await makeKernelRepo({
      extras: [
        { after: 0, subject: 'fixture: unrelated commit before the series' },
        { after: 7, subject: 'KVM: x86: Unrelated fixture cleanup' },
      ],
    });
    const { logFile, run } = bisectWorkspace('bisect', K);

    await repo.git.raw(['bisect', 'start', repo.head, repo.base]);
    const out = await repo.git.raw(run);
    const bad = (await repo.git.raw(['rev-parse', 'refs/bisect/bad'])).trim();
    const bisectLog = await repo.git.raw(['bisect', 'log']);
    await repo.git.raw(['bisect', 'reset']);

    expect(bad).toBe(repo.hashes[K]);
    expect(out).toContain(`${repo.hashes[K]} is the first bad commit`);
    expect(bisectLog).toContain(`# first bad commit: [${repo.hashes[K]}]`);
    const codes = readFileSync(logFile, 'utf8').trim().split('\n');
    expect(codes.length).toBeGreaterThanOrEqual(3);
    expect(codes).toContain('0');
    expect(codes).toContain('1');
    expect(codes.every((c) => c === '0' || c === '1' || c === '125')).toBe(true);
  }, 120_000);

  it('with --no-checkout, follows BISECT_HEAD (HEAD stays put) and still ends on the right commit', async () => {
    const K = 6;
    const repo = await makeKernelRepo({});
    const { run } = bisectWorkspace('bisect-nocheckout', K);
    const headBefore = (await repo.git.raw(['rev-parse', 'HEAD'])).trim();

    await repo.git.raw(['bisect', 'start', '--no-checkout', repo.head, repo.base]);
    const out = await repo.git.raw(run);
    const headDuring = (await repo.git.raw(['rev-parse', 'HEAD'])).trim();
    await repo.git.raw(['bisect', 'reset']);

    expect(headDuring).toBe(headBefore);
    expect(out).toContain(`${repo.hashes[K]} is the first bad commit`);
  }, 120_000);

  it('aborts (exit 128) on a mistyped trace instead of marking a commit bad', async () => {
    const repo = await makeKernelRepo({});
    await repo.git.raw(['bisect', 'start', repo.head, repo.base]);
    let failed: unknown = null;
    try {
      await repo.git.raw(['bisect', 'run', process.execPath, tsxCli, mainTs, 'bisect', 'no-such-trace', '--kernel', '.', '--exit-code']);
    } catch (e) {
      failed = e;
    }
    const bisectLog = await repo.git.raw(['bisect', 'log']);
    await repo.git.raw(['bisect', 'reset']);
    expect(String(failed)).toMatch(/exit code 128/);
    // nothing beyond the two commits given at the start was judged
    expect(bisectLog.split('\n').filter((l) => /^git bisect (good|bad|skip)/.test(l))).toEqual([]);
  }, 120_000);
});
