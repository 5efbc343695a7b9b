// The data every step folder declares about itself (versions/vNN-<slug>/step.ts).
// The harness matches observed differences against `intents`; the linker matches
// commits against `subject` / `commit`; the fidelity check compares `touches`
// with the functions whose bodies really differ from the previous step.

/** Which side of a step-to-step difference an event stands on. */
export type DiffSide = 'removed' | 'added';

/** "Any value" for one field of a pattern, always with the reason the intent means it. */
export interface AnyValue {
  any: string;
}

/** A wildcard for one identifying field: `gfn: ANY('each child entry of the removed table')`. */
export function ANY(why: string): AnyValue {
  return { any: why };
}

/** The value a pattern gives for a field: exact (compared as text), or ANY(reason). */
export type FieldValue = string | number | boolean | AnyValue;

/**
 * A pattern over one observation event, or one final-state entry (kind 'final').
 * It must give every field that identifies an event of its kind (see
 * src/manifest_rules.ts: a tracepoint's name, gfn, level, old and new; a SEAMCALL's
 * name, GPA, level and status …), each exactly or as ANY(reason); the manifest loader
 * rejects a pattern that leaves one out. Fields that do not identify an event (thread,
 * `silent`, a kick's vCPU list) are compared only when given.
 */
export interface EventPattern {
  side: DiffSide;
  /** 'seamcall' | 'tdcall' | 'tracepoint' | 'result' | 'bug' | 'warn' | 'mmu_warn' | 'lockdep' | 'free' | 'kick' | 'vm' | 'invariant' | 'final' … */
  kind: string;
  /**
   * How many events of this operation the pattern stands for: exactly that many
   * (default 1), or 'some' (one or more: the same change made for each entry of a
   * range or table).
   */
  count?: number | 'some';
  /** The change may not happen in every occurrence of the operation: the reason (makes the count's minimum 0). */
  optional?: string;
  /**
   * Final-state counters only, in a rewrite's `final`, instead of `value`: the entry
   * changes by this much for each operation the rewrite explains (a refused removal
   * leaves one more 4K leaf counted, however many the trace maps).
   */
  delta?: number;
  [field: string]: FieldValue | number | 'some' | undefined;
}

/**
 * An event that moves without changing in number (a rename, a fold into the caller):
 * each removed event of `kind` whose fields match `from` is explained only together
 * with one added event equal to it but for `to`'s fields. One firing lost on the way
 * stays unexplained.
 */
export interface EventMove {
  kind: string;
  from: Record<string, string>;
  to: Record<string, string>;
  /**
   * A move pairs at least one event in every operation its rewrite explains, unless
   * this gives the reason it may not (the operation does not always reach that code).
   */
  optional?: string;
  /**
   * The renamed events may also change their order (the reason): without it a rename
   * keeps the order of the events the rewrite renames.
   */
  reorders?: string;
}

/**
 * What a patch does to one kind of trace operation: the removed and added events that
 * go together. The differences a step makes inside one occurrence of the operation
 * are explained only when one rewrite accounts for all of them, and for each pattern
 * the number of events its count requires.
 */
export interface Rewrite {
  /**
   * The trace operation(s) ('fault', 'probe_set_spte', 'zap_gfn_range' …; 'load_mmu' for
   * set-up), or ANY('why') for a change that happens in whatever operation reaches the
   * code (a rename of a diagnostic site, say).
   */
  op: string | string[] | AnyValue;
  events: EventPattern[];
  /** Count-preserving pairs (renames, folds) this rewrite also makes. */
  moves?: EventMove[];
  /**
   * Final-state entries this rewrite changes (kind 'final'): each must be seen in every
   * comparison where the rewrite explained an operation (unless `optional`).
   */
  final?: EventPattern[];
  /**
   * The change may happen several times in one operation (the reason: one refused
   * removal per leaf of a torn-down table, say). The operation's differences must then
   * be n whole applications: every event pattern's count and every final delta is
   * multiplied by the same n ≥ 1, so that two removed tracepoints never pass with one
   * added bug.
   */
  repeats?: string;
}

/** One behaviour change a patch means to make. */
export interface Intent {
  /** Stable id, unique within the series: 'vNN-<short-name>'. */
  id: string;
  summary: string;
  /**
   * Corpus traces on which this change must be observed at the intent's step (compared
   * with the step before): if it is not, the result is unexpected ("intended change
   * missing").
   */
  witnesses: string[];
  rewrites: Rewrite[];
  /**
   * Final-state entries this change leaves different (kind 'final': section `what`, entry
   * `key`, entry `value`), explained only in a comparison where one of its rewrites
   * happened, and each required there unless `optional` (a rewrite's own `final` is for
   * entries only that rewrite changes).
   */
  final?: EventPattern[];
}

/** A choice taken for a point series.md marks [U], with the trace that shows it. */
export interface Assumption {
  id: string;
  /** The uncertain point, in one sentence. */
  point: string;
  /** What the model does. */
  choice: string;
  reason: string;
  /** Name of the corpus trace (without .trace.json) whose observation this choice decides. */
  trace: string;
}

export interface StepManifest {
  step: number;
  /** Folder name suffix: versions/vNN-<slug>. */
  slug: string;
  /** Patch subject as merged (without "[PATCH …]"). */
  subject: string;
  author: string;
  /** Mainline commit (12 hex digits), null for the base. */
  commit: string | null;
  /** Subject line of the v2 posting, "[PATCH v2 NN/15] …", null for the base. */
  v2Subject: string | null;
  /** Kernel functions whose bodies this patch changes (added, deleted, renamed included). */
  touches: string[];
  intents: Intent[];
  assumptions: Assumption[];
}

/** What the registry (versions/index.ts) knows about one step besides its model. */
export interface StepInfo {
  manifest: StepManifest;
  /** Absolute path of the step folder (versions/vNN-<slug>). */
  dir: string;
}
