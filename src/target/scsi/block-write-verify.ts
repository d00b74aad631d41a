/**
 * WRITE AND VERIFY(10), (12) and (16) (SBC-3 §5.41-§5.43): a WRITE whose data is then verified on the medium and,
 * with BYTCHK 01b, compared with the Data-Out. The range, limit, WRPROTECT, write-protection and Data-Out rules
 * are those of WRITE ({@link checkWrite}, {@link takeWholeBlocks}).
 * @module
 */
import {
  BlockOpcode,
  byteOffset,
  checkWrite,
  decodeTransfer,
  FF4,
  FF8,
  firstMismatch,
  isResult,
  mediumError,
  mediumLock,
  miscompare,
  takeCdb,
  takeWholeBlocks,
  usage,
  writeDone,
} from './block-common.js';
import { invalidFieldInCdb } from './result.js';
import type { CommandEntry, CommandHandler, LuContext, ScsiResult } from './types.js';

/**
 * Writes `data` at `offset`, flushes, and with `compare` reads it back and compares. The write is always made
 * stable first: the command verifies what is on the medium, not in a cache (Linux LIO also treats WRITE AND
 * VERIFY as FUA). The medium lock is held exclusive so that the read-back sees this write and not an overlapping
 * one, which would give a false MISCOMPARE.
 */
async function writeThenVerify(
  lu: LuContext,
  offset: number,
  data: Uint8Array,
  compare: boolean,
): Promise<ScsiResult | undefined> {
  return mediumLock(lu.backend).run(true, async () => {
    try {
      await lu.backend.write(offset, data);
      await lu.backend.flush();
    } catch {
      return mediumError('write');
    }
    if (!compare) return undefined;
    let written: Uint8Array;
    try {
      written = await lu.backend.read(offset, data.length);
    } catch {
      return mediumError('read');
    }
    // SBC-3 §5.41: a failed comparison is MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION, INFORMATION being the
    // offset of the first differing byte in the Data-Out (as for VERIFY).
    const at = firstMismatch(data, written);
    return at < 0 ? undefined : miscompare(at);
  });
}

function writeAndVerifyHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const t = decodeTransfer(cdb);
    // BYTCHK (SBC-4 WRITE AND VERIFY(10), by reference to VERIFY): 00b verify the medium only, 01b also compare
    // with the Data-Out; 10b is reserved as for VERIFY, and 11b is reserved for WRITE AND VERIFY.
    const bytchk = (t.flags >> 1) & 0x03;
    if (bytchk > 1) return invalidFieldInCdb(1, 2);
    const refused = checkWrite(lu, t);
    if (refused) return refused;
    const data = takeWholeBlocks(lu, request, t.blocks);
    if (isResult(data)) return data;
    if (data.length === 0) return writeDone(lu, t.blocks);
    // BYTCHK 00b: a backend that accepted the write and the flush has nothing more to verify (no unreadable
    // blocks), as for VERIFY with BYTCHK 00b.
    const failed = await writeThenVerify(lu, byteOffset(lu, t.lba), data, bytchk === 1);
    return failed ?? writeDone(lu, t.blocks);
  };
}

/**
 * WRITE AND VERIFY(10, 12, 16). CDB USAGE DATA marks DPO (accepted: there is no cache to bypass), BYTCHK, LBA and
 * TRANSFER LENGTH; WRPROTECT is only accepted as 0 and GROUP NUMBER is ignored.
 */
export const WRITE_VERIFY_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.WriteAndVerify10,
    name: 'WRITE AND VERIFY(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.WriteAndVerify10, 0x12, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: writeAndVerifyHandler(10),
  },
  {
    opcode: BlockOpcode.WriteAndVerify12,
    name: 'WRITE AND VERIFY(12)',
    cdbLength: 12,
    usage: usage(BlockOpcode.WriteAndVerify12, 0x12, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: writeAndVerifyHandler(12),
  },
  {
    opcode: BlockOpcode.WriteAndVerify16,
    name: 'WRITE AND VERIFY(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.WriteAndVerify16, 0x12, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: writeAndVerifyHandler(16),
  },
];
