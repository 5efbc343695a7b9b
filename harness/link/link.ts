// Mapping the commits of a kernel tree to the steps of the series.

import { InputError } from '../../src/cli/errors.ts';
import type { StepInfo, StepManifest } from '../../src/step_types.ts';
import {
  isAncestor,
  openRepo,
  readDefaultWindow,
  readRangeIn,
  resolveRev,
  tryResolve,
  walkFrom,
  type KernelCommit,
} from './git.ts';
import { normaliseSubject } from './subject.ts';

/** How a commit was recognised: its hash starts with manifest.commit, or by subject (merged or v2). */
export type MatchKind = 'hash' | 'subject' | 'v2-subject';

export interface StepMatch {
  step: number;
  matchedBy: MatchKind;
}

export interface MappedStep {
  step: number;
  hash: string;
  subject: string;
  matchedBy: MatchKind;
  /** Position of the commit in the list given to linkSteps (0 = oldest). */
  index: number;
}

export interface ExtraCommit {
  hash: string;
  subject: string;
  index: number;
  /** Set when the commit matches a step that an earlier commit already took. */
  duplicateOf?: number;
}

export interface OrderDifference {
  step: number;
  hash: string;
  subject: string;
  index: number;
  /** Step of the mapped commit just before it in the tree (null when it is the first). */
  afterStep: number | null;
}

export interface LinkResult {
  commitCount: number;
  /** One entry per mapped step, in step order. */
  mapped: MappedStep[];
  /** Steps 1..N with no commit. */
  missingSteps: number[];
  /** Commits matching no step (or a step already mapped), oldest first. */
  extraCommits: ExtraCommit[];
  /**
   * Mapped commits out of step order: the fewest commits whose removal leaves the
   * rest in increasing step order (a longest increasing subsequence is kept).
   */
  orderDifferences: OrderDifference[];
}

/** The patch steps (manifest.step >= 1), in step order. */
export function seriesSteps(steps: readonly StepInfo[]): StepManifest[] {
  return steps.map((s) => s.manifest).filter((m) => m.step >= 1).sort((a, b) => a.step - b.step);
}

/** A matcher of single commits against the steps' hashes and subjects. */
export function makeMatcher(steps: readonly StepInfo[]): (c: { hash: string; subject: string }) => StepMatch | null {
  const bySubject = new Map<string, StepMatch>();
  const hashes: Array<{ prefix: string; step: number }> = [];
  for (const m of seriesSteps(steps)) {
    const main = normaliseSubject(m.subject);
    if (main && !bySubject.has(main)) bySubject.set(main, { step: m.step, matchedBy: 'subject' });
    if (m.v2Subject) {
      const v2 = normaliseSubject(m.v2Subject);
      if (v2 && !bySubject.has(v2)) bySubject.set(v2, { step: m.step, matchedBy: 'v2-subject' });
    }
    if (m.commit && /^[0-9a-f]{7,64}$/i.test(m.commit)) hashes.push({ prefix: m.commit.toLowerCase(), step: m.step });
  }
  return (c) => {
    const h = c.hash.toLowerCase();
    const byHash = hashes.find((x) => h.startsWith(x.prefix));
    if (byHash) return { step: byHash.step, matchedBy: 'hash' };
    return bySubject.get(normaliseSubject(c.subject)) ?? null;
  };
}

/** Indices (into `seq`) of one longest strictly increasing subsequence. */
function longestIncreasing(seq: readonly number[]): Set<number> {
  const tails: number[] = []; // index into seq of the smallest tail of each length
  const prev: number[] = new Array(seq.length).fill(-1);
  for (let i = 0; i < seq.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]!]! < seq[i]!) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1]!;
    tails[lo] = i;
  }
  const keep = new Set<number>();
  let k = tails.length > 0 ? tails[tails.length - 1]! : -1;
  while (k >= 0) {
    keep.add(k);
    k = prev[k]!;
  }
  return keep;
}

/** Maps commits (oldest first) to steps by hash prefix or normalised subject. Pure. */
export function linkSteps(steps: readonly StepInfo[], commits: readonly { hash: string; subject: string }[]): LinkResult {
  const match = makeMatcher(steps);
  const byStep = new Map<number, MappedStep>();
  const extraCommits: ExtraCommit[] = [];
  const inOrder: MappedStep[] = [];
  commits.forEach((c, index) => {
    const m = match(c);
    if (!m) {
      extraCommits.push({ hash: c.hash, subject: c.subject, index });
      return;
    }
    if (byStep.has(m.step)) {
      extraCommits.push({ hash: c.hash, subject: c.subject, index, duplicateOf: m.step });
      return;
    }
    const entry: MappedStep = { step: m.step, hash: c.hash, subject: c.subject, matchedBy: m.matchedBy, index };
    byStep.set(m.step, entry);
    inOrder.push(entry);
  });
  const keep = longestIncreasing(inOrder.map((e) => e.step));
  const orderDifferences: OrderDifference[] = [];
  inOrder.forEach((e, i) => {
    if (keep.has(i)) return;
    orderDifferences.push({
      step: e.step,
      hash: e.hash,
      subject: e.subject,
      index: e.index,
      afterStep: i > 0 ? inOrder[i - 1]!.step : null,
    });
  });
  const missingSteps = seriesSteps(steps).map((m) => m.step).filter((n) => !byStep.has(n));
  const mapped = [...byStep.values()].sort((a, b) => a.step - b.step);
  return { commitCount: commits.length, mapped, missingSteps, extraCommits, orderDifferences };
}

export interface TreeLink extends LinkResult {
  kernel: string;
  range: string;
  commits: KernelCommit[];
}

/**
 * Reads `range` (default: HEAD~200..HEAD, or the whole history when shorter) of a
 * kernel tree and links it. InputError when the tree has none of the series' commits.
 */
export async function linkTree(kernelPath: string, steps: readonly StepInfo[], range?: string): Promise<TreeLink> {
  const repo = await openRepo(kernelPath);
  let commits: KernelCommit[];
  let shown: string;
  if (range !== undefined) {
    commits = await readRangeIn(repo, range);
    shown = range;
  } else {
    const w = await readDefaultWindow(repo);
    commits = w.commits;
    shown = w.range;
  }
  const result = linkSteps(steps, commits);
  if (result.mapped.length === 0) {
    throw new InputError(`no commit of the series in ${kernelPath} ${shown} (${commits.length} commits read)`);
  }
  return { ...result, kernel: kernelPath, range: shown, commits };
}

export interface HeadMapping {
  step: number;
  /** Full hash of the series commit HEAD is mapped through. */
  commit: string;
  subject: string;
  matchedBy: MatchKind;
  /** Full hash of HEAD. */
  head: string;
  /** HEAD is that series commit itself. */
  exact: boolean;
}

/**
 * The step HEAD is at: HEAD itself when it is a series commit, else the newest
 * series commit HEAD contains (walking back from HEAD, at most `maxWalk`
 * commits, then by ancestry of the manifests' mainline hashes). Null when HEAD
 * contains no series commit.
 */
export async function headStep(
  kernelPath: string,
  steps: readonly StepInfo[],
  opts: { maxWalk?: number } = {},
): Promise<HeadMapping | null> {
  const repo = await openRepo(kernelPath);
  // `git bisect start --no-checkout` leaves HEAD alone and moves BISECT_HEAD instead
  const head = (await tryResolve(repo, 'BISECT_HEAD')) ?? (await resolveRev(repo, 'HEAD'));
  const match = makeMatcher(steps);
  const walked = await walkFrom(repo, head, opts.maxWalk ?? 20000);
  for (const c of walked) {
    const m = match(c);
    if (m) return { step: m.step, commit: c.hash, subject: c.subject, matchedBy: m.matchedBy, head, exact: c.hash === head };
  }
  // Beyond the walk: mainline hashes that HEAD contains, newest step first.
  for (const m of seriesSteps(steps).reverse()) {
    if (!m.commit) continue;
    const hash = await tryResolve(repo, m.commit);
    if (hash && (await isAncestor(repo, hash, head))) {
      return { step: m.step, commit: hash, subject: m.subject, matchedBy: 'hash', head, exact: hash === head };
    }
  }
  return null;
}

