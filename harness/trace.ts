// The trace format: JSON files validated with zod. A bad file gets one line naming
// the file, the JSON path and what was expected (InputError → exit status 2).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { InputError } from '../src/cli/errors.ts';
import * as status from '../src/hw/status.ts';
import { SEAMCALL_NAMES, type SeamcallName } from '../src/hw/tdx_module.ts';
import type { TraceOp } from '../src/trace_types.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const CORPUS_DIR = join(here, 'traces');

/** A GPA as a number or a "0x…" string. */
const gpa = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^0x[0-9a-fA-F]+$/, 'a hex string like "0x1000"').transform((s) => parseInt(s, 16)),
]).refine((n) => n % 4096 === 0, 'a 4 KiB-aligned GPA');

const seamcall = z.enum(SEAMCALL_NAMES as unknown as [SeamcallName, ...SeamcallName[]]);
const count = z.number().int().positive();
const vcpu = z.number().int().nonnegative();
const npages = z.number().int().positive().default(1);

const statusValue = z.string().transform((s, ctx) => {
  if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return BigInt(s);
  const v = (status as Record<string, unknown>)[s];
  if (typeof v === 'bigint' && s.startsWith('TDX_')) return v;
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'a TDX status name (e.g. "TDX_EPT_WALK_FAILED") or a hex value' });
  return z.NEVER;
});

const op = z.discriminatedUnion('op', [
  z.object({ op: z.literal('fault'), vcpu: vcpu.default(0), gpa }).strict(),
  z.object({ op: z.literal('populate'), gpa }).strict(),
  z.object({ op: z.literal('finalize') }).strict(),
  z.object({ op: z.literal('gmem_invalidate'), gpa, npages }).strict(),
  z.object({ op: z.literal('convert_to_shared'), gpa, npages }).strict(),
  z.object({ op: z.literal('convert_to_private'), gpa, npages }).strict(),
  z.object({ op: z.literal('zap_gfn_range'), gpa, npages }).strict(),
  z.object({ op: z.literal('memslot_delete'), slot: z.number().int().nonnegative() }).strict(),
  z.object({ op: z.literal('mmu_notifier_unmap'), gpa, npages }).strict(),
  z.object({ op: z.literal('age'), gpa, npages }).strict(),
  z.object({ op: z.literal('fast_zap') }).strict(),
  z.object({ op: z.literal('vcpu_enter'), vcpu: vcpu.default(0) }).strict(),
  z.object({ op: z.literal('vcpu_exit'), vcpu: vcpu.default(0) }).strict(),
  z.object({ op: z.literal('accept'), vcpu: vcpu.default(0), gpa }).strict(),
  z.object({ op: z.literal('release_hkid') }).strict(),
  z.object({ op: z.literal('destroy') }).strict(),
  z.object({ op: z.literal('inject_busy'), seamcall, gpa: gpa.optional(), count }).strict(),
  z.object({
    op: z.literal('inject_status'), seamcall, status: statusValue, gpa: gpa.optional(),
    // only a call on a page of this kind (the module's PAMT type): "SEPT", "GUEST", "TDR", "TDCS", "TDVPR", "TDCX"
    page: z.enum(['SEPT', 'GUEST', 'TDR', 'TDCS', 'TDVPR', 'TDCX']).optional(),
    count: count.default(1),
  }).strict(),
  z.object({
    op: z.literal('probe_set_spte'), root: z.enum(['mirror', 'direct']), gpa, level: z.number().int().min(1).max(4),
    new: z.enum(['nonpresent', 'frozen', 'leaf', 'nonleaf', 'nonleaf-no-external', 'nonleaf-bad-gfn']), lock: z.enum(['read', 'write']),
  }).strict(),
  z.object({ op: z.literal('probe_age'), root: z.enum(['mirror', 'direct']), gpa }).strict(),
]);

const memslot = z.object({
  id: z.number().int().nonnegative(),
  gpa,
  npages: z.number().int().positive(),
  gmem: z.boolean().default(true),
}).strict();

export const traceSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a lowercase name like "private-fault"'),
  description: z.string().default(''),
  vm: z.object({
    td: z.enum(['initialized', 'runnable']).default('runnable'),
    vcpus: z.number().int().min(1).max(8).default(1),
    sharedBit: z.union([z.literal(47), z.literal(51)]).default(47),
    adEnabled: z.boolean().default(true),
    /** The TD attribute SEPT_VE_DISABLE: an access to a PENDING page exits to KVM. */
    septVeDisable: z.boolean().default(false),
    /** Lets a probe trace use a configuration no kernel runs a TD in (vm.adEnabled: false). */
    unreachableConfig: z.boolean().default(false),
    proveMmu: z.boolean().default(true),
    memslots: z.array(memslot).default([{ id: 0, gpa: 0, npages: 4096, gmem: true }]),
  }).strict().default({}),
  threads: z.array(z.object({
    name: z.string().min(1),
    ops: z.array(op).min(1),
  }).strict()).min(1),
  schedule: z.array(z.number().int().nonnegative()).optional(),
  budget: z.number().int().positive().default(200_000),
}).strict().superRefine((t, ctx) => {
  if (!t.vm.adEnabled && !t.vm.unreachableConfig) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom, path: ['vm', 'adEnabled'],
      message: 'false is a configuration no kernel runs a TD in (tdx_hardware_setup() disables TDX without EPT A/D bits, and creating the TD fails with -EINVAL); a probe of that code must also set "vm.unreachableConfig": true',
    });
  }
  t.schedule?.forEach((s, i) => {
    if (s >= t.threads.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['schedule', i], message: `a thread index below ${t.threads.length}` });
  });
  t.threads.forEach((th, ti) => th.ops.forEach((o, oi) => {
    if ('vcpu' in o && typeof o.vcpu === 'number' && o.vcpu >= t.vm.vcpus) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['threads', ti, 'ops', oi, 'vcpu'], message: `a vCPU index below vm.vcpus (${t.vm.vcpus})` });
    }
  }));
});

export type Trace = z.output<typeof traceSchema> & { threads: { name: string; ops: TraceOp[] }[] };

function jsonPath(path: (string | number)[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

export function parseTrace(text: string, file: string): Trace {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = traceSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    let msg = issue.message;
    if (issue.code === z.ZodIssueCode.invalid_union_discriminator) msg = `expected "op" to be one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}`;
    else if (issue.code === z.ZodIssueCode.unrecognized_keys) msg = `unexpected key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    else if (issue.code === z.ZodIssueCode.invalid_type) msg = `expected ${issue.expected}, got ${issue.received}`;
    throw new InputError(`${file}: at ${jsonPath(issue.path)}: ${msg}`);
  }
  return r.data as Trace;
}

export function loadTrace(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InputError(`${file}: no such trace file`);
  }
  return parseTrace(text, file);
}

/** The built-in corpus, sorted by name. */
export function corpusFiles(): string[] {
  return readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.trace.json')).sort().map((f) => join(CORPUS_DIR, f));
}

export function loadCorpus(): Trace[] {
  return corpusFiles().map(loadTrace);
}

/** A trace argument: a path, or the name of a built-in trace. */
export function resolveTrace(arg: string): Trace {
  if (/^[a-z0-9-]+$/.test(arg)) {
    const f = join(CORPUS_DIR, `${arg}.trace.json`);
    try {
      return parseTrace(readFileSync(f, 'utf8'), f);
    } catch (e) {
      if (e instanceof InputError && !e.message.endsWith('no such trace file')) throw e;
    }
  }
  return loadTrace(arg);
}

