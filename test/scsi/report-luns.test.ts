import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { parseReportLuns } from '../../src/scsi/index.js';
import { fixture } from './fixtures.js';

// tgtd uses peripheral addressing: LUN n is n << 48 (first level, bytes 0-1 of the 8-byte LUN).
const lun = (n: number): bigint => BigInt(n) << 48n;

describe('parseReportLuns on tgtd data', () => {
  it('three LUNs as iscsi-ls listed them', () => {
    expect(parseReportLuns(fixture('report-luns-3'))).toEqual({
      luns: [lun(0), lun(1), lun(2)],
      listLength: 24,
      availableLength: 32,
      truncated: false,
    });
  });

  it('five LUNs', () => {
    expect(parseReportLuns(fixture('report-luns-5')).luns).toEqual([0, 1, 2, 3, 4].map(lun));
  });

  it('the 16-byte first try: one LUN, truncated, and the length to ask for', () => {
    expect(parseReportLuns(fixture('report-luns-alloc16'))).toEqual({
      luns: [lun(0)],
      listLength: 24,
      availableLength: 32,
      truncated: true,
    });
  });

  it('keeps all 64 bits of a LUN', () => {
    const d = Uint8Array.of(0, 0, 0, 8, 0, 0, 0, 0, 0xd2, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde);
    expect(parseReportLuns(d).luns).toEqual([0xd2123456789abcden]);
  });

  it('rejects a short header and a list length that is not whole LUNs', () => {
    expect(() => parseReportLuns(new Uint8Array(7))).toThrowError(
      expect.objectContaining({ code: ErrorCode.ScsiData }),
    );
    expect(() => parseReportLuns(Uint8Array.of(0, 0, 0, 12, 0, 0, 0, 0))).toThrowError(
      expect.objectContaining({ code: ErrorCode.ScsiData, got: 12 }),
    );
  });
});
