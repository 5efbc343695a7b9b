import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  changedFunctions,
  extractTsFunctions,
  extractTsItems,
  modelDiff,
  modelFunctions,
  sameModuloWhitespace,
} from '../../harness/model_functions.ts';
import { cleanupTemp, tempDir } from './fixtures.ts';

afterAll(cleanupTemp);

const SAMPLE = [
  "import { a } from './a.ts';",
  'import type {',
  "  B } from './b.ts'",
  '// function fake_in_comment() {',
  'export const kvm_x86_ops_decl = {',
  "  link_external_spt: 'OPTIONAL_RET0',",
  '  weird: `${"}"} }`,',
  '} as const;',
  'let counter = 0',
  'type Foo<T> =',
  '  | { a: T }',
  '  | { b: string };',
  'export interface Bar extends Base<{ x: 1 }> {',
  '  f(): void;',
  '}',
  'export function* tdp_walk(kvm: Kvm): Generator<{ k: string }, number, unknown> {',
  '  const re = /}{/g;',
  "  if (kvm.x / 2 > 1) { yield { k: '}' }; }",
  '  return 0;',
  '}',
  'async function later(): Promise<void> {}',
  'function over(a: number): void;',
  'function over(a: any) { return a; }',
  'export default function () { return 1; }',
  'foo();',
  'function last(',
  '  x: number,',
  '): { y: number } {',
  '  return { y: x };',
  '}',
  '',
].join('\n');

describe('extractTsFunctions', () => {
  it('finds every top-level named declaration with its full text', () => {
    const m = extractTsFunctions(SAMPLE);
    expect([...m.keys()]).toEqual(['kvm_x86_ops_decl', 'counter', 'Foo', 'Bar', 'tdp_walk', 'later', 'over', 'last']);
    expect(m.get('kvm_x86_ops_decl')).toBe(
      "export const kvm_x86_ops_decl = {\n  link_external_spt: 'OPTIONAL_RET0',\n  weird: `${\"}\"} }`,\n} as const;",
    );
    expect(m.get('counter')).toBe('let counter = 0');
    expect(m.get('Foo')).toBe('type Foo<T> =\n  | { a: T }\n  | { b: string };');
    expect(m.get('Bar')).toBe('export interface Bar extends Base<{ x: 1 }> {\n  f(): void;\n}');
    expect(m.get('tdp_walk')).toBe(
      "export function* tdp_walk(kvm: Kvm): Generator<{ k: string }, number, unknown> {\n  const re = /}{/g;\n  if (kvm.x / 2 > 1) { yield { k: '}' }; }\n  return 0;\n}",
    );
    expect(m.get('later')).toBe('async function later(): Promise<void> {}');
    expect(m.get('over')).toBe('function over(a: number): void;\nfunction over(a: any) { return a; }');
    expect(m.get('last')).toBe('function last(\n  x: number,\n): { y: number } {\n  return { y: x };\n}');
  });

  it('tells functions from other items', () => {
    const items = extractTsItems(SAMPLE);
    expect(items.get('tdp_walk')?.kind).toBe('function');
    expect(items.get('kvm_x86_ops_decl')?.kind).toBe('const');
    expect(items.get('Bar')?.kind).toBe('interface');
    expect(items.get('Foo')?.kind).toBe('type');
  });

  it('compares modulo whitespace only', () => {
    expect(sameModuloWhitespace('f(a, b)\n{ x; }', 'f( a,b ) {\n\n   x;\n}')).toBe(true);
    expect(sameModuloWhitespace('return a;', 'return b;')).toBe(false);
    expect(sameModuloWhitespace('int ab', 'int a b')).toBe(false);
  });
});

function writeStep(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
  return dir;
}

describe('modelFunctions / changedFunctions / modelDiff', () => {
  const root = tempDir('model');
  const A = writeStep(join(root, 'v01-a'), {
    'tdp_mmu.ts': [
      'export function alpha(kvm: Kvm): number {',
      '  return kvm.x + 1;',
      '}',
      '',
      'function beta(kvm: Kvm): number {',
      '  return 2;',
      '}',
      '',
      'export function* gamma(kvm: Kvm) {',
      '  yield 1;',
      '}',
      '',
      'export const OLD_TABLE = { a: 1 };',
      '',
    ].join('\n'),
    'tdx.ts': 'function helper() {\n  return 1;\n}\nexport function tdx_only() {\n  return 3;\n}\n',
    'helpers.ts': 'function helper() {\n  return 2;\n}\n',
    'x86_ops.ts': "export const kvm_x86_ops_decl = {\n  link_external_spt: 'OPTIONAL_RET0',\n};\n",
    'step.ts': 'export const manifest = { step: 1 };\n',
  });
  const B = writeStep(join(root, 'v02-b'), {
    'tdp_mmu.ts': [
      // alpha: whitespace-only change (reindented, re-wrapped)
      'export function alpha(',
      '    kvm: Kvm',
      '): number {',
      '      return kvm.x+1;',
      '}',
      '',
      // gamma: changed
      'export function* gamma(kvm: Kvm) {',
      '  yield 2;',
      '}',
      '',
      // beta: moved to the end, same body
      'function beta(kvm: Kvm): number {',
      '  return 2;',
      '}',
      '',
      'export function delta() {',
      '  return 4;',
      '}',
      '',
    ].join('\n'),
    'tdx.ts': 'function helper() {\n  return 1;\n}\nexport function tdx_only() {\n  return 3;\n}\n',
    'helpers.ts': 'function helper() {\n  return 22;\n}\n',
    'x86_ops.ts': 'export const kvm_x86_ops_decl = {\n};\n',
    'step.ts': 'export const manifest = { step: 2 };\n',
  });

  it('keys names found in two files by file', () => {
    const m = modelFunctions(A);
    expect([...m.keys()].sort()).toEqual(
      ['OLD_TABLE', 'alpha', 'beta', 'gamma', 'kvm_x86_ops_decl', 'helpers.ts:helper', 'tdx.ts:helper', 'tdx_only'].sort(),
    );
    expect(m.has('manifest')).toBe(false);
  });

  it('reports changed, added and removed items; moves and whitespace are no change', () => {
    expect(changedFunctions(A, B)).toEqual({
      changed: ['gamma', 'helpers.ts:helper', 'kvm_x86_ops_decl'],
      added: ['delta'],
      removed: ['OLD_TABLE'],
    });
    expect(changedFunctions(A, A)).toEqual({ changed: [], added: [], removed: [] });
  });

  it('diffs the model files in a fixed order with a/ b/ paths, without step.ts, other files after the kernel ones', () => {
    const d = modelDiff(A, B);
    const headers = d.split('\n').filter((l) => l.startsWith('diff --git'));
    expect(headers).toEqual([
      'diff --git a/x86_ops.ts b/x86_ops.ts',
      'diff --git a/tdp_mmu.ts b/tdp_mmu.ts',
      'diff --git a/helpers.ts b/helpers.ts',
    ]);
    expect(d).toContain('--- a/helpers.ts\n+++ b/helpers.ts\n');
    expect(d).toContain("-  link_external_spt: 'OPTIONAL_RET0',\n");
    expect(d).toContain('-  return 2;\n+  return 22;\n');
    expect(d).not.toContain('step.ts');
    expect(d).not.toContain('entry');
    expect(modelDiff(A, A)).toBe('');
  });

  it('shows a model file that only one side has against /dev/null', () => {
    const C = writeStep(join(root, 'v03-c'), {
      'tdp_mmu.ts': 'export function alpha() {}\n',
      'step.ts': 'export const manifest = {};\n',
    });
    const D = writeStep(join(root, 'v04-d'), {
      'tdp_mmu.ts': 'export function alpha() {}\n',
      'tdx.ts': 'export function fresh() {}\n',
      'step.ts': 'export const manifest = {};\n',
    });
    expect(modelDiff(C, D)).toBe(
      'diff --git a/tdx.ts b/tdx.ts\nnew file\n--- /dev/null\n+++ b/tdx.ts\n@@ -0,0 +1,1 @@\n+export function fresh() {}\n',
    );
    expect(changedFunctions(C, D)).toEqual({ changed: [], added: ['fresh'], removed: [] });
  });
});
