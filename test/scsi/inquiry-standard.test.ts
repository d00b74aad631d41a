import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import { parseStandardInquiry } from '../../src/scsi/index.js';
import { fixture } from './fixtures.js';

describe('parseStandardInquiry on tgtd data', () => {
  it('a disk LUN reads as iscsi-inq printed it', () => {
    // iscsi-inq: DIRECT_ACCESS, Version 5 (SPC-3), HiSup 1, ReponseDataFormat 2, CmdQue 1, Vendor IET,
    // Product VIRTUAL-DISK, Revision 0001, version descriptors 04c0 (SBC-3), 0960 (iSCSI), 0300 (SPC-3).
    expect(parseStandardInquiry(fixture('inquiry-standard-disk'))).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      deviceTypeName: 'direct access block device',
      removable: false,
      version: 5,
      normaca: false,
      hisup: true,
      responseDataFormat: 2,
      sccs: false,
      acc: false,
      tpgs: 0,
      thirdPartyCopy: false,
      protect: false,
      encserv: false,
      multip: false,
      cmdque: true,
      vendor: 'IET',
      product: 'VIRTUAL-DISK',
      revision: '0001',
      versionDescriptors: [0x04c0, 0x0960, 0x0300],
      availableLength: 66,
    });
  });

  it('vendor, product and revision set with tgtadm come through', () => {
    expect(parseStandardInquiry(fixture('inquiry-standard-thin'))).toMatchObject({
      vendor: 'ISCSITS',
      product: 'THIN-DESC',
      revision: '0102',
    });
  });

  it('data cut by the allocation length keeps what fits and says how much there is', () => {
    const data = fixture('inquiry-standard-controller-truncated');
    expect(data).toHaveLength(64);
    const inq = parseStandardInquiry(data);
    expect(inq).toMatchObject({
      peripheralDeviceType: 0x0c,
      deviceTypeName: 'storage array controller',
      product: 'Controller',
      availableLength: 66,
    });
    // 58..63 hold three descriptors; the fourth (0x0000 padding in the full data) is cut off.
    expect(inq.versionDescriptors).toEqual([0x04c0, 0x0960, 0x01fb]);
  });

  it('fewer than 36 bytes is ERR_ISCSI_SCSI_DATA', () => {
    const short = fixture('inquiry-standard-disk').subarray(0, 35);
    expect(() => parseStandardInquiry(short)).toThrow(ProtocolError);
    try {
      parseStandardInquiry(short);
    } catch (e) {
      expect(e).toMatchObject({ code: ErrorCode.ScsiData, got: 35, limit: 36 });
    }
  });

  it('bits in bytes 5-7 map to their flags', () => {
    const data = new Uint8Array(36);
    data[0] = 0x7f; // qualifier 3, type 0x1f
    data[1] = 0x80;
    data[5] = 0xf9; // SCCS ACC TPGS=3 3PC PROTECT
    data[6] = 0x50; // ENCSERV MULTIP
    data[4] = 31;
    expect(parseStandardInquiry(data)).toMatchObject({
      peripheralQualifier: 3,
      deviceTypeName: 'unknown or no device type',
      removable: true,
      sccs: true,
      acc: true,
      tpgs: 3,
      thirdPartyCopy: true,
      protect: true,
      encserv: true,
      multip: true,
      cmdque: false,
      vendor: '',
      versionDescriptors: [],
    });
  });
});
