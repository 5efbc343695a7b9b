import { describe, expect, it } from 'vitest';
import * as S from '../../src/hw/status.ts';

describe('status codes', () => {
  it('have the values of the spec table', () => {
    expect(S.TDX_SUCCESS).toBe(0x0000000000000000n);
    expect(S.TDX_OPERAND_BUSY).toBe(0x8000020000000000n);
    expect(S.TDX_PREVIOUS_TLB_EPOCH_BUSY).toBe(0x8000020100000000n);
    expect(S.TDX_EPT_WALK_FAILED).toBe(0xc0000b0000000000n);
    expect(S.TDX_EPT_ENTRY_FREE).toBe(0xc0000b0100000000n);
    expect(S.TDX_GPA_RANGE_NOT_BLOCKED).toBe(0xc0000b0600000000n);
    expect(S.TDX_GPA_RANGE_ALREADY_BLOCKED).toBe(0x00000b0700000000n);
    expect(S.TDX_TLB_TRACKING_NOT_DONE).toBe(0xc0000b0800000000n);
    expect(S.TDX_EPT_ENTRY_STATE_INCORRECT).toBe(0xc0000b0d00000000n);
    expect(S.TDX_EPT_PAGE_NOT_FREE).toBe(0xc0000b0e00000000n);
    expect(S.TDX_LIFECYCLE_STATE_INCORRECT).toBe(0xc000060700000000n);
    expect(S.TDX_OP_STATE_INCORRECT).toBe(0xc000060800000000n);
  });

  it('have the module header values for the codes the spec does not list', () => {
    expect(S.TDX_OPERAND_INVALID).toBe(0xc000010000000000n);
    expect(S.TDX_PAGE_METADATA_INCORRECT).toBe(0xc000030000000000n);
    expect(S.TDX_TD_KEYS_NOT_CONFIGURED).toBe(0x8000081000000000n);
    expect(S.TDX_FLUSHVP_NOT_DONE).toBe(0x8000082400000000n);
    expect(S.TDX_PAGE_ALREADY_ACCEPTED).toBe(0x00000b0a00000000n);
    expect(S.TDX_PAGE_SIZE_MISMATCH).toBe(0xc0000b0b00000000n);
    expect(S.TDX_VCPU_STATE_INCORRECT).toBe(0xc000070000000000n);
  });

  it('operand ids', () => {
    expect(S.OPERAND_ID_RCX).toBe(0x01n);
    expect(S.OPERAND_ID_TDR).toBe(0x80n);
    expect(S.OPERAND_ID_SEPT).toBe(0x92n);
    expect(S.OPERAND_ID_TD_EPOCH).toBe(0xa9n);
    expect(S.busyStatus('SEPT')).toBe(0x8000020000000092n);
  });

  it('statusName ignores the operand of a busy status', () => {
    expect(S.statusName(S.TDX_OPERAND_BUSY)).toBe('TDX_OPERAND_BUSY');
    expect(S.statusName(S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT)).toBe('TDX_OPERAND_BUSY');
    expect(S.statusName(S.TDX_OPERAND_BUSY | S.OPERAND_ID_TD_EPOCH)).toBe('TDX_OPERAND_BUSY');
    expect(S.statusName(S.TDX_SUCCESS)).toBe('TDX_SUCCESS');
    expect(S.statusName(S.TDX_EPT_WALK_FAILED | 1n)).toBe('TDX_EPT_WALK_FAILED');
    expect(S.statusName(S.TDX_PREVIOUS_TLB_EPOCH_BUSY)).toBe('TDX_PREVIOUS_TLB_EPOCH_BUSY');
  });

  it('statusDetail keeps the operand', () => {
    expect(S.statusDetail(S.TDX_OPERAND_BUSY | S.OPERAND_ID_SEPT)).toBe('TDX_OPERAND_BUSY(SEPT)');
    expect(S.statusDetail(S.TDX_OPERAND_BUSY | S.OPERAND_ID_RCX)).toBe('TDX_OPERAND_BUSY(RCX)');
    expect(S.statusDetail(S.TDX_EPT_WALK_FAILED)).toBe('TDX_EPT_WALK_FAILED');
    expect(S.statusDetail(S.TDX_PAGE_ALREADY_ACCEPTED | 1n)).toBe('TDX_PAGE_ALREADY_ACCEPTED(0x1)');
  });

  it('unknown codes are named by their hex value', () => {
    expect(S.statusName(0xc000099900000000n)).toBe('0xC000099900000000');
  });

  it('isBusy matches any operand of TDX_OPERAND_BUSY and nothing else', () => {
    expect(S.isBusy(S.TDX_OPERAND_BUSY)).toBe(true);
    expect(S.isBusy(S.TDX_OPERAND_BUSY | S.OPERAND_ID_TDR)).toBe(true);
    expect(S.isBusy(S.TDX_OPERAND_BUSY | 0xffffffffn)).toBe(true);
    expect(S.isBusy(S.TDX_PREVIOUS_TLB_EPOCH_BUSY)).toBe(false);
    expect(S.isBusy(S.TDX_SUCCESS)).toBe(false);
    expect(S.isBusy(S.TDX_TD_KEYS_NOT_CONFIGURED)).toBe(false);
  });

  it('isError is the class bit', () => {
    expect(S.isError(S.TDX_GPA_RANGE_ALREADY_BLOCKED)).toBe(false);
    expect(S.isError(S.TDX_PAGE_ALREADY_ACCEPTED)).toBe(false);
    expect(S.isError(S.TDX_SUCCESS)).toBe(false);
    expect(S.isError(S.TDX_EPT_WALK_FAILED)).toBe(true);
    expect(S.isError(S.TDX_OPERAND_BUSY)).toBe(true);
  });
});
