// Reading a kernel git tree with simple-git. Every user-facing failure (not a
// repository, unknown revision, malformed or empty range) is an InputError.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { InputError } from '../../src/cli/errors.ts';

export interface KernelCommit {
  /** Full 40-hex hash. */
  hash: string;
  subject: string;
  /** Paths the commit changed (relative to the tree's top). */
  files: string[];
}

export interface KernelRepo {
  git: SimpleGit;
  /** The path as given by the user, for messages. */
  path: string;
}

/** Opens a git work tree or repository; InputError when `kernelPath` is none. */
export async function openRepo(kernelPath: string): Promise<KernelRepo> {
  const abs = resolve(kernelPath);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new InputError(`not a git repository: ${kernelPath} (no such directory)`);
  }
  const git = simpleGit({
    baseDir: abs,
    // Any non-zero exit is a failure (simple-git's default needs stderr output too,
    // which `rev-parse --quiet` and `merge-base --is-ancestor` do not print).
    errors: (error, result) => {
      if (error) return error;
      if (result.exitCode !== 0) {
        return Buffer.concat([...result.stdOut, ...result.stdErr, Buffer.from(`exit code ${result.exitCode}`)]);
      }
      return undefined;
    },
  });
  let ok = false;
  try {
    ok = await git.checkIsRepo();
  } catch {
    ok = false;
  }
  if (!ok) throw new InputError(`not a git repository: ${kernelPath}`);
  return { git, path: kernelPath };
}

function checkRevSyntax(rev: string, repo: KernelRepo): void {
  if (rev === '' || rev.startsWith('-') || /[\s\0]/.test(rev)) {
    throw new InputError(`unknown revision: "${rev}" in ${repo.path}`);
  }
}

/** Full hash of a commit-ish, or null when it does not name a commit. */
export async function tryResolve(repo: KernelRepo, rev: string): Promise<string | null> {
  if (rev === '' || rev.startsWith('-') || /[\s\0]/.test(rev)) return null;
  try {
    const out = await repo.git.raw(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    const hash = out.trim();
    return /^[0-9a-f]{40,64}$/.test(hash) ? hash : null;
  } catch {
    return null;
  }
}

/** Full hash of a commit-ish; InputError "unknown revision" otherwise. */
export async function resolveRev(repo: KernelRepo, rev: string): Promise<string> {
  checkRevSyntax(rev, repo);
  const hash = await tryResolve(repo, rev);
  if (!hash) throw new InputError(`unknown revision: ${rev} in ${repo.path}`);
  return hash;
}

/** Splits "A..B" ("A.." means A..HEAD). InputError for anything else. */
export function parseRange(range: string): { from: string; to: string } {
  const r = range.trim();
  const at = r.indexOf('..');
  if (at <= 0 || r.includes('...')) {
    throw new InputError(`bad range "${range}": expected A..B (two revisions joined by "..")`);
  }
  const from = r.slice(0, at);
  const to = r.slice(at + 2) || 'HEAD';
  if (to.includes('..')) throw new InputError(`bad range "${range}": expected A..B (two revisions joined by "..")`);
  return { from, to };
}

const REC = '\x1e';
const FLD = '\x1f';

/** Runs `git log --name-only` with a parsable format; commits in the order git prints them. */
async function logCommits(repo: KernelRepo, revArgs: string[]): Promise<KernelCommit[]> {
  const out = await repo.git.raw([
    'log',
    '--no-merges',
    '--topo-order',
    '--no-renames',
    '--name-only',
    '--no-color',
    `--format=${'%x1e'}%H${'%x1f'}%s`,
    ...revArgs,
  ]);
  const commits: KernelCommit[] = [];
  for (const chunk of out.split(REC)) {
    if (!chunk.trim()) continue;
    const lines = chunk.split('\n');
    const [hash, subject = ''] = lines[0]!.split(FLD);
    if (!hash) continue;
    const files = lines.slice(1).map((l) => l.trim()).filter((l) => l.length > 0);
    commits.push({ hash: hash.trim(), subject, files });
  }
  return commits;
}

/** The commits of `A..B`, oldest first (like `git log --reverse A..B`, merges left out). */
export async function readRange(kernelPath: string, range: string): Promise<KernelCommit[]> {
  const repo = await openRepo(kernelPath);
  return readRangeIn(repo, range);
}

export async function readRangeIn(repo: KernelRepo, range: string): Promise<KernelCommit[]> {
  const { from, to } = parseRange(range);
  const a = await resolveRev(repo, from);
  const b = await resolveRev(repo, to);
  const commits = await logCommits(repo, ['--reverse', `${a}..${b}`]);
  if (commits.length === 0) throw new InputError(`empty range: ${range} has no commits in ${repo.path}`);
  return commits;
}

/** Commits of the default window: `HEAD~<depth>..HEAD`, or all of HEAD's history when it is shorter. */
export async function readDefaultWindow(
  repo: KernelRepo,
  depth = 200,
): Promise<{ range: string; commits: KernelCommit[] }> {
  await resolveRev(repo, 'HEAD');
  const base = `HEAD~${depth}`;
  if (await tryResolve(repo, base)) {
    const range = `${base}..HEAD`;
    return { range, commits: await readRangeIn(repo, range) };
  }
  const commits = await logCommits(repo, ['--reverse', 'HEAD']);
  if (commits.length === 0) throw new InputError(`empty range: HEAD has no commits in ${repo.path}`);
  return { range: 'HEAD (whole history)', commits };
}

/** Newest-first walk from `rev` (at most `max` commits, merges left out), hash and subject only. */
export async function walkFrom(repo: KernelRepo, rev: string, max: number): Promise<Array<{ hash: string; subject: string }>> {
  const hash = await resolveRev(repo, rev);
  const out = await repo.git.raw(['log', '--no-merges', '--topo-order', '--no-color', `--max-count=${max}`, `--format=%H${'%x1f'}%s`, hash]);
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [h, s = ''] = l.split(FLD);
      return { hash: h!, subject: s };
    });
}

/** True when `ancestor` is reachable from `descendant`. */
export async function isAncestor(repo: KernelRepo, ancestor: string, descendant: string): Promise<boolean> {
  try {
    await repo.git.raw(['merge-base', '--is-ancestor', ancestor, descendant]);
    return true;
  } catch {
    return false;
  }
}

/** Files a commit changed (against its first parent; everything for a root commit). */
export async function commitFiles(repo: KernelRepo, hash: string): Promise<string[]> {
  const out = await repo.git.raw(['diff-tree', '--no-commit-id', '--name-only', '-r', '--no-renames', '--root', hash]);
  return out.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/** First parent of a commit, or null for a root commit. */
export async function firstParent(repo: KernelRepo, hash: string): Promise<string | null> {
  return tryResolve(repo, `${hash}^1`);
}

/** Contents of `path` at `rev`, or null when the file does not exist there. */
export async function fileAt(repo: KernelRepo, rev: string, path: string): Promise<string | null> {
  try {
    return await repo.git.raw(['cat-file', '-p', `${rev}:${path}`]);
  } catch {
    return null;
  }
}

/** `git show` of a commit, limited to some files when given. */
export async function showCommit(repo: KernelRepo, hash: string, files?: readonly string[]): Promise<string> {
  const args = ['show', '--no-color', '--no-renames', '--format=commit %H%nAuthor: %an <%ae>%nDate:   %ad%n%n    %s', hash];
  if (files && files.length > 0) args.push('--', ...files);
  return repo.git.raw(args);
}
