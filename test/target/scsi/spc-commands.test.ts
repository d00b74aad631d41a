import { describe, expect, it } from 'vitest';
import { u16, u32 } from '../../../src/scsi/bytes.js';
import { ScsiStatus, SenseKey } from '../../../src/scsi/names.js';
import { parseReportLuns } from '../../../src/scsi/parse/report-luns.js';
import { parseSense } from '../../../src/scsi/sense.js';
import { BLOCK_COMMANDS } from '../../../src/target/scsi/block-commands.js';
import { Asc } from '../../../src/target/scsi/result.js';
import { SPC_COMMANDS } from '../../../src/target/scsi/spc-commands.js';
import {
  A,
  B,
  clearUa,
  expectCheck,
  expectGood,
  makeLu,
  run,
  STUB_COMMANDS,
  STUB_READ,
  thickBackend,
} from './spc-fixture.js';

describe('REQUEST SENSE', () => {
  it('returns the pending unit attention, clears it, then NO SENSE; DESC selects the format', async () => {
    const lu = makeLu();
    const first = parseSense(expectGood(await run(lu, [0x03, 0, 0, 0, 252])));
    expect([first.format, first.senseKey, (first.asc << 8) | first.ascq]).toEqual([
      'fixed',
      SenseKey.UnitAttention,
      Asc.PowerOnResetOrBusDeviceReset,
    ]);
    expectGood(await run(lu, [0x00]));
    const none = parseSense(expectGood(await run(lu, [0x03, 1, 0, 0, 252])));
    expect([none.format, none.senseKey, none.asc, none.ascq]).toEqual(['descriptor', SenseKey.NoSense, 0, 0]);
  });
});

describe('TEST UNIT READY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL', () => {
  it('accepts valid forms and rejects reserved fields', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    expectGood(await run(lu, [0x00]));
    expectGood(await run(lu, [0x1b, 0, 0, 0, 0x01]));
    expectGood(await run(lu, [0x1b, 1, 0, 0, 0x02])); // LOEJ on a fixed disk: nothing to eject
    expectGood(await run(lu, [0x1b, 0, 0, 0, 0x30])); // STANDBY
    expectCheck(await run(lu, [0x1b, 0, 0, 0, 0x40]), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectGood(await run(lu, [0x1e, 0, 0, 0, 1]));
    expectGood(await run(lu, [0x1e, 0, 0, 0, 0]));
    expectCheck(await run(lu, [0x1e, 0, 0, 0, 2]), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
  });
});

describe('RESERVE(6) / RELEASE(6)', () => {
  it('gives one nexus the LU; the other conflicts until RELEASE; non-holder RELEASE is GOOD', async () => {
    const lu = makeLu({ commands: STUB_COMMANDS });
    await clearUa(lu, A);
    await clearUa(lu, B);
    expectGood(await run(lu, [0x16], A));
    expectGood(await run(lu, [0x16], A));
    expect((await run(lu, [0x16], B)).status).toBe(ScsiStatus.ReservationConflict);
    expect((await run(lu, [STUB_READ], B)).status).toBe(ScsiStatus.ReservationConflict);
    expect((await run(lu, [0x1a, 0, 0x3f, 0, 255], B)).status).toBe(ScsiStatus.ReservationConflict);
    expectGood(await run(lu, [0x12, 0, 0, 0, 96], B));
    expectGood(await run(lu, [0x00], B));
    expectGood(await run(lu, [0x17], B)); // not the holder: GOOD, nothing released
    expect((await run(lu, [STUB_READ], B)).status).toBe(ScsiStatus.ReservationConflict);
    expectGood(await run(lu, [STUB_READ], A));
    expectGood(await run(lu, [0x17], A));
    expectGood(await run(lu, [STUB_READ], B));
    expectGood(await run(lu, [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0], B)); // RESERVE(10)
    expect((await run(lu, [0x16], A)).status).toBe(ScsiStatus.ReservationConflict);
    expectCheck(await run(lu, [0x16, 0x01], A), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb); // extent
  });

  it('is released by I_T nexus loss and logical unit reset', async () => {
    const lu = makeLu({ commands: STUB_COMMANDS });
    await clearUa(lu, A);
    await clearUa(lu, B);
    expectGood(await run(lu, [0x16], A));
    lu.nexusLost(A);
    expectGood(await run(lu, [0x16], B));
    lu.reset(A);
    expect(await clearUa(lu, B)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
    expect(await clearUa(lu, A)).toEqual([Asc.ItNexusLoss]);
    expectGood(await run(lu, [0x16], A));
  });
});

describe('REPORT LUNS', () => {
  it('lists the LU alone when not in a device server, and rejects a short allocation length', async () => {
    const lu = makeLu({ lun: 3 });
    const r = parseReportLuns(expectGood(await run(lu, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0], A, undefined, 3)));
    expect(r.luns).toEqual([3n << 48n]);
    expectCheck(
      await run(lu, [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15], A, undefined, 3),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInCdb,
    );
    expectCheck(
      await run(lu, [0xa0, 0, 3, 0, 0, 0, 0, 0, 1, 0], A, undefined, 3),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInCdb,
    );
    expect(parseReportLuns(expectGood(await run(lu, [0xa0, 0, 1, 0, 0, 0, 0, 0, 1, 0], A, undefined, 3))).luns).toEqual(
      [],
    );
  });

  it('clears REPORTED LUNS DATA HAS CHANGED but not other conditions', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    lu.addUnitAttention(Asc.ReportedLunsDataHasChanged);
    lu.addUnitAttention(Asc.CapacityDataHasChanged);
    expectGood(await run(lu, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0]));
    expect(await clearUa(lu, A)).toEqual([Asc.CapacityDataHasChanged]);
  });
});

describe('REPORT SUPPORTED OPERATION CODES', () => {
  const rsoc = (options: number, opcode = 0, sa = 0, rctd = false) => [
    0xa3,
    0x0c,
    (rctd ? 0x80 : 0) | options,
    opcode,
    sa >> 8,
    sa & 0xff,
    0,
    0,
    0x40,
    0,
  ];

  async function ready(thin = true) {
    const lu = makeLu({ commands: BLOCK_COMMANDS, ...(thin ? {} : { backend: thickBackend() }) });
    await clearUa(lu, A);
    return lu;
  }

  it('lists every command of the table once, SPC and block, sorted, with service actions flagged', async () => {
    const lu = await ready();
    const d = expectGood(await run(lu, rsoc(0)));
    const listed: string[] = [];
    for (let o = 4; o < 4 + u32(d, 0); o += 8) {
      const servactv = (d[o + 5]! & 1) === 1;
      listed.push(`${d[o]}/${servactv ? u16(d, o + 2) : ''}/${u16(d, o + 6)}`);
    }
    const expected = [...SPC_COMMANDS, ...BLOCK_COMMANDS].map(
      (c) => `${c.opcode}/${c.serviceAction ?? ''}/${c.cdbLength}`,
    );
    expect(new Set(listed)).toEqual(new Set(expected));
    expect(listed.length).toBe(new Set(expected).size);
    const opcodes = listed.map((s) => Number(s.split('/')[0]));
    expect(opcodes).toEqual([...opcodes].sort((a, b) => a - b));
  });

  it('adds command timeouts descriptors with RCTD', async () => {
    const lu = await ready();
    const d = expectGood(await run(lu, rsoc(0, 0, 0, true)));
    expect(u32(d, 0) % 20).toBe(0);
    expect(d[4 + 5]! & 0x02).toBe(0x02);
    expect(u16(d, 4 + 8)).toBe(0x0a);
  });

  it('reports one command with its usage data (options 1, 2, 3)', async () => {
    const lu = await ready();
    const inq = expectGood(await run(lu, rsoc(1, 0x12)));
    expect(inq[1]! & 0x07).toBe(3);
    expect(u16(inq, 2)).toBe(6);
    expect([...inq.subarray(4, 10)]).toEqual([0x12, 0x03, 0xff, 0xff, 0xff, 0x04]);
    const readKeys = expectGood(await run(lu, rsoc(2, 0x5e, 0)));
    expect(readKeys[1]! & 0x07).toBe(3);
    expect(readKeys[4]).toBe(0x5e);
    const missing = expectGood(await run(lu, rsoc(2, 0x5e, 9)));
    expect(missing[1]! & 0x07).toBe(1);
    expect(expectGood(await run(lu, rsoc(3, 0x12)))[1]! & 0x07).toBe(3);
    expect(expectGood(await run(lu, rsoc(1, 0xff)))[1]! & 0x07).toBe(1);
    expectCheck(await run(lu, rsoc(1, 0x5e)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectCheck(await run(lu, rsoc(2, 0x12)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectCheck(await run(lu, rsoc(7)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
  });

  it('leaves UNMAP out for a fully provisioned LU', async () => {
    const thick = await ready(false);
    expect(expectGood(await run(thick, rsoc(1, 0x42)))[1]! & 0x07).toBe(1);
    expectCheck(await run(thick, [0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]), SenseKey.IllegalRequest, Asc.InvalidOpcode);
    const thin = await ready(true);
    expect(expectGood(await run(thin, rsoc(1, 0x42)))[1]! & 0x07).toBe(3);
  });
});
