// The published JSON Schemas: schemas/*.schema.json are what `tdx-difftest schema NAME`
// prints (regenerate them with it when a format changes), and `check --json` output
// fits the report schema.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReportSchema, SCHEMAS } from '../../harness/report_schema.ts';
import { runMain } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('published JSON Schemas', () => {
  it.each(Object.keys(SCHEMAS))('schemas/%s.schema.json is what `schema` prints', async (name) => {
    const r = await runMain(['schema', name]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')).toBe(r.out);
  });

  it('check --json fits the report schema, failing cases and all', async () => {
    const ok = await runMain(['check', 'teardown', 'zap-track-stays-busy', '--from', '8', '--to', '12', '--json', '--coverage']);
    const report = checkReportSchema.parse(JSON.parse(ok.out));
    expect(report.results.length).toBe(10);
    expect(report.results.some((x) => x.outsideContract !== undefined)).toBe(true);
    // a field the schema does not know is caught (the schema is strict)
    const extra = { ...JSON.parse(ok.out), surprise: 1 };
    expect(checkReportSchema.safeParse(extra).success).toBe(false);
  });

  it('the trace schema lists every operation and the vm keys', () => {
    const s = JSON.stringify(SCHEMAS.trace!());
    for (const op of ['fault', 'populate', 'inject_status', 'probe_set_spte']) expect(s).toContain(`"const":"${op}"`);
    for (const key of ['septVeDisable', 'unreachableConfig', 'memslots']) expect(s).toContain(`"${key}"`);
  });

  it('an unknown schema name is bad input', async () => {
    const r = await runMain(['schema', 'nope']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('tdx-difftest: schema: "nope" is not one of trace, check-report, exhaustive-part\n');
  });
});
