// A strict, deterministic simulation of the TDX module as seen by ONE TD.
//
// It keeps the state the real module keeps for the S-EPT code paths KVM uses
// (op state, lifecycle, the S-EPT tree, PAMT ownership and block epochs, TLB
// epochs of vCPUs inside the guest) and answers each SEAMCALL with the status
// the real module gives. A rejected call changes nothing.
//
// Check order inside each SEAMCALL follows the real module's order:
//   injection (simulator) -> TD lifecycle -> op state -> operand (level / GPA)
//   -> S-EPT walk -> target entry state -> page (PAMT) checks -> blocking / TLB
//   tracking checks -> transition.
//
// Status values returned are the bare codes (low 32 bits zero), except
// TDX_OPERAND_BUSY which carries its operand id. The real module ORs an
// operand id into most errors; KVM never looks at it except for BUSY.
//
// Extended error info on S-EPT errors (simplified form of the module's
// RCX/RDX "entry / level-state" outputs):
//   rcx = pfn << 12 of the entry where the walk stopped / the target entry (0 if FREE)
//   rdx = (state encoding << 8) | module level of that entry (KVM level - 1)

import {
  TDX_SUCCESS,
  TDX_OPERAND_BUSY,
  TDX_PREVIOUS_TLB_EPOCH_BUSY,
  TDX_EPT_WALK_FAILED,
  TDX_GPA_RANGE_NOT_BLOCKED,
  TDX_GPA_RANGE_ALREADY_BLOCKED,
  TDX_TLB_TRACKING_NOT_DONE,
  TDX_EPT_ENTRY_STATE_INCORRECT,
  TDX_EPT_PAGE_NOT_FREE,
  TDX_LIFECYCLE_STATE_INCORRECT,
  TDX_TD_ASSOCIATED_PAGES_EXIST,
  TDX_OP_STATE_INCORRECT,
  TDX_OPERAND_INVALID,
  TDX_PAGE_METADATA_INCORRECT,
  TDX_TD_KEYS_NOT_CONFIGURED,
  TDX_FLUSHVP_NOT_DONE,
  TDX_VCPU_STATE_INCORRECT,
  TDX_PAGE_ALREADY_ACCEPTED,
  TDX_PAGE_SIZE_MISMATCH,
  BUSY_OPERAND_ID,
  type BusyOperand,
} from './status.ts';

export type SeamcallName =
  | 'TDH.MEM.PAGE.ADD'
  | 'TDH.MEM.SEPT.ADD'
  | 'TDH.MEM.PAGE.AUG'
  | 'TDH.MEM.RANGE.BLOCK'
  | 'TDH.MEM.TRACK'
  | 'TDH.MEM.PAGE.REMOVE'
  | 'TDH.MEM.SEPT.REMOVE'
  | 'TDH.PHYMEM.PAGE.WBINVD'
  | 'TDH.PHYMEM.PAGE.RECLAIM'
  | 'TDH.MR.FINALIZE'
  | 'TDH.MNG.KEY.FREEID'
  | 'TDH.VP.ENTER'
  | 'TDG.MEM.PAGE.ACCEPT';

export const SEAMCALL_NAMES: readonly SeamcallName[] = [
  'TDH.MEM.PAGE.ADD',
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.PAGE.AUG',
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.TRACK',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.MEM.SEPT.REMOVE',
  'TDH.PHYMEM.PAGE.WBINVD',
  'TDH.PHYMEM.PAGE.RECLAIM',
  'TDH.MR.FINALIZE',
  'TDH.MNG.KEY.FREEID',
  'TDH.VP.ENTER',
  'TDG.MEM.PAGE.ACCEPT',
];

/** rcx/rdx = extended error info; 0n when there is none. */
export interface SeamcallOut {
  status: bigint;
  rcx: bigint;
  rdx: bigint;
}

export type AcceptOut = SeamcallOut & { eptViolation: boolean };

export type SeptState = 'FREE' | 'NL_MAPPED' | 'NL_BLOCKED' | 'MAPPED' | 'BLOCKED' | 'PENDING' | 'PENDING_BLOCKED';
/** TD control pages: the TDR, the TDCS pages, and per vCPU the TDVPR and TDCX pages. */
export type ControlPageType = 'TDR' | 'TDCS' | 'TDVPR' | 'TDCX';
export type PamtOwner = 'NDA' | 'SEPT' | 'GUEST' | ControlPageType;
export interface PamtEntry {
  owner: PamtOwner;
  bepoch: number | null;
}
export interface SeptLeaf {
  gpa: number;
  level: number;
  state: SeptState;
  pfn: number;
}

export interface TdxModuleConfig {
  rootLevel: 4 | 5;
  nrVcpus: number;
  /**
   * The real module (tdx_1.5 op-state table) accepts TDH.MEM.TRACK while the
   * TD is still INITIALIZED; KVM never issues it then (tdx_track() returns
   * early). Set this to reject TRACK with TDX_OP_STATE_INCORRECT unless
   * RUNNABLE. Default false (real behaviour).
   */
  trackRequiresRunnable?: boolean;
}

export interface InjectBusySpec {
  kind: SeamcallName;
  gpa?: number;
  count: number;
  operand?: BusyOperand;
}

export interface InjectStatusSpec {
  kind: SeamcallName;
  status: bigint;
  gpa?: number;
  pfn?: number;
  /** Only calls on a page the module holds as this PAMT type (e.g. 'SEPT': an S-EPT page). */
  owner?: PamtOwner;
  count?: number;
}

/** One entry as seen by septEntry(). */
export interface SeptEntryView {
  state: SeptState;
  /** Page the entry points at (S-EPT page or guest page); null when FREE. */
  pfn: number | null;
  /** Block epoch recorded for the entry's page (blocked states only), else null. */
  bepoch: number | null;
}

/** septTree() node types (JSON-serialisable). */
export interface SeptTreeEntry {
  gpa: number;
  level: number;
  state: SeptState;
  pfn: number;
  bepoch?: number;
  /** The page this entry points at was reclaimed (TEARDOWN only). */
  reclaimed?: true;
  child?: SeptTreePage;
}
export interface SeptTreePage {
  /** null for the root, which belongs to the module. */
  pfn: number | null;
  /** KVM level of the entries in this page. */
  level: number;
  gpa: number;
  entries: SeptTreeEntry[];
}
export interface SeptTree {
  rootLevel: number;
  root: SeptTreePage;
}

// ---------------------------------------------------------------------------
// Internal encodings

const FREE = 0;
const NL_MAPPED = 1;
const NL_BLOCKED = 2;
const MAPPED = 3;
const BLOCKED = 4;
const PENDING = 5;
const PENDING_BLOCKED = 6;

const STATE_NAMES: readonly SeptState[] = ['FREE', 'NL_MAPPED', 'NL_BLOCKED', 'MAPPED', 'BLOCKED', 'PENDING', 'PENDING_BLOCKED'];
// The module's S-EPT state encodings (sept_state_lookup.h), used in rdx bits 15:8.
const STATE_ENC: readonly bigint[] = [0x0en, 0x00n, 0x08n, 0x60n, 0x68n, 0x70n, 0x78n];

const OWNER_SEPT = 1;
const OWNER_GUEST = 2;

/** Bytes covered by one entry at KVM level l (index 0 unused). */
const LEVEL_SIZE: readonly number[] = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
const ENTRIES = 512;

function idx(gpa: number, level: number): number {
  return Math.floor(gpa / LEVEL_SIZE[level]!) % ENTRIES;
}

function isLeafState(s: number): boolean {
  return s >= MAPPED;
}

function isBlockedState(s: number): boolean {
  return s === NL_BLOCKED || s === BLOCKED || s === PENDING_BLOCKED;
}

function validPfn(pfn: number): boolean {
  return Number.isSafeInteger(pfn) && pfn >= 0;
}

/** One 4 KiB S-EPT page (or the module-owned root). */
class SeptPage {
  readonly state = new Uint8Array(ENTRIES);
  readonly target = new Float64Array(ENTRIES);
  /** Child S-EPT pages of NL entries (allocated for level >= 2 pages only). */
  readonly children: (SeptPage | undefined)[] | null;
  nonFree = 0;
  constructor(
    /** KVM level of the entries held in this page. */
    readonly level: number,
    /** GPA of entry 0. */
    readonly gpa: number,
    /** -1 for the root. */
    readonly pfn: number,
  ) {
    this.children = level >= 2 ? new Array<SeptPage | undefined>(ENTRIES) : null;
  }
}

/** PAMT record of a page the TD owns. A 2M guest page shares one record over its 512 pfns. */
class PamtRec {
  /** -1 = never blocked. */
  bepoch = -1;
  constructor(
    readonly owner: number,
    readonly head: number,
    /** KVM level of the page: 1 = 4K, 2 = 2M. */
    readonly size: number,
    /** The S-EPT entry that points at this page. */
    readonly parent: SeptPage,
    readonly index: number,
    /** For S-EPT pages: the page object. */
    readonly sept: SeptPage | null,
  ) {}
}

interface Injection {
  gpa: number | undefined;
  pfn: number | undefined;
  owner?: PamtOwner | undefined;
  remaining: number;
  status: bigint;
}

const OK: SeamcallOut = Object.freeze({ status: TDX_SUCCESS, rcx: 0n, rdx: 0n });
const ACCEPT_OK: AcceptOut = Object.freeze({ status: TDX_SUCCESS, rcx: 0n, rdx: 0n, eptViolation: false });
const ACCEPT_VIOLATION: AcceptOut = Object.freeze({ status: TDX_SUCCESS, rcx: 0n, rdx: 0n, eptViolation: true });

function out(status: bigint): SeamcallOut {
  return { status, rcx: 0n, rdx: 0n };
}

const MEM_GPA_KINDS: ReadonlySet<SeamcallName> = new Set<SeamcallName>([
  'TDH.MEM.PAGE.ADD',
  'TDH.MEM.SEPT.ADD',
  'TDH.MEM.PAGE.AUG',
  'TDH.MEM.RANGE.BLOCK',
  'TDH.MEM.PAGE.REMOVE',
  'TDH.MEM.SEPT.REMOVE',
]);

/** Default operand id of an injected TDX_OPERAND_BUSY. */
function defaultBusyOperand(kind: SeamcallName): BusyOperand {
  if (MEM_GPA_KINDS.has(kind)) return 'SEPT';
  switch (kind) {
    case 'TDH.MEM.TRACK':
      return 'TD_EPOCH';
    case 'TDH.VP.ENTER':
      return 'SEPT'; // zero-step mitigation holds the S-EPT tree
    case 'TDH.MR.FINALIZE':
    case 'TDH.MNG.KEY.FREEID':
      return 'TDR';
    default:
      return 'RCX'; // WBINVD / RECLAIM (PAMT entry of the RCX page), guest ACCEPT (entry lock)
  }
}

// ---------------------------------------------------------------------------

export class TdxModule {
  readonly rootLevel: 4 | 5;
  readonly nrVcpus: number;
  private readonly trackRequiresRunnable: boolean;
  /** Exclusive limit of a private GPA: the shared bit is bit 47 (4-level) / 51 (5-level). */
  private readonly gpaLimit: number;

  private _opState: 'INITIALIZED' | 'RUNNABLE' = 'INITIALIZED';
  private _lifecycle: 'KEYS_CONFIGURED' | 'TEARDOWN' = 'KEYS_CONFIGURED';
  /** TD_EPOCH starts at 1 (TDH.MNG.INIT). */
  private _tdEpoch = 1;

  private readonly root: SeptPage;
  private readonly pamtMap = new Map<number, PamtRec>();
  private readonly septPfns = new Set<number>();
  /** PAMT of the TD's control pages (no S-EPT entry points at them). */
  private readonly controlPages = new Map<number, ControlPageType>();

  /** Epoch each vCPU entered with, -1 when outside the guest. */
  private readonly vcpuEpochs: Float64Array;
  /** Number of vCPUs inside the guest per epoch. */
  private readonly epochCount = new Map<number, number>();

  private readonly injections = new Map<SeamcallName, Injection[]>();
  private nInjections = 0;
  /**
   * The last call's answer came from an injection: null if it did not, '' if the real
   * module could give that answer, otherwise why it cannot (outside its contract).
   */
  lastInjected: string | null = null;
  /** A TRACK was answered busy and no vCPU has entered the guest since. */
  private trackBusyNoEntrySince = false;

  // where the last failed walk stopped
  private failPage: SeptPage | null = null;
  private failIdx = 0;

  constructor(cfg: TdxModuleConfig) {
    if (cfg.rootLevel !== 4 && cfg.rootLevel !== 5) throw new RangeError(`rootLevel must be 4 or 5, got ${String(cfg.rootLevel)}`);
    if (!Number.isSafeInteger(cfg.nrVcpus) || cfg.nrVcpus < 0) throw new RangeError(`bad nrVcpus ${cfg.nrVcpus}`);
    this.rootLevel = cfg.rootLevel;
    this.nrVcpus = cfg.nrVcpus;
    this.trackRequiresRunnable = cfg.trackRequiresRunnable ?? false;
    this.gpaLimit = cfg.rootLevel === 4 ? 2 ** 47 : 2 ** 51;
    this.root = new SeptPage(cfg.rootLevel, 0, -1);
    this.vcpuEpochs = new Float64Array(cfg.nrVcpus).fill(-1);
  }

  get opState(): 'INITIALIZED' | 'RUNNABLE' {
    return this._opState;
  }
  get lifecycle(): 'KEYS_CONFIGURED' | 'TEARDOWN' {
    return this._lifecycle;
  }
  get tdEpoch(): number {
    return this._tdEpoch;
  }

  // ------------------------------------------------------------------ helpers

  private injected(kind: SeamcallName, gpa: number | undefined, pfn: number | undefined): bigint | undefined {
    this.lastInjected = null;
    if (this.nInjections === 0) return undefined;
    const list = this.injections.get(kind);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      const inj = list[i]!;
      if (inj.gpa !== undefined && inj.gpa !== gpa) continue;
      if (inj.pfn !== undefined && inj.pfn !== pfn) continue;
      if (inj.owner !== undefined && (pfn === undefined || this.pamt(pfn).owner !== inj.owner)) continue;
      inj.remaining--;
      if (inj.remaining <= 0) {
        list.splice(i, 1);
        this.nInjections--;
      }
      this.lastInjected = this.outsideContract(kind, inj.status, pfn);
      return inj.status;
    }
    return undefined;
  }

  /**
   * Whether the real module could give this injected answer, where the model can tell:
   * RECLAIM answers PAGE_METADATA_INCORRECT only for a page it does not hold; TRACK is
   * busy only while a vCPU enters the guest (it contends for the TD epoch), so a busy
   * TRACK after a busy TRACK, with every vCPU out and none entered since, cannot happen.
   */
  private outsideContract(kind: SeamcallName, status: bigint, pfn: number | undefined): string {
    if (kind === 'TDH.PHYMEM.PAGE.RECLAIM' && status === TDX_PAGE_METADATA_INCORRECT && pfn !== undefined && this.ownedByModule(pfn)) {
      return 'RECLAIM answers PAGE_METADATA_INCORRECT only for a page the TD does not own';
    }
    if (kind === 'TDH.MEM.TRACK' && (status & 0xFFFFFFFF00000000n) === TDX_OPERAND_BUSY) {
      const again = this.trackBusyNoEntrySince && this.epochCount.size === 0;
      this.trackBusyNoEntrySince = true;
      if (again) return 'TRACK is busy only while a vCPU enters the guest; none has since the last busy TRACK';
    }
    return '';
  }

  private validGpa(gpa: number, level: number): boolean {
    return Number.isSafeInteger(gpa) && gpa >= 0 && gpa < this.gpaLimit && gpa % LEVEL_SIZE[level]! === 0;
  }

  private validLevel(level: number, min: number, max: number): boolean {
    return Number.isInteger(level) && level >= min && level <= max;
  }

  /** Walk from the root to the page holding the entry of `level` for gpa; null if an upper entry is not NL_MAPPED. */
  private walk(gpa: number, level: number): SeptPage | null {
    let page = this.root;
    for (let l = this.rootLevel; l > level; l--) {
      const i = idx(gpa, l);
      if (page.state[i] !== NL_MAPPED) {
        this.failPage = page;
        this.failIdx = i;
        return null;
      }
      page = page.children![i]!;
    }
    return page;
  }

  /**
   * The operand checks and walk every S-EPT SEAMCALL starts with: a level in
   * [min, max] and a GPA aligned to it, then the page holding that level's entry.
   */
  private locate(gpa: number, level: number, min: number, max: number): SeptPage | SeamcallOut {
    if (!this.validLevel(level, min, max) || !this.validGpa(gpa, level)) return out(TDX_OPERAND_INVALID);
    return this.walk(gpa, level) ?? this.walkFailed();
  }

  private errAt(status: bigint, page: SeptPage, i: number): SeamcallOut {
    const s = page.state[i]!;
    const rcx = s === FREE ? 0n : BigInt(page.target[i]!) << 12n;
    const rdx = (STATE_ENC[s]! << 8n) | BigInt(page.level - 1);
    return { status, rcx, rdx };
  }

  private walkFailed(): SeamcallOut {
    return this.errAt(TDX_EPT_WALK_FAILED, this.failPage!, this.failIdx);
  }

  private countAt(epoch: number): number {
    return this.epochCount.get(epoch) ?? 0;
  }

  /** TLB tracking complete for a page blocked at `bepoch`. */
  private tracked(bepoch: number): boolean {
    const prev = this._tdEpoch - 1;
    if (bepoch === prev) return this.countAt(prev) === 0;
    return bepoch < prev;
  }

  private checkVcpu(vcpu: number): void {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.nrVcpus) {
      throw new RangeError(`vCPU ${vcpu} out of range (nrVcpus ${this.nrVcpus})`);
    }
  }

  private isTeardown(): boolean {
    return this._lifecycle === 'TEARDOWN';
  }

  // ------------------------------------------------------------ host SEAMCALLs

  /** TDH.MEM.PAGE.ADD: 4K FREE -> MAPPED, page NDA -> GUEST. Only while INITIALIZED. */
  tdhMemPageAdd(gpa: number, pfn: number, srcPfn: number | null): SeamcallOut {
    const inj = this.injected('TDH.MEM.PAGE.ADD', gpa, pfn);
    if (inj !== undefined) return out(inj);
    // After KEY.FREEID the lifecycle is no longer KEYS_CONFIGURED: the module's
    // common TD-state check answers TDX_TD_KEYS_NOT_CONFIGURED (helpers.c).
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (this._opState !== 'INITIALIZED') return out(TDX_OP_STATE_INCORRECT);
    if (!this.validGpa(gpa, 1)) return out(TDX_OPERAND_INVALID);
    const page = this.walk(gpa, 1);
    if (page === null) return this.walkFailed();
    const i = idx(gpa, 1);
    if (page.state[i] !== FREE) return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);
    // Source: required, and must not be one of the TD's private pages. (The
    // real module only checks that the source address is a shared, aligned
    // HPA; a TD-owned source is the simulator's stand-in for a private HKID.)
    if (srcPfn === null || !validPfn(srcPfn) || this.pamtMap.has(srcPfn)) return out(TDX_OPERAND_INVALID);
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    if (this.pamtMap.has(pfn)) return out(TDX_PAGE_METADATA_INCORRECT);

    page.state[i] = MAPPED;
    page.target[i] = pfn;
    page.nonFree++;
    this.pamtMap.set(pfn, new PamtRec(OWNER_GUEST, pfn, 1, page, i, null));
    return OK;
  }

  /** TDH.MEM.SEPT.ADD: entry at `level` FREE -> NL_MAPPED to a fresh S-EPT page at pfn (NDA -> SEPT). */
  tdhMemSeptAdd(gpa: number, level: number, pfn: number): SeamcallOut {
    const inj = this.injected('TDH.MEM.SEPT.ADD', gpa, pfn);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    // allowed in INITIALIZED and RUNNABLE
    const page = this.locate(gpa, level, 2, this.rootLevel);
    if (!(page instanceof SeptPage)) return page;
    const i = idx(gpa, level);
    // An existing NL_MAPPED entry is only tolerated by the "allow existing"
    // variant of SEPT.ADD, which KVM does not use.
    if (page.state[i] !== FREE) return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    if (this.pamtMap.has(pfn)) return out(TDX_PAGE_METADATA_INCORRECT);

    const child = new SeptPage(level - 1, gpa, pfn);
    page.state[i] = NL_MAPPED;
    page.target[i] = pfn;
    page.children![i] = child;
    page.nonFree++;
    this.pamtMap.set(pfn, new PamtRec(OWNER_SEPT, pfn, 1, page, i, child));
    this.septPfns.add(pfn);
    return OK;
  }

  /** TDH.MEM.PAGE.AUG: FREE -> PENDING (4K or 2M), page(s) NDA -> GUEST. Only while RUNNABLE. */
  tdhMemPageAug(gpa: number, level: number, pfn: number): SeamcallOut {
    const inj = this.injected('TDH.MEM.PAGE.AUG', gpa, pfn);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (this._opState !== 'RUNNABLE') return out(TDX_OP_STATE_INCORRECT);
    const page = this.locate(gpa, level, 1, 2);
    if (!(page instanceof SeptPage)) return page;
    const i = idx(gpa, level);
    if (page.state[i] !== FREE) return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);
    const n = level === 2 ? ENTRIES : 1;
    if (!validPfn(pfn) || pfn % n !== 0) return out(TDX_OPERAND_INVALID);
    for (let k = 0; k < n; k++) {
      if (this.pamtMap.has(pfn + k)) return out(TDX_PAGE_METADATA_INCORRECT);
    }

    page.state[i] = PENDING;
    page.target[i] = pfn;
    page.nonFree++;
    const rec = new PamtRec(OWNER_GUEST, pfn, level, page, i, null);
    for (let k = 0; k < n; k++) this.pamtMap.set(pfn + k, rec);
    return OK;
  }

  /**
   * TDH.MEM.RANGE.BLOCK: NL_MAPPED/MAPPED/PENDING -> the blocked variant, BEPOCH := TD_EPOCH.
   * An entry that is already blocked gives TDX_GPA_RANGE_ALREADY_BLOCKED (not an
   * error class) and is left as is; a FREE entry is TDX_EPT_ENTRY_STATE_INCORRECT
   * (tdh_mem_range_block.c: any state outside the allowed set that is not
   * "blocked" gives STATE_INCORRECT; TDX_EPT_ENTRY_FREE is not used there).
   */
  tdhMemRangeBlock(gpa: number, level: number): SeamcallOut {
    const inj = this.injected('TDH.MEM.RANGE.BLOCK', gpa, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    // allowed in INITIALIZED and RUNNABLE
    const page = this.locate(gpa, level, 1, this.rootLevel);
    if (!(page instanceof SeptPage)) return page;
    const i = idx(gpa, level);
    const s = page.state[i]!;
    let next: number;
    if (s === NL_MAPPED) next = NL_BLOCKED;
    else if (s === MAPPED) next = BLOCKED;
    else if (s === PENDING) next = PENDING_BLOCKED;
    else if (isBlockedState(s)) return this.errAt(TDX_GPA_RANGE_ALREADY_BLOCKED, page, i);
    else return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);

    page.state[i] = next;
    this.pamtMap.get(page.target[i]!)!.bepoch = this._tdEpoch;
    return OK;
  }

  /** TDH.MEM.TRACK: TD_EPOCH += 1 unless a vCPU is still inside with TD_EPOCH - 1. */
  tdhMemTrack(): SeamcallOut {
    const inj = this.injected('TDH.MEM.TRACK', undefined, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (this.trackRequiresRunnable && this._opState !== 'RUNNABLE') return out(TDX_OP_STATE_INCORRECT);
    if (this.countAt(this._tdEpoch - 1) !== 0) return out(TDX_PREVIOUS_TLB_EPOCH_BUSY);
    this._tdEpoch++;
    return OK;
  }

  /**
   * TDH.MEM.PAGE.REMOVE: leaf (MAPPED/BLOCKED/PENDING/PENDING_BLOCKED, 4K..1G) -> FREE, page -> NDA.
   * When RUNNABLE the entry must be blocked and TLB tracked. A FREE or non-leaf
   * target is TDX_EPT_ENTRY_STATE_INCORRECT (tdh_mem_page_remove.c).
   */
  tdhMemPageRemove(gpa: number, level: number): SeamcallOut {
    const inj = this.injected('TDH.MEM.PAGE.REMOVE', gpa, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    const page = this.locate(gpa, level, 1, 3);
    if (!(page instanceof SeptPage)) return page;
    const i = idx(gpa, level);
    const s = page.state[i]!;
    if (!isLeafState(s)) return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);
    const pfn = page.target[i]!;
    const rec = this.pamtMap.get(pfn)!;
    if (this._opState === 'RUNNABLE') {
      if (!isBlockedState(s)) return this.errAt(TDX_GPA_RANGE_NOT_BLOCKED, page, i);
      if (!this.tracked(rec.bepoch)) return out(TDX_TLB_TRACKING_NOT_DONE);
    }

    page.state[i] = FREE;
    page.target[i] = 0;
    page.nonFree--;
    const n = rec.size === 2 ? ENTRIES : 1;
    for (let k = 0; k < n; k++) this.pamtMap.delete(rec.head + k);
    return OK;
  }

  /**
   * TDH.MEM.SEPT.REMOVE: NL_MAPPED/NL_BLOCKED -> FREE, S-EPT page -> NDA.
   * Order (tdh_mem_sept_remove.c): entry state, then (RUNNABLE) blocked and
   * tracked, then all 512 child entries FREE.
   */
  tdhMemSeptRemove(gpa: number, level: number): SeamcallOut {
    const inj = this.injected('TDH.MEM.SEPT.REMOVE', gpa, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    const page = this.locate(gpa, level, 2, this.rootLevel);
    if (!(page instanceof SeptPage)) return page;
    const i = idx(gpa, level);
    const s = page.state[i]!;
    if (s !== NL_MAPPED && s !== NL_BLOCKED) return this.errAt(TDX_EPT_ENTRY_STATE_INCORRECT, page, i);
    const child = page.children![i]!;
    const rec = this.pamtMap.get(child.pfn)!;
    if (this._opState === 'RUNNABLE') {
      if (s !== NL_BLOCKED) return this.errAt(TDX_GPA_RANGE_NOT_BLOCKED, page, i);
      if (!this.tracked(rec.bepoch)) return out(TDX_TLB_TRACKING_NOT_DONE);
    }
    if (child.nonFree !== 0) return this.errAt(TDX_EPT_PAGE_NOT_FREE, page, i);

    page.state[i] = FREE;
    page.target[i] = 0;
    page.children![i] = undefined;
    page.nonFree--;
    this.pamtMap.delete(child.pfn);
    this.septPfns.delete(child.pfn);
    return OK;
  }

  /**
   * TDH.PHYMEM.PAGE.WBINVD (with the TD's HKID): the page must be NDA, else
   * TDX_PAGE_METADATA_INCORRECT (tdh_phymem_page_wbinvd.c checks the PAMT type
   * is NDA). No state change on success.
   * Simulator rule: after KEY.FREEID the TD's HKID is gone, so WBINVD keyed
   * with it fails with TDX_TD_KEYS_NOT_CONFIGURED. (The real module does not
   * check the key; KVM never issues it then.)
   */
  tdhPhymemPageWbinvd(pfn: number): SeamcallOut {
    const inj = this.injected('TDH.PHYMEM.PAGE.WBINVD', undefined, pfn);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    if (this.pamtMap.has(pfn)) return out(TDX_PAGE_METADATA_INCORRECT);
    return OK;
  }

  /**
   * TDH.PHYMEM.PAGE.RECLAIM: page owned by the TD -> NDA, only in TEARDOWN.
   * Order (tdh_phymem_page_reclaim.c): an NDA page is TDX_PAGE_METADATA_INCORRECT
   * (whatever the lifecycle), a 2M page must be reclaimed through its head
   * (else TDX_OPERAND_INVALID), then TEARDOWN is required
   * (else TDX_LIFECYCLE_STATE_INCORRECT).
   *
   * Tree bookkeeping: the entry that pointed at a reclaimed page is no longer
   * reported — septLeaves() drops reclaimed guest pages, septPages() drops
   * reclaimed S-EPT pages, septTree() omits reclaimed leaves and shows a
   * reclaimed S-EPT page's entry with `reclaimed: true` only while something
   * below it is still held. The tree's shape itself is frozen at TEARDOWN.
   */
  tdhPhymemPageReclaim(pfn: number): SeamcallOut {
    const inj = this.injected('TDH.PHYMEM.PAGE.RECLAIM', undefined, pfn);
    if (inj !== undefined) return out(inj);
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    const ctl = this.controlPages.get(pfn);
    if (ctl !== undefined) {
      if (!this.isTeardown()) return out(TDX_LIFECYCLE_STATE_INCORRECT);
      // the TDR goes last: TDR.CHLDCNT counts every other page the TD still owns
      if (ctl === 'TDR' && this.pamtMap.size + this.controlPages.size > 1) return out(TDX_TD_ASSOCIATED_PAGES_EXIST);
      this.controlPages.delete(pfn);
      return OK;
    }
    const rec = this.pamtMap.get(pfn);
    if (rec === undefined) return out(TDX_PAGE_METADATA_INCORRECT);
    if (rec.head !== pfn) return out(TDX_OPERAND_INVALID);
    if (!this.isTeardown()) return out(TDX_LIFECYCLE_STATE_INCORRECT);

    const n = rec.size === 2 ? ENTRIES : 1;
    for (let k = 0; k < n; k++) this.pamtMap.delete(pfn + k);
    if (rec.owner === OWNER_SEPT) this.septPfns.delete(pfn);
    return OK;
  }

  /**
   * TDH.PHYMEM.PAGE.WBINVD of a page keyed with the global TDX KeyID (the TDR once
   * reclaimed): the page must be NDA; the TD's lifecycle does not matter.
   */
  tdhPhymemPageWbinvdGlobal(pfn: number): SeamcallOut {
    const inj = this.injected('TDH.PHYMEM.PAGE.WBINVD', undefined, pfn);
    if (inj !== undefined) return out(inj);
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    if (this.ownedByModule(pfn)) return out(TDX_PAGE_METADATA_INCORRECT);
    return OK;
  }

  /**
   * TDH.MNG.CREATE (the TDR), TDH.MNG.ADDCX (TDCS), TDH.VP.CREATE (TDVPR), TDH.VP.ADDCX
   * (TDCX), as KVM_TDX_INIT_VM / KVM_TDX_INIT_VCPU did before the TD ran: the page, which
   * must be NDA, becomes a control page of the TD (the TDR first).
   */
  addControlPage(pfn: number, type: ControlPageType): SeamcallOut {
    if (!validPfn(pfn)) return out(TDX_OPERAND_INVALID);
    if (this.ownedByModule(pfn)) return out(TDX_PAGE_METADATA_INCORRECT);
    if (type !== 'TDR' && ![...this.controlPages.values()].includes('TDR')) return out(TDX_OPERAND_INVALID);
    this.controlPages.set(pfn, type);
    return OK;
  }

  /** TDH.MR.FINALIZE: INITIALIZED -> RUNNABLE. */
  tdhMrFinalize(): SeamcallOut {
    const inj = this.injected('TDH.MR.FINALIZE', undefined, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (this._opState !== 'INITIALIZED') return out(TDX_OP_STATE_INCORRECT);
    this._opState = 'RUNNABLE';
    return OK;
  }

  /**
   * VP.FLUSH (all vCPUs) + MNG.VPFLUSHDONE + PHYMEM.CACHE.WB + MNG.KEY.FREEID as
   * one step: lifecycle -> TEARDOWN. Injections use kind 'TDH.MNG.KEY.FREEID'.
   * Already TEARDOWN -> TDX_LIFECYCLE_STATE_INCORRECT (tdh_mng_key_freeid.c).
   * A vCPU still inside the guest -> TDX_FLUSHVP_NOT_DONE (VPFLUSHDONE's answer
   * while a vCPU is still associated).
   */
  releaseHkid(): SeamcallOut {
    const inj = this.injected('TDH.MNG.KEY.FREEID', undefined, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_LIFECYCLE_STATE_INCORRECT);
    for (let v = 0; v < this.nrVcpus; v++) {
      if (this.vcpuEpochs[v]! >= 0) return out(TDX_FLUSHVP_NOT_DONE);
    }
    this._lifecycle = 'TEARDOWN';
    return OK;
  }

  // -------------------------------------------------------------- guest side

  /**
   * TDH.VP.ENTER: the vCPU is inside the guest with epoch TD_EPOCH.
   * TEARDOWN -> TDX_TD_KEYS_NOT_CONFIGURED; not RUNNABLE -> TDX_OP_STATE_INCORRECT
   * (op-state table: VP.ENTER only in RUNNABLE); already inside ->
   * TDX_VCPU_STATE_INCORRECT (simulator's choice: cannot happen in KVM).
   * Throws RangeError for a vCPU index outside [0, nrVcpus).
   */
  vcpuEnter(vcpu: number): SeamcallOut {
    this.checkVcpu(vcpu);
    const inj = this.injected('TDH.VP.ENTER', undefined, undefined);
    if (inj !== undefined) return out(inj);
    if (this.isTeardown()) return out(TDX_TD_KEYS_NOT_CONFIGURED);
    if (this._opState !== 'RUNNABLE') return out(TDX_OP_STATE_INCORRECT);
    if (this.vcpuEpochs[vcpu]! >= 0) return out(TDX_VCPU_STATE_INCORRECT);
    this.trackBusyNoEntrySince = false;
    const e = this._tdEpoch;
    this.vcpuEpochs[vcpu] = e;
    this.epochCount.set(e, this.countAt(e) + 1);
    return OK;
  }

  /** The vCPU leaves the guest (TD exit). No-op if it is not inside. */
  vcpuExit(vcpu: number): void {
    this.checkVcpu(vcpu);
    const e = this.vcpuEpochs[vcpu]!;
    if (e < 0) return;
    this.vcpuEpochs[vcpu] = -1;
    const c = this.countAt(e) - 1;
    if (c <= 0) this.epochCount.delete(e);
    else this.epochCount.set(e, c);
  }

  inGuest(vcpu: number): boolean {
    this.checkVcpu(vcpu);
    return this.vcpuEpochs[vcpu]! >= 0;
  }

  /** Epoch the vCPU entered with, or null when it is outside the guest. */
  vcpuEpoch(vcpu: number): number | null {
    this.checkVcpu(vcpu);
    const e = this.vcpuEpochs[vcpu]!;
    return e < 0 ? null : e;
  }

  /**
   * TDG.MEM.PAGE.ACCEPT from a vCPU inside the guest (tdg_mem_page_accept.c):
   *  - target PENDING -> MAPPED, TDX_SUCCESS;
   *  - target MAPPED, or the walk stopped at a MAPPED leaf above the requested
   *    level -> TDX_PAGE_ALREADY_ACCEPTED (no change);
   *  - target non-leaf (NL_MAPPED / NL_BLOCKED) -> TDX_PAGE_SIZE_MISMATCH;
   *  - target FREE / BLOCKED / PENDING_BLOCKED, or the walk failed otherwise ->
   *    EPT violation: the vCPU exits to KVM (it is no longer inside the guest),
   *    result { status: TDX_SUCCESS (the VP.ENTER completion), eptViolation: true }.
   * Level must be 1 or 2 and the GPA aligned (else TDX_OPERAND_INVALID).
   * From a vCPU that is not inside the guest: TDX_VCPU_STATE_INCORRECT (simulator's choice).
   * Injections (kind 'TDG.MEM.PAGE.ACCEPT') come first; the default busy operand is RCX.
   */
  guestAccept(vcpu: number, gpa: number, level: number): AcceptOut {
    this.checkVcpu(vcpu);
    const inj = this.injected('TDG.MEM.PAGE.ACCEPT', gpa, undefined);
    if (inj !== undefined) return { status: inj, rcx: 0n, rdx: 0n, eptViolation: false };
    if (this.vcpuEpochs[vcpu]! < 0) return { status: TDX_VCPU_STATE_INCORRECT, rcx: 0n, rdx: 0n, eptViolation: false };
    if (!this.validLevel(level, 1, 2) || !this.validGpa(gpa, level)) {
      return { status: TDX_OPERAND_INVALID, rcx: 0n, rdx: 0n, eptViolation: false };
    }
    const page = this.walk(gpa, level);
    if (page === null) {
      if (this.failPage!.state[this.failIdx] === MAPPED) {
        return { status: TDX_PAGE_ALREADY_ACCEPTED, rcx: 0n, rdx: 0n, eptViolation: false };
      }
      this.vcpuExit(vcpu);
      return ACCEPT_VIOLATION;
    }
    const i = idx(gpa, level);
    const s = page.state[i]!;
    if (s === PENDING) {
      page.state[i] = MAPPED;
      return ACCEPT_OK;
    }
    if (s === MAPPED) return { status: TDX_PAGE_ALREADY_ACCEPTED, rcx: 0n, rdx: 0n, eptViolation: false };
    if (s === NL_MAPPED || s === NL_BLOCKED) return { status: TDX_PAGE_SIZE_MISMATCH, rcx: 0n, rdx: 0n, eptViolation: false };
    this.vcpuExit(vcpu);
    return ACCEPT_VIOLATION;
  }

  // -------------------------------------------------------------- injections

  /**
   * The next `count` calls of `kind` (at `gpa` when given) return
   * TDX_OPERAND_BUSY | operand id, with no state change. Default operand:
   * SEPT for TDH.MEM.* calls on a GPA and VP.ENTER, TD_EPOCH for TRACK, TDR for
   * FINALIZE / KEY.FREEID, RCX otherwise.
   */
  injectBusy(spec: InjectBusySpec): void {
    const operand = spec.operand ?? defaultBusyOperand(spec.kind);
    this.addInjection(spec.kind, {
      gpa: spec.gpa,
      pfn: undefined,
      remaining: spec.count,
      status: TDX_OPERAND_BUSY | BUSY_OPERAND_ID[operand],
    });
  }

  /** The next `count` (default 1) matching calls return `status`, with no state change. */
  injectStatus(spec: InjectStatusSpec): void {
    this.addInjection(spec.kind, {
      gpa: spec.gpa,
      pfn: spec.pfn,
      owner: spec.owner,
      remaining: spec.count ?? 1,
      status: BigInt.asUintN(64, spec.status),
    });
  }

  /** Number of injected results still waiting to be consumed. */
  pendingInjections(): number {
    let n = 0;
    for (const list of this.injections.values()) for (const inj of list) n += inj.remaining;
    return n;
  }

  private addInjection(kind: SeamcallName, inj: Injection): void {
    if (!SEAMCALL_NAMES.includes(kind)) throw new RangeError(`unknown SEAMCALL kind ${String(kind)}`);
    if (!Number.isSafeInteger(inj.remaining) || inj.remaining < 0) throw new RangeError(`bad injection count ${inj.remaining}`);
    if (inj.remaining === 0) return;
    let list = this.injections.get(kind);
    if (list === undefined) {
      list = [];
      this.injections.set(kind, list);
    }
    list.push(inj);
    this.nInjections++;
  }

  // -------------------------------------------------------------- inspection

  pamt(pfn: number): PamtEntry {
    const ctl = this.controlPages.get(pfn);
    if (ctl !== undefined) return { owner: ctl, bepoch: null };
    const rec = this.pamtMap.get(pfn);
    if (rec === undefined) return { owner: 'NDA', bepoch: null };
    return { owner: rec.owner === OWNER_SEPT ? 'SEPT' : 'GUEST', bepoch: rec.bepoch < 0 ? null : rec.bepoch };
  }

  ownedByModule(pfn: number): boolean {
    return this.pamtMap.has(pfn) || this.controlPages.has(pfn);
  }

  /** The entry at (gpa, level), or null if the walk does not reach that level. Pure. */
  septEntry(gpa: number, level: number): SeptEntryView | null {
    if (!this.validLevel(level, 1, this.rootLevel) || !Number.isSafeInteger(gpa) || gpa < 0 || gpa >= this.gpaLimit) return null;
    let page = this.root;
    for (let l = this.rootLevel; l > level; l--) {
      const i = idx(gpa, l);
      if (page.state[i] !== NL_MAPPED) return null;
      page = page.children![i]!;
    }
    const i = idx(gpa, level);
    const s = page.state[i]!;
    if (s === FREE) return { state: 'FREE', pfn: null, bepoch: null };
    const pfn = page.target[i]!;
    const rec = this.liveRec(page, i);
    const bepoch = isBlockedState(s) && rec !== undefined && rec.bepoch >= 0 ? rec.bepoch : null;
    return { state: STATE_NAMES[s]!, pfn, bepoch };
  }

  /** PAMT record still belonging to the page entry (page, i) points at; undefined once reclaimed. */
  private liveRec(page: SeptPage, i: number): PamtRec | undefined {
    const rec = this.pamtMap.get(page.target[i]!);
    return rec !== undefined && rec.parent === page && rec.index === i ? rec : undefined;
  }

  /** Every non-FREE leaf entry whose page is still held, sorted by gpa then level. */
  septLeaves(): SeptLeaf[] {
    const res: SeptLeaf[] = [];
    const visit = (page: SeptPage): void => {
      if (page.nonFree === 0) return;
      for (let i = 0; i < ENTRIES; i++) {
        const s = page.state[i]!;
        if (s === FREE) continue;
        if (isLeafState(s)) {
          if (this.liveRec(page, i) === undefined) continue; // reclaimed in TEARDOWN
          res.push({ gpa: page.gpa + i * LEVEL_SIZE[page.level]!, level: page.level, state: STATE_NAMES[s]!, pfn: page.target[i]! });
        } else {
          visit(page.children![i]!);
        }
      }
    };
    visit(this.root);
    // Depth-first in index order is already gpa order; sort anyway to pin the contract.
    res.sort((a, b) => a.gpa - b.gpa || a.level - b.level);
    return res;
  }

  /** PFNs of the donated S-EPT pages the module still holds, sorted. */
  septPages(): number[] {
    return [...this.septPfns].sort((a, b) => a - b);
  }

  /** Deterministic JSON picture of the tree (non-FREE entries only). */
  septTree(): SeptTree {
    return { rootLevel: this.rootLevel, root: this.pageView(this.root) };
  }

  private pageView(page: SeptPage): SeptTreePage {
    const entries: SeptTreeEntry[] = [];
    for (let i = 0, seen = 0; i < ENTRIES && seen < page.nonFree; i++) {
      const s = page.state[i]!;
      if (s === FREE) continue;
      seen++;
      const rec = this.liveRec(page, i);
      const e: SeptTreeEntry = {
        gpa: page.gpa + i * LEVEL_SIZE[page.level]!,
        level: page.level,
        state: STATE_NAMES[s]!,
        pfn: page.target[i]!,
      };
      if (isBlockedState(s) && rec !== undefined && rec.bepoch >= 0) e.bepoch = rec.bepoch;
      if (isLeafState(s)) {
        if (rec === undefined) continue; // reclaimed guest page
      } else {
        const child = this.pageView(page.children![i]!);
        if (rec === undefined) {
          if (child.entries.length === 0) continue;
          e.reclaimed = true;
        }
        e.child = child;
      }
      entries.push(e);
    }
    return { pfn: page.pfn < 0 ? null : page.pfn, level: page.level, gpa: page.gpa, entries };
  }

  /**
   * Everything observable, JSON-serialisable and deterministic: states, epoch,
   * vCPU epochs, the tree and every page the TD owns in PAMT.
   */
  dumpState(): {
    opState: string;
    lifecycle: string;
    tdEpoch: number;
    vcpuEpochs: (number | null)[];
    tree: SeptTree;
    pamt: { pfn: number; owner: PamtOwner; bepoch: number | null }[];
  } {
    const pfns = [...this.pamtMap.keys(), ...this.controlPages.keys()].sort((a, b) => a - b);
    return {
      opState: this._opState,
      lifecycle: this._lifecycle,
      tdEpoch: this._tdEpoch,
      vcpuEpochs: Array.from(this.vcpuEpochs, (e) => (e < 0 ? null : e)),
      tree: this.septTree(),
      pamt: pfns.map((pfn) => ({ pfn, ...this.pamt(pfn) })),
    };
  }
}
