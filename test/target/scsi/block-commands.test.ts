import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { put16, put64 } from '../../../src/scsi/bytes.js';
import {
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildSynchronizeCache10Cdb,
  buildSynchronizeCache16Cdb,
  buildUnmapCdb,
  buildUnmapParameterList,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteSame16Cdb,
  parseReadCapacity10,
  parseReadCapacity16,
} from '../../../src/scsi/index.js';
import { ScsiStatus, SenseKey } from '../../../src/scsi/names.js';
import { MemoryBackend } from '../../../src/target/backend/memory.js';
import type { BlockBackend } from '../../../src/target/backend/types.js';
import { BLOCK_COMMANDS, BlockOpcode, MediumAsc } from '../../../src/target/scsi/block-commands.js';
import { MediumLock } from '../../../src/target/scsi/block-common.js';
import { Asc } from '../../../src/target/scsi/result.js';
import type { LuContext, ScsiRequest } from '../../../src/target/scsi/types.js';
import { cdb10, cdb12, cdb16, makeLu, pad16, pattern, run, sense, senseCode } from './lu-fixture.js';

const BS = 512;
const ILLEGAL = SenseKey.IllegalRequest;
const read10 = (lba: number, blocks: number) => buildRead10Cdb({ lba, blocks, blockSize: BS }).cdb;
const write10 = (lba: number, blocks: number, fua = false) => buildWrite10Cdb({ lba, blocks, blockSize: BS, fua }).cdb;

/** READ/WRITE(6) and (12), which src/scsi does not build. */
const rw12 = (opcode: number, lba: number, blocks: number, flags = 0) => cdb12(opcode, flags, lba, blocks);
function rw6(opcode: number, lba: number, blocks: number): number[] {
  return [opcode, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks, 0];
}
function compareAndWrite(lba: number, blocks: number, flags = 0): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = BlockOpcode.CompareAndWrite;
  cdb[1] = flags;
  put64(cdb, 2, BigInt(lba));
  cdb[13] = blocks;
  return cdb;
}
function getLbaStatus(lba: bigint, allocationLength: number): Uint8Array {
  const cdb = cdb16(BlockOpcode.ServiceActionIn16, 0x12, lba, allocationLength);
  return cdb;
}
function parseLbaStatus(data: Uint8Array) {
  const out: { lba: bigint; blocks: number; status: number }[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  for (let o = 8; o + 16 <= data.length; o += 16) {
    out.push({ lba: view.getBigUint64(o), blocks: view.getUint32(o + 8), status: data[o + 12]! & 0x0f });
  }
  return { length: view.getUint32(0), descriptors: out };
}
function fieldPointer(result: Parameters<typeof sense>[0]) {
  const s = sense(result).senseKeySpecific;
  return s?.kind === 'field-pointer' ? { inCdb: s.inCdb, field: s.fieldPointer, bit: s.bitPointer } : undefined;
}

/** A backend wrapper that counts flushes and can fail or slow down reads and writes. */
function instrumented(inner: BlockBackend, opts: { fail?: 'read' | 'write' | 'flush'; delayMs?: number } = {}) {
  const counts = { flush: 0, discard: 0, write: 0 };
  const delay = () => new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
  const backend: BlockBackend = {
    get size() {
      return inner.size;
    },
    readOnly: inner.readOnly,
    thin: inner.thin,
    async read(offset, length) {
      if (opts.fail === 'read') throw new Error('EIO');
      if (opts.delayMs) await delay();
      return inner.read(offset, length);
    },
    async write(offset, data) {
      if (opts.fail === 'write') throw new Error('EIO');
      counts.write++;
      if (opts.delayMs) await delay();
      return inner.write(offset, data);
    },
    async flush() {
      if (opts.fail === 'flush') throw new Error('EIO');
      counts.flush++;
    },
    async discard(offset, length) {
      counts.discard++;
      return inner.discard(offset, length);
    },
    mapped: (offset, length) => inner.mapped(offset, length),
    close: () => inner.close(),
  };
  return { backend, counts };
}

function fullyProvisioned(size: number): BlockBackend {
  const inner = new MemoryBackend({ size });
  return {
    size,
    readOnly: false,
    thin: false,
    read: (o, l) => inner.read(o, l),
    write: (o, d) => inner.write(o, d),
    flush: async () => undefined,
    discard: async () => undefined,
    mapped: () => true,
    close: () => inner.close(),
  };
}

describe('the command table', () => {
  it('has one entry per opcode/service action with usage data as long as the CDB', () => {
    const keys = BLOCK_COMMANDS.map((e) => `${e.opcode}/${e.serviceAction}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(BLOCK_COMMANDS.length).toBe(28);
    for (const e of BLOCK_COMMANDS) {
      expect(e.usage.length).toBe(e.cdbLength);
      expect(e.usage[0]).toBe(e.opcode);
      if (e.serviceAction !== undefined) expect(e.usage[1]! & 0x1f).toBe(0x1f);
      expect(e.usage[e.cdbLength - 1]).toBe(0); // CONTROL: NACA unsupported
    }
    const byName = Object.fromEntries(BLOCK_COMMANDS.map((e) => [e.name, e.reservation]));
    expect(byName).toMatchObject({
      'READ(10)': 'read',
      'WRITE(16)': 'write',
      'READ CAPACITY(16)': 'allowed',
      'GET LBA STATUS': 'read',
      UNMAP: 'write',
      'COMPARE AND WRITE': 'write',
    });
  });
});

describe('READ and WRITE', () => {
  it('round-trips data through every CDB size', async () => {
    const lu = makeLu();
    const data = pattern(3 * BS);
    expect(await run(lu, write10(10, 3), data)).toEqual({ status: ScsiStatus.Good, dataOutLength: 3 * BS });
    expect((await run(lu, read10(10, 3))).data).toEqual(data);
    expect((await run(lu, buildRead16Cdb({ lba: 11, blocks: 1, blockSize: BS }).cdb)).data).toEqual(
      data.subarray(BS, 2 * BS),
    );
    expect((await run(lu, rw12(BlockOpcode.Read12, 10, 3))).data).toEqual(data);
    expect((await run(lu, rw6(BlockOpcode.Read6, 12, 1))).data).toEqual(data.subarray(2 * BS));

    const other = pattern(2 * BS, 9);
    await run(lu, rw6(BlockOpcode.Write6, 100, 2), other);
    await run(lu, rw12(BlockOpcode.Write12, 200, 2), other);
    await run(lu, buildWrite16Cdb({ lba: 300, blocks: 2, blockSize: BS }).cdb, other);
    for (const lba of [100, 200, 300]) expect((await run(lu, read10(lba, 2))).data).toEqual(other);
  });

  it('reads 256 blocks for a READ(6) length of 0, and nothing for READ(10) length 0', async () => {
    const lu = makeLu();
    const r6 = await run(lu, rw6(BlockOpcode.Read6, 0, 0));
    expect(r6.data?.length).toBe(256 * BS);
    const r10 = await run(lu, read10(5, 0));
    expect(r10).toEqual({ status: ScsiStatus.Good });
    const w6 = await run(lu, rw6(BlockOpcode.Write6, 0, 0), pattern(256 * BS));
    expect(w6.status).toBe(ScsiStatus.Good);
    expect((await run(lu, read10(255, 1))).data).toEqual(pattern(256 * BS).subarray(255 * BS));
  });

  it('answers LBA OUT OF RANGE past the capacity, with bigint LBAs that would overflow', async () => {
    const lu = makeLu(); // 1024 blocks
    expect(senseCode(await run(lu, read10(1023, 2)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    expect(senseCode(await run(lu, write10(1024, 1), pattern(BS)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    const huge = buildRead16Cdb({ lba: 0xffffffffffffffffn, blocks: 1, blockSize: BS }).cdb;
    expect(senseCode(await run(lu, huge))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    expect((await run(lu, read10(1024, 0))).status).toBe(ScsiStatus.Good); // empty range at the end
    expect(senseCode(await run(lu, read10(1025, 0)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
  });

  it('answers INVALID FIELD IN CDB above the maximum transfer length and for RDPROTECT/WRPROTECT', async () => {
    const lu = makeLu({ limits: { maxTransferBlocks: 8 } });
    const r = await run(lu, read10(0, 9));
    expect(senseCode(r)).toEqual([ILLEGAL, Asc.InvalidFieldInCdb]);
    expect(fieldPointer(r)).toEqual({ inCdb: true, field: 7, bit: undefined });
    const r16 = await run(lu, buildRead16Cdb({ lba: 0, blocks: 9, blockSize: BS }).cdb);
    expect(fieldPointer(r16)?.field).toBe(10);
    expect(senseCode(await run(lu, rw6(BlockOpcode.Read6, 0, 0)))).toEqual([ILLEGAL, Asc.InvalidFieldInCdb]);
    const prot = await run(lu, buildRead10Cdb({ lba: 0, blocks: 1, blockSize: BS, protect: 1 }).cdb);
    expect(fieldPointer(prot)).toEqual({ inCdb: true, field: 1, bit: 7 });
    const wprot = await run(lu, buildWrite16Cdb({ lba: 0, blocks: 1, blockSize: BS, protect: 3 }).cdb, pattern(BS));
    expect(senseCode(wprot)).toEqual([ILLEGAL, Asc.InvalidFieldInCdb]);
    // 0 means no limit (Block Limits VPD convention).
    expect((await run(makeLu({ limits: { maxTransferBlocks: 0 } }), read10(0, 600))).data?.length).toBe(600 * BS);
  });

  it('refuses writes to a read-only LU with DATA PROTECT / WRITE PROTECTED', async () => {
    for (const lu of [
      makeLu({ readOnly: true }),
      makeLu({ backend: new MemoryBackend({ size: 8192, readOnly: true }) }),
    ]) {
      expect(senseCode(await run(lu, write10(0, 1), pattern(BS)))).toEqual([SenseKey.DataProtect, Asc.WriteProtected]);
      expect((await run(lu, read10(0, 1))).status).toBe(ScsiStatus.Good);
    }
  });

  it('writes the whole blocks of a short Data-Out and refuses a partial block (libiscsi residual rules)', async () => {
    const lu = makeLu();
    // EDTL of one block for a two-block WRITE: the first block is written, the session reports the overflow.
    const r = await run(lu, write10(0, 2), pattern(BS));
    expect(r).toEqual({ status: ScsiStatus.Good, dataOutLength: 2 * BS });
    expect((await run(lu, read10(0, 2))).data).toEqual(Uint8Array.from([...pattern(BS), ...new Uint8Array(BS)]));
    // No Data-Out at all: nothing written, still GOOD.
    expect(await run(lu, write10(300, 1))).toEqual({ status: ScsiStatus.Good, dataOutLength: BS });
    expect(lu.backend.mapped(300 * BS, BS)).toBe(false);
    // Part of a block cannot be written: INVALID FIELD IN INFORMATION UNIT, nothing written.
    const partial = await run(lu, write10(400, 1), pattern(200));
    expect(senseCode(partial)).toEqual([ILLEGAL, Asc.InvalidFieldInInformationUnit]);
    expect(partial.dataOutLength).toBe(BS);
    expect(lu.backend.mapped(400 * BS, BS)).toBe(false);
    // Extra Data-Out is ignored (and reported as underflow by the session).
    expect((await run(lu, write10(16, 1), pattern(2 * BS))).dataOutLength).toBe(BS);
  });

  it('flushes after a write with FUA or with the write cache disabled, not otherwise', async () => {
    const a = instrumented(new MemoryBackend({ size: 64 * BS }));
    const lu = makeLu({ backend: a.backend });
    await run(lu, write10(0, 1), pattern(BS));
    expect(a.counts.flush).toBe(0);
    await run(lu, write10(0, 1, true), pattern(BS));
    expect(a.counts.flush).toBe(1);
    await run(lu, rw12(BlockOpcode.Write12, 0, 1, 0x18), pattern(BS)); // DPO+FUA
    expect(a.counts.flush).toBe(2);
    const wt = makeLu({ backend: a.backend, writeCacheEnabled: false });
    await run(wt, rw6(BlockOpcode.Write6, 0, 1), pattern(BS));
    expect(a.counts.flush).toBe(3);
  });

  it('answers MEDIUM ERROR when the backend fails', async () => {
    const bad = (fail: 'read' | 'write' | 'flush') =>
      makeLu({ backend: instrumented(new MemoryBackend({ size: 64 * BS }), { fail }).backend });
    expect(senseCode(await run(bad('read'), read10(0, 1)))).toEqual([
      SenseKey.MediumError,
      MediumAsc.UnrecoveredReadError,
    ]);
    expect(senseCode(await run(bad('write'), write10(0, 1), pattern(BS)))).toEqual([
      SenseKey.MediumError,
      MediumAsc.WriteError,
    ]);
    expect(senseCode(await run(bad('flush'), buildSynchronizeCache10Cdb().cdb))).toEqual([
      SenseKey.MediumError,
      MediumAsc.WriteError,
    ]);
  });

  it('checks the CDB length and rejects NACA', async () => {
    const lu = makeLu();
    const short: ScsiRequest = {
      lun: 0,
      cdb: read10(0, 1).subarray(0, 9),
      nexus: { initiatorPort: 'x,i,0x1', initiatorName: 'x', isid: 1, relativeTargetPort: 1 },
      dataInLength: BS,
      dataOut: new Uint8Array(0),
      attribute: 'simple',
    };
    const entry = BLOCK_COMMANDS.find((e) => e.opcode === BlockOpcode.Read10)!;
    expect(senseCode(await entry.handler(lu, short))).toEqual([ILLEGAL, Asc.InvalidFieldInCdb]);
    const naca = read10(0, 1);
    naca[9] = 0x04;
    expect(fieldPointer(await run(lu, naca))).toEqual({ inCdb: true, field: 9, bit: 2 });
    // Bytes after the CDB's own length (padding to 16) are not looked at.
    const padded = pad16(read10(0, 1));
    padded.fill(0xff, 10);
    expect((await run(lu, padded)).status).toBe(ScsiStatus.Good);
  });
});

describe('VERIFY', () => {
  async function seeded(): Promise<LuContext> {
    const lu = makeLu();
    await run(lu, write10(4, 4), pattern(4 * BS));
    return lu;
  }

  it('with BYTCHK 0 checks the range only', async () => {
    const lu = await seeded();
    expect((await run(lu, cdb10(BlockOpcode.Verify10, 0, 0, 512))).status).toBe(ScsiStatus.Good);
    expect(senseCode(await run(lu, cdb10(BlockOpcode.Verify10, 0, 1000, 100)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    expect(senseCode(await run(lu, cdb16(BlockOpcode.Verify16, 0, 1n << 63n, 1)))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
  });

  it('with BYTCHK 1 compares the Data-Out and reports the first differing byte', async () => {
    const lu = await seeded();
    const data = pattern(4 * BS);
    expect((await run(lu, cdb10(BlockOpcode.Verify10, 0x02, 4, 4), data)).status).toBe(ScsiStatus.Good);
    const wrong = data.slice();
    wrong[1234] = wrong[1234]! ^ 0xff;
    const r = await run(lu, cdb16(BlockOpcode.Verify16, 0x02, 4n, 4), wrong);
    expect(senseCode(r)).toEqual([SenseKey.Miscompare, Asc.MiscompareDuringVerify]);
    expect(sense(r).information).toBe(1234n);
    expect(senseCode(await run(lu, cdb10(BlockOpcode.Verify10, 0x02, 4, 4), data.subarray(0, BS)))).toEqual([
      ILLEGAL,
      Asc.InvalidFieldInCdb,
    ]);
  });

  it('with BYTCHK 3 compares one block against every block', async () => {
    const lu = makeLu();
    const block = pattern(BS, 5);
    await run(lu, write10(0, 3), Uint8Array.from([...block, ...block, ...block]));
    expect((await run(lu, cdb10(BlockOpcode.Verify10, 0x06, 0, 3), block)).status).toBe(ScsiStatus.Good);
    const r = await run(lu, cdb10(BlockOpcode.Verify10, 0x06, 0, 4), block); // block 3 is zeros
    expect(senseCode(r)).toEqual([SenseKey.Miscompare, Asc.MiscompareDuringVerify]);
    expect(sense(r).information).toBe(BigInt(3 * BS + block.findIndex((x) => x !== 0)));
  });

  it('rejects BYTCHK 2, VRPROTECT and lengths above the limit', async () => {
    const lu = makeLu({ limits: { maxTransferBlocks: 16 } });
    expect(fieldPointer(await run(lu, cdb10(BlockOpcode.Verify10, 0x04, 0, 1)))).toEqual({
      inCdb: true,
      field: 1,
      bit: 2,
    });
    expect(fieldPointer(await run(lu, cdb10(BlockOpcode.Verify10, 0x20, 0, 1)))?.bit).toBe(7);
    expect(fieldPointer(await run(lu, cdb16(BlockOpcode.Verify16, 0, 0n, 17)))?.field).toBe(10);
    expect((await run(lu, cdb10(BlockOpcode.Verify10, 0x02, 0, 0))).status).toBe(ScsiStatus.Good);
  });
});

describe('WRITE SAME', () => {
  it('writes one block over the range, in both CDB sizes, beyond one batch', async () => {
    const lu = makeLu({ blocks: 8192 });
    const block = pattern(BS, 3);
    expect((await run(lu, cdb10(BlockOpcode.WriteSame10, 0, 10, 3), block)).status).toBe(ScsiStatus.Good);
    const back = (await run(lu, read10(9, 5))).data!;
    expect(back.subarray(0, BS)).toEqual(new Uint8Array(BS));
    for (let i = 1; i <= 3; i++) expect(back.subarray(i * BS, (i + 1) * BS)).toEqual(block);
    expect(back.subarray(4 * BS)).toEqual(new Uint8Array(BS));

    const ws = buildWriteSame16Cdb({ lba: 100, blocks: 4096, blockSize: BS, data: block });
    expect((await run(lu, ws.cdb, ws.data)).status).toBe(ScsiStatus.Good); // 2 MiB: more than one 1 MiB batch
    const all = await lu.backend.read(100 * BS, 4096 * BS);
    for (let i = 0; i < 4096; i += 511) expect(all.subarray(i * BS, (i + 1) * BS)).toEqual(block);
  });

  it('with NDOB writes zeros, and with UNMAP and a zero block deallocates on a thin backend', async () => {
    const a = instrumented(new MemoryBackend({ size: 1024 * BS, chunkSize: 4096 }));
    const lu = makeLu({ backend: a.backend });
    await run(lu, write10(0, 64), pattern(64 * BS));
    const ndob = buildWriteSame16Cdb({ lba: 0, blocks: 8, blockSize: BS, ndob: true }).cdb;
    expect((await run(lu, ndob)).status).toBe(ScsiStatus.Good);
    expect(await lu.backend.read(0, 8 * BS)).toEqual(new Uint8Array(8 * BS));
    expect(a.counts.discard).toBe(0);

    const unmap = buildWriteSame16Cdb({ lba: 8, blocks: 56, blockSize: BS, unmap: true });
    expect((await run(lu, unmap.cdb, unmap.data)).status).toBe(ScsiStatus.Good);
    expect(a.counts.discard).toBe(1);
    expect(lu.backend.mapped(8 * BS, 56 * BS)).toBe(false);

    // UNMAP with a non-zero block cannot deallocate: the block is written.
    const data = pattern(BS, 7);
    const writes = a.counts.write;
    expect((await run(lu, cdb10(BlockOpcode.WriteSame10, 0x08, 0, 2), data)).status).toBe(ScsiStatus.Good);
    expect(a.counts.write).toBe(writes + 1);
    expect(await lu.backend.read(BS, BS)).toEqual(data);
  });

  it('rejects ANCHOR, WRPROTECT, 0 blocks, blocks above the limit, short data, out of range and read-only', async () => {
    const lu = makeLu({ limits: { maxWriteSameBlocks: 100 } });
    const block = new Uint8Array(BS);
    const invalid = async (cdb: Uint8Array, field: number, bit?: number, data = block) => {
      const r = await run(lu, cdb, data);
      expect(senseCode(r)).toEqual([ILLEGAL, Asc.InvalidFieldInCdb]);
      expect(fieldPointer(r)).toEqual({ inCdb: true, field, bit });
    };
    await invalid(cdb16(BlockOpcode.WriteSame16, 0x18, 0n, 1), 1, 4);
    await invalid(cdb10(BlockOpcode.WriteSame10, 0x10, 0, 1), 1, 4);
    await invalid(cdb10(BlockOpcode.WriteSame10, 0x40, 0, 1), 1, 7);
    await invalid(cdb10(BlockOpcode.WriteSame10, 0, 0, 0), 7);
    await invalid(cdb16(BlockOpcode.WriteSame16, 0, 0n, 0), 10);
    await invalid(cdb16(BlockOpcode.WriteSame16, 0, 0n, 101), 10);
    await invalid(cdb16(BlockOpcode.WriteSame16, 0, 0n, 1), 1, undefined, new Uint8Array(100));
    expect(senseCode(await run(lu, cdb16(BlockOpcode.WriteSame16, 0, 1000n, 25), block))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
    const ro = makeLu({ readOnly: true });
    expect(senseCode(await run(ro, cdb10(BlockOpcode.WriteSame10, 0, 0, 1), block))).toEqual([
      SenseKey.DataProtect,
      Asc.WriteProtected,
    ]);
  });
});

describe('UNMAP', () => {
  it('deallocates every described range', async () => {
    const lu = makeLu();
    await run(lu, write10(0, 256), pattern(256 * BS));
    const cmd = buildUnmapCdb({
      ranges: [
        { lba: 0, blocks: 16 },
        { lba: 64, blocks: 64 },
        { lba: 200, blocks: 0 },
      ],
    });
    expect((await run(lu, cmd.cdb, cmd.data)).status).toBe(ScsiStatus.Good);
    expect(lu.backend.mapped(0, 16 * BS)).toBe(false);
    expect(lu.backend.mapped(64 * BS, 64 * BS)).toBe(false);
    expect(await lu.backend.read(16 * BS, BS)).toEqual(pattern(256 * BS).subarray(16 * BS, 17 * BS));
  });

  it('accepts an empty parameter list and refuses one shorter than its header', async () => {
    const lu = makeLu();
    expect((await run(lu, cdb10(BlockOpcode.Unmap, 0, 0, 0))).status).toBe(ScsiStatus.Good);
    expect(senseCode(await run(lu, cdb10(BlockOpcode.Unmap, 0, 0, 6), new Uint8Array(6)))).toEqual([
      ILLEGAL,
      Asc.ParameterListLengthError,
    ]);
    // The CDB promises 24 bytes but only 4 arrived.
    expect(senseCode(await run(lu, cdb10(BlockOpcode.Unmap, 0, 0, 24), new Uint8Array(4)))).toEqual([
      ILLEGAL,
      Asc.ParameterListLengthError,
    ]);
  });

  it('answers INVALID FIELD IN PARAMETER LIST for bad lengths, too many descriptors or blocks', async () => {
    const lu = makeLu({ limits: { maxUnmapDescriptors: 2, maxUnmapBlocks: 100 } });
    const list = buildUnmapParameterList([{ lba: 0, blocks: 1 }]);
    const bad = list.slice();
    put16(bad, 2, 12); // not a whole descriptor
    let r = await run(lu, cdb10(BlockOpcode.Unmap, 0, 0, bad.length), bad);
    expect(senseCode(r)).toEqual([ILLEGAL, Asc.InvalidFieldInParameterList]);
    expect(fieldPointer(r)).toEqual({ inCdb: false, field: 2, bit: undefined });
    const long = list.slice();
    put16(long, 0, 100); // UNMAP DATA LENGTH past the list
    r = await run(lu, cdb10(BlockOpcode.Unmap, 0, 0, long.length), long);
    expect(fieldPointer(r)).toEqual({ inCdb: false, field: 0, bit: undefined });

    const three = buildUnmapCdb({ ranges: [0, 1, 2].map((i) => ({ lba: i * 10, blocks: 1 })) });
    r = await run(lu, three.cdb, three.data);
    expect(senseCode(r)).toEqual([ILLEGAL, Asc.InvalidFieldInParameterList]);
    expect(fieldPointer(r)?.field).toBe(2);

    const many = buildUnmapCdb({
      ranges: [
        { lba: 0, blocks: 60 },
        { lba: 100, blocks: 41 },
      ],
    });
    r = await run(lu, many.cdb, many.data);
    expect(senseCode(r)).toEqual([ILLEGAL, Asc.InvalidFieldInParameterList]);
    expect(fieldPointer(r)?.field).toBe(8 + 16 + 8);
  });

  it('answers LBA OUT OF RANGE for a descriptor past the capacity and unmaps nothing', async () => {
    const lu = makeLu();
    await run(lu, write10(0, 8), pattern(8 * BS));
    const cmd = buildUnmapCdb({
      ranges: [
        { lba: 0, blocks: 8 },
        { lba: 1020, blocks: 5 },
      ],
    });
    expect(senseCode(await run(lu, cmd.cdb, cmd.data))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
    expect(lu.backend.mapped(0, 8 * BS)).toBe(true);
    const far = buildUnmapCdb({ ranges: [{ lba: 0xffffffffffffffffn, blocks: 1 }] });
    expect(senseCode(await run(lu, far.cdb, far.data))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
  });

  it('rejects ANCHOR, a read-only LU, and UNMAP itself on a fully provisioned LU', async () => {
    const cmd = buildUnmapCdb({ ranges: [{ lba: 0, blocks: 1 }], anchor: true });
    const r = await run(makeLu(), cmd.cdb, cmd.data);
    expect(fieldPointer(r)).toEqual({ inCdb: true, field: 1, bit: 0 });
    const plain = buildUnmapCdb({ ranges: [{ lba: 0, blocks: 1 }] });
    expect(senseCode(await run(makeLu({ readOnly: true }), plain.cdb, plain.data))).toEqual([
      SenseKey.DataProtect,
      Asc.WriteProtected,
    ]);
    const thick = makeLu({ backend: fullyProvisioned(64 * BS) });
    expect(senseCode(await run(thick, plain.cdb, plain.data))).toEqual([ILLEGAL, Asc.InvalidOpcode]);
  });
});

describe('COMPARE AND WRITE', () => {
  it('writes when the verify instance matches, and reports MISCOMPARE with the offset when not', async () => {
    const lu = makeLu();
    const old = pattern(2 * BS, 1);
    const next = pattern(2 * BS, 2);
    await run(lu, write10(50, 2), old);
    expect((await run(lu, compareAndWrite(50, 2), Uint8Array.from([...old, ...next]))).status).toBe(ScsiStatus.Good);
    expect(await lu.backend.read(50 * BS, 2 * BS)).toEqual(next);
    const r = await run(lu, compareAndWrite(50, 2), Uint8Array.from([...old, ...old]));
    expect(senseCode(r)).toEqual([SenseKey.Miscompare, Asc.MiscompareDuringVerify]);
    expect(sense(r).information).toBe(0n); // pattern seeds differ at byte 0
    expect(await lu.backend.read(50 * BS, 2 * BS)).toEqual(next);
    const tweaked = next.slice();
    tweaked[700] = tweaked[700]! ^ 1;
    const r2 = await run(lu, compareAndWrite(50, 2), Uint8Array.from([...tweaked, ...old]));
    expect(sense(r2).information).toBe(700n);
  });

  it('validates the block count, range, Data-Out, WRPROTECT and write protection', async () => {
    const lu = makeLu({ limits: { maxCompareAndWriteBlocks: 2 } });
    expect((await run(lu, compareAndWrite(0, 0))).status).toBe(ScsiStatus.Good);
    expect(fieldPointer(await run(lu, compareAndWrite(0, 3), new Uint8Array(6 * BS)))?.field).toBe(13);
    expect(senseCode(await run(lu, compareAndWrite(1023, 2), new Uint8Array(4 * BS)))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
    expect(fieldPointer(await run(lu, compareAndWrite(0, 1), new Uint8Array(BS)))?.field).toBe(13);
    expect(fieldPointer(await run(lu, compareAndWrite(0, 1, 0x20), new Uint8Array(2 * BS)))?.bit).toBe(7);
    expect(senseCode(await run(makeLu({ readOnly: true }), compareAndWrite(0, 1), new Uint8Array(2 * BS)))).toEqual([
      SenseKey.DataProtect,
      Asc.WriteProtected,
    ]);
  });

  it('is atomic: of two racing compare-and-writes on the same block only one succeeds', async () => {
    const a = instrumented(new MemoryBackend({ size: 64 * BS }), { delayMs: 5 });
    const lu = makeLu({ backend: a.backend });
    const zero = new Uint8Array(BS);
    const [r1, r2] = await Promise.all([
      run(lu, compareAndWrite(3, 1), Uint8Array.from([...zero, ...pattern(BS, 1)])),
      run(lu, compareAndWrite(3, 1), Uint8Array.from([...zero, ...pattern(BS, 2)])),
    ]);
    expect([r1.status, r2.status].sort()).toEqual([ScsiStatus.Good, ScsiStatus.CheckCondition]);
    expect(await lu.backend.read(3 * BS, BS)).toEqual(pattern(BS, r1.status === ScsiStatus.Good ? 1 : 2));
  });

  it('flushes with FUA', async () => {
    const a = instrumented(new MemoryBackend({ size: 64 * BS }));
    const lu = makeLu({ backend: a.backend });
    await run(lu, compareAndWrite(0, 1, 0x08), new Uint8Array(2 * BS));
    expect(a.counts.flush).toBe(1);
  });
});

describe('SYNCHRONIZE CACHE', () => {
  it('flushes the backend after a range check, IMMED or not', async () => {
    const a = instrumented(new MemoryBackend({ size: 1024 * BS }));
    const lu = makeLu({ backend: a.backend });
    const flush = vi.spyOn(a.backend, 'flush');
    expect((await run(lu, buildSynchronizeCache10Cdb().cdb)).status).toBe(ScsiStatus.Good);
    expect((await run(lu, buildSynchronizeCache16Cdb({ lba: 1000, blocks: 24, immed: true }).cdb)).status).toBe(
      ScsiStatus.Good,
    );
    expect(flush).toHaveBeenCalledTimes(2);
    expect(senseCode(await run(lu, buildSynchronizeCache16Cdb({ lba: 1000, blocks: 25 }).cdb))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
    expect(senseCode(await run(lu, buildSynchronizeCache10Cdb({ lba: 2000 }).cdb))).toEqual([
      ILLEGAL,
      Asc.LbaOutOfRange,
    ]);
    expect(flush).toHaveBeenCalledTimes(2);
  });
});

describe('READ CAPACITY', () => {
  it('(10) reports the last LBA and block size, and 0xffffffff past 2**32 blocks', async () => {
    const small = parseReadCapacity10(
      (await run(makeLu({ blockSize: 4096, blocks: 100 }), buildReadCapacity10Cdb().cdb)).data!,
    );
    expect(small).toMatchObject({ lastLba: 99, blockLength: 4096, needsReadCapacity16: false });
    const big = makeLu({ backend: new MemoryBackend({ size: (2 ** 32 + 8) * BS }) });
    expect(parseReadCapacity10((await run(big, buildReadCapacity10Cdb().cdb)).data!).needsReadCapacity16).toBe(true);
    const exact = makeLu({ backend: new MemoryBackend({ size: 2 ** 32 * BS }) });
    expect(parseReadCapacity10((await run(exact, buildReadCapacity10Cdb().cdb)).data!).lastLba).toBe(0xffffffff);
    const r16 = parseReadCapacity16((await run(big, buildReadCapacity16Cdb().cdb)).data!);
    expect(r16).toMatchObject({ lastLba: 2n ** 32n + 7n, blockLength: BS, lbpme: true, lbprz: true });
  });

  it('(10) and (16) reject a non-zero LBA without PMI', async () => {
    const lu = makeLu();
    const rc10 = buildReadCapacity10Cdb().cdb;
    rc10[5] = 1;
    expect(fieldPointer(await run(lu, rc10))?.field).toBe(2);
    rc10[8] = 1; // PMI
    expect((await run(lu, rc10)).status).toBe(ScsiStatus.Good);
    const rc16 = buildReadCapacity16Cdb().cdb;
    rc16[9] = 1;
    expect(fieldPointer(await run(lu, rc16))?.field).toBe(2);
  });

  it('(16) reports thin provisioning only for a thin backend and honours the allocation length', async () => {
    const thick = parseReadCapacity16(
      (await run(makeLu({ backend: fullyProvisioned(64 * BS) }), buildReadCapacity16Cdb().cdb)).data!,
    );
    expect(thick).toMatchObject({
      lastLba: 63n,
      lbpme: false,
      lbprz: false,
      protectionEnabled: false,
      logicalBlocksPerPhysicalBlockExponent: 0,
    });
    const lu = makeLu();
    expect((await run(lu, buildReadCapacity16Cdb().cdb)).data?.length).toBe(32);
    expect((await run(lu, buildReadCapacity16Cdb({ allocationLength: 12 }).cdb)).data?.length).toBe(12);
    expect((await run(lu, buildReadCapacity16Cdb({ allocationLength: 0 }).cdb)).data?.length ?? 0).toBe(0);
  });
});

describe('GET LBA STATUS', () => {
  it('reports coalesced mapped and deallocated extents from the starting LBA', async () => {
    const lu = makeLu({ blocks: 4096 }); // 64 KiB probes = 128 blocks
    await run(lu, write10(128, 256), pattern(256 * BS)); // blocks 128..383 mapped
    const r = parseLbaStatus((await run(lu, getLbaStatus(0n, 4096))).data!);
    expect(r.descriptors).toEqual([
      { lba: 0n, blocks: 128, status: 1 },
      { lba: 128n, blocks: 256, status: 0 },
      { lba: 384n, blocks: 4096 - 384, status: 1 },
    ]);
    expect(r.length).toBe(4 + 16 * 3);
    const from = parseLbaStatus((await run(lu, getLbaStatus(200n, 4096))).data!);
    expect(from.descriptors[0]).toEqual({ lba: 200n, blocks: 184, status: 0 });
  });

  it('bounds the descriptors by the allocation length', async () => {
    const lu = makeLu({ blocks: 4096 });
    await run(lu, write10(128, 1), pattern(BS));
    const one = await run(lu, getLbaStatus(0n, 24));
    expect(one.data?.length).toBe(24);
    expect(parseLbaStatus(one.data!).descriptors).toEqual([{ lba: 0n, blocks: 128, status: 1 }]);
    expect((await run(lu, getLbaStatus(0n, 10))).data?.length).toBe(10);
  });

  it('reports one mapped extent on a fully provisioned LU and refuses a start past the end', async () => {
    const lu = makeLu({ backend: fullyProvisioned(64 * BS) });
    expect(parseLbaStatus((await run(lu, getLbaStatus(10n, 1024))).data!).descriptors).toEqual([
      { lba: 10n, blocks: 54, status: 0 },
    ]);
    expect(senseCode(await run(lu, getLbaStatus(64n, 1024)))).toEqual([ILLEGAL, Asc.LbaOutOfRange]);
  });
});

describe('MediumLock', () => {
  it('runs shared holders together, an exclusive one alone, in arrival order', async () => {
    const lock = new MediumLock();
    const log: string[] = [];
    const tick = () => new Promise((r) => setTimeout(r, 2));
    const task = (name: string, exclusive: boolean) =>
      lock.run(exclusive, async () => {
        log.push(`+${name}`);
        await tick();
        log.push(`-${name}`);
      });
    await Promise.all([task('r1', false), task('r2', false), task('x', true), task('r3', false)]);
    expect(log).toEqual(['+r1', '+r2', '-r1', '-r2', '+x', '-x', '+r3', '-r3']);
    await expect(lock.run(true, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.run(true, async () => 7)).toBe(7); // released after the failure
  });
});

describe('random CDBs', () => {
  it('never throw and always answer GOOD, CONDITION MET or CHECK CONDITION with parseable sense', async () => {
    const entries = BLOCK_COMMANDS;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: entries.length - 1 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 8 * BS }),
        fc.boolean(),
        async (index, bytes, dataOut, readOnly) => {
          const e = entries[index]!;
          const cdb = bytes.slice();
          cdb[0] = e.opcode;
          if (e.serviceAction !== undefined) cdb[1] = (cdb[1]! & 0xe0) | e.serviceAction;
          // Half the time, keep only 2 low bits of each LBA / length field (the last byte of each 0xff run of
          // the usage data) and clear the protection bits and CONTROL, so the handlers get past the range checks.
          if (bytes[15]! & 1) {
            cdb[1] = cdb[1]! & 0x1f;
            cdb[e.cdbLength - 1] = 0;
            for (let i = 2; i < e.cdbLength - 1; i++) {
              if (e.usage[i] === 0xff) cdb[i] = e.usage[i + 1] === 0xff ? 0 : cdb[i]! & 0x03;
            }
          }
          const lu = makeLu({ blocks: 64, readOnly, limits: { maxWriteSameBlocks: 64, maxTransferBlocks: 64 } });
          const result = await e.handler(lu, {
            lun: 0,
            cdb,
            nexus: { initiatorPort: 'x,i,0x1', initiatorName: 'x', isid: 1, relativeTargetPort: 1 },
            dataInLength: 0xffffffff,
            dataOut,
            attribute: 'simple',
          });
          // CONDITION MET: PRE-FETCH's success (SBC-3 §5.9).
          expect([ScsiStatus.Good, ScsiStatus.ConditionMet, ScsiStatus.CheckCondition]).toContain(result.status);
          if (result.status === ScsiStatus.CheckCondition) expect(sense(result).senseKey).toBeGreaterThan(0);
          else expect(result.sense).toBeUndefined();
        },
      ),
      { numRuns: 600 },
    );
  });
});
