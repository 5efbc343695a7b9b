// What identifies an observation event of each kind, and the manifest checks that
// make every intent pattern say, field by field, which events it means.
import type { EventPattern, FieldValue, Intent, StepManifest } from './step_types.ts';

/** SEAMCALLs whose event carries a GPA and a level. */
const GPA_LEVEL_SEAMCALLS = new Set(['TDH.MEM.PAGE.AUG', 'TDH.MEM.PAGE.REMOVE', 'TDH.MEM.RANGE.BLOCK', 'TDH.MEM.SEPT.ADD', 'TDH.MEM.SEPT.REMOVE', 'TDH.MEM.RANGE.UNBLOCK', 'TDH.MEM.PAGE.RELOCATE', 'TDH.MEM.PAGE.PROMOTE', 'TDH.MEM.PAGE.DEMOTE']);
/** SEAMCALLs whose event names a page instead (no GPA). */
const PAGE_SEAMCALLS = new Set(['TDH.PHYMEM.PAGE.RECLAIM', 'TDH.PHYMEM.PAGE.WBINVD']);

/** Final-state sections (harness/compare.ts FINAL_SECTIONS). */
export const FINAL_SECTION_NAMES = ['end', 'vm', 'mirror', 'direct', 'sept', 'septPages', 'pages.leaked', 'pages.heldByModule', 'stats'] as const;

/**
 * The fields that identify an event of this kind (and, for SEAMCALLs and tracepoints,
 * this name): a pattern must give each of them, exactly or as ANY(reason). null for a
 * kind no pattern may name.
 */
export function identifyingFields(kind: string, name: string | undefined): string[] | null {
  switch (kind) {
    case 'tracepoint':
      if (name === 'kvm_mmu_spte_requested') return ['name', 'gfn', 'level'];
      return ['name', 'gfn', 'level', 'old', 'new'];
    case 'seamcall':
      if (name !== undefined && GPA_LEVEL_SEAMCALLS.has(name)) return ['name', 'gpa', 'level', 'status'];
      if (name === 'TDH.MEM.PAGE.ADD') return ['name', 'gpa', 'status'];
      if (name !== undefined && PAGE_SEAMCALLS.has(name)) return ['name', 'page', 'status'];
      if (name === 'TDH.VP.ENTER') return ['name', 'vcpu', 'status'];
      return ['name', 'status'];
    case 'tdcall':
      return ['name', 'gpa', 'status'];
    case 'result':
      return ['name', 'value'];
    case 'bug':
    case 'warn':
    case 'mmu_warn':
    case 'lockdep':
      return ['site', 'cond'];
    case 'crash':
      return ['site', 'cond'];
    case 'kick':
      return ['request'];
    case 'vm':
      return ['state'];
    case 'invariant':
      return ['rule'];
    case 'free':
      return ['site', 'what'];
    case 'final':
      return ['what', 'key', 'value'];
    case 'end':
      return ['end'];
    case 'livelock':
    case 'deadlock':
      return [];
    default:
      return null;
  }
}

/** Keys of a pattern that are not event fields. */
export const PATTERN_META = new Set(['side', 'kind', 'count', 'optional', 'delta']);

function isAny(v: unknown): v is { any: string } {
  return typeof v === 'object' && v !== null && typeof (v as { any?: unknown }).any === 'string';
}

function describe(p: EventPattern): string {
  const name = typeof p.name === 'string' ? ` ${p.name}` : typeof p.site === 'string' ? ` in ${p.site}` : typeof p.what === 'string' ? ` ${p.what}` : '';
  return `${p.side} ${p.kind}${name}`;
}

/** The problems of one pattern, each "<path> (<what>): <problem>". */
export function patternProblems(p: EventPattern, path: string, finalOnly: boolean | 'rewrite' | null): string[] {
  const out: string[] = [];
  const at = `${path} (${describe(p)})`;
  if (p.side !== 'removed' && p.side !== 'added') out.push(`${at}: side must be "removed" or "added", got ${JSON.stringify(p.side)}`);
  if ((finalOnly === true || finalOnly === 'rewrite') && p.kind !== 'final') out.push(`${at}: only final-state patterns (kind "final") belong here`);
  if (finalOnly === false && p.kind === 'final') out.push(`${at}: a final-state pattern belongs in the intent's "final" list`);
  const name = typeof p.name === 'string' ? p.name : undefined;
  const needed = identifyingFields(p.kind, name);
  if (needed === null) {
    out.push(`${at}: unknown event kind "${p.kind}"`);
    return out;
  }
  const fields = p.kind === 'final' && p.delta !== undefined ? needed.filter((f) => f !== 'value') : needed;
  if (p.delta !== undefined) {
    if (p.kind !== 'final' || finalOnly !== 'rewrite') out.push(`${at}: delta belongs to final-state patterns of a rewrite`);
    if (typeof p.delta !== 'number' || !Number.isInteger(p.delta) || p.delta === 0) out.push(`${at}: delta must be a whole number other than 0`);
    if (p.value !== undefined) out.push(`${at}: give value or delta, not both`);
    if (p.side !== 'added') out.push(`${at}: a delta pattern is the added side (new value = old value + delta)`);
  }
  for (const f of fields) {
    const v = p[f];
    if (v === undefined) out.push(`${at}: identifying field "${f}" not given (give its value, or ANY('why') to mean any value)`);
    else if (isAny(v) && v.any.trim() === '') out.push(`${at}: ANY() for "${f}" needs a reason`);
  }
  for (const [k, v] of Object.entries(p)) {
    if (PATTERN_META.has(k) || v === undefined) continue;
    if (!(typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || isAny(v))) out.push(`${at}: field "${k}" must be a string, number, boolean or ANY('why')`);
  }
  if (p.count !== undefined && p.count !== 'some' && !(typeof p.count === 'number' && Number.isInteger(p.count) && p.count >= 1)) out.push(`${at}: count must be a whole number ≥ 1 or 'some'`);
  if (p.optional !== undefined && (typeof p.optional !== 'string' || p.optional.trim() === '')) out.push(`${at}: optional must be the reason the change may not happen`);
  if (p.kind === 'final' && typeof p.what === 'string' && !(FINAL_SECTION_NAMES as readonly string[]).includes(p.what)) out.push(`${at}: no final-state section "${p.what}"`);
  return out;
}

/** The problems of one intent (paths relative to the manifest). */
export function intentProblems(intent: Intent, path: string): string[] {
  const out: string[] = [];
  if (!Array.isArray(intent.witnesses) || intent.witnesses.length === 0) out.push(`${path} (${intent.id}): names no witness trace`);
  if (!Array.isArray(intent.rewrites) || intent.rewrites.length === 0) out.push(`${path} (${intent.id}): has no rewrite`);
  (intent.rewrites ?? []).forEach((r, ri) => {
    const rp = `${path}.rewrites[${ri}]`;
    if (isAny(r.op)) {
      if (r.op.any.trim() === '') out.push(`${rp} (${intent.id}): ANY() for "op" needs a reason`);
    } else {
      const ops = Array.isArray(r.op) ? r.op : [r.op];
      if (ops.length === 0 || ops.some((o) => typeof o !== 'string' || o === '')) out.push(`${rp} (${intent.id}): op must name the trace operation(s) it rewrites, or be ANY('why')`);
    }
    if ((r.events ?? []).length === 0 && (r.moves ?? []).length === 0) out.push(`${rp} (${intent.id}): rewrites nothing (no events, no moves)`);
    if (r.repeats !== undefined && (typeof r.repeats !== 'string' || r.repeats.trim() === '')) out.push(`${rp} (${intent.id}): repeats must be the reason the change may happen several times in one operation`);
    if (r.repeats !== undefined && (r.events ?? []).every((e) => e.optional !== undefined)) out.push(`${rp} (${intent.id}): repeats needs an event pattern that is not optional (it fixes how many times the change happened)`);
    (r.events ?? []).forEach((p, pi) => out.push(...patternProblems(p, `${rp}.events[${pi}]`, false)));
    (r.final ?? []).forEach((p, pi) => out.push(...patternProblems(p, `${rp}.final[${pi}]`, 'rewrite')));
    (r.moves ?? []).forEach((mv, mi) => {
      if (mv.optional !== undefined && (typeof mv.optional !== 'string' || mv.optional.trim() === '')) out.push(`${rp}.moves[${mi}] (${intent.id}): optional must be the reason the move may not happen`);
      if (mv.reorders !== undefined && (typeof mv.reorders !== 'string' || mv.reorders.trim() === '')) out.push(`${rp}.moves[${mi}] (${intent.id}): reorders must be the reason the order may change`);
    });
  });
  (intent.final ?? []).forEach((p, pi) => out.push(...patternProblems(p, `${path}.final[${pi}]`, true)));
  return out;
}

/** Every problem of a step manifest; `file` prefixes each message. */
export function manifestProblems(m: StepManifest, file: string): string[] {
  const out: string[] = [];
  const ids = new Set<string>();
  m.intents.forEach((intent, i) => {
    if (ids.has(intent.id)) out.push(`${file}: intents[${i}]: duplicate intent id "${intent.id}"`);
    ids.add(intent.id);
    for (const p of intentProblems(intent, `intents[${i}]`)) out.push(`${file}: ${p}`);
  });
  return out;
}

/** Throws one error listing every problem of the manifest. */
export function validateManifest(m: StepManifest, file: string): void {
  const problems = manifestProblems(m, file);
  if (problems.length > 0) throw new ManifestError(problems);
}

export class ManifestError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid step manifest:\n  ${problems.join('\n  ')}`);
    this.name = 'ManifestError';
  }
}

/** A field value as the text it is compared by, or null for ANY. */
export function exactText(v: FieldValue): string | null {
  return isAny(v) ? null : String(v);
}
