// The CLI contract for steps / replay, and bad input: one line, exit status 2.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const code = await main(args, (s) => (out += s));
    return { code, out, err };
  } finally {
    spy.mockRestore();
  }
}

function tmpTrace(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-trace-'));
  const f = join(dir, 'bad.trace.json');
  writeFileSync(f, content);
  return f;
}

describe('replay --json', () => {
  it('private-fault on step 0: three SEPT.ADD and one PAGE.AUG, all successful', async () => {
    const r = await cli(['replay', 'harness/traces/private-fault.trace.json', '--step', '0', '--json']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const obs = JSON.parse(lines[0]!);
    expect(obs.step).toBe(0);
    expect(obs.trace).toBe('private-fault');
    const sc = obs.events.filter((e: { kind: string; thread: string }) => e.kind === 'seamcall' && e.thread !== 'setup');
    expect(sc.map((e: { name: string }) => e.name)).toEqual(['TDH.MEM.SEPT.ADD', 'TDH.MEM.SEPT.ADD', 'TDH.MEM.SEPT.ADD', 'TDH.MEM.PAGE.AUG']);
    expect(sc.every((e: { status: string; gpa: string; level: number }) => e.status === 'TDX_SUCCESS' && typeof e.gpa === 'string' && typeof e.level === 'number')).toBe(true);
    expect(obs.events.some((e: { kind: string }) => e.kind === 'result')).toBe(true);
    expect(obs.final).toHaveProperty('mirror');
    expect(obs.final).toHaveProperty('sept');
    expect(obs.final).toHaveProperty('pages');
  });

  it('is byte-identical across runs', async () => {
    const a = await cli(['replay', 'teardown', '--json']);
    const b = await cli(['replay', 'teardown', '--json']);
    expect(a.out).toBe(b.out);
  });

  it('steps lists every step with its subject', async () => {
    const r = await cli(['steps']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^00 .*base/m);
  });
});

describe('bad input → one clear line and exit 2', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{', /bad\.trace\.json: not valid JSON/],
    ['unknown op', JSON.stringify({ name: 'x', threads: [{ name: 't', ops: [{ op: 'explode' }] }] }), /at \$\.threads\[0\]\.ops\[0\]\.op: expected "op" to be one of/],
    ['bad gpa', JSON.stringify({ name: 'x', threads: [{ name: 't', ops: [{ op: 'fault', gpa: '0x123' }] }] }), /at \$\.threads\[0\]\.ops\[0\]\.gpa: a 4 KiB-aligned GPA/],
    ['missing threads', JSON.stringify({ name: 'x' }), /at \$\.threads: expected array, got undefined/],
    ['vcpu out of range', JSON.stringify({ name: 'x', threads: [{ name: 't', ops: [{ op: 'fault', vcpu: 3, gpa: 0 }] }] }), /vcpu: a vCPU index below vm\.vcpus \(1\)/],
    ['unknown status', JSON.stringify({ name: 'x', threads: [{ name: 't', ops: [{ op: 'inject_status', seamcall: 'TDH.MEM.PAGE.AUG', status: 'NOPE' }] }] }), /status: a TDX status name/],
  ];
  for (const [what, content, msg] of cases) {
    it(what, async () => {
      const r = await cli(['replay', tmpTrace(content)]);
      expect(r.code).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(msg);
    });
  }

  it('unknown trace, bad step', async () => {
    let r = await cli(['replay', 'no-such-trace']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no-such-trace: no such trace file/);
    r = await cli(['replay', 'private-fault', '--step', '99']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/step 99 does not exist/);
    r = await cli(['replay', 'private-fault', '--step', 'x']);
    expect(r.code).toBe(2);
  });

  it('the installed binary prints no stack trace', () => {
    const f = tmpTrace('{"name": 1}');
    const r = spawnSync(process.execPath, ['bin/tdx-difftest.mjs', 'replay', f], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/at \$\.name: expected string, got number/);
  });
});
