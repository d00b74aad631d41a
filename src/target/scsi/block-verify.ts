/**
 * VERIFY(10)/(12)/(16) (SBC-4 §5.31-§5.33) and COMPARE AND WRITE (SBC-4 §5.3): commands that compare Data-Out with
 * the medium and answer MISCOMPARE with the offset of the first differing byte.
 * @module
 */
import { u64 } from '../../scsi/bytes.js';
import {
  aboveLimit,
  BlockOpcode,
  byteOffset,
  checkRange,
  checkWritable,
  decodeTransfer,
  FF4,
  FF8,
  firstMismatch,
  isResult,
  mediumError,
  mediumLock,
  miscompare,
  takeCdb,
  takeDataOut,
  usage,
  writeThrough,
} from './block-common.js';
import { good, invalidFieldInCdb } from './result.js';
import type { CommandEntry, CommandHandler } from './types.js';

function verifyHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    // The 10, 12 and 16-byte forms differ only in where LBA and VERIFICATION LENGTH sit (SBC-4 §5.31-§5.33).
    const { lba, blocks, lengthField, flags: b1 } = decodeTransfer(cdb);
    if (b1 >> 5) return invalidFieldInCdb(1, 7); // VRPROTECT: no protection information
    // BYTCHK (SBC-4 table 77): 00 medium check only, 01 compare every block, 10 reserved, 11 one block against all.
    const bytchk = (b1 >> 1) & 0x03;
    if (bytchk === 2) return invalidFieldInCdb(1, 2);
    if (aboveLimit(blocks, lu.limits.maxTransferBlocks)) return invalidFieldInCdb(lengthField);
    const range = checkRange(lu, lba, blocks);
    if (range) return range;
    // A VERIFICATION LENGTH of 0 verifies nothing and is not an error; with BYTCHK 0 the check of a medium that
    // cannot hold unreadable blocks is the range check itself.
    if (blocks === 0 || bytchk === 0) return good();
    const bs = lu.blockSize;
    const expected = takeDataOut(request, bytchk === 1 ? blocks * bs : bs, lengthField);
    if (isResult(expected)) return expected;
    let medium: Uint8Array;
    try {
      medium = await mediumLock(lu.backend).run(false, () => lu.backend.read(byteOffset(lu, lba), blocks * bs));
    } catch {
      return mediumError('read');
    }
    if (bytchk === 1) {
      const at = firstMismatch(expected, medium);
      return at < 0 ? good() : miscompare(at);
    }
    // BYTCHK 11b: the one Data-Out block against each block; INFORMATION counts from the first verified block.
    for (let k = 0; k < blocks; k++) {
      const at = firstMismatch(expected, medium.subarray(k * bs, (k + 1) * bs));
      if (at >= 0) return miscompare(k * bs + at);
    }
    return good();
  };
}

const compareAndWrite: CommandHandler = async (lu, request) => {
  const cdb = takeCdb(request, 16);
  if (isResult(cdb)) return cdb;
  const b1 = cdb[1]!;
  if (b1 >> 5) return invalidFieldInCdb(1, 7); // WRPROTECT
  const lba = u64(cdb, 2);
  const blocks = cdb[13]!;
  // MAXIMUM COMPARE AND WRITE LENGTH is taken as is: 0 would mean the command is not supported (SBC-4 §6.6.4).
  if (blocks > lu.limits.maxCompareAndWriteBlocks) return invalidFieldInCdb(13);
  const refused = checkRange(lu, lba, blocks) ?? checkWritable(lu);
  if (refused) return refused;
  if (blocks === 0) {
    // SBC-4 §5.3: nothing is read, compared or written. Data-Out that came anyway contradicts the CDB (an
    // initiator asking for 256 blocks wraps the 8-bit field to 0), so it is refused rather than dropped.
    return request.dataOut.length > 0 ? invalidFieldInCdb(13) : good();
  }
  const bytes = blocks * lu.blockSize;
  // The Data-Out holds the verify instance, then the write instance (SBC-4 §5.3.1).
  const data = takeDataOut(request, 2 * bytes, 13);
  if (isResult(data)) return data;
  const offset = byteOffset(lu, lba);
  const sync = writeThrough(lu, (b1 & 0x08) !== 0);
  // Exclusive: no other command reads or writes this medium between the read, the compare and the write.
  return mediumLock(lu.backend).run(true, async () => {
    let current: Uint8Array;
    try {
      current = await lu.backend.read(offset, bytes);
    } catch {
      return mediumError('read');
    }
    const at = firstMismatch(data.subarray(0, bytes), current);
    if (at >= 0) return miscompare(at);
    try {
      await lu.backend.write(offset, data.subarray(bytes));
      if (sync) await lu.backend.flush();
    } catch {
      return mediumError('write');
    }
    return good();
  });
};

/** VERIFY(10), VERIFY(12), VERIFY(16) and COMPARE AND WRITE. */
export const VERIFY_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.Verify10,
    name: 'VERIFY(10)',
    cdbLength: 10,
    // DPO (accepted, no cache) and BYTCHK.
    usage: usage(BlockOpcode.Verify10, 0x16, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'read',
    handler: verifyHandler(10),
  },
  {
    opcode: BlockOpcode.Verify12,
    name: 'VERIFY(12)',
    cdbLength: 12,
    usage: usage(BlockOpcode.Verify12, 0x16, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: verifyHandler(12),
  },
  {
    opcode: BlockOpcode.Verify16,
    name: 'VERIFY(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.Verify16, 0x16, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: verifyHandler(16),
  },
  {
    opcode: BlockOpcode.CompareAndWrite,
    name: 'COMPARE AND WRITE',
    cdbLength: 16,
    usage: usage(BlockOpcode.CompareAndWrite, 0x18, ...FF8, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00),
    reservation: 'write',
    handler: compareAndWrite,
  },
];
