// The trace format: JSON files validated with zod. A bad file gets one line naming
// the file, the JSON path and what was expected (InputError → exit status 2).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod/v4';
import { InputError } from '../src/cli/errors.ts';
import * as status from '../src/hw/status.ts';
import { SEAMCALL_NAMES, type SeamcallName } from '../src/hw/tdx_module.ts';
import type { TraceOp } from '../src/trace_types.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const CORPUS_DIR = join(here, 'traces');

/**
 * Limits that keep every replay a bounded amount of work (README "Traces"): a trace
 * outside them is bad input, not a hang.
 */
export const TRACE_LIMITS = {
  /** Bytes of a trace file. */
  fileBytes: 4 * 1024 * 1024,
  /** GPAs are below 2^52 (MAXPHYADDR). */
  gpaBits: 52,
  /** Pages of a range operation (256 MiB). */
  npages: 65536,
  /** Pages of a memslot (64 GiB). */
  slotPages: 1 << 24,
  /** How many calls one injection answers. */
  injectCount: 1_000_000,
  /** Yield points one thread may pass (the livelock bound; default DEFAULT_BUDGET). */
  budget: 1_000_000,
  threads: 16,
  opsPerThread: 10_000,
  scheduleEntries: 1_000_000,
} as const;

/**
 * Yield points one thread may pass before it is a livelock: six times what the busiest
 * corpus thread needs (teardown on step 0, about 8,300), so that a retry loop that spins
 * (an injected BUSY forever, say) ends in well under a second per step.
 */
export const DEFAULT_BUDGET = 50_000;

/** A GPA as a number or a "0x…" string. */
const gpa = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^0x[0-9a-fA-F]{1,13}$/, 'a hex string like "0x1000" (below 2^52)').transform((s) => parseInt(s, 16)),
]).refine((n) => n < 2 ** TRACE_LIMITS.gpaBits, `a GPA below 2^${TRACE_LIMITS.gpaBits}`).refine((n) => n % 4096 === 0, 'a 4 KiB-aligned GPA');

const seamcall = z.enum(SEAMCALL_NAMES as unknown as [SeamcallName, ...SeamcallName[]]);
const count = z.number().int().positive().max(TRACE_LIMITS.injectCount);
const vcpu = z.number().int().nonnegative();
const npages = z.number().int().positive().max(TRACE_LIMITS.npages).default(1);

const statusValue = z.string().transform((s, ctx) => {
  if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return BigInt(s);
  const v = (status as Record<string, unknown>)[s];
  if (typeof v === 'bigint' && s.startsWith('TDX_')) return v;
  ctx.addIssue({ code: 'custom', message: 'a TDX status name (e.g. "TDX_EPT_WALK_FAILED") or a hex value' });
  return z.NEVER;
});

const op = z.discriminatedUnion('op', [
  z.object({ op: z.literal('fault'), vcpu: vcpu.default(0), gpa }).strict(),
  z.object({ op: z.literal('populate'), gpa }).strict(),
  z.object({ op: z.literal('finalize') }).strict(),
  z.object({ op: z.literal('gmem_invalidate'), gpa, npages }).strict(),
  z.object({ op: z.literal('gmem_release') }).strict(),
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
  npages: z.number().int().positive().max(TRACE_LIMITS.slotPages),
  gmem: z.boolean().default(true),
}).strict();

const vmSchema = z.object({
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
}).strict();

export const traceSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a lowercase name like "private-fault"'),
  description: z.string().default(''),
  vm: vmSchema.prefault({}),
  threads: z.array(z.object({
    name: z.string().min(1),
    ops: z.array(op).min(1).max(TRACE_LIMITS.opsPerThread),
  }).strict()).min(1).max(TRACE_LIMITS.threads),
  schedule: z.array(z.number().int().nonnegative()).max(TRACE_LIMITS.scheduleEntries).optional(),
  budget: z.number().int().positive().max(TRACE_LIMITS.budget).default(DEFAULT_BUDGET),
}).strict().superRefine((t, ctx) => {
  if (!t.vm.adEnabled && !t.vm.unreachableConfig) {
    ctx.addIssue({
      code: 'custom', path: ['vm', 'adEnabled'],
      message: 'false is a configuration no kernel runs a TD in (tdx_hardware_setup() disables TDX without EPT A/D bits, and creating the TD fails with -EINVAL); a probe of that code must also set "vm.unreachableConfig": true',
    });
  }
  t.schedule?.forEach((s, i) => {
    if (s >= t.threads.length) ctx.addIssue({ code: 'custom', path: ['schedule', i], message: `a thread index below ${t.threads.length}` });
  });
  t.threads.forEach((th, ti) => th.ops.forEach((o, oi) => {
    if ('vcpu' in o && typeof o.vcpu === 'number' && o.vcpu >= t.vm.vcpus) {
      ctx.addIssue({ code: 'custom', path: ['threads', ti, 'ops', oi, 'vcpu'], message: `a vCPU index below vm.vcpus (${t.vm.vcpus})` });
    }
  }));
});

export type Trace = z.output<typeof traceSchema> & { threads: { name: string; ops: TraceOp[] }[] };

function jsonPath(path: (string | number)[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

/**
 * Where a JSON syntax error is, as "at line L, column C". Node gives a position, or (for
 * an unexpected token) quotes the input around it: ..."<10 characters before><token>…".
 */
function jsonErrorAt(text: string, message: string): string {
  let pos: number | null = null;
  const m = /at position (\d+)/.exec(message);
  if (m) pos = Number(m[1]);
  const q = /^Unexpected token '(.)', (\.\.\.)?"([\s\S]*)"(?:\.\.\.)? is not valid JSON$/.exec(message);
  if (pos === null && q) {
    const [, token, cut, snippet] = q;
    const at = text.indexOf(snippet!);
    if (at >= 0) pos = cut ? at + 10 : at + snippet!.indexOf(token!);
  }
  if (pos === null) return /end of JSON input/.test(message) ? 'at the end of the input (it stops too early)' : '(no position given)';
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `at line ${line}, column ${column}`;
}

const MAX_ISSUES_SHOWN = 6;

/** The value at a JSON path of the parsed input (undefined where there is none). */
function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), json);
}

/** The keys the schema allows for the object at `path` of `json` (an op's keys depend on its "op"). */
function allowedKeys(json: unknown, path: readonly (string | number)[]): string[] | null {
  const tail = path.slice(-2);
  if (path.length === 0) return Object.keys(traceSchema.shape);
  if (path.length === 1 && path[0] === 'vm') return Object.keys(vmSchema.shape);
  if (path.length === 2 && path[0] === 'threads') return ['name', 'ops'];
  if (tail[0] === 'memslots') return Object.keys(memslot.shape);
  if (tail[0] === 'ops') {
    const name = (valueAt(json, path) as { op?: unknown } | undefined)?.op;
    const branch = op.options.find((o) => o.shape.op.value === name);
    return branch ? Object.keys(branch.shape) : null;
  }
  return null;
}

const OP_NAMES = op.options.map((o) => o.shape.op.value);

/** What a JSON value is, in the words of an "expected …, got …" message. */
function kindOf(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function issueMessage(issue: z.core.$ZodIssue, json: unknown): string {
  if (issue.code === 'invalid_union') {
    if ((issue as { note?: string }).note === 'No matching discriminator') return `expected "op" to be one of ${OP_NAMES.map((o) => JSON.stringify(o)).join(', ')}`;
    // say what was wrong with the value in the branch of its own type (a number, a "0x…" string)
    const specific = issue.errors.flat().find((i) => i.code !== 'invalid_type');
    return specific ? specific.message : `expected one of its forms, got ${kindOf(valueAt(json, issue.path))}`;
  }
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeys(json, issue.path as (string | number)[]);
    return `unexpected key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${allowed ? ` (allowed: ${allowed.join(', ')})` : ''}`;
  }
  if (issue.code === 'invalid_type') return `expected ${issue.expected}, got ${kindOf(valueAt(json, issue.path))}`;
  return issue.message;
}

/** The trace format as JSON Schema (draft 2020-12), generated from the schema above: what a trace file may hold. */
export function traceJsonSchema(): unknown {
  return z.toJSONSchema(traceSchema, { io: 'input', unrepresentable: 'any' });
}

export function parseTrace(text: string, file: string): Trace {
  return parseJsonWith(text, file, traceSchema) as Trace;
}

/**
 * Parses `text` (of `file`) as JSON and validates it with `schema`: a syntax error with
 * its line:column, or every problem at once (up to a few), each with its JSON path, as
 * one line of bad input.
 */
export function parseJsonWith<T>(text: string, file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // one line: where, not the raw input Node quotes in its message
    throw new InputError(`${file}: not valid JSON ${jsonErrorAt(text, (e as Error).message)}`);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const all = r.error.issues.map((issue) => `at ${jsonPath(issue.path as (string | number)[])}: ${issueMessage(issue, json)}`);
    const shown = all.slice(0, MAX_ISSUES_SHOWN);
    const more = all.length > shown.length ? `; and ${all.length - shown.length} more` : '';
    throw new InputError(`${file}: ${shown.join('; ')}${more}`);
  }
  return r.data;
}

/**
 * JSON.stringify's replacer for a trace in its file's form, as a user writes it: GPAs and
 * statuses in hex (statuses are bigints once parsed).
 */
export function traceFileReplacer(key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  if (key === 'gpa' && typeof v === 'number') return '0x' + v.toString(16);
  return v;
}

/** A trace as a file a user can save and replay. */
export function traceFileJson(t: Trace): string {
  return JSON.stringify(t, traceFileReplacer, 2) + '\n';
}

export function loadTrace(file: string): Trace {
  return parseTrace(readInputFile(file, 'trace file', TRACE_LIMITS.fileBytes), file);
}

/** The text of an input file (`what` names it in errors), refusing what is not a regular file or is over `maxBytes`. */
export function readInputFile(file: string, what: string, maxBytes: number): string {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new InputError(`${file}: no such ${what}`);
  }
  // never read a device, a FIFO or a huge file: it would not end, or not soon
  if (!st.isFile()) throw new InputError(`${file}: not a regular file`);
  if (st.size > maxBytes) throw new InputError(`${file}: ${st.size} bytes, more than a ${what} may have (${maxBytes})`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
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

