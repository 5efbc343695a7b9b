// TDX SEAMCALL / TDCALL completion status codes used by the simulated module.
//
// A status is a 64-bit value: bits 63..32 are the status code proper (class +
// code), bits 31..0 carry detail (an operand id for TDX_OPERAND_BUSY, a level
// for a few guest-side statuses). The simulator returns the bare code (low 32
// bits zero) for every rejection except TDX_OPERAND_BUSY, whose operand id is
// what KVM's "busy" test deliberately ignores.
//
// Values: the spec table (/work/shared/spec/tdx-module.md) and, for the codes
// it does not list, the TDX module's generated error-code header (tdx_1.5).

export const STATUS_MASK = 0xFFFFFFFF00000000n;
export const DETAIL_MASK = 0x00000000FFFFFFFFn;

// --- from the spec table -------------------------------------------------
export const TDX_SUCCESS = 0x0000000000000000n;
export const TDX_OPERAND_BUSY = 0x8000020000000000n;
export const TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000n;
export const TDX_EPT_WALK_FAILED = 0xC0000B0000000000n;
export const TDX_EPT_ENTRY_FREE = 0xC0000B0100000000n;
export const TDX_GPA_RANGE_NOT_BLOCKED = 0xC0000B0600000000n;
export const TDX_GPA_RANGE_ALREADY_BLOCKED = 0x00000B0700000000n;
export const TDX_TLB_TRACKING_NOT_DONE = 0xC0000B0800000000n;
export const TDX_EPT_ENTRY_STATE_INCORRECT = 0xC0000B0D00000000n;
export const TDX_EPT_PAGE_NOT_FREE = 0xC0000B0E00000000n;
export const TDX_LIFECYCLE_STATE_INCORRECT = 0xC000060700000000n;
export const TDX_TD_ASSOCIATED_PAGES_EXIST = 0xC000040000000000n;
export const TDX_OP_STATE_INCORRECT = 0xC000060800000000n;

// --- from the module's error-code header (not in the spec table) ---------
/** Bad GPA / level / alignment / address operand. */
export const TDX_OPERAND_INVALID = 0xC000010000000000n;
/** PAMT says the page is not of the type the SEAMCALL needs (e.g. not NDA). */
export const TDX_PAGE_METADATA_INCORRECT = 0xC000030000000000n;
/** Any TD-scoped SEAMCALL once the TD's lifecycle is no longer KEYS_CONFIGURED (i.e. after KEY.FREEID). */
export const TDX_TD_KEYS_NOT_CONFIGURED = 0x8000081000000000n;
/** VPFLUSHDONE while a vCPU is still associated (here: still inside the guest). */
export const TDX_FLUSHVP_NOT_DONE = 0x8000082400000000n;
/** vCPU in the wrong state (simulator: VP.ENTER of a vCPU already inside, ACCEPT from outside). */
export const TDX_VCPU_STATE_INCORRECT = 0xC000070000000000n;
/** Entry not FREE (SEPT.ADD "allow existing" variants; kept for naming). */
export const TDX_EPT_ENTRY_NOT_FREE = 0xC0000B0200000000n;
/** TDG.MEM.PAGE.ACCEPT of a page that is already guest-accessible (MAPPED). Not an error class. */
export const TDX_PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000n;
/** TDG.MEM.PAGE.ACCEPT whose level does not match the mapping (non-leaf at the requested level). */
export const TDX_PAGE_SIZE_MISMATCH = 0xC0000B0B00000000n;

// --- operand ids carried in the low 32 bits of TDX_OPERAND_BUSY -----------
export const OPERAND_ID_RCX = 0x01n;
export const OPERAND_ID_TDR = 0x80n;
export const OPERAND_ID_SEPT = 0x92n; // SEPT_TREE in the module's header
export const OPERAND_ID_TD_EPOCH = 0xa9n;

export type BusyOperand = 'RCX' | 'TDR' | 'SEPT' | 'TD_EPOCH';

export const BUSY_OPERAND_ID: Readonly<Record<BusyOperand, bigint>> = {
  RCX: OPERAND_ID_RCX,
  TDR: OPERAND_ID_TDR,
  SEPT: OPERAND_ID_SEPT,
  TD_EPOCH: OPERAND_ID_TD_EPOCH,
};

const NAMES: ReadonlyMap<bigint, string> = new Map<bigint, string>([
  [TDX_SUCCESS, 'TDX_SUCCESS'],
  [TDX_OPERAND_BUSY, 'TDX_OPERAND_BUSY'],
  [TDX_PREVIOUS_TLB_EPOCH_BUSY, 'TDX_PREVIOUS_TLB_EPOCH_BUSY'],
  [TDX_EPT_WALK_FAILED, 'TDX_EPT_WALK_FAILED'],
  [TDX_EPT_ENTRY_FREE, 'TDX_EPT_ENTRY_FREE'],
  [TDX_GPA_RANGE_NOT_BLOCKED, 'TDX_GPA_RANGE_NOT_BLOCKED'],
  [TDX_GPA_RANGE_ALREADY_BLOCKED, 'TDX_GPA_RANGE_ALREADY_BLOCKED'],
  [TDX_TLB_TRACKING_NOT_DONE, 'TDX_TLB_TRACKING_NOT_DONE'],
  [TDX_EPT_ENTRY_STATE_INCORRECT, 'TDX_EPT_ENTRY_STATE_INCORRECT'],
  [TDX_EPT_PAGE_NOT_FREE, 'TDX_EPT_PAGE_NOT_FREE'],
  [TDX_LIFECYCLE_STATE_INCORRECT, 'TDX_LIFECYCLE_STATE_INCORRECT'],
  [TDX_OP_STATE_INCORRECT, 'TDX_OP_STATE_INCORRECT'],
  [TDX_OPERAND_INVALID, 'TDX_OPERAND_INVALID'],
  [TDX_PAGE_METADATA_INCORRECT, 'TDX_PAGE_METADATA_INCORRECT'],
  [TDX_TD_ASSOCIATED_PAGES_EXIST, 'TDX_TD_ASSOCIATED_PAGES_EXIST'],
  [TDX_TD_KEYS_NOT_CONFIGURED, 'TDX_TD_KEYS_NOT_CONFIGURED'],
  [TDX_FLUSHVP_NOT_DONE, 'TDX_FLUSHVP_NOT_DONE'],
  [TDX_VCPU_STATE_INCORRECT, 'TDX_VCPU_STATE_INCORRECT'],
  [TDX_EPT_ENTRY_NOT_FREE, 'TDX_EPT_ENTRY_NOT_FREE'],
  [TDX_PAGE_ALREADY_ACCEPTED, 'TDX_PAGE_ALREADY_ACCEPTED'],
  [TDX_PAGE_SIZE_MISMATCH, 'TDX_PAGE_SIZE_MISMATCH'],
]);

const OPERAND_NAMES: ReadonlyMap<bigint, string> = new Map<bigint, string>([
  [OPERAND_ID_RCX, 'RCX'],
  [OPERAND_ID_TDR, 'TDR'],
  [OPERAND_ID_SEPT, 'SEPT'],
  [OPERAND_ID_TD_EPOCH, 'TD_EPOCH'],
]);

function hex64(s: bigint): string {
  return '0x' + BigInt.asUintN(64, s).toString(16).toUpperCase().padStart(16, '0');
}

/** The status code proper (detail bits cleared). */
export function statusCode(s: bigint): bigint {
  return BigInt.asUintN(64, s) & STATUS_MASK;
}

/**
 * Stable name of a status, ignoring the low 32 detail bits (so every
 * TDX_OPERAND_BUSY is 'TDX_OPERAND_BUSY' whatever its operand). Unknown codes
 * are rendered as a 16-digit hex string.
 */
export function statusName(s: bigint): string {
  const code = statusCode(s);
  return NAMES.get(code) ?? hex64(code);
}

/**
 * Like statusName, but keeps the detail: 'TDX_OPERAND_BUSY(SEPT)', or
 * 'NAME(0x…)' for any other status with non-zero low bits.
 */
export function statusDetail(s: bigint): string {
  const name = statusName(s);
  const detail = BigInt.asUintN(64, s) & DETAIL_MASK;
  if (detail === 0n) return name;
  if (statusCode(s) === TDX_OPERAND_BUSY) {
    const op = OPERAND_NAMES.get(detail);
    if (op !== undefined) return `${name}(${op})`;
  }
  return `${name}(0x${detail.toString(16)})`;
}

/** KVM's test: any operand id counts as busy. */
export function isBusy(s: bigint): boolean {
  return statusCode(s) === TDX_OPERAND_BUSY;
}

/** Error class bit (bit 63) set. TDX_GPA_RANGE_ALREADY_BLOCKED / TDX_PAGE_ALREADY_ACCEPTED are not errors. */
export function isError(s: bigint): boolean {
  return (BigInt.asUintN(64, s) & 0x8000000000000000n) !== 0n;
}

export function busyStatus(operand: BusyOperand): bigint {
  return TDX_OPERAND_BUSY | BUSY_OPERAND_ID[operand];
}
