// Exhaustive small scope: every trace of up to K operations over a documented alphabet,
// each replayed on every step and checked against the intents as `check` would, in the
// manner of an explicit-state model checker: breadth first (shortest traces first, then
// in lexicographic order), each trace forked from its prefix's machines instead of
// replayed, and a prefix whose machines (on every step at once) are in a state already
// seen is not extended, since what follows it was explored from the first.
import { createHash } from 'node:crypto';
import { checkReplayed, modelError, neededSteps, stepPairs, type CheckResult, type Replayed, type StepPair } from './check.ts';
import { ReplaySession } from './replay.ts';
import { parseTrace, type Trace } from './trace.ts';
import type { StepModel } from '../versions/index.ts';
import type { TraceOp } from '../src/trace_types.ts';

/**
 * The alphabet: one vCPU of a runnable TD; private GFNs 1 and 2 (their leaves share
 * every page table), the shared page of a host-memory slot; faults, conversions both
 * ways, a hole punch, a range zap, an MMU-notifier unmap and aging, guest entry, exit and
 * ACCEPT, a BUSY injection for AUG and TRACK, and the teardown (HKID release, destroy).
 */
export const ALPHABET: readonly Record<string, unknown>[] = [
  { op: 'fault', gpa: '0x1000' },
  { op: 'fault', gpa: '0x2000' },
  { op: 'fault', gpa: '0x800010000000' },
  { op: 'convert_to_shared', gpa: '0x1000' },
  { op: 'convert_to_private', gpa: '0x1000' },
  { op: 'gmem_invalidate', gpa: '0x1000', npages: 2 },
  { op: 'zap_gfn_range', gpa: '0x1000', npages: 2 },
  { op: 'mmu_notifier_unmap', gpa: '0x10000000' },
  { op: 'age', gpa: '0x10000000' },
  { op: 'vcpu_enter' },
  { op: 'vcpu_exit' },
  { op: 'accept', gpa: '0x1000' },
  { op: 'inject_busy', seamcall: 'TDH.MEM.PAGE.AUG', count: 1 },
  { op: 'inject_busy', seamcall: 'TDH.MEM.TRACK', count: 1 },
  { op: 'release_hkid' },
  { op: 'destroy' },
];

const VM = { memslots: [{ id: 0, gpa: 0, npages: 4096, gmem: true }, { id: 1, gpa: '0x10000000', npages: 16, gmem: false }] };

/** The trace of the operation indices `seq` (one thread), named after them. */
export function exhaustiveTrace(seq: readonly number[], alphabet: readonly Record<string, unknown>[] = ALPHABET): Trace {
  return parseTrace(JSON.stringify({ name: `exhaustive-${seq.join('-')}`, vm: VM, threads: [{ name: 'vcpu0', ops: seq.map((i) => alphabet[i]) }], budget: 20_000 }), '<exhaustive>');
}

/** Every sequence of length 1..k over n symbols, shortest first, then in lexicographic order. */
export function* sequences(n: number, k: number): Generator<number[]> {
  for (let len = 1; len <= k; len++) {
    const seq = new Array<number>(len).fill(0);
    for (;;) {
      yield [...seq];
      let i = len - 1;
      while (i >= 0 && seq[i] === n - 1) seq[i--] = 0;
      if (i < 0) break;
      seq[i]!++;
    }
  }
}

export interface ExhaustiveReport {
  k: number;
  alphabet: number;
  /** Sequences of up to K operations: what an unpruned run would replay. */
  sequences: number;
  /** Traces replayed and checked. */
  traces: number;
  /** Distinct states (of all checked steps' machines together) reached by prefixes shorter than K. */
  states: number;
  /** Prefixes not extended: their state was seen before, or every step's run had ended. */
  prunedPrefixes: number;
  steps: number;
  /** Shards whose part was not given (1-based, of the run's count). */
  missingShards: number[];
  /** False when a time budget stopped the run, or a shard is missing: what it reports is what was covered. */
  complete: boolean;
  /** Sequences covered: replayed, or skipped because their prefix was pruned. */
  covered: number;
  /** Unexpected results, the shortest traces first (each trace's name says its operations). */
  unexpected: { trace: Trace; results: CheckResult[] }[];
}

/**
 * One part of an exhaustive run, as JSON (a CI shard's output), merged by
 * `mergeExhaustive` into the report of the whole run.
 */
export interface ExhaustivePart {
  schema: 'tdx-difftest/exhaustive-part/v1';
  k: number;
  alphabet: number;
  steps: number;
  /** The step range, so that parts of different runs are not merged. */
  from: number;
  to: number;
  shard: { index: number; count: number };
  /** Traces this part checked. */
  traces: number;
  prunedPrefixes: number;
  /** Sequences this part covered: checked, or skipped because their prefix was pruned. */
  covered: number;
  complete: boolean;
  /** Distinct states before the last operation (every part computes them all). */
  states: number;
  unexpected: { seq: number[]; results: CheckResult[] }[];
}

/** One step's machine after a prefix, or the error its model threw. */
interface Line {
  step: StepModel;
  session: ReplaySession | null;
  error?: Replayed;
}

function advance(line: Line, op: TraceOp, index: number, name: string): Line {
  if (!line.session) return line;
  const session = line.session.fork();
  try {
    session.runOp('vcpu0', op, index);
    return { step: line.step, session };
  } catch (e) {
    return { step: line.step, session: null, error: modelError(name, line.step, e) };
  }
}

/** The product state of all steps' machines, hashed short; null when one cannot be keyed. */
function keyOf(lines: readonly Line[]): string | null {
  const h = createHash('sha256');
  for (const l of lines) {
    const key = l.session ? l.session.stateKey() : 'error';
    if (key === null) return null;
    h.update(key).update(',');
  }
  return h.digest('base64').slice(0, 24);
}

/**
 * What one trace of a level gave: its unexpected results (when it was checked), and
 * for a trace shorter than K the key of the state it reached ('ended' when every
 * step's run has ended, null when a state cannot be keyed).
 */
export interface ChildRecord {
  key?: string | null;
  unexpected?: CheckResult[];
}

/** Replays and checks the traces of one level: a worker's task, or the whole level in process. */
export class LevelExpander {
  private readonly pairs: readonly StepPair[];
  private readonly ops: TraceOp[];
  private readonly roots: Line[];

  constructor(
    private readonly steps: readonly StepModel[],
    readonly k: number,
    range: { from?: number; to?: number },
    private readonly alphabet: readonly Record<string, unknown>[] = ALPHABET,
  ) {
    this.pairs = stepPairs(steps, range.from, range.to);
    this.ops = alphabet.map((op) => parseTrace(JSON.stringify({ name: 'op', vm: VM, threads: [{ name: 'vcpu0', ops: [op] }] }), '<alphabet>').threads[0]!.ops[0]!);
    this.roots = neededSteps(this.pairs).map((step) => ({ step, session: ReplaySession.start(exhaustiveTrace([0], alphabet), step) }));
  }

  /**
   * Every one-operation extension of each prefix (all of length d - 1), in order:
   * `check[i]` says whether prefix i's extensions are checked (a shard's own) or only
   * keyed; extensions of length K are only checked, so unchecked ones are skipped.
   */
  expand(prefixes: readonly number[][], d: number, check: readonly boolean[]): ChildRecord[][] {
    const n = this.ops.length;
    return prefixes.map((prefix, pi) => {
      if (d === this.k && !check[pi]) return [];
      let lines = this.roots;
      prefix.forEach((a, i) => (lines = lines.map((l) => advance(l, this.ops[a]!, i, ''))));
      const out: ChildRecord[] = [];
      for (let a = 0; a < n; a++) {
        const seq = [...prefix, a];
        const child = lines.map((l) => advance(l, this.ops[a]!, d - 1, `exhaustive-${seq.join('-')}`));
        const rec: ChildRecord = {};
        if (check[pi]) {
          const trace = exhaustiveTrace(seq, this.alphabet);
          const byStep = new Map(child.map((l) => [l.step.manifest.step, l]));
          const results = checkReplayed(trace.name, this.steps, this.pairs, (s) => {
            const l = byStep.get(s.manifest.step)!;
            return l.session ? { obs: l.session.observe(trace) } : { ...l.error!, obs: { ...l.error!.obs, trace: trace.name } };
          });
          rec.unexpected = results.filter((r) => r.verdict === 'unexpected');
        }
        if (d < this.k) rec.key = child.every((l) => !l.session || l.session.ended) ? 'ended' : keyOf(child);
        out.push(rec);
      }
      return out;
    });
  }

  get stepPairs(): readonly StepPair[] {
    return this.pairs;
  }

  /** A level runner in this thread: prefix by prefix, none once `deadline` (ms) has passed. */
  runner(deadline?: number): LevelRunner {
    return async (prefixes, d, check) => prefixes.map((p, i) => (deadline !== undefined && Date.now() > deadline ? undefined : this.expand([p], d, [check[i]!])[0]));
  }
}

/**
 * Runs one level's expansion somewhere (in process, or spread over workers). A prefix
 * left undefined was not expanded: the time budget ran out.
 */
export type LevelRunner = (prefixes: readonly number[][], d: number, check: readonly boolean[]) => Promise<(ChildRecord[] | undefined)[]>;

export interface ExhaustiveOptions {
  k: number;
  from?: number;
  to?: number;
  alphabet?: readonly Record<string, unknown>[];
  /** This part of a run split across machines (default: the whole run, 0 of 1). */
  shard?: { index: number; count: number };
  /** Stop expanding prefixes after this time (ms since the epoch): the part is then incomplete. */
  deadline?: number;
  /** Progress: sequences covered so far, of the whole run. */
  onProgress?: (covered: number, total: number) => void;
}

/** Sequences of 1..m operations over n symbols. */
const upTo = (n: number, m: number): number => Array.from({ length: m }, (_, i) => n ** (i + 1)).reduce((a, b) => a + b, 0);

/**
 * The exhaustive run, breadth first: level d extends every prefix left at level d - 1
 * by each operation; a trace shorter than K whose state (on every step at once) was
 * seen before, or whose runs all ended, is not extended. The prefixes of a level are
 * dealt round robin to the shards: a shard checks its own prefixes' extensions and
 * replays the others' only to key them (every shard needs every state to know the next
 * level), and at level K it replays only its own. Records are merged in prefix order,
 * so the result is the same with any number of workers and shards.
 */
export async function exhaustiveRun(opts: ExhaustiveOptions, runLevel: LevelRunner, range: { from: number; to: number; steps: number }): Promise<ExhaustivePart> {
  const n = (opts.alphabet ?? ALPHABET).length;
  const k = opts.k;
  const shard = opts.shard ?? { index: 0, count: 1 };
  const total = upTo(n, k);
  const part: ExhaustivePart = {
    schema: 'tdx-difftest/exhaustive-part/v1', k, alphabet: n, steps: range.steps, from: range.from, to: range.to,
    shard, traces: 0, prunedPrefixes: 0, covered: 0, complete: true, states: 0, unexpected: [],
  };
  const seen = new Set<string>();
  let frontier: number[][] = [[]];
  for (let d = 1; d <= k && frontier.length > 0; d++) {
    if (opts.deadline !== undefined && Date.now() > opts.deadline) {
      part.complete = false;
      break;
    }
    const mine = frontier.map((_, i) => i % shard.count === shard.index);
    const records = await runLevel(frontier, d, mine);
    const next: number[][] = [];
    records.forEach((children, pi) => {
      if (children === undefined) {
        part.complete = false;
        return;
      }
      children.forEach((rec, a) => {
        const seq = [...frontier[pi]!, a];
        if (mine[pi]) {
          part.traces++;
          part.covered++;
          if (rec.unexpected && rec.unexpected.length > 0) part.unexpected.push({ seq, results: rec.unexpected });
        }
        if (d === k) return;
        const key = rec.key;
        if (key !== null && key !== undefined && (key === 'ended' || seen.has(key))) {
          part.prunedPrefixes += mine[pi] ? 1 : 0;
          if (mine[pi]) part.covered += upTo(n, k - d);
          return;
        }
        if (key !== null && key !== undefined) seen.add(key);
        next.push(seq);
      });
    });
    opts.onProgress?.(part.covered, total);
    // a level cut short by the time budget leaves the next one unknown
    frontier = part.complete ? next : [];
  }
  part.states = seen.size;
  return part;
}

/** The report of a whole run from its parts (one, or every shard's): the same, however split. */
export function mergeExhaustive(parts: readonly ExhaustivePart[], alphabet: readonly Record<string, unknown>[] = ALPHABET): ExhaustiveReport {
  const first = parts[0];
  if (!first) throw new Error('no part to merge');
  const shards = new Set<number>();
  for (const p of parts) {
    if (p.k !== first.k || p.alphabet !== first.alphabet || p.from !== first.from || p.to !== first.to || p.shard.count !== first.shard.count) {
      throw new Error(`shard ${p.shard.index + 1}/${p.shard.count} is of another run (K ${p.k}, steps ${p.from}..${p.to}) than shard ${first.shard.index + 1}/${first.shard.count} (K ${first.k}, steps ${first.from}..${first.to})`);
    }
    if (shards.has(p.shard.index)) throw new Error(`shard ${p.shard.index + 1}/${p.shard.count} is given twice`);
    shards.add(p.shard.index);
  }
  const missing = Array.from({ length: first.shard.count }, (_, i) => i).filter((i) => !shards.has(i));
  const complete = parts.every((p) => p.complete) && missing.length === 0;
  // every complete part computed every state; they must agree
  const counts = new Set(parts.filter((p) => p.complete).map((p) => p.states));
  if (counts.size > 1) throw new Error(`the shards disagree on the number of states (${[...counts].join(', ')}): they ran different models`);
  const order = (x: { seq: number[] }, y: { seq: number[] }): number => {
    if (x.seq.length !== y.seq.length) return x.seq.length - y.seq.length;
    for (let i = 0; i < x.seq.length; i++) if (x.seq[i] !== y.seq[i]) return x.seq[i]! - y.seq[i]!;
    return 0;
  };
  const unexpected = parts.flatMap((p) => p.unexpected).sort(order);
  return {
    k: first.k,
    alphabet: first.alphabet,
    sequences: upTo(first.alphabet, first.k),
    traces: parts.reduce((a, p) => a + p.traces, 0),
    states: Math.max(...parts.map((p) => p.states)),
    prunedPrefixes: parts.reduce((a, p) => a + p.prunedPrefixes, 0),
    steps: first.steps,
    missingShards: missing.map((i) => i + 1),
    complete,
    covered: parts.reduce((a, p) => a + p.covered, 0),
    unexpected: unexpected.map((u) => ({ trace: exhaustiveTrace(u.seq, alphabet), results: u.results })),
  };
}

/** A part of the run in this process, one level at a time. */
export function exhaustivePart(steps: readonly StepModel[], opts: ExhaustiveOptions): Promise<ExhaustivePart> {
  const x = new LevelExpander(steps, opts.k, opts, opts.alphabet);
  const pairs = x.stepPairs;
  return exhaustiveRun(opts, x.runner(opts.deadline), {
    from: pairs[0]?.step.manifest.step ?? 0, to: pairs.at(-1)?.step.manifest.step ?? 0, steps: pairs.length,
  });
}

/** The whole run in this process. */
export async function exploreExhaustive(steps: readonly StepModel[], opts: ExhaustiveOptions): Promise<ExhaustiveReport> {
  return mergeExhaustive([await exhaustivePart(steps, opts)], opts.alphabet);
}
