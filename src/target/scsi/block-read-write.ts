/**
 * READ and WRITE in their 6, 10, 12 and 16-byte forms (SBC-4 §5.15-§5.19, §5.40-§5.43) and SYNCHRONIZE CACHE(10)
 * and (16) (SBC-4 §5.28, §5.29). No protection information: a non-zero RDPROTECT/WRPROTECT is an invalid field.
 * @module
 */
import { u16, u32, u64 } from '../../scsi/bytes.js';
import {
  aboveLimit,
  BlockOpcode,
  byteOffset,
  checkRange,
  checkWrite,
  decodeTransfer,
  FF4,
  FF8,
  isResult,
  mediumError,
  mediumLock,
  takeCdb,
  takeWholeBlocks,
  usage,
  writeDone,
  writeThrough,
} from './block-common.js';
import { good, invalidFieldInCdb } from './result.js';
import type { CommandEntry, CommandHandler } from './types.js';

function readHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const t = decodeTransfer(cdb);
    if (t.flags >> 5) return invalidFieldInCdb(1, 7); // RDPROTECT: no protection information
    if (aboveLimit(t.blocks, lu.limits.maxTransferBlocks)) return invalidFieldInCdb(t.lengthField);
    const range = checkRange(lu, t.lba, t.blocks);
    if (range) return range;
    if (t.blocks === 0) return good(); // SBC-4 §5.16: not an error, nothing read
    // DPO and FUA need nothing here: the backends keep no read cache of their own.
    const offset = byteOffset(lu, t.lba);
    try {
      return good(await mediumLock(lu.backend).run(false, () => lu.backend.read(offset, t.blocks * lu.blockSize)));
    } catch {
      return mediumError('read');
    }
  };
}

function writeHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const t = decodeTransfer(cdb);
    const refused = checkWrite(lu, t);
    if (refused) return refused;
    const data = takeWholeBlocks(lu, request, t.blocks);
    if (isResult(data)) return data;
    if (data.length === 0) return writeDone(lu, t.blocks);
    const offset = byteOffset(lu, t.lba);
    const sync = writeThrough(lu, (t.flags & 0x08) !== 0);
    try {
      await mediumLock(lu.backend).run(false, async () => {
        await lu.backend.write(offset, data);
        if (sync) await lu.backend.flush();
      });
    } catch {
      return mediumError('write');
    }
    return writeDone(lu, t.blocks);
  };
}

function synchronizeCacheHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const long = cdbLength === 16;
    const lba = long ? u64(cdb, 2) : BigInt(u32(cdb, 2));
    const blocks = long ? u32(cdb, 10) : u16(cdb, 7); // 0: from lba to the end of the medium
    const range = checkRange(lu, lba, blocks);
    if (range) return range;
    // IMMED is accepted but status still waits for the flush: a failure is then reported on this command
    // rather than lost (there are no deferred errors here), and initiators cannot tell the difference otherwise.
    try {
      await lu.backend.flush();
    } catch {
      return mediumError('write');
    }
    return good();
  };
}

/**
 * READ/WRITE(6, 10, 12, 16) and SYNCHRONIZE CACHE(10, 16). CDB USAGE DATA marks the fields evaluated with a
 * meaning: DPO and FUA (bits 4, 3 of byte 1), LBA and TRANSFER LENGTH; GROUP NUMBER and the CONTROL byte are
 * ignored (NACA=1 is rejected), and RDPROTECT/WRPROTECT are only accepted as 0.
 */
export const READ_WRITE_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.Read6,
    name: 'READ(6)',
    cdbLength: 6,
    usage: usage(BlockOpcode.Read6, 0x1f, 0xff, 0xff, 0xff, 0x00),
    reservation: 'read',
    handler: readHandler(6),
  },
  {
    opcode: BlockOpcode.Read10,
    name: 'READ(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.Read10, 0x18, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'read',
    handler: readHandler(10),
  },
  {
    opcode: BlockOpcode.Read12,
    name: 'READ(12)',
    cdbLength: 12,
    usage: usage(BlockOpcode.Read12, 0x18, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: readHandler(12),
  },
  {
    opcode: BlockOpcode.Read16,
    name: 'READ(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.Read16, 0x18, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: readHandler(16),
  },
  {
    opcode: BlockOpcode.Write6,
    name: 'WRITE(6)',
    cdbLength: 6,
    usage: usage(BlockOpcode.Write6, 0x1f, 0xff, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: writeHandler(6),
  },
  {
    opcode: BlockOpcode.Write10,
    name: 'WRITE(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.Write10, 0x18, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: writeHandler(10),
  },
  {
    opcode: BlockOpcode.Write12,
    name: 'WRITE(12)',
    cdbLength: 12,
    usage: usage(BlockOpcode.Write12, 0x18, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: writeHandler(12),
  },
  {
    opcode: BlockOpcode.Write16,
    name: 'WRITE(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.Write16, 0x18, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: writeHandler(16),
  },
  {
    opcode: BlockOpcode.SynchronizeCache10,
    name: 'SYNCHRONIZE CACHE(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.SynchronizeCache10, 0x02, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: synchronizeCacheHandler(10),
  },
  {
    opcode: BlockOpcode.SynchronizeCache16,
    name: 'SYNCHRONIZE CACHE(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.SynchronizeCache16, 0x02, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: synchronizeCacheHandler(16),
  },
];
