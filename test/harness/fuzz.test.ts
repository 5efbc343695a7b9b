// Bad input never crashes the tool: seeded mutations of the corpus's trace files, each
// replayed through main() in this process, end in a result (exit 0) or in one line of
// error (exit 2), never a stack trace, and every replay stays within the trace limits.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusFiles } from '../../harness/trace.ts';
import { runMain } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'tdx-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SEED = 20261130;

/** One textual mutation of a JSON trace: the kinds of slip a hand-written file has. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('}', ']', ',', '"', '-1', '1e300', '0x20000000000001000', 'null', '{"op":"fault"}', '9007199254740993') }),
  fc.record({ kind: fc.constant('number' as const), nth: fc.nat(), value: fc.constantFrom('-1', '0', '1e300', '4097', '99999999999', '1.5', '9007199254740993') }),
  fc.record({ kind: fc.constant('word' as const), nth: fc.nat(), value: fc.constantFrom('"fualt"', '"0x1001"', '""', '"0x"', '"TDH.NOTHING"', '"destroy"', '[]', '{}') }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function apply(text: string, m: Mutation): string {
  switch (m.kind) {
    case 'delete': { const at = m.at % text.length; return text.slice(0, at) + text.slice(at + m.len); }
    case 'insert': { const at = m.at % (text.length + 1); return text.slice(0, at) + m.text + text.slice(at); }
    case 'truncate': return text.slice(0, m.at % text.length);
    case 'number': {
      const spots = [...text.matchAll(/-?\d+/g)];
      if (spots.length === 0) return text;
      const s = spots[m.nth % spots.length]!;
      return text.slice(0, s.index) + m.value + text.slice(s.index! + s[0].length);
    }
    case 'word': {
      const spots = [...text.matchAll(/"[^"]*"/g)];
      if (spots.length === 0) return text;
      const s = spots[m.nth % spots.length]!;
      return text.slice(0, s.index) + m.value + text.slice(s.index! + s[0].length);
    }
  }
}

describe('fuzzed trace files', () => {
  it(`end in a result or one line of bad input (seed ${SEED}, 240 inputs)`, async () => {
    const files = corpusFiles();
    const cases = fc.sample(fc.tuple(fc.nat({ max: files.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 3 })), { seed: SEED, numRuns: 240 });
    let ok = 0;
    let bad = 0;
    for (const [i, [fileIdx, muts]] of cases.entries()) {
      const text = muts.reduce(apply, readFileSync(files[fileIdx]!, 'utf8'));
      const file = join(tmp, `fuzz-${i}.trace.json`);
      writeFileSync(file, text);
      const r = await runMain(['replay', file, '--step', '15', '--json']);
      const where = `input ${i} (seed ${SEED}): ${file}`;
      expect([0, 2], where).toContain(r.code);
      expect(r.err, where).not.toMatch(/\n\s+at /);
      if (r.code === 2) {
        bad++;
        expect(r.err.trimEnd().split('\n'), where).toHaveLength(1);
        expect(r.err.startsWith(`tdx-difftest: ${file}: `), where).toBe(true);
        expect(r.out, where).toBe('');
      } else {
        ok++;
        expect(() => JSON.parse(r.out), where).not.toThrow();
      }
    }
    // the mutations really produce both kinds
    expect(ok).toBeGreaterThan(10);
    expect(bad).toBeGreaterThan(100);
  }, 600_000);
});
