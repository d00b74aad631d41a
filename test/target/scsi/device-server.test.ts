import { describe, expect, it } from 'vitest';
import { SenseKey } from '../../../src/scsi/names.js';
import { parseStandardInquiry } from '../../../src/scsi/parse/inquiry-standard.js';
import { parseReportLuns } from '../../../src/scsi/parse/report-luns.js';
import { parseSense } from '../../../src/scsi/sense.js';
import { DeviceServer } from '../../../src/target/scsi/device-server.js';
import { Asc } from '../../../src/target/scsi/result.js';
import { A, B, clearUa, expectCheck, expectGood, makeLu, run } from './spc-fixture.js';

const REPORT_LUNS = [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0];

function server() {
  return new DeviceServer({ units: [makeLu({ lun: 2 }), makeLu({ lun: 0 }), makeLu({ lun: 300 })] });
}

describe('DeviceServer', () => {
  it('knows its LUNs and refuses duplicates', () => {
    const ds = server();
    expect(ds.luns()).toEqual([0, 2, 300]);
    expect([ds.hasLun(2), ds.hasLun(1)]).toEqual([true, false]);
    expect(ds.unit(300)?.lun).toBe(300);
    expect(() => new DeviceServer({ units: [makeLu(), makeLu()] })).toThrow(/twice/);
  });

  it('routes by LUN: each LU keeps its own unit attentions', async () => {
    const ds = server();
    await clearUa(ds, A, 0);
    expectCheck(await run(ds, [0x00], A, undefined, 2), SenseKey.UnitAttention, Asc.PowerOnResetOrBusDeviceReset);
    expectGood(await run(ds, [0x00], A, undefined, 0));
  });

  it('REPORT LUNS on any LUN lists all of them (flat space addressing above 255)', async () => {
    const ds = server();
    for (const lun of [0, 2, 7]) {
      const r = parseReportLuns(expectGood(await run(ds, REPORT_LUNS, A, undefined, lun)));
      expect(r.luns).toEqual([0n, 2n << 48n, 0x412cn << 48n]);
    }
  });

  it('answers for a missing LUN: INQUIRY qualifier 011b, REQUEST SENSE data, others LOGICAL UNIT NOT SUPPORTED', async () => {
    const ds = server();
    const inq = parseStandardInquiry(expectGood(await run(ds, [0x12, 0, 0, 0, 96], A, undefined, 5)));
    expect([inq.peripheralQualifier, inq.peripheralDeviceType]).toEqual([3, 0x1f]);
    expectCheck(
      await run(ds, [0x12, 1, 0x80, 0, 96], A, undefined, 5),
      SenseKey.IllegalRequest,
      Asc.LogicalUnitNotSupported,
    );
    const sense = parseSense(expectGood(await run(ds, [0x03, 0, 0, 0, 252], A, undefined, 5)));
    expect([sense.senseKey, (sense.asc << 8) | sense.ascq]).toEqual([
      SenseKey.IllegalRequest,
      Asc.LogicalUnitNotSupported,
    ]);
    expectCheck(await run(ds, [0x00], A, undefined, 5), SenseKey.IllegalRequest, Asc.LogicalUnitNotSupported);
    expectCheck(await run(ds, [0x28], A, undefined, 5), SenseKey.IllegalRequest, Asc.LogicalUnitNotSupported);
  });

  it('resetLun and resetTarget reach the units; nexusLost releases RESERVE(6)', async () => {
    const ds = server();
    for (const lun of ds.luns()) {
      await clearUa(ds, A, lun);
      await clearUa(ds, B, lun);
    }
    ds.resetLun(2, A);
    expect(await clearUa(ds, B, 0)).toEqual([]);
    expect(await clearUa(ds, B, 2)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
    ds.resetTarget(B);
    expect(await clearUa(ds, A, 300)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
    expect(await clearUa(ds, A, 0)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
    expect(await clearUa(ds, B, 0)).toEqual([]);
    expectGood(await run(ds, [0x16], A, undefined, 0));
    ds.nexusLost(A);
    expectGood(await run(ds, [0x16], B, undefined, 0));
  });
});
