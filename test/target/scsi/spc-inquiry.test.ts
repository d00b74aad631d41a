import { describe, expect, it } from 'vitest';
import { SenseKey } from '../../../src/scsi/names.js';
import { parseStandardInquiry } from '../../../src/scsi/parse/inquiry-standard.js';
import {
  parseBlockLimits,
  parseLogicalBlockProvisioning,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseVpdPage,
} from '../../../src/scsi/parse/vpd.js';
import { parseDeviceIdentification } from '../../../src/scsi/parse/vpd-device-id.js';
import { Asc } from '../../../src/target/scsi/result.js';
import { A, expectCheck, expectGood, makeLu, nexus, run, TARGET, thickBackend } from './spc-fixture.js';

const inquiry = (evpd: number, page: number, alloc = 255) => [0x12, evpd, page, alloc >> 8, alloc & 0xff];

describe('INQUIRY standard data', () => {
  it('describes an SPC-4 disk with the LU identity', async () => {
    const lu = makeLu();
    const d = expectGood(await run(lu, inquiry(0, 0, 36)));
    const s = parseStandardInquiry(d);
    expect(s).toMatchObject({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      version: 6,
      responseDataFormat: 2,
      hisup: true,
      cmdque: true,
      protect: false,
      tpgs: 0,
      vendor: 'ISCSI-TS',
      product: 'VIRTUAL-DISK',
      revision: '0001',
    });
    // ADDITIONAL LENGTH tells the full length even though only 36 bytes were asked for.
    expect(s.availableLength).toBe(d.length);
    expect(s.versionDescriptors).toContain(0x0460);
  });

  it('answers before a pending unit attention (SAM-5 §5.14)', async () => {
    const lu = makeLu();
    expectGood(await run(lu, inquiry(0, 0)));
    expectCheck(await run(lu, [0x00]), SenseKey.UnitAttention, Asc.PowerOnResetOrBusDeviceReset);
  });

  it('rejects CmdDt, a page code without EVPD, and unknown VPD pages', async () => {
    const lu = makeLu();
    const cmddt = expectCheck(await run(lu, inquiry(2, 0)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expect(cmddt.senseKeySpecific).toMatchObject({ fieldPointer: 1, inCdb: true });
    const page = expectCheck(await run(lu, inquiry(0, 0x80)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expect(page.senseKeySpecific).toMatchObject({ fieldPointer: 2 });
    const vpd = expectCheck(await run(lu, inquiry(1, 0x99)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expect(vpd.senseKeySpecific).toMatchObject({ fieldPointer: 2 });
  });
});

describe('VPD pages', () => {
  it('lists the supported pages, each of which parses', async () => {
    const lu = makeLu();
    const pages = parseSupportedVpdPages(expectGood(await run(lu, inquiry(1, 0)))).pages;
    expect(pages).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    for (const p of pages) {
      const parsed = parseVpdPage(expectGood(await run(lu, inquiry(1, p))));
      expect(parsed.pageCode).toBe(p);
      expect(parsed.truncated).toBe(false);
    }
  });

  it('0x80 carries the serial number', async () => {
    const lu = makeLu();
    expect(parseUnitSerialNumber(expectGood(await run(lu, inquiry(1, 0x80)))).serialNumber).toBe('SN0001');
  });

  it('0x83 names the LU (NAA), the target device and the target port of the nexus', async () => {
    const lu = makeLu();
    const page = parseDeviceIdentification(expectGood(await run(lu, inquiry(1, 0x83), nexus('iqn.x:y', 1, 3))));
    const naa = page.designators.find((d) => d.type === 'naa');
    expect(naa).toMatchObject({ association: 'logical-unit', codeSet: 1, value: '3123456789abcdef' });
    const device = page.designators.find((d) => d.type === 'scsi-name-string' && d.association === 'target-device');
    expect(device).toMatchObject({ piv: true, protocolIdentifier: 5, name: TARGET });
    const port = page.designators.find((d) => d.type === 'scsi-name-string' && d.association === 'target-port');
    expect(port).toMatchObject({ protocolIdentifier: 5, name: `${TARGET},t,0x0003` });
    const rtp = page.designators.find((d) => d.type === 'relative-target-port');
    expect(rtp).toMatchObject({ association: 'target-port', relativeTargetPort: 3, protocolIdentifier: 5 });
    for (const d of page.designators) {
      if (d.type === 'scsi-name-string') expect(d.designator.length % 4).toBe(0);
    }
  });

  it('0xB0 reports limits, with unmap limits only when thin', async () => {
    const limits = {
      maxTransferBlocks: 2048,
      optimalTransferBlocks: 128,
      maxUnmapBlocks: 4096,
      maxUnmapDescriptors: 64,
      maxWriteSameBlocks: 8192,
      maxCompareAndWriteBlocks: 16,
    };
    const thin = parseBlockLimits(expectGood(await run(makeLu({ limits }), inquiry(1, 0xb0))));
    expect(thin).toMatchObject({
      writeSameNoZero: true,
      maximumCompareAndWriteLength: 16,
      maximumTransferLength: 2048,
      optimalTransferLength: 128,
      maximumUnmapLbaCount: 4096,
      maximumUnmapBlockDescriptorCount: 64,
      optimalUnmapGranularity: 1,
      unmapGranularityAlignment: 0,
      maximumWriteSameLength: 8192n,
    });
    const thick = parseBlockLimits(
      expectGood(await run(makeLu({ limits, backend: thickBackend() }), inquiry(1, 0xb0))),
    );
    expect(thick).toMatchObject({ maximumUnmapLbaCount: 0, maximumUnmapBlockDescriptorCount: 0 });
    expect(thick.unmapGranularityAlignment).toBeUndefined();
  });

  it('0xB1 says non-rotating', async () => {
    const d = expectGood(await run(makeLu(), inquiry(1, 0xb1)));
    expect((d[4]! << 8) | d[5]!).toBe(1);
    expect(d[7]! & 0x0f).toBe(0);
  });

  it('0xB2 says thin with UNMAP and WRITE SAME unmapping when the backend is thin, full otherwise', async () => {
    const thin = parseLogicalBlockProvisioning(expectGood(await run(makeLu(), inquiry(1, 0xb2))));
    expect(thin).toMatchObject({ lbpu: true, lbpws: true, lbpws10: true, lbprz: 1, provisioningType: 'thin' });
    const full = parseLogicalBlockProvisioning(
      expectGood(await run(makeLu({ backend: thickBackend() }), inquiry(1, 0xb2), A)),
    );
    expect(full).toMatchObject({ lbpu: false, lbpws: false, lbprz: 0, provisioningType: 'full' });
  });
});
