import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Intent } from '../../src/step_types.ts';
import { bisectExitCode, bisectTrace } from '../../harness/bisect.ts';
import { CORPUS_DIR, resolveTrace } from '../../harness/trace.ts';
import { BASE, recordWarn, runCli, runMain, sameStep, tweakedStep } from './helpers.ts';
import { findAll, parseXml } from './xml.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tdx-harness-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NASTY = `a < b && "c" > 'd'`;
const synWarn: Intent = { id: 'syn-warn', summary: 'faults WARN in syn_site', witnesses: ['private-fault'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'warn', site: 'syn_site', cond: NASTY }] }] };
// witnessed by a trace outside the checked ones: a coverage gap, never "missing"
const synGap: Intent = { id: 'syn-gap', summary: 'a SEAMCALL that never happens', witnesses: ['teardown'], rewrites: [{ op: 'fault', events: [{ side: 'added', kind: 'seamcall', name: 'TDH.NOTHING', status: 'TDX_SUCCESS' }] }] };

const warnOnFault = (op: { op: string }): void => {
  if (op.op === 'fault') recordWarn('syn_site', NASTY);
};
/** 0: base; 1: faults also WARN (intended); 2: and return -EIO (not intended); 3: like 2, with an intent nothing witnesses. */
const steps = [
  BASE,
  tweakedStep(1, [synWarn], (op) => warnOnFault(op)),
  tweakedStep(2, [], (op) => {
    warnOnFault(op);
    return op.op === 'fault' ? '-EIO' : undefined;
  }),
  tweakedStep(3, [synGap], (op) => {
    warnOnFault(op);
    return op.op === 'fault' ? '-EIO' : undefined;
  }),
];

const TRACES = ['private-fault', 'populate-finalize'];

describe('check', () => {
  it('--json: steps, results and coverage, exit 1 on an unexpected verdict or a gap', async () => {
    const r = await runCli(['check', ...TRACES, '--json', '--coverage'], steps);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out) as {
      steps: { step: number; subject: string; commit: string | null }[];
      results: { trace: string; step: number; verdict: string; intents: string[]; differences: { layer: string; side: string; event: Record<string, unknown>; intents: string[] }[] }[];
      coverage: { step: number; intent: string; witnesses: string[] }[];
    };
    expect((j as unknown as { schema: string }).schema).toBe('tdx-difftest/check-report/v1');
    expect(j.steps).toEqual([1, 2, 3].map((n) => ({ step: n, slug: `synthetic-${n}`, subject: `synthetic step ${n}`, commit: `0${n}0000000000` })));
    expect(j.results).toHaveLength(6);
    for (const x of j.results) {
      expect(Object.keys(x)).toEqual(expect.arrayContaining(['trace', 'step', 'verdict', 'intents', 'differences']));
    }
    const v = (t: string, s: number) => j.results.find((x) => x.trace === t && x.step === s)!;
    expect(v('private-fault', 1).verdict).toBe('intended');
    expect(v('private-fault', 1).intents).toEqual(['syn-warn']);
    expect(v('private-fault', 1).differences).toEqual([
      { layer: 'diagnostic', side: 'added', event: { kind: 'warn', site: 'syn_site', cond: NASTY, silent: false, thread: 'vcpu0', op: 'fault#0' }, intents: ['syn-warn'] },
    ]);
    expect(v('private-fault', 2).verdict).toBe('unexpected');
    expect(v('private-fault', 2).differences.map((d) => [d.side, d.event.value, d.intents])).toEqual([
      ['removed', 'RET_PF_FIXED', []],
      ['added', '-EIO', []],
    ]);
    expect(v('private-fault', 3).verdict).toBe('same');
    expect(v('populate-finalize', 1).verdict).toBe('same');
    expect(j.coverage).toEqual([
      { step: 1, intent: 'syn-warn', summary: synWarn.summary, witnesses: ['private-fault'] },
      { step: 3, intent: 'syn-gap', summary: synGap.summary, witnesses: [] },
    ]);
  });

  it('exit 0 when everything in range is same or intended and every intent is witnessed', async () => {
    const r = await runCli(['check', ...TRACES, '--to', '1', '--text', '--coverage'], steps);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/0 unexpected; 0 coverage gaps: OK/);
    const gap = await runCli(['check', ...TRACES, '--from', '3', '--json', '--coverage'], steps);
    expect(gap.code).toBe(1); // nothing unexpected, but syn-gap is not witnessed
    expect((JSON.parse(gap.out) as { results: { verdict: string }[] }).results.every((x) => x.verdict === 'same')).toBe(true);
  });

  it('--text fits 80 columns, has the matrix and no colour', async () => {
    const long = join(tmp, 'long.trace.json');
    const t = JSON.parse(readFileSync(join(CORPUS_DIR, 'private-fault.trace.json'), 'utf8')) as { name: string };
    t.name = 'a-very-long-trace-name-that-would-not-fit-the-name-column-of-an-eighty-column-matrix';
    writeFileSync(long, JSON.stringify(t));
    const r = await runCli(['check', ...TRACES, long, '--text', '--coverage'], steps);
    expect(r.code).toBe(1);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(r.out).not.toMatch(/\x1b\[/);
    expect(r.out).toMatch(/^private-fault {27} i X \.$/m);
    expect(r.out).toMatch(/^a-very-long-trace-name-that-would-not-f~ i X \.$/m);
    expect(r.out).toContain('X private-fault, step 02 vs 01: 2 differences not explained');
    expect(r.out).toMatch(/GAP: no trace witnesses it/);
  });

  it('--junit writes well-formed JUnit XML: one testcase per trace x step, a failure per unexpected verdict', async () => {
    const file = join(tmp, 'out.xml');
    const r = await runCli(['check', ...TRACES, '--junit', file, '--coverage'], steps);
    expect(r.code).toBe(1);
    const xml = readFileSync(file, 'utf8');
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    const cases = findAll(root, 'testcase');
    // a case per trace x step, and one per intent in range
    expect(cases).toHaveLength(TRACES.length * 3 + 2);
    expect(cases.map((c) => c.attrs.classname)).toContain('trace.private-fault');
    const failures = findAll(root, 'failure');
    // the unexpected verdict, and the coverage gap as a failed intent case
    expect(failures.map((f) => f.attrs.type)).toEqual(['unexpected', 'coverage-gap']);
    expect(findAll(root, 'testsuite')[0]!.attrs.failures).toBe('2');
    expect(findAll(root, 'testsuite')[0]!.attrs.errors).toBe('0');
    expect(findAll(root, 'testsuite')[0]!.attrs.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    // the intended case carries the raw condition text, escaped and read back intact
    const intended = cases.find((c) => c.attrs.classname === 'trace.private-fault' && c.attrs.name!.startsWith('step 01'))!;
    expect(findAll(intended, 'system-out')[0]!.text).toBe('synthetic step 1: intended: syn-warn');
    expect(failures[0]!.text).toContain('value=-EIO');
    expect(xml).not.toContain(NASTY); // it never appears unescaped
  });
});

describe('bad input: one line on stderr, exit 2', () => {
  const bad = join(tmp, 'bad.trace.json');
  const invalid = join(tmp, 'invalid.trace.json');
  writeFileSync(bad, '{ "name": ');
  writeFileSync(invalid, JSON.stringify({ name: 'x', threads: [{ name: 'v', ops: [{ op: 'nope' }] }] }));
  const trace = (extra: object, op: object = { op: 'fault', gpa: '0x1000' }): string => JSON.stringify({ name: 'x', threads: [{ name: 'v', ops: [op] }], ...extra });
  const bigGpa = join(tmp, 'big-gpa.trace.json');
  writeFileSync(bigGpa, trace({}, { op: 'fault', gpa: '0x20000000000001000' }));
  const bigBudget = join(tmp, 'big-budget.trace.json');
  writeFileSync(bigBudget, trace({ budget: 2 ** 53 }));
  const bigRange = join(tmp, 'big-range.trace.json');
  writeFileSync(bigRange, trace({}, { op: 'zap_gfn_range', gpa: 0, npages: 1e9 }));
  const syntax = join(tmp, 'syntax.trace.json');
  writeFileSync(syntax, '{"name": "x",\n "threads": [ }');
  const cases: [string, string[], number?][] = [
    ['unknown trace', ['check', 'no-such-trace']],
    ['malformed trace file', ['check', bad]],
    ['trace file failing the schema', ['check', invalid]],
    ['non-numeric --from', ['check', '--from', 'abc']],
    ['--to past the last step', ['check', '--to', '999']],
    ['empty range', ['check', '--from', '2', '--to', '1']],
    ['diff to a step that does not exist', ['diff', 'private-fault', '0', '99']],
    ['diff of an unknown trace', ['diff', 'nope', '0', '0']],
    ['bad --layer', ['bisect', 'private-fault', '--layer', 'sideways']],
    ['unknown option', ['check', '--frobnicate']],
    ['explore --from that is not a number', ['explore', '--from', 'abc']],
    ['explore --to past the last step', ['explore', '--to', '99']],
    ['explore --runs 0', ['explore', '--runs', '0']],
    ['explore --exhaustive 7', ['explore', '--exhaustive', '7']],
    ['explore --shard 3/2', ['explore', '--exhaustive', '1', '--shard', '3/2']],
    ['explore --workers 0', ['explore', '--exhaustive', '1', '--workers', '0']],
    ['explore --workers with --interleave', ['explore', '--workers', '2', '--interleave', 'concurrent-faults-same-gfn']],
    ['explore --interleavings of a one-thread trace', ['explore', '--interleavings', 'private-fault']],
    ['explore --preemptions 9', ['explore', '--interleavings', '--preemptions', '9']],
    ['explore merge of a file that is no part', ['explore', 'merge', bad]],
    ['a device, not a trace file', ['replay', '/dev/null']],
    ['a GPA beyond 2^52', ['replay', bigGpa]],
    ['a budget beyond the limit', ['replay', bigBudget]],
    ['a range beyond the limit', ['replay', bigRange]],
    ['a JSON syntax error (one line, with line and column)', ['replay', syntax]],
    ['--jobs beyond any machine', ['check', '--jobs', '99999999999999999999']],
    // under bisect --exit-code bad input is 128: git bisect run aborts instead of marking "bad"
    ['--exit-code without --step', ['bisect', 'private-fault', '--exit-code'], 128],
    ['a mistyped trace under --exit-code', ['bisect', 'no-such-trace', '--exit-code', '--step', '1'], 128],
  ];
  it('every schema problem at once, each with its JSON path, and the keys allowed where one is unknown', async () => {
    const many = join(tmp, 'many.trace.json');
    writeFileSync(many, JSON.stringify({ name: 'x', colour: 1, vm: { vcpu: 2 }, threads: [{ name: 't', ops: [{ op: 'fault', gpa: '0x1001', vcpus: 0 }] }] }));
    const r = await runMain(['replay', many]);
    expect(r.code).toBe(2);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).toContain('at $.vm: unexpected key(s) "vcpu" (allowed: td, vcpus, sharedBit,');
    expect(r.err).toContain('at $.threads[0].ops[0].gpa: a 4 KiB-aligned GPA');
    expect(r.err).toContain('at $.threads[0].ops[0]: unexpected key(s) "vcpus" (allowed: op, vcpu, gpa)');
    expect(r.err).toContain('at $: unexpected key(s) "colour" (allowed: name, description, vm, threads, schedule, budget)');
  });

  it('replay --yields numbers the yield points; a schedule that does not fit gets a note', async () => {
    const r = await runMain(['replay', 'fault-races-conversion', '--step', '0', '--yields']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/yield points \(12; threads 0=vcpu0, 1=host\):\n {4}0:0:lock 1:1:lock/);
    expect(r.out).not.toContain('note:');
    const loose = join(tmp, 'loose.trace.json');
    const t = JSON.parse(readFileSync(join(CORPUS_DIR, 'fault-races-conversion.trace.json'), 'utf8')) as { schedule: number[] };
    t.schedule = [...t.schedule, 1, 1, 0];
    writeFileSync(loose, JSON.stringify(t));
    const l = await runMain(['replay', loose, '--step', '0']);
    expect(l.out).toContain('note: 2 schedule entries named a thread that had already finished: skipped');
  });

  it('a retry loop that spins to the livelock bound on two steps is compared pass by pass, not called unexpected', async () => {
    // SEPT.ADD busy forever: each step retries the fault until the bound; step 15 renames
    // the frees of each pass. Too long for a shortest diff: anchored on each pass's pages
    const spin = join(tmp, 'spin.trace.json');
    writeFileSync(spin, JSON.stringify({ name: 'spin', threads: [{ name: 'vcpu0', ops: [{ op: 'inject_busy', seamcall: 'TDH.MEM.SEPT.ADD', count: 100_000 }, { op: 'fault', vcpu: 0, gpa: '0x1000' }] }] }));
    const r = await runMain(['check', spin, '--from', '15', '--to', '15']);
    expect(r.code, r.out).toBe(0);
    expect(r.out.replace(/\n {6}/g, ' ')).toContain('Aligned approximately: these runs were too long and too different for a shortest diff');
    expect(r.out).toMatch(/0 same, 1 intended, 0 unexpected/);
  });

  it('a JSON syntax error says where: line and column', async () => {
    expect((await runMain(['replay', syntax])).err).toBe(`tdx-difftest: ${syntax}: not valid JSON at line 2, column 15\n`);
  });

  for (const [what, argv, code] of cases) {
    it(what, async () => {
      const r = await runMain(argv);
      expect(r.code).toBe(code ?? 2);
      expect(r.out).toBe('');
      expect(r.err.endsWith('\n')).toBe(true);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    });
  }
});

describe('check over traces of one\'s own', () => {
  it('counts no intent coverage unless asked: one trace with nothing unexpected exits 0', async () => {
    const r = await runCli(['check', 'private-fault', '--to', '1', '--text'], steps);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Intent coverage: not counted/);
    expect(r.out).toMatch(/0 unexpected: OK/);
    const asked = await runCli(['check', 'private-fault', '--from', '3', '--to', '3', '--json', '--coverage'], steps);
    expect(asked.code).toBe(1);
    expect(JSON.parse(asked.out).gaps.map((g: { intent: string }) => g.intent)).toEqual(['syn-gap']);
  });
});

describe('bisect', () => {
  const reg = [BASE, sameStep(1), steps[1]!, steps[2]!];
  reg[2] = tweakedStep(2, [synWarn], (op) => warnOnFault(op));
  reg[3] = tweakedStep(3, [], (op) => {
    warnOnFault(op);
    return op.op === 'fault' ? '-EIO' : undefined;
  });
  const trace = resolveTrace('private-fault');

  it('--exit-code --step N: 0 like step 0, 1 different, 125 not a step', async () => {
    expect(bisectExitCode(trace, reg, 0)).toBe(0);
    expect(bisectExitCode(trace, reg, '1')).toBe(0);
    expect(bisectExitCode(trace, reg, '2')).toBe(1);
    expect(bisectExitCode(trace, reg, '2', 'functional')).toBe(0); // a WARN only
    expect(bisectExitCode(trace, reg, '2', 'diagnostic')).toBe(1);
    expect(bisectExitCode(trace, reg, '3', 'functional')).toBe(1);
    expect(bisectExitCode(trace, reg, '4')).toBe(125);
    expect(bisectExitCode(trace, reg, 'x')).toBe(125);
    for (const [n, code] of [['1', 0], ['2', 1], ['9', 125], ['-1', 125]] as const) {
      const r = await runCli(['bisect', 'private-fault', '--exit-code', '--step', n], reg);
      expect(r.code, `step ${n}`).toBe(code);
    }
    expect((await runCli(['bisect', 'private-fault', '--exit-code', '--step', '2', '--layer', 'functional'], reg)).code).toBe(0);
  });

  it('lists every step that changes the observation, first one first, with its intent or "unexpected"', async () => {
    const changes = bisectTrace(trace, reg);
    expect(changes.map((c) => [c.step, c.verdict, c.intents])).toEqual([[2, 'intended', ['syn-warn']], [3, 'unexpected', []]]);
    expect(bisectTrace(trace, reg, 'diagnostic').map((c) => c.step)).toEqual([2]);
    const r = await runCli(['bisect', 'private-fault'], reg);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/step 02 \(vs 01\) synthetic step 2\n {2}intended \(syn-warn\)/);
    expect(r.out).toMatch(/step 03 \(vs 02\) synthetic step 3\n {2}unexpected/);
    expect(r.out.indexOf('step 02')).toBeLessThan(r.out.indexOf('step 03'));
  });
});

describe('diff', () => {
  it('over a range, names for each difference the step that made it and explains it with that step only', async () => {
    const r = await runMain(['diff', 'atomic-zap-mirror-leaf', '0', '15']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/- fn +probe result name=probe_set_spte op=probe_set_spte#0 value=-EBUSY\s+\[step 05:\s+v05-atomic-zap-bug-in-tdx\]/);
    expect(r.out).toMatch(/\+ fn +probe result name=probe_set_spte op=probe_set_spte#0 value=0\s+\[step 12:\s+v12-atomic-leaf-zap-removes\]/);
    expect(r.out).toMatch(/\+ diag probe lockdep site=tdx_sept_remove_leaf_spte\s[^[]*\[step 13:\s+v13-splat-site-renamed\]/);
    const j = JSON.parse((await runMain(['diff', 'atomic-zap-mirror-leaf', '0', '15', '--json'])).out) as { differences: { madeBy?: number }[] };
    expect(j.differences.every((d) => typeof d.madeBy === 'number')).toBe(true);
  });

  it('prints a unified diff of two steps, the differences and the explaining intents', async () => {
    const r = await runCli(['diff', 'private-fault', '0', '1'], steps);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--- step-00');
    expect(r.out).toContain('+++ step-01');
    expect(r.out).toMatch(/^\+vcpu0 warn site=syn_site/m);
    expect(r.out).toContain('verdict: intended (syn-warn)');
    const back = await runCli(['diff', 'private-fault', '2', '0', '--json'], steps);
    const j = JSON.parse(back.out) as { verdict: string; differences: { side: string; intents: string[] }[] };
    // 2 -> 0 undoes steps 1 and 2: the WARN's removal is step 1's intent reversed, the result change is not intended
    expect(j.verdict).toBe('unexpected');
    expect(j.differences.find((d) => d.side === 'removed' && d.intents.includes('syn-warn'))).toBeTruthy();
  });
});

describe('mutate', () => {
  it('bad options are one line and exit 2', async () => {
    for (const [args, msg] of [
      [['--operators', 'delete-diagnostic,bogus'], /--operators: unknown operator "bogus"/],
      [['--seed', 'x1'], /--seed must be a whole number, got "x1"/],
      [['--limit', '-3'], /--limit must be a whole number/],
      [['--step', '99'], /--step must be a step number from 0 to 15, got "99"/],
    ] as const) {
      const r = await runMain(['mutate', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(msg);
    }
  });

  it('prints the summary line and exits 0 when nothing is masked', async () => {
    const r = await runMain(['mutate', '--step', '6', '--limit', '3', '--seed', '5', '--jobs', '0', '--operators', 'delete-diagnostic,delete-call']);
    expect(r.code).toBe(0);
    expect(r.out.trimEnd().split('\n').pop()).toMatch(/^\d+ killed, \d+ no change, 0 masked$/);
  }, 120_000);
});

describe('explore merge', () => {
  it('the shards\' --json outputs merge into the one-machine text, byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tdx-merge-'));
    try {
      const files: string[] = [];
      for (const i of [1, 2]) {
        const r = await runMain(['explore', '--exhaustive', '2', '--from', '14', '--to', '15', '--shard', `${i}/2`, '--json']);
        expect(r.code).toBe(0);
        files.push(join(dir, `part-${i}.json`));
        writeFileSync(files.at(-1)!, r.out);
      }
      const one = await runMain(['explore', '--exhaustive', '2', '--from', '14', '--to', '15']);
      const merged = await runMain(['explore', 'merge', ...files]);
      expect(merged.code).toBe(0);
      expect(merged.out).toBe(one.out);
      const missing = await runMain(['explore', 'merge', files[0]!]);
      expect(missing.code).toBe(2);
      expect(missing.err).toBe('tdx-difftest: shard 2 of 2 missing: give every shard\'s output\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('explore run count from the environment', () => {
  it('TDX_DIFFTEST_EXPLORE_RUNS sets the count when --runs is not given', async () => {
    process.env.TDX_DIFFTEST_EXPLORE_RUNS = '2';
    try {
      const r = await runMain(['explore', '--seed', '1']);
      expect(r.out.split('\n')[0]).toBe('explore: seed 1, 2 random traces');
      const given = await runMain(['explore', '--seed', '1', '--runs', '1']);
      expect(given.out.split('\n')[0]).toBe('explore: seed 1, 1 random traces');
    } finally {
      delete process.env.TDX_DIFFTEST_EXPLORE_RUNS;
    }
  });

  it('a found schedule is written with the command that replays it', async () => {
    const out = join(tmp, 'probe-race.trace.json');
    const r = await runMain(['explore', '--interleavings', 'atomic-zap-mirror-races-fault', '--from', '5', '--to', '5', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.out.replace(/\n +/g, ' ')).toContain(`written to ${out}; replay it with: tdx-difftest replay ${out} --step N\n`);
    expect(JSON.parse(readFileSync(out, 'utf8')).schedule.length).toBeGreaterThan(0);
  }, 120_000);

  it('--workers 2 prints what one thread prints', async () => {
    const argv = ['explore', '--seed', '4', '--runs', '40', '--from', '14', '--to', '15'];
    const one = await runMain(argv);
    const two = await runMain([...argv, '--workers', '2']);
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(two.out).toBe(one.out);
    expect(one.out).toContain('no counterexample');
  }, 120_000);
});

describe('every command in plain text fits 80 columns (one renderer)', () => {
  const commands: string[][] = [
    ['steps'], ['traces'], ['replay', 'teardown', '--step', '15'], ['diff', 'teardown', '8', '9'], ['bisect', 'teardown'],
    ['matrix'], ['matrix', '--changes'], ['draft-intent', '9', 'teardown'], ['check', 'teardown', '--from', '8', '--to', '9', '--text'],
    ['show-step', '9'],
    ['explore', '--exhaustive', '1', '--from', '9', '--to', '10'], ['explore', '--interleavings', 'fault-races-conversion', '--from', '9', '--to', '10'],
  ];
  for (const argv of commands) {
    it(argv.join(' '), async () => {
      const r = await runMain(argv);
      expect(r.code).toBe(0);
      for (const l of r.out.split('\n')) expect(l.length, l).toBeLessThanOrEqual(80);
    });
  }

  it('show-step wraps a long code line of the model diff on its own side; --patch prints the diff exactly', async () => {
    const patch = (await runMain(['show-step', '9', '--patch'])).out;
    const wide = patch.split('\n').filter((l) => l.length > 80);
    expect(wide.length).toBeGreaterThan(0); // the model code has lines wider than a mail
    const text = (await runMain(['show-step', '9'])).out;
    expect(text).toContain(patch.split('\n').slice(0, 3).join('\n'));
    // each wide line comes back whole when its continuations are joined, each piece on its side
    const lines = text.split('\n');
    for (const w of wide.slice(0, 5)) {
      const start = lines.findIndex((l) => w.startsWith(l) && l.length > 40);
      expect(start, w).toBeGreaterThanOrEqual(0);
      let joined = lines[start]!;
      for (let k = start + 1; joined.length < w.length && lines[k]![0] === w[0]; k++) joined += ' ' + lines[k]!.slice(1).trimStart();
      expect(joined.replace(/\s+/g, ' ')).toBe(w.replace(/\s+/g, ' ').trimEnd());
    }
    await expect(runMain(['show-step', '9', '--patch', '--json'])).resolves.toMatchObject({ code: 2 });
  });
});
