// The data every step folder declares about itself (versions/vNN-<slug>/step.ts).
// The harness matches observed differences against `intents`; the linker matches
// commits against `subject` / `commit`; the fidelity check compares `touches`
// with the functions whose bodies really differ from the previous step.

/** Which side of a step-to-step difference an event stands on. */
export type DiffSide = 'removed' | 'added' | 'either';

/**
 * A pattern over one observation event (or one final-state entry) that a step
 * means to change. Every field given must equal the event's field of the same
 * name; fields left out match anything.
 */
export interface EventPattern {
  side: DiffSide;
  /** Event kind: 'seamcall' | 'result' | 'bug' | 'warn' | 'mmu_warn' | 'lockdep' | 'free' | 'kick' | 'vm' | 'invariant' | 'leak' | 'final' … */
  kind: string;
  /** Function the diagnostic fired in (bug / warn / lockdep / mmu_warn). */
  site?: string;
  /** SEAMCALL name ('TDH.MEM.PAGE.AUG'), or the operation name for results. */
  name?: string;
  /** Operation result value ('-EBUSY', '-EIO', '0', 'RET_PF_RETRY' …). */
  value?: string;
  /** SEAMCALL status name ('TDX_SUCCESS', 'TDX_OPERAND_BUSY' …). */
  status?: string;
  /** Page kind for free/leak events ('external_spt', 'spt'), or final-state section. */
  what?: string;
  /** Condition text of a diagnostic, when the intent is that specific. */
  cond?: string;
  /** VM state of a 'vm' event ('bugged'). */
  state?: string;
  /** Request of a 'kick' event ('KVM_REQ_OUTSIDE_GUEST_MODE', 'KVM_REQ_VM_DEAD'). */
  request?: string;
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
}

/** One behaviour change a patch means to make. */
export interface Intent {
  /** Stable id, unique within the series: 'vNN-<short-name>'. */
  id: string;
  summary: string;
  /** Every difference this intent explains matches one of these patterns… */
  differences: EventPattern[];
  /** …or is one half of a removed/added pair one of these moves explains. */
  moves?: EventMove[];
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
