import { describe, expect, it } from 'vitest';
import { put16, put32 } from '../../../src/scsi/bytes.js';
import { ScsiStatus, SenseKey } from '../../../src/scsi/names.js';
import { MemoryBackend } from '../../../src/target/backend/memory.js';
import type { BlockBackend } from '../../../src/target/backend/types.js';
import { allocationLength, limitToAllocation } from '../../../src/target/scsi/allocation-length.js';
import { BLOCK_COMMANDS, BlockOpcode, MediumAsc } from '../../../src/target/scsi/block-commands.js';
import { Asc } from '../../../src/target/scsi/result.js';
import type { ScsiResult } from '../../../src/target/scsi/types.js';
import { cdb10, cdb12, cdb16, makeLu, pattern, run, sense, senseCode } from './lu-fixture.js';

const BS = 512;
const ILLEGAL = SenseKey.IllegalRequest;

/** A CDB of the opcode's length with LBA and length in their usual places. */
function rw(opcode: number, b1: number, lba: number | bigint, blocks: number): Uint8Array {
  const len = BLOCK_COMMANDS.find((e) => e.opcode === opcode)!.cdbLength;
  if (len === 10) return cdb10(opcode, b1, Number(lba), blocks);
  if (len === 12) return cdb12(opcode, b1, Number(lba), blocks);
  return cdb16(opcode, b1, BigInt(lba), blocks);
}
function fieldPointer(result: ScsiResult) {
  const s = sense(result).senseKeySpecific;
  return s?.kind === 'field-pointer' ? { inCdb: s.inCdb, field: s.fieldPointer, bit: s.bitPointer } : undefined;
}
const read = (lu: ReturnType<typeof makeLu>, lba: number, blocks: number) =>
  lu.backend.read(lba * BS, blocks * BS) as Promise<Uint8Array>;

/** A backend that counts flushes and can fail reads, writes or flushes, or corrupt what it stores. */
function faulty(
  inner: BlockBackend,
  opts: { fail?: 'read' | 'write' | 'flush'; corrupt?: boolean; delayMs?: number } = {},
) {
  const counts = { flush: 0, write: 0, read: 0 };
  const delay = () => new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
  const backend: BlockBackend = {
    get size() {
      return inner.size;
    },
    readOnly: inner.readOnly,
    thin: inner.thin,
    async read(offset, length) {
      if (opts.fail === 'read') throw new Error('EIO');
      counts.read++;
      if (opts.delayMs) await delay();
      return inner.read(offset, length);
    },
    async write(offset, data) {
      if (opts.fail === 'write') throw new Error('EIO');
      counts.write++;
      if (opts.delayMs) await delay();
      if (!opts.corrupt) return inner.write(offset, data);
      const bad = data.slice();
      bad[bad.length - 1] = bad[bad.length - 1]! ^ 0x01;
      return inner.write(offset, bad);
    },
    async flush() {
      if (opts.fail === 'flush') throw new Error('EIO');
      counts.flush++;
    },
    discard: (offset, length) => inner.discard(offset, length),
    mapped: (offset, length) => inner.mapped(offset, length),
    close: () => inner.close(),
  };
  return { backend, counts };
}

describe('the command table', () => {
  it('lists the added commands with their reservation class and CDB lengths', () => {
    const rows = BLOCK_COMMANDS.map((e) => [e.name, e.opcode, e.cdbLength, e.reservation]);
    expect(rows).toEqual(
      expect.arrayContaining([
        ['VERIFY(12)', 0xaf, 12, 'read'],
        ['WRITE AND VERIFY(10)', 0x2e, 10, 'write'],
        ['WRITE AND VERIFY(12)', 0xae, 12, 'write'],
        ['WRITE AND VERIFY(16)', 0x8e, 16, 'write'],
        ['PRE-FETCH(10)', 0x34, 10, 'read'],
        ['PRE-FETCH(16)', 0x90, 16, 'read'],
        ['ORWRITE(16)', 0x8b, 16, 'write'],
        ['READ DEFECT DATA(10)', 0x37, 10, 'read'],
        ['READ DEFECT DATA(12)', 0xb7, 12, 'read'],
      ]),
    );
    // libiscsi's DPO tests read DPO (0x10) from the usage data when MODE SENSE says DPOFUA=1.
    for (const op of [0xaf, 0x2e, 0xae, 0x8e, 0x8b]) {
      expect(BLOCK_COMMANDS.find((e) => e.opcode === op)!.usage[1]! & 0x10).toBe(0x10);
    }
  });
});

describe('VERIFY(12)', () => {
  it('compares with BYTCHK 1 and reports the offset of the first difference', async () => {
    const lu = makeLu();
    const data = pattern(3 * BS);
    await lu.backend.write(10 * BS, data);
    expect((await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 10, 3), data)).status).toBe(ScsiStatus.Good);
    const wrong = data.slice();
    wrong[777] = wrong[777]! ^ 0x58;
    const r = await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 10, 3), wrong);
    expect(senseCode(r)).toEqual([SenseKey.Miscompare, Asc.MiscompareDuringVerify]);
    expect(sense(r).information).toBe(777n);
    // BYTCHK 0 (with DPO) checks the range only: the wrong Data-Out is not looked at.
    expect((await run(lu, cdb12(BlockOpcode.Verify12, 0x10, 10, 3), wrong)).status).toBe(ScsiStatus.Good);
    // BYTCHK 11b: one block against each.
    const block = pattern(BS, 3);
    await lu.backend.write(20 * BS, Uint8Array.from([...block, ...block]));
    expect((await run(lu, cdb12(BlockOpcode.Verify12, 0x06, 20, 2), block)).status).toBe(ScsiStatus.Good);
  });

  it('reads its 32-bit VERIFICATION LENGTH from bytes 6-9 and refuses bad fields', async () => {
    const lu = makeLu({ limits: { maxTransferBlocks: 8 } });
    const long = await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 0, 9), new Uint8Array(9 * BS));
    expect(fieldPointer(long)).toEqual({ inCdb: true, field: 6, bit: undefined });
    expect(fieldPointer(await run(lu, cdb12(BlockOpcode.Verify12, 0x04, 0, 1)))).toEqual({
      inCdb: true,
      field: 1,
      bit: 2,
    }); // BYTCHK 10b reserved
    for (let p = 1; p < 8; p++) {
      const r = await run(lu, cdb12(BlockOpcode.Verify12, (p << 5) | 0x02, 0, 1), new Uint8Array(BS));
      expect(fieldPointer(r)).toEqual({ inCdb: true, field: 1, bit: 7 }); // VRPROTECT
    }
    const short = await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 0, 2), new Uint8Array(BS));
    expect(fieldPointer(short)?.field).toBe(6);
  });

  it('answers LBA OUT OF RANGE at the libiscsi boundary LBAs, and GOOD for 0 blocks in range', async () => {
    const lu = makeLu(); // 1024 blocks
    for (const [lba, n] of [
      [1024, 1],
      [1023, 2],
      [0x80000000, 1],
      [0xffffffff, 1],
      [1025, 0],
      [0xffffffff, 0],
    ] as const) {
      expect(senseCode(await run(lu, cdb12(BlockOpcode.Verify12, 0x02, lba, n), new Uint8Array(n * BS)))).toEqual([
        ILLEGAL,
        Asc.LbaOutOfRange,
      ]);
    }
    expect((await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 0, 0))).status).toBe(ScsiStatus.Good);
    expect((await run(lu, cdb12(BlockOpcode.Verify12, 0x02, 1023, 1), new Uint8Array(BS))).status).toBe(
      ScsiStatus.Good,
    );
  });
});

describe('WRITE AND VERIFY', () => {
  const ops = [BlockOpcode.WriteAndVerify10, BlockOpcode.WriteAndVerify12, BlockOpcode.WriteAndVerify16];

  it('writes and compares in every CDB size, always flushing, with the Data-Out length for the residual', async () => {
    for (const op of ops) {
      const f = faulty(new MemoryBackend({ size: 1024 * BS }));
      const lu = makeLu({ backend: f.backend });
      const data = pattern(4 * BS, op);
      expect(await run(lu, rw(op, 0x02, 100, 4), data)).toEqual({ status: ScsiStatus.Good, dataOutLength: 4 * BS });
      expect(f.counts).toMatchObject({ write: 1, flush: 1, read: 1 });
      expect(await read(lu, 100, 4)).toEqual(data);
      // BYTCHK 0 (and DPO): written and flushed, not read back.
      expect((await run(lu, rw(op, 0x10, 1020, 4), data)).status).toBe(ScsiStatus.Good);
      expect(f.counts).toMatchObject({ write: 2, flush: 2, read: 2 }); // the one read is this test's own
      expect(await read(lu, 1020, 4)).toEqual(data);
    }
  });

  it('reports MISCOMPARE when what the medium holds differs from the Data-Out', async () => {
    const f = faulty(new MemoryBackend({ size: 64 * BS }), { corrupt: true });
    const lu = makeLu({ backend: f.backend });
    const r = await run(lu, rw(BlockOpcode.WriteAndVerify16, 0x02, 3n, 2), pattern(2 * BS));
    expect(senseCode(r)).toEqual([SenseKey.Miscompare, Asc.MiscompareDuringVerify]);
    expect(sense(r).information).toBe(BigInt(2 * BS - 1));
    // Without BYTCHK there is no comparison.
    expect((await run(lu, rw(BlockOpcode.WriteAndVerify16, 0, 3n, 2), pattern(2 * BS))).status).toBe(ScsiStatus.Good);
  });

  it('follows the WRITE rules for short and partial Data-Out (libiscsi residual tests)', async () => {
    const lu = makeLu();
    await lu.backend.write(0, new Uint8Array(2 * BS).fill(0x61));
    // Two blocks asked, one sent: the first is written (and verified), the second left alone.
    const r = await run(lu, rw(BlockOpcode.WriteAndVerify10, 0x02, 0, 2), new Uint8Array(BS).fill(0x62));
    expect(r).toEqual({ status: ScsiStatus.Good, dataOutLength: 2 * BS });
    expect(await read(lu, 0, 2)).toEqual(
      Uint8Array.from([...new Uint8Array(BS).fill(0x62), ...new Uint8Array(BS).fill(0x61)]),
    );
    // No Data-Out: nothing written, GOOD.
    expect(await run(lu, rw(BlockOpcode.WriteAndVerify12, 0x02, 300, 1))).toEqual({
      status: ScsiStatus.Good,
      dataOutLength: BS,
    });
    expect(lu.backend.mapped(300 * BS, BS)).toBe(false);
    // Part of a block: INVALID FIELD IN INFORMATION UNIT, nothing written.
    const partial = await run(lu, rw(BlockOpcode.WriteAndVerify16, 0x02, 400n, 1), pattern(200));
    expect(senseCode(partial)).toEqual([ILLEGAL, Asc.InvalidFieldInInformationUnit]);
    expect(partial.dataOutLength).toBe(BS);
    expect(lu.backend.mapped(400 * BS, BS)).toBe(false);
    // More Data-Out than the CDB asks for: only the CDB's blocks are written.
    await lu.backend.write(0, new Uint8Array(2 * BS).fill(0x61));
    const extra = await run(lu, rw(BlockOpcode.WriteAndVerify10, 0x02, 0, 1), new Uint8Array(10000).fill(0x62));
    expect(extra).toEqual({ status: ScsiStatus.Good, dataOutLength: BS });
    expect((await read(lu, 1, 1))[0]).toBe(0x61);
    // TRANSFER LENGTH 0: GOOD, nothing expected.
    expect(await run(lu, rw(BlockOpcode.WriteAndVerify10, 0, 0, 0))).toEqual({
      status: ScsiStatus.Good,
      dataOutLength: 0,
    });
  });

  it('refuses WRPROTECT, reserved BYTCHK values, long transfers, bad ranges and read-only LUs', async () => {
    const lu = makeLu({ limits: { maxTransferBlocks: 8 } });
    for (const op of ops) {
      for (let p = 1; p < 8; p++) {
        expect(fieldPointer(await run(lu, rw(op, (p << 5) | 0x02, 0, 1), pattern(BS)))).toEqual({
          inCdb: true,
          field: 1,
          bit: 7,
        });
      }
      for (const b1 of [0x04, 0x06]) {
        expect(fieldPointer(await run(lu, rw(op, b1, 0, 1), pattern(BS)))).toEqual({ inCdb: true, field: 1, bit: 2 });
      }
      const lengthField = op === BlockOpcode.WriteAndVerify10 ? 7 : op === BlockOpcode.WriteAndVerify12 ? 6 : 10;
      expect(fieldPointer(await run(lu, rw(op, 0x02, 0, 9), pattern(9 * BS)))?.field).toBe(lengthField);
      for (const [lba, n] of [
        [1024, 1],
        [1023, 2],
        [0xffffffff, 1],
        [1025, 0],
      ] as const) {
        expect(senseCode(await run(lu, rw(op, 0x02, lba, n), pattern(n * BS)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
      }
      expect(senseCode(await run(makeLu({ readOnly: true }), rw(op, 0x02, 0, 1), pattern(BS)))).toEqual([
        SenseKey.DataProtect,
        Asc.WriteProtected,
      ]);
    }
    expect(senseCode(await run(lu, rw(BlockOpcode.WriteAndVerify16, 0x02, 1n << 63n, 1), pattern(BS)))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
  });

  it('answers MEDIUM ERROR when the write, the flush or the read-back fails', async () => {
    for (const [fail, asc] of [
      ['write', MediumAsc.WriteError],
      ['flush', MediumAsc.WriteError],
      ['read', MediumAsc.UnrecoveredReadError],
    ] as const) {
      const lu = makeLu({ backend: faulty(new MemoryBackend({ size: 64 * BS }), { fail }).backend });
      expect(senseCode(await run(lu, rw(BlockOpcode.WriteAndVerify10, 0x02, 0, 1), pattern(BS)))).toEqual([
        SenseKey.MediumError,
        asc,
      ]);
    }
  });
});

describe('PRE-FETCH', () => {
  const ops = [BlockOpcode.PreFetch10, BlockOpcode.PreFetch16];

  it('answers CONDITION MET for a range in the medium, with IMMED and GROUP NUMBER or without', async () => {
    const lu = makeLu();
    for (const op of ops) {
      for (const [lba, n] of [
        [0, 1],
        [0, 256],
        [1023, 1],
        [768, 256],
        [0, 0],
        [500, 0],
      ] as const) {
        expect(await run(lu, rw(op, 0, lba, n))).toEqual({ status: ScsiStatus.ConditionMet });
      }
      const immed = rw(op, 0x02, 0, 1);
      immed[op === BlockOpcode.PreFetch10 ? 6 : 14] = 3; // GROUP NUMBER
      const r = await run(lu, immed);
      expect(r.status).toBe(ScsiStatus.ConditionMet);
      expect(r.sense).toBeUndefined();
      expect(r.data).toBeUndefined();
    }
  });

  it('answers LBA OUT OF RANGE past the end (libiscsi boundary LBAs)', async () => {
    const lu = makeLu();
    for (const op of ops) {
      for (const [lba, n] of [
        [1024, 1],
        [1023, 2],
        [1023, 256],
        [0x80000000, 1],
        [0xffffffff, 256],
        [1025, 0],
        [0xffffffff, 0],
      ] as const) {
        expect(senseCode(await run(lu, rw(op, 0, lba, n)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
      }
    }
    for (const lba of [1n << 63n, 0xffffffffffffffffn]) {
      expect(senseCode(await run(lu, cdb16(BlockOpcode.PreFetch16, 0, lba, 1)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    }
  });

  it('rejects NACA in the CONTROL byte', async () => {
    const cdb = rw(BlockOpcode.PreFetch10, 0, 0, 1);
    cdb[9] = 0x04;
    expect(fieldPointer(await run(makeLu(), cdb))).toEqual({ inCdb: true, field: 9, bit: 2 });
  });
});

describe('ORWRITE(16)', () => {
  it('ORs the Data-Out into the medium', async () => {
    const lu = makeLu();
    const n = 3;
    const op = BlockOpcode.OrWrite16;
    expect(await run(lu, cdb16(op, 0, 5n, n), new Uint8Array(n * BS).fill(0xa5))).toEqual({
      status: ScsiStatus.Good,
      dataOutLength: n * BS,
    });
    expect(await read(lu, 5, n)).toEqual(new Uint8Array(n * BS).fill(0xa5));
    await run(lu, cdb16(op, 0, 5n, n), new Uint8Array(n * BS).fill(0x5a));
    expect(await read(lu, 5, n)).toEqual(new Uint8Array(n * BS).fill(0xff));
    // Byte-wise against a mixed medium; blocks outside the range untouched.
    const medium = pattern(2 * BS, 1);
    const data = pattern(2 * BS, 2);
    await lu.backend.write(100 * BS, medium);
    await run(lu, cdb16(op, 0, 100n, 2), data);
    expect(await read(lu, 100, 2)).toEqual(medium.map((b, i) => b | data[i]!));
    expect(await read(lu, 102, 1)).toEqual(new Uint8Array(BS));
  });

  it('flushes with FUA or the write cache off, not otherwise', async () => {
    const f = faulty(new MemoryBackend({ size: 64 * BS }));
    await run(makeLu({ backend: f.backend }), cdb16(BlockOpcode.OrWrite16, 0x10, 0n, 1), pattern(BS)); // DPO
    expect(f.counts.flush).toBe(0);
    await run(makeLu({ backend: f.backend }), cdb16(BlockOpcode.OrWrite16, 0x18, 0n, 1), pattern(BS)); // DPO+FUA
    expect(f.counts.flush).toBe(1);
    await run(
      makeLu({ backend: f.backend, writeCacheEnabled: false }),
      cdb16(BlockOpcode.OrWrite16, 0, 0n, 1),
      pattern(BS),
    );
    expect(f.counts.flush).toBe(2);
  });

  it('refuses ORPROTECT, long transfers, bad ranges and read-only LUs; 0 blocks is GOOD', async () => {
    const lu = makeLu({ limits: { maxTransferBlocks: 8 } });
    const op = BlockOpcode.OrWrite16;
    for (let p = 1; p < 8; p++) {
      expect(fieldPointer(await run(lu, cdb16(op, p << 5, 0n, 1), pattern(BS)))).toEqual({
        inCdb: true,
        field: 1,
        bit: 7,
      });
    }
    expect(fieldPointer(await run(lu, cdb16(op, 0, 0n, 9), pattern(9 * BS)))?.field).toBe(10);
    for (const [lba, n] of [
      [1024n, 1],
      [1023n, 2],
      [1n << 63n, 1],
      [0xffffffffffffffffn, 1],
      [1025n, 0],
      [1n << 63n, 0],
    ] as const) {
      expect(senseCode(await run(lu, cdb16(op, 0, lba, n), pattern(n * BS)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    }
    expect(senseCode(await run(makeLu({ readOnly: true }), cdb16(op, 0, 0n, 1), pattern(BS)))).toEqual([
      SenseKey.DataProtect,
      Asc.WriteProtected,
    ]);
    expect(await run(lu, cdb16(op, 0, 0n, 0))).toEqual({ status: ScsiStatus.Good, dataOutLength: 0 });
  });

  it('follows the WRITE rules for short and partial Data-Out', async () => {
    const lu = makeLu();
    const r = await run(lu, cdb16(BlockOpcode.OrWrite16, 0, 0n, 2), new Uint8Array(BS).fill(1));
    expect(r).toEqual({ status: ScsiStatus.Good, dataOutLength: 2 * BS });
    expect(await read(lu, 0, 2)).toEqual(Uint8Array.from([...new Uint8Array(BS).fill(1), ...new Uint8Array(BS)]));
    const partial = await run(lu, cdb16(BlockOpcode.OrWrite16, 0, 10n, 1), pattern(100));
    expect(senseCode(partial)).toEqual([ILLEGAL, Asc.InvalidFieldInInformationUnit]);
    expect(lu.backend.mapped(10 * BS, BS)).toBe(false);
  });

  it('answers MEDIUM ERROR when the read or the write fails', async () => {
    for (const [fail, asc] of [
      ['read', MediumAsc.UnrecoveredReadError],
      ['write', MediumAsc.WriteError],
    ] as const) {
      const lu = makeLu({ backend: faulty(new MemoryBackend({ size: 64 * BS }), { fail }).backend });
      expect(senseCode(await run(lu, cdb16(BlockOpcode.OrWrite16, 0, 0n, 1), pattern(BS)))).toEqual([
        SenseKey.MediumError,
        asc,
      ]);
    }
  });

  it('loses no update when ORWRITEs race on the same block (slow backend)', async () => {
    const lu = makeLu({ backend: faulty(new MemoryBackend({ size: 64 * BS }), { delayMs: 2 }).backend });
    const bits = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80];
    await Promise.all(bits.map((b) => run(lu, cdb16(BlockOpcode.OrWrite16, 0, 7n, 1), new Uint8Array(BS).fill(b))));
    expect(await read(lu, 7, 1)).toEqual(new Uint8Array(BS).fill(0xff));
  });
});

describe('READ DEFECT DATA', () => {
  function rdd10(flags: number, alloc: number): Uint8Array {
    const cdb = new Uint8Array(10);
    cdb[0] = BlockOpcode.ReadDefectData10;
    cdb[2] = flags;
    put16(cdb, 7, alloc);
    return cdb;
  }
  function rdd12(flags: number, alloc: number, index = 0): Uint8Array {
    const cdb = new Uint8Array(12);
    cdb[0] = BlockOpcode.ReadDefectData12;
    cdb[1] = flags;
    put32(cdb, 2, index);
    put32(cdb, 6, alloc);
    return cdb;
  }

  it('(10) returns a 4-byte header with an empty list in the requested format', async () => {
    const lu = makeLu();
    expect((await run(lu, rdd10(0, 32))).data).toEqual(Uint8Array.of(0, 0, 0, 0));
    // REQ_PLIST + REQ_GLIST, long block format (011b): PLISTV, GLISTV and the format echoed, length 0.
    expect((await run(lu, rdd10(0x18 | 0x03, 32))).data).toEqual(Uint8Array.of(0, 0x1b, 0, 0));
    expect((await run(lu, rdd10(0x08 | 0x05, 32))).data).toEqual(Uint8Array.of(0, 0x0d, 0, 0));
  });

  it('(12) returns an 8-byte header with an empty list, whatever the address descriptor index', async () => {
    const lu = makeLu();
    expect((await run(lu, rdd12(0, 32))).data).toEqual(new Uint8Array(8));
    expect((await run(lu, rdd12(0x10 | 0x04, 32, 1000))).data).toEqual(Uint8Array.of(0, 0x14, 0, 0, 0, 0, 0, 0));
  });

  it('refuses the reserved format 111b with INVALID FIELD IN CDB', async () => {
    const lu = makeLu();
    expect(fieldPointer(await run(lu, rdd10(0x07, 32)))).toEqual({ inCdb: true, field: 2, bit: 2 });
    expect(fieldPointer(await run(lu, rdd12(0x1f, 32)))).toEqual({ inCdb: true, field: 1, bit: 2 });
  });

  it('is cut to the ALLOCATION LENGTH (10: bytes 7-8, 12: bytes 6-9)', async () => {
    const lu = makeLu();
    expect(allocationLength(rdd10(0, 0x1234))).toBe(0x1234);
    expect(allocationLength(rdd12(0, 0x12345678))).toBe(0x12345678);
    for (const [cdb, size] of [
      [rdd10(0x18, 2), 2],
      [rdd10(0x18, 0), 0],
      [rdd12(0x18, 5), 5],
      [rdd12(0x18, 100), 8],
    ] as const) {
      const r = limitToAllocation(cdb, await run(lu, cdb));
      expect(r.status).toBe(ScsiStatus.Good);
      expect(r.data?.length ?? 0).toBe(size);
    }
  });
});
