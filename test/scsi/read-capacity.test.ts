import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import { parseReadCapacity10, parseReadCapacity16 } from '../../src/scsi/index.js';
import { fixture } from './fixtures.js';

describe('READ CAPACITY data from tgtd', () => {
  it('(16) of a 64 MiB LUN matches iscsi-readcapacity16', () => {
    // RETURNED LOGICAL BLOCK ADDRESS:131071 LOGICAL BLOCK LENGTH IN BYTES:512 P_TYPE:0 PROT_EN:0 P_I_EXPONENT:0
    // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:3 LBPME:0 LBPRZ:0 LOWEST ALIGNED LOGICAL BLOCK ADDRESS:0
    // Total size:67108864
    expect(parseReadCapacity16(fixture('read-capacity16-disk'))).toEqual({
      lastLba: 131071n,
      blockLength: 512,
      blocks: 131072n,
      bytes: 67108864n,
      protectionEnabled: false,
      pType: 0,
      protectionType: 0,
      protectionIntervalExponent: 0,
      logicalBlocksPerPhysicalBlockExponent: 3,
      physicalBlockLength: 4096,
      lbpme: false,
      lbprz: false,
      lowestAlignedLba: 0,
      rcBasis: 0,
    });
  });

  it('(16) of a thin LUN with 4096-byte blocks: LBPME and LBPRZ set', () => {
    expect(parseReadCapacity16(fixture('read-capacity16-thin-4k'))).toMatchObject({
      lastLba: 16383n,
      blockLength: 4096,
      bytes: 67108864n,
      logicalBlocksPerPhysicalBlockExponent: 0,
      physicalBlockLength: 4096,
      lbpme: true,
      lbprz: true,
    });
  });

  it('(10) agrees with (16) for both LUNs', () => {
    expect(parseReadCapacity10(fixture('read-capacity10-disk'))).toEqual({
      lastLba: 131071,
      blockLength: 512,
      blocks: 131072,
      needsReadCapacity16: false,
    });
    expect(parseReadCapacity10(fixture('read-capacity10-4k'))).toMatchObject({ lastLba: 16383, blockLength: 4096 });
  });

  it('protection, alignment and the READ CAPACITY(16) escape are decoded', () => {
    const d = new Uint8Array(32).fill(0xff, 0, 8);
    d.set([0, 0, 0x10, 0], 8); // 4096
    d[12] = 0x13; // RC BASIS 1, P_TYPE 1, PROT_EN
    d[13] = 0x21; // P_I_EXPONENT 2, 2 logical per physical
    d[14] = 0x80 | 0x3f;
    d[15] = 0xff;
    expect(parseReadCapacity16(d)).toMatchObject({
      lastLba: 0xffffffffffffffffn,
      blocks: 0x10000000000000000n,
      protectionEnabled: true,
      pType: 1,
      protectionType: 2,
      protectionIntervalExponent: 2,
      logicalBlocksPerPhysicalBlockExponent: 1,
      physicalBlockLength: 8192,
      lbpme: true,
      lbprz: false,
      lowestAlignedLba: 0x3fff,
      rcBasis: 1,
    });
    expect(parseReadCapacity10(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0)).needsReadCapacity16).toBe(true);
  });

  it('short data is ERR_ISCSI_SCSI_DATA', () => {
    expect(() => parseReadCapacity10(new Uint8Array(7))).toThrow(ProtocolError);
    expect(() => parseReadCapacity16(new Uint8Array(15))).toThrowError(
      expect.objectContaining({ code: ErrorCode.ScsiData, limit: 16 }),
    );
  });
});
