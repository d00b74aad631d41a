import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScsiStatus, SenseKey } from '../../../src/scsi/names.js';
import { parseSense } from '../../../src/scsi/sense.js';
import { MemoryBackend } from '../../../src/target/backend/memory.js';
import { BLOCK_COMMANDS } from '../../../src/target/scsi/block-commands.js';
import { LogicalUnit } from '../../../src/target/scsi/logical-unit.js';
import { Asc } from '../../../src/target/scsi/result.js';
import type { CommandEntry } from '../../../src/target/scsi/types.js';
import { A, B, C, clearUa, expectCheck, expectGood, makeLu, nexus, run } from './spc-fixture.js';

describe('LogicalUnit dispatch', () => {
  it('rejects unknown opcodes with INVALID COMMAND OPERATION CODE and unknown service actions at byte 1', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    expectCheck(await run(lu, [0xee]), SenseKey.IllegalRequest, Asc.InvalidOpcode);
    const sa = expectCheck(await run(lu, [0xa3, 0x05]), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expect(sa.senseKeySpecific).toMatchObject({ inCdb: true, fieldPointer: 1, bitPointer: 4 });
    const empty = await lu.execute({
      lun: 0,
      cdb: new Uint8Array(0),
      nexus: A,
      dataInLength: 0,
      dataOut: new Uint8Array(0),
      attribute: 'simple',
    });
    expect(parseSense(empty.sense!)).toMatchObject({ senseKey: SenseKey.IllegalRequest, asc: 0x20, ascq: 0 });
  });

  it('refuses NACA=1 (no ACA support)', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    const s = expectCheck(await run(lu, [0x00, 0, 0, 0, 0, 0x04]), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expect(s.senseKeySpecific).toMatchObject({ fieldPointer: 5, bitPointer: 2 });
  });

  it('turns a throwing handler into HARDWARE ERROR / INTERNAL TARGET FAILURE with a log line free of data', async () => {
    const logs: string[] = [];
    const boom: CommandEntry = {
      opcode: 0xc0,
      name: 'BOOM',
      cdbLength: 6,
      usage: Uint8Array.of(0xc0, 0, 0, 0, 0, 0),
      reservation: 'allowed',
      handler: () => {
        throw new RangeError('secret payload 0xdeadbeef');
      },
    };
    const lu = makeLu({ commands: [boom], log: (m) => logs.push(m) });
    await clearUa(lu, A);
    expectCheck(await run(lu, [0xc0]), SenseKey.HardwareError, Asc.InternalTargetFailure);
    expect(logs).toEqual(['LUN 0: BOOM handler failed: RangeError']);
  });

  it('lets a given command replace the SPC one with the same opcode', async () => {
    const tur: CommandEntry = {
      opcode: 0x00,
      name: 'TUR (busy)',
      cdbLength: 6,
      usage: Uint8Array.of(0, 0, 0, 0, 0, 0),
      reservation: 'allowed',
      handler: () => ({ status: ScsiStatus.Busy }),
    };
    const lu = makeLu({ commands: [tur] });
    await run(lu, [0x03, 0, 0, 0, 252]);
    expect((await run(lu, [0x00])).status).toBe(ScsiStatus.Busy);
    expect(lu.commands.filter((c) => c.opcode === 0).length).toBe(1);
  });

  it('checks its options', () => {
    expect(() => makeLu({ lun: 16384 })).toThrow(/lun/);
    expect(() => makeLu({ blockSize: 1000 })).toThrow(/blockSize/);
    const lu = makeLu({ blockSize: 4096, writeCacheEnabled: false, readOnly: true });
    expect([lu.blocks, lu.writeCacheEnabled, lu.readOnly]).toEqual([256n, false, true]);
    expect(lu.limits.maxTransferBlocks).toBe(2048);
  });
});

describe('unit attentions (SAM-5 §5.14)', () => {
  it('gives each new nexus POWER ON, RESET, OR BUS DEVICE RESET OCCURRED once', async () => {
    const lu = makeLu();
    expectCheck(await run(lu, [0x00], A), SenseKey.UnitAttention, Asc.PowerOnResetOrBusDeviceReset);
    expectGood(await run(lu, [0x00], A));
    expectCheck(await run(lu, [0x00], B), SenseKey.UnitAttention, Asc.PowerOnResetOrBusDeviceReset);
    // The same initiator port through another target port is another I_T nexus.
    const a2 = nexus(A.initiatorName, A.isid, 2);
    expectCheck(await run(lu, [0x00], a2), SenseKey.UnitAttention, Asc.PowerOnResetOrBusDeviceReset);
    expectGood(await run(lu, [0x00], A));
  });

  it('reports queued conditions one per command, in order, per nexus', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    await clearUa(lu, B);
    lu.addUnitAttention(Asc.ModeParametersChanged, A);
    lu.addUnitAttention(Asc.CapacityDataHasChanged);
    expectCheck(await run(lu, [0x00], B), SenseKey.UnitAttention, Asc.ModeParametersChanged);
    // INQUIRY runs through a pending condition and leaves it pending.
    expectGood(await run(lu, [0x12, 0, 0, 0, 96], B));
    expectCheck(await run(lu, [0x00], B), SenseKey.UnitAttention, Asc.CapacityDataHasChanged);
    expectGood(await run(lu, [0x00], B));
    expect(await clearUa(lu, A)).toEqual([Asc.CapacityDataHasChanged]);
  });

  it('lets a reset replace older conditions and leaves the resetting nexus alone', async () => {
    const lu = makeLu();
    for (const n of [A, B, C]) await clearUa(lu, n);
    lu.addUnitAttention(Asc.ModeParametersChanged);
    lu.reset(A);
    expect(await clearUa(lu, A)).toEqual([Asc.ModeParametersChanged]);
    expect(await clearUa(lu, B)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
    expect(await clearUa(lu, C)).toEqual([Asc.BusDeviceResetFunctionOccurred]);
  });

  it('sets the OVERFLOW bit when the queue overflows', async () => {
    const lu = makeLu();
    await clearUa(lu, A);
    for (let i = 1; i <= 10; i++) lu.addUnitAttention(0x2a00 | i);
    const s = expectCheck(await run(lu, [0x00]), SenseKey.UnitAttention, 0x2a03);
    expect(s.senseKeySpecific).toEqual({ kind: 'unit-attention-queue', overflow: true });
    const seen = await clearUa(lu, A);
    expect(seen).toEqual([0x2a04, 0x2a05, 0x2a06, 0x2a07, 0x2a08, 0x2a09, 0x2a0a]);
  });
});

describe('property: random CDBs', () => {
  it('never throw and always answer GOOD, CONDITION MET, CHECK CONDITION with parseable sense, or RESERVATION CONFLICT', async () => {
    const lu = new LogicalUnit({
      lun: 0,
      backend: new MemoryBackend({ size: 64 * 512 }),
      identity: {
        vendor: 'V',
        product: 'P',
        revision: '1',
        serial: 'S',
        naa: 0x3000000000000001n,
        targetName: 'iqn.2024-01.x:y',
      },
      commands: BLOCK_COMMANDS,
    });
    const opcodes = [...new Set(lu.commands.map((c) => c.opcode)), 0xee, 0x7f];
    const nexuses = [A, B, C];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...opcodes),
        fc.uint8Array({ minLength: 15, maxLength: 15 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(2),
        async (opcode, rest, dataOut, who) => {
          const cdb = Uint8Array.of(opcode, ...rest);
          const r = await lu.execute({
            lun: 0,
            cdb,
            nexus: nexuses[who]!,
            dataInLength: 4096,
            dataOut,
            attribute: 'simple',
          });
          expect([
            ScsiStatus.Good,
            ScsiStatus.ConditionMet, // PRE-FETCH
            ScsiStatus.CheckCondition,
            ScsiStatus.ReservationConflict,
          ]).toContain(r.status);
          if (r.status === ScsiStatus.CheckCondition) {
            const s = parseSense(r.sense!);
            expect(s.senseKey).not.toBe(SenseKey.HardwareError);
          }
          if (r.data !== undefined) expect(r.data).toBeInstanceOf(Uint8Array);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
