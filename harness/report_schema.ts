// The JSON forms the tool publishes, as schemas: `check --json` (the report) and trace
// files. `tdx-difftest schema NAME` prints one as JSON Schema (draft 2020-12); the copies
// under schemas/ are those outputs, kept equal by a test.
import { z } from 'zod/v4';
import { traceJsonSchema } from './trace.ts';

export const CHECK_REPORT_SCHEMA_ID = 'tdx-difftest/check-report/v1';

const stepRef = z.object({ step: z.number().int(), slug: z.string(), subject: z.string(), commit: z.string().nullable() }).strict();

const difference = z.object({
  layer: z.enum(['functional', 'diagnostic']),
  side: z.enum(['removed', 'added']),
  /** An observed event, or a final-state entry `{ kind: 'final', what, key, value }`. */
  event: z.record(z.string(), z.unknown()),
  /** The intents explaining it; empty: unexpected. */
  intents: z.array(z.string()),
  madeBy: z.number().int().optional(),
}).strict();

export const checkResultSchema = z.object({
  trace: z.string(),
  step: z.number().int(),
  base: z.number().int(),
  verdict: z.enum(['same', 'intended', 'unexpected']),
  intents: z.array(z.string()),
  differences: z.array(difference),
  invariants: z.number().int(),
  approximate: z.boolean().optional(),
  error: z.string().optional(),
  missing: z.array(z.string()).optional(),
  outsideContract: z.array(z.string()).optional(),
  firstDivergence: z.object({
    thread: z.string(),
    op: z.string(),
    ops: z.array(z.object({ thread: z.string(), op: z.string(), base: z.string(), step: z.string() }).strict()),
  }).strict().optional(),
  undoes: z.number().int().optional(),
}).strict();

const coverage = z.object({ step: z.number().int(), intent: z.string(), summary: z.string(), witnesses: z.array(z.string()) }).strict();

export const checkReportSchema = z.object({
  schema: z.literal(CHECK_REPORT_SCHEMA_ID),
  steps: z.array(stepRef),
  from: z.number().int(),
  to: z.number().int(),
  traces: z.array(z.string()),
  results: z.array(checkResultSchema),
  coverageCounted: z.boolean(),
  coverage: z.array(coverage),
  gaps: z.array(coverage),
  counts: z.object({ same: z.number().int(), intended: z.number().int(), unexpected: z.number().int() }).strict(),
  exitCode: z.union([z.literal(0), z.literal(1)]),
}).strict();

export const EXHAUSTIVE_PART_SCHEMA_ID = 'tdx-difftest/exhaustive-part/v1';

/** `explore --exhaustive K --shard I/N --json`: one shard's part, for `explore merge`. */
export const exhaustivePartSchema = z.object({
  schema: z.literal(EXHAUSTIVE_PART_SCHEMA_ID),
  k: z.number().int().min(1),
  alphabet: z.number().int().min(1),
  steps: z.number().int().min(0),
  from: z.number().int(),
  to: z.number().int(),
  shard: z.object({ index: z.number().int().min(0), count: z.number().int().min(1) }).strict().refine((s) => s.index < s.count, 'expected index < count'),
  traces: z.number().int().min(0),
  prunedPrefixes: z.number().int().min(0),
  covered: z.number().int().min(0),
  complete: z.boolean(),
  states: z.number().int().min(0),
  unexpected: z.array(z.object({ seq: z.array(z.number().int().min(0)), results: z.array(checkResultSchema) }).strict()),
}).strict();

export const SCHEMAS: Record<string, () => unknown> = {
  trace: traceJsonSchema,
  'check-report': () => z.toJSONSchema(checkReportSchema),
  'exhaustive-part': () => z.toJSONSchema(exhaustivePartSchema),
};
