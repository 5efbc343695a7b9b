import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/cli/errors.ts';
import { readRange, parseRange } from '../../harness/link/git.ts';
import { headStep, linkSteps, linkTree } from '../../harness/link/link.ts';
import { normaliseSubject } from '../../harness/link/subject.ts';
import type { StepInfo } from '../../src/step_types.ts';
import {
  SERIES,
  cleanupTemp,
  initRepo,
  makeKernelRepo,
  makeSteps,
  tempDir,
  type KernelRepoFixture,
} from './fixtures.ts';

afterAll(cleanupTemp);

const ALL = SERIES.map((e) => e.step);

describe('normaliseSubject', () => {
  it('drops patch tags, unifies quotes, whitespace and case', () => {
    expect(normaliseSubject('[PATCH v2 04/15] KVM: x86/mmu: Plumb param "old_spte" into  kvm_x86_ops.set_external_spte()')).toBe(
      'kvm: x86/mmu: plumb param "old_spte" into kvm_x86_ops.set_external_spte()',
    );
    expect(normaliseSubject("  KVM: x86/mmu: Plumb param 'old_spte' into kvm_x86_ops.set_external_spte() ")).toBe(
      'kvm: x86/mmu: plumb param "old_spte" into kvm_x86_ops.set_external_spte()',
    );
    expect(normaliseSubject('[RFC PATCH v5 06/45] KVM: TDX: Foo “bar”')).toBe('kvm: tdx: foo "bar"');
    expect(normaliseSubject('[PATCH] [v3] KVM: A')).toBe('kvm: a');
    expect(normaliseSubject('KVM: A')).not.toBe(normaliseSubject('KVM: B'));
  });
});

describe('parseRange', () => {
  it('splits A..B and defaults B to HEAD', () => {
    expect(parseRange('v7.1..v7.2')).toEqual({ from: 'v7.1', to: 'v7.2' });
    expect(parseRange('abc..')).toEqual({ from: 'abc', to: 'HEAD' });
    expect(() => parseRange('HEAD')).toThrow(InputError);
    expect(() => parseRange('a...b')).toThrow(/bad range/);
    expect(() => parseRange('..b')).toThrow(/bad range/);
  });
});

describe('readRange and linkSteps on real git trees', () => {
  let steps: StepInfo[];
  let full: KernelRepoFixture;

  beforeAll(async () => {
    steps = makeSteps();
    full = await makeKernelRepo();
  }, 60_000);

  it('reads A..B oldest first with subjects and changed files', async () => {
    const commits = await readRange(full.dir, `${full.base}..HEAD`);
    expect(commits).toHaveLength(15);
    expect(commits.map((c) => c.hash)).toEqual(ALL.map((n) => full.hashes[n]));
    expect(commits[0]!.subject).toBe('KVM: TDX: Drop kvm_x86_ops.link_external_spt()');
    expect(commits[0]!.files).toEqual([
      'arch/x86/include/asm/kvm-x86-ops.h',
      'arch/x86/include/asm/kvm_host.h',
      'arch/x86/kvm/mmu/tdp_mmu.c',
      'arch/x86/kvm/vmx/tdx.c',
    ]);
    expect(commits[10]!.files).toEqual(['arch/x86/kvm/vmx/tdx.c']); // step 11: hoist only
    // an asymmetric range: nothing from the base side
    const tail = await readRange(full.dir, `${full.hashes[13]}..${full.hashes[15]}`);
    expect(tail.map((c) => c.hash)).toEqual([full.hashes[14], full.hashes[15]]);
  });

  it('maps every step of a merged tree by subject', async () => {
    const link = await linkTree(full.dir, steps, `${full.base}..HEAD`);
    expect(link.mapped.map((m) => [m.step, m.hash, m.matchedBy])).toEqual(ALL.map((n) => [n, full.hashes[n], 'subject']));
    expect(link.missingSteps).toEqual([]);
    expect(link.extraCommits).toEqual([]);
    expect(link.orderDifferences).toEqual([]);
    expect(link.commitCount).toBe(15);
  });

  it('uses HEAD~200..HEAD or the whole history when no range is given', async () => {
    const link = await linkTree(full.dir, steps);
    expect(link.range).toBe('HEAD (whole history)');
    expect(link.commitCount).toBe(16);
    expect(link.extraCommits.map((e) => e.hash)).toEqual([full.base]);
    expect(link.mapped).toHaveLength(15);
  });

  it('maps a mainline tree by hash even when subjects differ', async () => {
    const r = await makeKernelRepo({ style: 'reworded' });
    const byHash = makeSteps({ commits: Object.fromEntries(ALL.map((n) => [n, r.hashes[n]!.slice(0, 12)])) });
    const link = await linkTree(r.dir, byHash, `${r.base}..HEAD`);
    expect(link.mapped.map((m) => m.matchedBy)).toEqual(ALL.map(() => 'hash'));
    expect(link.mapped.map((m) => m.hash)).toEqual(ALL.map((n) => r.hashes[n]));
    // with the fake hashes the reworded subjects match nothing
    await expect(linkTree(r.dir, steps, `${r.base}..HEAD`)).rejects.toThrow(/no commit of the series/);
  });

  it('maps a v2 tree ([PATCH v2 NN/15] subjects) and a v3 tree', async () => {
    const v2 = await makeKernelRepo({ style: 'v2' });
    const l2 = await linkTree(v2.dir, steps, `${v2.base}..HEAD`);
    expect(l2.missingSteps).toEqual([]);
    expect(l2.mapped.find((m) => m.step === 15)!.matchedBy).toBe('v2-subject');
    expect(l2.mapped.find((m) => m.step === 4)!.matchedBy).toBe('subject');
    const v3 = await makeKernelRepo({ style: 'v3' });
    const l3 = await linkTree(v3.dir, steps, `${v3.base}..HEAD`);
    expect(l3.mapped.map((m) => m.hash)).toEqual(ALL.map((n) => v3.hashes[n]));
    expect(l3.extraCommits).toEqual([]);
  });

  it('maps a v2-style tree without the tag and with other quotes', async () => {
    const r = await makeKernelRepo({ style: 'v2-requoted' });
    const commits = await readRange(r.dir, `${r.base}..HEAD`);
    expect(commits[3]!.subject).toBe("KVM: x86/mmu: Plumb param 'old_spte' into kvm_x86_ops.set_external_spte()");
    expect(commits[12]!.subject).toBe('KVM: TDX: Rename tdx_sept_remove_private_spte() to show it"s for leaf SPTEs');
    const link = linkSteps(steps, commits);
    expect(link.missingSteps).toEqual([]);
    expect(link.extraCommits).toEqual([]);
    expect(link.mapped.map((m) => m.hash)).toEqual(ALL.map((n) => r.hashes[n]));
  });

  it('reports a missing step', async () => {
    const r = await makeKernelRepo({ order: ALL.filter((n) => n !== 8) });
    const link = await linkTree(r.dir, steps, `${r.base}..HEAD`);
    expect(link.missingSteps).toEqual([8]);
    expect(link.mapped).toHaveLength(14);
    expect(link.orderDifferences).toEqual([]);
  });

  it('reports extra commits, including a second commit for an already mapped step', async () => {
    const r = await makeKernelRepo({
      extras: [
        { after: 7, subject: 'KVM: x86: Unrelated fixture cleanup' },
        { after: 12, subject: '[PATCH v3 03/15] KVM: x86/mmu: Fold set_external_spte_present() into its sole caller' },
      ],
    });
    const link = await linkTree(r.dir, steps, `${r.base}..HEAD`);
    expect(link.missingSteps).toEqual([]);
    expect(link.extraCommits).toEqual([
      { hash: r.extras[0], subject: 'KVM: x86: Unrelated fixture cleanup', index: 7 },
      {
        hash: r.extras[1],
        subject: '[PATCH v3 03/15] KVM: x86/mmu: Fold set_external_spte_present() into its sole caller',
        index: 13,
        duplicateOf: 3,
      },
    ]);
    expect(link.mapped.find((m) => m.step === 3)!.hash).toBe(r.hashes[3]);
  });

  it('reports reordered commits', async () => {
    const order = [1, 2, 3, 4, 6, 5, ...ALL.slice(6)];
    const r = await makeKernelRepo({ order });
    const link = await linkTree(r.dir, steps, `${r.base}..HEAD`);
    expect(link.missingSteps).toEqual([]);
    expect(link.orderDifferences).toEqual([
      { step: 6, hash: r.hashes[6], subject: SERIES[5]!.subject, index: 4, afterStep: 4 },
    ]);
    // a step moved far: only that one is reported
    const far = linkSteps(steps, [2, 3, 4, 5, 1, 6].map((n) => ({ hash: `h${n}`, subject: SERIES[n - 1]!.subject })));
    expect(far.orderDifferences.map((d) => [d.step, d.afterStep])).toEqual([[1, 5]]);
    expect(far.missingSteps).toEqual([7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});

describe('headStep', () => {
  let steps: StepInfo[];
  let r: KernelRepoFixture;

  beforeAll(async () => {
    steps = makeSteps();
    r = await makeKernelRepo({ extras: [{ after: 7, subject: 'KVM: x86: Unrelated fixture cleanup' }] });
  }, 60_000);

  it('maps HEAD that is a series commit, one that contains some, and one that contains none', async () => {
    expect(await headStep(r.dir, steps)).toEqual({
      step: 15,
      commit: r.hashes[15],
      subject: SERIES[14]!.subject,
      matchedBy: 'subject',
      head: r.hashes[15],
      exact: true,
    });
    await r.git.raw(['checkout', '-q', '--detach', r.extras[0]!]);
    const mid = await headStep(r.dir, steps);
    expect(mid).toMatchObject({ step: 7, commit: r.hashes[7], head: r.extras[0], exact: false });
    await r.git.raw(['checkout', '-q', '--detach', r.hashes[3]!]);
    expect((await headStep(r.dir, steps))?.step).toBe(3);
    await r.git.raw(['checkout', '-q', '--detach', r.base]);
    expect(await headStep(r.dir, steps)).toBeNull();
    await r.git.raw(['checkout', '-q', 'master']);
  });

  it('falls back to the manifests mainline hashes beyond the walk', async () => {
    const byHash = makeSteps({ commits: { 5: r.hashes[5]!.slice(0, 12) } });
    const renamed = await makeKernelRepo({ style: 'reworded' });
    // nothing maps by subject in a reworded tree; with a 1-commit walk only the ancestry check can find step 5
    const steps2 = makeSteps({ commits: { 5: renamed.hashes[5]!.slice(0, 12), 9: renamed.hashes[9]!.slice(0, 12) } });
    const m = await headStep(renamed.dir, steps2, { maxWalk: 1 });
    expect(m).toMatchObject({ step: 9, commit: renamed.hashes[9], matchedBy: 'hash', exact: false });
    await renamed.git.raw(['checkout', '-q', '--detach', renamed.hashes[7]!]);
    expect((await headStep(renamed.dir, steps2, { maxWalk: 1 }))?.step).toBe(5);
    expect(await headStep(renamed.dir, byHash, { maxWalk: 1 })).toBeNull();
  });
});

describe('bad input', () => {
  it('rejects a folder that is not a git repository, and a missing one', async () => {
    const plain = tempDir('plain');
    await expect(readRange(plain, 'A..B')).rejects.toThrow(InputError);
    await expect(readRange(plain, 'A..B')).rejects.toThrow(`not a git repository: ${plain}`);
    await expect(readRange(`${plain}/nope`, 'A..B')).rejects.toThrow(/not a git repository: .*no such directory/);
    await expect(headStep(plain, makeSteps())).rejects.toThrow(InputError);
  });

  it('rejects unknown revisions, bad and empty ranges', async () => {
    const r = await makeKernelRepo({ order: [1, 2] });
    await expect(readRange(r.dir, 'no-such-tag..HEAD')).rejects.toThrow(`unknown revision: no-such-tag in ${r.dir}`);
    await expect(readRange(r.dir, `${r.base}..nope`)).rejects.toThrow(/unknown revision: nope/);
    await expect(readRange(r.dir, '--all..HEAD')).rejects.toThrow(InputError);
    await expect(readRange(r.dir, 'HEAD..HEAD')).rejects.toThrow('empty range: HEAD..HEAD has no commits');
    await expect(readRange(r.dir, 'HEAD')).rejects.toThrow(/bad range "HEAD"/);
  });

  it('rejects a tree with none of the series commits', async () => {
    const dir = tempDir('other');
    const git = await initRepo(dir);
    await git.raw(['commit', '-q', '--allow-empty', '-m', 'first']);
    await git.raw(['commit', '-q', '--allow-empty', '-m', 'second']);
    await expect(linkTree(dir, makeSteps())).rejects.toThrow(/^no commit of the series in .* HEAD \(whole history\) \(2 commits read\)$/);
    await expect(linkTree(dir, makeSteps(), 'HEAD~1..HEAD')).rejects.toThrow(InputError);
  });

  it('rejects a repository without commits', async () => {
    const dir = tempDir('empty');
    await initRepo(dir);
    await expect(linkTree(dir, makeSteps())).rejects.toThrow(/unknown revision: HEAD/);
  });
});
