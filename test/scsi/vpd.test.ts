import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import {
  parseBlockLimits,
  parseDeviceIdentification,
  parseLogicalBlockProvisioning,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseVpdPage,
  preferredLogicalUnitDesignator,
  protocolIdentifierName,
  VpdPage,
} from '../../src/scsi/index.js';
import { fixture } from './fixtures.js';

const header = { peripheralQualifier: 0, peripheralDeviceType: 0, truncated: false };

function scsiDataError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe(ErrorCode.ScsiData);
    return e as ProtocolError;
  }
  throw new Error('no error');
}

describe('VPD pages from tgtd', () => {
  it('0x00 lists the pages iscsi-inq printed', () => {
    expect(parseSupportedVpdPages(fixture('vpd-00-supported-pages'))).toEqual({
      kind: 'supported-pages',
      ...header,
      pageCode: 0,
      availableLength: 10,
      pages: [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2],
    });
  });

  it('0x80 serial number "beaf11" (right-aligned in spaces by tgtd)', () => {
    expect(parseUnitSerialNumber(fixture('vpd-80-serial'))).toMatchObject({
      kind: 'unit-serial-number',
      serialNumber: 'beaf11',
      availableLength: 40,
    });
  });

  it('0x83: two NAA designators and the T10 vendor ID, LU association, no PIV', () => {
    const page = parseDeviceIdentification(fixture('vpd-83-device-id'));
    expect(page).toMatchObject({ kind: 'device-identification', ...header, pageCode: 0x83, availableLength: 76 });
    expect(
      page.designators.map((d) => [d.type, d.codeSet, d.association, d.piv, d.protocolIdentifier, d.value]),
    ).toEqual([
      ['t10-vendor-id', 2, 'logical-unit', false, undefined, 'IET     00010001'],
      ['naa', 1, 'logical-unit', false, undefined, '3000000100000001'],
      ['naa', 1, 'logical-unit', false, undefined, '60000000000000000e00000000010001'],
    ]);
    const [t10, naa3, naa6] = page.designators;
    expect(t10).toMatchObject({ vendorId: 'IET', vendorSpecific: '00010001' });
    expect(naa3).toMatchObject({ naa: 3 });
    expect(naa6).toMatchObject({ naa: 6 });
    // Linux names this disk ID_SERIAL=3<NAA hex>: the IEEE registered extended designator.
    expect(`3${preferredLogicalUnitDesignator(page.designators)?.value}`).toBe('360000000000000000e00000000010001');
  });

  it('0x83 of LUN 0 names the controller', () => {
    const page = parseDeviceIdentification(fixture('vpd-83-device-id-controller'));
    expect(page.peripheralDeviceType).toBe(0x0c);
    expect(page.designators[0]).toMatchObject({ type: 't10-vendor-id', value: 'IET     00010000' });
  });

  it('0x83 cut at 64 of 76 bytes: the complete designators, truncated set', () => {
    const page = parseDeviceIdentification(fixture('vpd-83-device-id-truncated'));
    expect(page).toMatchObject({ truncated: true, availableLength: 76 });
    expect(page.designators.map((d) => d.type)).toEqual(['t10-vendor-id', 'naa']);
  });

  it('0xB0 block limits, thick and thin', () => {
    expect(parseBlockLimits(fixture('vpd-b0-block-limits'))).toEqual({
      kind: 'block-limits',
      ...header,
      pageCode: 0xb0,
      availableLength: 64,
      writeSameNoZero: false,
      maximumCompareAndWriteLength: 128,
      optimalTransferLengthGranularity: 0,
      maximumTransferLength: 0,
      optimalTransferLength: 0,
      maximumPrefetchLength: 0,
      maximumUnmapLbaCount: 0,
      maximumUnmapBlockDescriptorCount: 0,
      optimalUnmapGranularity: 0,
      unmapGranularityAlignment: undefined,
      maximumWriteSameLength: 0n,
      maximumAtomicTransferLength: 0,
      atomicAlignment: 0,
      atomicTransferLengthGranularity: 0,
      maximumAtomicTransferLengthWithAtomicBoundary: 0,
      maximumAtomicBoundarySize: 0,
    });
    expect(parseBlockLimits(fixture('vpd-b0-block-limits-thin'))).toMatchObject({
      maximumUnmapLbaCount: 4294967295,
      maximumUnmapBlockDescriptorCount: 4294967295,
    });
  });

  it('0xB0 of SBC-2 length (16 bytes) leaves the later fields undefined; UGAVALID gates the alignment', () => {
    const page = new Uint8Array(64);
    page.set([0, 0xb0, 0, 0x3c]);
    page[32] = 0x80;
    page[35] = 8;
    expect(parseBlockLimits(page).unmapGranularityAlignment).toBe(8);
    const old = Uint8Array.of(0, 0xb0, 0, 12, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 64);
    expect(parseBlockLimits(old)).toMatchObject({
      optimalTransferLengthGranularity: 1,
      maximumTransferLength: 256,
      optimalTransferLength: 64,
      maximumPrefetchLength: undefined,
      maximumUnmapLbaCount: undefined,
      maximumWriteSameLength: undefined,
    });
  });

  it('0xB2 provisioning as iscsi-inq printed it (thick: all 0; thin: lbpu lbpws lbpws10 lbprz, type 2)', () => {
    expect(parseLogicalBlockProvisioning(fixture('vpd-b2-provisioning'))).toMatchObject({
      lbpu: false,
      lbpws: false,
      lbpws10: false,
      lbprz: 0,
      provisioningType: 'full',
      provisioningGroup: undefined,
    });
    expect(parseLogicalBlockProvisioning(fixture('vpd-b2-provisioning-thin'))).toEqual({
      kind: 'logical-block-provisioning',
      ...header,
      pageCode: 0xb2,
      availableLength: 8,
      thresholdExponent: 0,
      lbpu: true,
      lbpws: true,
      lbpws10: true,
      lbprz: 1,
      ancSup: false,
      dp: false,
      minimumPercentage: 0,
      provisioningType: 'thin',
      provisioningTypeCode: 2,
      thresholdPercentage: 0,
      provisioningGroup: undefined,
    });
  });

  it('0xB2 with DP carries a provisioning group designator', () => {
    const page = Uint8Array.of(0, 0xb2, 0, 16, 0, 0x81, 0x02, 0, 0x01, 0x06, 0, 4, 0, 0, 0, 7);
    expect(parseLogicalBlockProvisioning(page).provisioningGroup).toMatchObject({
      type: 'logical-unit-group',
      logicalUnitGroup: 7,
    });
  });

  it('parseVpdPage dispatches on the page code; 0xB1 is kept raw', () => {
    expect(parseVpdPage(fixture('vpd-83-device-id')).kind).toBe('device-identification');
    expect(parseVpdPage(fixture('vpd-b2-provisioning')).kind).toBe('logical-block-provisioning');
    const b1 = parseVpdPage(fixture('vpd-b1-characteristics'));
    expect(b1).toMatchObject({ kind: 'other', pageCode: VpdPage.BlockDeviceCharacteristics, availableLength: 68 });
    if (b1.kind === 'other') expect(b1.data).toHaveLength(64);
  });
});

describe('designators and malformed pages', () => {
  it('decodes every designator type, with protocol identifiers for ports', () => {
    const d = (b0: number, b1: number, body: number[]) => [b0, b1, 0, body.length, ...body];
    const name = [...Buffer.from('iqn.2024-01.test:t,t,0x1\0\0\0\0')];
    const page = [
      ...d(0x51, 0x94, [0, 0, 0, 2]), // iSCSI, PIV, target port, relative port 2
      ...d(0x01, 0x15, [0, 0, 0, 9]), // target port group 9
      ...d(0x01, 0x02, [1, 2, 3, 4, 5, 6, 7, 8]), // EUI-64
      ...d(0x53, 0xa8, name), // UTF-8 SCSI name string, target device, iSCSI
      ...d(0x01, 0x07, new Array(16).fill(0xab)), // MD5
      ...d(0x01, 0x0a, [0x10, 0, ...Array.from({ length: 16 }, (_, i) => i)]), // UUID
      ...d(0x02, 0x00, [0x41]), // vendor specific
      ...d(0x01, 0x0e, []), // reserved type
    ];
    const data = Uint8Array.from([0, 0x83, page.length >> 8, page.length & 0xff, ...page]);
    const got = parseDeviceIdentification(data).designators;
    expect(got.map((x) => x.type)).toEqual([
      'relative-target-port',
      'target-port-group',
      'eui-64',
      'scsi-name-string',
      'md5',
      'uuid',
      'vendor-specific',
      'reserved',
    ]);
    expect(got[0]).toMatchObject({ association: 'target-port', protocolIdentifier: 5, relativeTargetPort: 2 });
    expect(got[1]).toMatchObject({ targetPortGroup: 9, protocolIdentifier: undefined });
    expect(got[2]!.value).toBe('0102030405060708');
    expect(got[3]).toMatchObject({ association: 'target-device', name: 'iqn.2024-01.test:t,t,0x1' });
    expect(got[5]).toMatchObject({ uuid: '00010203-0405-0607-0809-0a0b0c0d0e0f' });
    expect(got[6]!.value).toBe('A');
    expect(protocolIdentifierName(5)).toBe('iSCSI');
    expect(preferredLogicalUnitDesignator(got)).toMatchObject({ type: 'eui-64' });
  });

  it('rejects inconsistent lengths and the wrong page with ERR_ISCSI_SCSI_DATA', () => {
    // Descriptor claims 8 bytes but the page (PAGE LENGTH 8) has room for 4 after its header.
    const err = scsiDataError(() => parseDeviceIdentification(Uint8Array.of(0, 0x83, 0, 8, 1, 3, 0, 8, 0, 0, 0, 0)));
    expect(err).toMatchObject({ offset: 4, got: 16, limit: 12 });
    scsiDataError(() => parseDeviceIdentification(Uint8Array.of(0, 0x83, 0, 8, 1, 3, 0, 4, 0, 0, 0, 0)));
    scsiDataError(() => parseUnitSerialNumber(fixture('vpd-83-device-id')));
    scsiDataError(() => parseSupportedVpdPages(Uint8Array.of(0, 0)));
    scsiDataError(() => parseLogicalBlockProvisioning(Uint8Array.of(0, 0xb2, 0, 2, 0, 0)));
  });
});
