// Test fixtures for the kernel-tree linker: a toy "kernel" whose C files hold
// small C-like functions written for these tests (no kernel code), changed
// step by step the way each patch of the series changes its functions, and
// the matching toy step models (TypeScript) in step folders.
//
// One state machine drives both, so the model of step N changes exactly the
// functions the commit of step N changes; tests then break that on purpose.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { StepInfo, StepManifest } from '../../src/step_types.ts';

export interface SeriesEntry {
  step: number;
  /** Fake mainline hash (12 hex). */
  commit: string;
  subject: string;
  v2Subject: string;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

const SUBJECTS: string[] = [
  'KVM: TDX: Drop kvm_x86_ops.link_external_spt()',
  'KVM: TDX: Wrap mapping of leaf and non-leaf S-EPT entries into helpers',
  'KVM: x86/mmu: Fold set_external_spte_present() into its sole caller',
  'KVM: x86/mmu: Plumb param "old_spte" into kvm_x86_ops.set_external_spte()',
  'KVM: TDX: Move KVM_BUG_ON()s in __tdp_mmu_set_spte_atomic() to TDX code',
  'KVM: TDX: Move lockdep assert in __tdp_mmu_set_spte_atomic() to TDX code',
  'KVM: x86/tdp_mmu: Morph !is_frozen_spte() check into a KVM_MMU_WARN_ON()',
  'KVM: x86/mmu: Plumb "sp" _pointer_ into the TDP MMU\'s handle_changed_spte()',
  'KVM: x86/tdp_mmu: Centrally propagate to-present/atomic zap updates to external PTEs',
  'KVM: x86/mmu: Drop KVM_BUG_ON() on shared lock to zap child external PTEs',
  'KVM: TDX: Hoist tdx_sept_remove_private_spte() above set_private_spte()',
  'KVM: TDX: Drop kvm_x86_ops.remove_external_spte()',
  "KVM: TDX: Rename tdx_sept_remove_private_spte() to show it's for leaf SPTEs",
  'KVM: x86: Move error handling inside free_external_spt()',
  'KVM: TDX: Move external page table freeing to TDX code',
];

/** Fixture variation (not a claim about the real posting): step 15's v2 subject words differ, to exercise v2-subject matching. */
export const V2_ONLY_SUBJECT_15 = 'KVM: TDX: Move external page table freeing into TDX code';

export const SERIES: SeriesEntry[] = SUBJECTS.map((subject, i) => {
  const step = i + 1;
  const v2 = step === 15 ? V2_ONLY_SUBJECT_15 : subject;
  return { step, commit: `deadbeef00${pad2(step)}`, subject, v2Subject: `[PATCH v2 ${pad2(step)}/15] ${v2}` };
});

// ---------------------------------------------------------------------------
// Toy kernel state
// ---------------------------------------------------------------------------

export const TDP_MMU_C = 'arch/x86/kvm/mmu/tdp_mmu.c';
export const TDX_C = 'arch/x86/kvm/vmx/tdx.c';
export const OPS_H = 'arch/x86/include/asm/kvm-x86-ops.h';
export const HOST_H = 'arch/x86/include/asm/kvm_host.h';

type CFile = typeof TDP_MMU_C | typeof TDX_C;

interface Fn {
  name: string;
  lines: string[];
  /** Alternative whitespace layout (same tokens). */
  reformatted: boolean;
}

interface KState {
  files: Record<CFile, Fn[]>;
  hooks: Array<{ macro: string; name: string; sig: string }>;
}

type Op =
  | { op: 'change'; file: CFile; fn: string; line?: string }
  | { op: 'add'; file: CFile; fn: string; before?: string }
  | { op: 'del'; file: CFile; fn: string }
  | { op: 'move'; file: CFile; fn: string; before: string }
  | { op: 'rename'; file: CFile; fn: string; to: string }
  | { op: 'reformat'; file: CFile; fn: string }
  | { op: 'hookDel'; name: string }
  | { op: 'hookMacro'; name: string; macro: string }
  | { op: 'hookSig'; name: string; sig: string };

const T = TDP_MMU_C;
const X = TDX_C;

/** What each step does to the toy kernel (loosely following the series.md notes). */
export const STEP_OPS: Record<number, Op[]> = {
  1: [
    { op: 'hookDel', name: 'link_external_spt' },
    { op: 'del', file: T, fn: 'get_external_spt' },
    { op: 'change', file: T, fn: 'set_external_spte_present', line: 'return fixture_set_external(kvm, spte);' },
    { op: 'move', file: X, fn: 'tdx_sept_link_private_spt', before: 'tdx_sept_set_private_spte' },
    { op: 'change', file: X, fn: 'tdx_sept_link_private_spt', line: 'sept_pt = tdx_spte_to_sept_pt(kvm, spte);' },
    { op: 'add', file: X, fn: 'tdx_spte_to_sept_pt', before: 'tdx_sept_link_private_spt' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'if (FIXTURE_BUG_ON(!fixture_present(spte))) return -5;' },
    { op: 'change', file: X, fn: 'tdx_hardware_setup', line: 'fixture_register(kvm, "set_external_spte");' },
  ],
  2: [
    { op: 'add', file: X, fn: 'tdx_sept_map_leaf_spte', before: 'tdx_sept_set_private_spte' },
    { op: 'rename', file: X, fn: 'tdx_sept_link_private_spt', to: 'tdx_sept_map_nonleaf_spte' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'return fixture_dispatch(kvm, spte);' },
  ],
  3: [
    { op: 'del', file: T, fn: 'set_external_spte_present' },
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: 'ret = fixture_set_external(kvm, spte); /* folded */' },
  ],
  4: [
    { op: 'hookSig', name: 'set_external_spte', sig: 'int (*set_external_spte)(struct kvm *kvm, u64 gfn, u64 old_spte, u64 new_spte, int level);' },
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: 'fixture_pass_old(kvm, old_spte);' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'fixture_unused(old_spte);' },
  ],
  5: [
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: '/* KVM_BUG_ON()s moved to TDX */' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'if (FIXTURE_BUG_ON(fixture_present(old_spte))) return -5;' },
  ],
  6: [
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: '/* lockdep assert moved to TDX */' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'fixture_lockdep_assert_held(kvm);' },
  ],
  7: [
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: 'FIXTURE_MMU_WARN_ON(fixture_frozen(spte));' },
    { op: 'reformat', file: T, fn: 'tdp_mmu_iter_set_spte' },
  ],
  8: [
    { op: 'change', file: T, fn: 'handle_changed_spte', line: 'as_id = fixture_sp_as_id(sp);' },
    { op: 'change', file: T, fn: 'handle_removed_pt', line: 'fixture_pass_sp(kvm, sp);' },
    { op: 'change', file: T, fn: 'tdp_mmu_set_spte_atomic', line: 'sp = fixture_sptep_to_sp(kvm);' },
    { op: 'change', file: T, fn: 'tdp_mmu_set_spte', line: 'sp = fixture_sptep_to_sp(kvm);' },
    { op: 'change', file: T, fn: 'tdp_mmu_iter_set_spte', line: 'fixture_no_as_id(kvm);' },
  ],
  9: [
    { op: 'add', file: T, fn: '__handle_changed_spte', before: 'handle_changed_spte' },
    { op: 'change', file: T, fn: 'handle_changed_spte', line: 'FIXTURE_BUG_ON(__handle_changed_spte(kvm, spte));' },
    { op: 'change', file: T, fn: '__tdp_mmu_set_spte_atomic', line: 'return fixture_cmpxchg(kvm, spte);' },
    { op: 'change', file: T, fn: 'tdp_mmu_set_spte_atomic', line: 'ret = fixture_freeze_and_propagate(kvm, spte);' },
    { op: 'change', file: T, fn: 'kvm_tdp_mmu_age_spte', line: 'if (fixture_warn_on_once(fixture_is_mirror(kvm))) return 0;' },
  ],
  10: [{ op: 'change', file: T, fn: 'handle_removed_pt', line: '/* no KVM_BUG_ON(shared) any more */' }],
  11: [
    { op: 'move', file: X, fn: 'tdx_track', before: 'tdx_sept_set_private_spte' },
    { op: 'move', file: X, fn: 'tdx_sept_remove_private_spte', before: 'tdx_sept_set_private_spte' },
  ],
  12: [
    { op: 'hookDel', name: 'remove_external_spte' },
    { op: 'del', file: T, fn: 'remove_external_spte' },
    { op: 'change', file: T, fn: 'handle_removed_pt', line: 'fixture_set_frozen(kvm, sp);' },
    { op: 'change', file: T, fn: 'tdp_mmu_set_spte', line: '/* mirror block gone */' },
    { op: 'change', file: T, fn: '__handle_changed_spte', line: 'if (fixture_is_mirror(kvm)) return fixture_set_external(kvm, spte);' },
    { op: 'change', file: X, fn: 'tdx_sept_remove_private_spte', line: 'return -5; /* now int */' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'if (fixture_present(old_spte)) return tdx_sept_remove_private_spte(kvm, old_spte);' },
    { op: 'change', file: X, fn: 'tdx_hardware_setup', line: 'fixture_unregister(kvm, "remove_external_spte");' },
  ],
  13: [
    { op: 'rename', file: X, fn: 'tdx_sept_remove_private_spte', to: 'tdx_sept_remove_leaf_spte' },
    { op: 'change', file: X, fn: 'tdx_sept_set_private_spte', line: 'fixture_calls(kvm, "tdx_sept_remove_leaf_spte");' },
    { op: 'change', file: X, fn: 'tdx_flush_tlb_all', line: '/* see tdx_sept_remove_leaf_spte() */' },
  ],
  14: [
    { op: 'hookMacro', name: 'free_external_spt', macro: 'KVM_X86_OP_OPTIONAL' },
    { op: 'hookSig', name: 'free_external_spt', sig: 'void (*free_external_spt)(struct kvm *kvm, struct kvm_mmu_page *sp);' },
    { op: 'change', file: T, fn: 'handle_removed_pt', line: 'fixture_free_external(kvm, sp);' },
    { op: 'change', file: X, fn: 'tdx_sept_free_private_spt', line: 'sp->external_spt = 0; /* leak on purpose */' },
  ],
  15: [
    { op: 'rename', file: T, fn: 'tdp_mmu_free_sp', to: '__tdp_mmu_free_sp' },
    { op: 'add', file: T, fn: 'tdp_mmu_free_unused_sp', before: 'tdp_mmu_free_sp_rcu_callback' },
    { op: 'change', file: T, fn: 'tdp_mmu_free_sp_rcu_callback', line: 'fixture_warn_on_once(sp->external_spt);' },
    { op: 'change', file: X, fn: 'tdx_sept_free_private_spt', line: 'fixture_free_page(sp->external_spt);' },
  ],
};

/** Functions a step changes in the toy kernel (moves and reformats excluded): the expected real and model changes. */
export function expectedFunctions(step: number): string[] {
  const out = new Set<string>();
  for (const o of STEP_OPS[step] ?? []) {
    if (o.op === 'change' || o.op === 'add' || o.op === 'del') out.add(o.fn);
    if (o.op === 'rename') {
      out.add(o.fn);
      out.add(o.to);
    }
  }
  return [...out].sort();
}

/** Hook lines a step adds / removes / changes in kvm-x86-ops.h, as `KVM_X86_OP:<name>`. */
export function expectedHooks(step: number): string[] {
  const out = new Set<string>();
  for (const o of STEP_OPS[step] ?? []) {
    if (o.op === 'hookDel' || o.op === 'hookMacro') out.add(`KVM_X86_OP:${o.name}`);
  }
  return [...out].sort();
}

function fn(name: string): Fn {
  return { name, lines: [`fixture_call(kvm, "${name}", 0);`], reformatted: false };
}

export function baseState(): KState {
  return {
    files: {
      [TDP_MMU_C]: [
        'get_external_spt',
        'set_external_spte_present',
        '__tdp_mmu_set_spte_atomic',
        'tdp_mmu_set_spte_atomic',
        'handle_removed_pt',
        'handle_changed_spte',
        'remove_external_spte',
        'tdp_mmu_set_spte',
        'tdp_mmu_iter_set_spte',
        'kvm_tdp_mmu_age_spte',
        'tdp_mmu_free_sp',
        'tdp_mmu_free_sp_rcu_callback',
      ].map(fn),
      [TDX_C]: [
        'tdx_mem_page_aug',
        'tdx_sept_set_private_spte',
        'tdx_sept_link_private_spt',
        'tdx_track',
        'tdx_sept_remove_private_spte',
        'tdx_sept_free_private_spt',
        'tdx_flush_tlb_all',
        'tdx_hardware_setup',
      ].map(fn),
    } as Record<CFile, Fn[]>,
    hooks: [
      { macro: 'KVM_X86_OP_OPTIONAL_RET0', name: 'link_external_spt', sig: 'int (*link_external_spt)(struct kvm *kvm, u64 gfn, int level, void *spt);' },
      { macro: 'KVM_X86_OP_OPTIONAL_RET0', name: 'set_external_spte', sig: 'int (*set_external_spte)(struct kvm *kvm, u64 gfn, int level, u64 mirror_spte);' },
      { macro: 'KVM_X86_OP_OPTIONAL_RET0', name: 'free_external_spt', sig: 'int (*free_external_spt)(struct kvm *kvm, u64 gfn, int level, void *spt);' },
      { macro: 'KVM_X86_OP_OPTIONAL', name: 'remove_external_spte', sig: 'void (*remove_external_spte)(struct kvm *kvm, u64 gfn, int level, u64 spte);' },
    ],
  };
}

function applyOps(state: KState, step: number): void {
  for (const o of STEP_OPS[step] ?? []) {
    if (o.op === 'hookDel') {
      state.hooks = state.hooks.filter((h) => h.name !== o.name);
      continue;
    }
    if (o.op === 'hookMacro' || o.op === 'hookSig') {
      const h = state.hooks.find((x) => x.name === o.name);
      if (!h) throw new Error(`fixture: no hook ${o.name}`);
      if (o.op === 'hookMacro') h.macro = o.macro;
      else h.sig = o.sig;
      continue;
    }
    const list = state.files[o.file];
    const at = (name: string): number => list.findIndex((f) => f.name === name);
    const need = (name: string): number => {
      const i = at(name);
      if (i < 0) throw new Error(`fixture: step ${step}: no function ${name}`);
      return i;
    };
    switch (o.op) {
      case 'change':
        list[need(o.fn)]!.lines.push(o.line ?? `fixture_step(kvm, ${step});`);
        break;
      case 'add': {
        const f = fn(o.fn);
        f.lines.push(`fixture_step(kvm, ${step});`);
        const i = o.before ? need(o.before) : list.length;
        list.splice(i, 0, f);
        break;
      }
      case 'del':
        list.splice(need(o.fn), 1);
        break;
      case 'move': {
        const [f] = list.splice(need(o.fn), 1);
        list.splice(need(o.before), 0, f!);
        break;
      }
      case 'rename':
        list[need(o.fn)]!.name = o.to;
        break;
      case 'reformat':
        list[need(o.fn)]!.reformatted = true;
        break;
    }
  }
}

/** State of the toy kernel after applying `steps` in the given order to the base. */
export function stateAfter(steps: readonly number[]): KState {
  const s = baseState();
  for (const n of steps) applyOps(s, n);
  return s;
}

// ---------------------------------------------------------------------------
// Rendering: C files of the toy kernel, TS files of the toy model
// ---------------------------------------------------------------------------

function renderCFn(f: Fn): string {
  const head = f.reformatted
    ? `static int ${f.name}(struct kvm *kvm,\n\t\t\t\tu64 spte)\n{\n`
    : `static int ${f.name}(struct kvm *kvm, u64 spte)\n{\n`;
  const body = f.lines.map((l) => (f.reformatted ? `\t${l.replace(/\(/g, '( ')}\n` : `\t${l}\n`)).join('');
  return `${head}\tchar *brace = "}"; /* a "}" in a string, a { in a comment */\n${body}\treturn 0;\n}\n`;
}

function renderCFile(file: CFile, fns: Fn[]): string {
  const guard = file === TDP_MMU_C ? 'tdp_mmu' : 'tdx';
  return [
    '// SPDX-License-Identifier: GPL-2.0',
    `/* Toy ${guard} file for tdx-difftest's linker tests. { not kernel code } */`,
    '#include "fixture.h"',
    '#define FIXTURE_BUG_ON(c) ({ int __c = !!(c); if (__c) { fixture_bug(); } __c; })',
    '#define FIXTURE_LONG(x) \\',
    '\tdo { fixture_call(0, "{", x); } while (0)',
    '',
    'static int handle_changed_spte(struct kvm *kvm, u64 spte);',
    '',
    `struct fixture_${guard}_walk {`,
    '\tint (*cb)(struct kvm *kvm);',
    '\tu64 spte;',
    '};',
    '',
    `static const struct fixture_${guard}_walk fixture_${guard}_walker = {`,
    '\t.cb = 0,',
    '};',
    '',
    ...fns.map(renderCFn),
    `FIXTURE_EXPORT(fixture_${guard}_walker);`,
    '',
  ].join('\n');
}

function renderOpsH(s: KState): string {
  return [
    '/* SPDX-License-Identifier: GPL-2.0 */',
    '/* Toy hook list for the linker tests. */',
    '#if !defined(KVM_X86_OP) || !defined(KVM_X86_OP_OPTIONAL)',
    '#error "need KVM_X86_OP"',
    '#endif',
    'KVM_X86_OP(vm_init)',
    ...s.hooks.map((h) => `${h.macro}(${h.name})`),
    'KVM_X86_OP(vcpu_run)',
    '#undef KVM_X86_OP',
    '#undef KVM_X86_OP_OPTIONAL',
    '',
  ].join('\n');
}

function renderHostH(s: KState): string {
  return [
    '/* SPDX-License-Identifier: GPL-2.0 */',
    'struct kvm_x86_ops {',
    '\tint (*vm_init)(struct kvm *kvm);',
    ...s.hooks.map((h) => `\t${h.sig}`),
    '};',
    '',
    'static inline bool fixture_is_td(struct kvm *kvm)',
    '{',
    '\treturn kvm->arch.vm_type == 5;',
    '}',
    '',
  ].join('\n');
}

function renderTsFn(f: Fn): string {
  const head = f.reformatted
    ? `export function ${f.name}(\n  kvm: Kvm,\n  spte: bigint\n): number {\n`
    : `export function ${f.name}(kvm: Kvm, spte: bigint): number {\n`;
  const body = f.lines.map((l) => `  ${l}\n`).join('');
  return `${head}  const brace = "}"; /* a "}" in a string, a { in a comment */\n${body}  return 0;\n}\n`;
}

function renderTsFile(title: string, fns: Fn[]): string {
  return [
    `// Toy ${title} model for tdx-difftest's linker tests.`,
    "import type { Kvm } from './kvm_types.ts';",
    '',
    ...fns.map(renderTsFn),
  ].join('\n');
}

function renderX86Ops(s: KState): string {
  return [
    '// Toy hook table.',
    "export type HookKind = 'OP' | 'OPTIONAL' | 'OPTIONAL_RET0';",
    'export const kvm_x86_ops_decl: Record<string, HookKind> = {',
    "  vm_init: 'OP',",
    ...s.hooks.map((h) => `  ${h.name}: '${h.macro.replace(/^KVM_X86_OP_?/, '') || 'OP'}',`),
    "  vcpu_run: 'OP',",
    '};',
    '',
  ].join('\n');
}

export function kernelFiles(s: KState): Record<string, string> {
  return {
    [OPS_H]: renderOpsH(s),
    [HOST_H]: renderHostH(s),
    [TDP_MMU_C]: renderCFile(TDP_MMU_C, s.files[TDP_MMU_C]),
    [TDX_C]: renderCFile(TDX_C, s.files[TDX_C]),
  };
}

export function modelFilesFor(s: KState): Record<string, string> {
  return {
    'x86_ops.ts': renderX86Ops(s),
    'tdp_mmu.ts': renderTsFile('TDP MMU', s.files[TDP_MMU_C]),
    'tdx.ts': renderTsFile('TDX', s.files[TDX_C]),
  };
}

// ---------------------------------------------------------------------------
// Temp folders and repositories
// ---------------------------------------------------------------------------

const made: string[] = [];

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `tdx-difftest-${prefix}-`));
  made.push(d);
  return d;
}

/** Removes every temp folder made through tempDir. */
export function cleanupTemp(): void {
  while (made.length > 0) rmSync(made.pop()!, { recursive: true, force: true });
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

function slugOf(subject: string): string {
  return subject
    .replace(/^KVM: [^:]+: /, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
}

export interface StepsOptions {
  /** Mainline commit per step (default: the fake hashes of SERIES). */
  commits?: Record<number, string>;
  /** Overrides of manifest.touches. */
  touches?: Record<number, string[]>;
}

/** Step folders 0..15 (toy models) under a new temp folder, with manifests; returns the registry. */
export function makeSteps(opts: StepsOptions = {}): StepInfo[] {
  const root = tempDir('steps');
  const steps: StepInfo[] = [];
  const state = baseState();
  for (let n = 0; n <= 15; n++) {
    if (n > 0) applyOps(state, n);
    const entry = n > 0 ? SERIES[n - 1]! : null;
    const manifest: StepManifest = {
      step: n,
      slug: n === 0 ? 'base' : slugOf(entry!.subject),
      subject: n === 0 ? 'base: Linux 7.1 + the 8 prerequisites' : entry!.subject,
      author: 'Fixture Author',
      commit: n === 0 ? null : (opts.commits?.[n] ?? entry!.commit),
      v2Subject: n === 0 ? null : entry!.v2Subject,
      touches: opts.touches?.[n] ?? (n === 0 ? [] : expectedFunctions(n)),
      intents: [],
      assumptions: [],
    };
    const dir = join(root, 'versions', `v${pad2(n)}-${manifest.slug}`);
    writeTree(dir, {
      ...modelFilesFor(state),
      'step.ts': `export const manifest = ${JSON.stringify(manifest, null, 2)};\n`,
    });
    steps.push({ manifest, dir });
  }
  return steps;
}

export type SubjectStyle = 'merged' | 'v2' | 'v2-requoted' | 'v3' | 'reworded';

export interface RepoOptions {
  /** Steps to commit, in this order (default 1..15). */
  order?: number[];
  /** Extra commits: after the commit of step `after` (0 = right after the base). */
  extras?: Array<{ after: number; subject: string }>;
  style?: SubjectStyle;
}

export interface KernelRepoFixture {
  dir: string;
  git: SimpleGit;
  base: string;
  head: string;
  /** Full hash of each step's commit. */
  hashes: Record<number, string>;
  extras: string[];
}

function subjectFor(step: number, style: SubjectStyle): string {
  const e = SERIES[step - 1]!;
  switch (style) {
    case 'merged':
      return e.subject;
    case 'v2':
      return e.v2Subject;
    case 'v2-requoted':
      // the v2 subject without its "[PATCH v2 NN/15]" tag, quotes swapped
      return e.v2Subject
        .replace(/^\[[^\]]*\]\s*/, '')
        .replace(/["']/g, (q) => (q === '"' ? "'" : '"'));
    case 'v3':
      return `[PATCH v3 ${pad2(step)}/15] ${e.subject}`;
    case 'reworded':
      return `fixture: commit standing for step ${step}`;
  }
}

export async function initRepo(dir: string): Promise<SimpleGit> {
  const git = simpleGit({ baseDir: dir });
  await git.init();
  await git.addConfig('user.name', 'Fixture Tester');
  await git.addConfig('user.email', 'fixture@example.invalid');
  await git.addConfig('commit.gpgsign', 'false');
  await git.raw(['checkout', '-q', '-b', 'master']);
  return git;
}

async function commitAll(git: SimpleGit, subject: string): Promise<string> {
  await git.add(['-A']);
  await git.raw(['commit', '-q', '--allow-empty', '-m', subject, '-m', 'Fixture commit body.']);
  return (await git.revparse(['HEAD'])).trim();
}

/** A toy kernel tree: a base commit, then one commit per step (and extras), each changing the C files like the step. */
export async function makeKernelRepo(opts: RepoOptions = {}): Promise<KernelRepoFixture> {
  const dir = tempDir('kernel');
  const git = await initRepo(dir);
  const style = opts.style ?? 'merged';
  const order = opts.order ?? SERIES.map((e) => e.step);
  const applied: number[] = [];
  const extras: string[] = [];
  let extraCount = 0;
  const doExtras = async (after: number): Promise<void> => {
    for (const x of opts.extras ?? []) {
      if (x.after !== after) continue;
      extraCount++;
      writeTree(dir, { [`Documentation/fixture/extra-${extraCount}.rst`]: `${x.subject}\n` });
      extras.push(await commitAll(git, x.subject));
    }
  };
  writeTree(dir, kernelFiles(stateAfter([])));
  writeTree(dir, { 'README': 'Toy kernel tree for tdx-difftest tests.\n' });
  const base = await commitAll(git, 'fixture: base tree (Linux 7.1 + prerequisites stand-in)');
  await doExtras(0);
  const hashes: Record<number, string> = {};
  for (const n of order) {
    applied.push(n);
    writeTree(dir, kernelFiles(stateAfter(applied)));
    hashes[n] = await commitAll(git, subjectFor(n, style));
    await doExtras(n);
  }
  const head = (await git.revparse(['HEAD'])).trim();
  return { dir, git, base, head, hashes, extras };
}
