/**
 * ORWRITE(16) (SBC-3 §5.8): each byte written is the OR of the Data-Out byte and the byte on the medium. The read,
 * the OR and the write hold the medium lock exclusive, as COMPARE AND WRITE does, so no other command's write
 * lands between the read and the write and is lost. Range, limit, write-protection and Data-Out rules are those of
 * WRITE ({@link checkWrite}, {@link takeWholeBlocks}).
 * @module
 */
import {
  BlockOpcode,
  byteOffset,
  checkWrite,
  decodeTransfer,
  FF4,
  isResult,
  mediumError,
  mediumLock,
  takeCdb,
  takeWholeBlocks,
  usage,
  writeDone,
  writeThrough,
} from './block-common.js';
import type { CommandEntry, CommandHandler } from './types.js';

/** `medium | data`, byte by byte, in a new array (a backend may hand out a view of its own storage). */
function orBytes(medium: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = medium[i]! | data[i]!;
  return out;
}

const orWrite: CommandHandler = async (lu, request) => {
  const cdb = takeCdb(request, 16);
  if (isResult(cdb)) return cdb;
  // Byte 1: ORPROTECT (bits 7-5, where WRITE has WRPROTECT), DPO, FUA, FUA_NV (obsolete, ignored). ORPROTECT must
  // be 0 without protection information, which checkWrite enforces as it does WRPROTECT.
  const t = decodeTransfer(cdb);
  const refused = checkWrite(lu, t);
  if (refused) return refused;
  const data = takeWholeBlocks(lu, request, t.blocks);
  if (isResult(data)) return data;
  if (data.length === 0) return writeDone(lu, t.blocks); // TRANSFER LENGTH 0: nothing transferred, not an error
  const offset = byteOffset(lu, t.lba);
  const sync = writeThrough(lu, (t.flags & 0x08) !== 0);
  const failed = await mediumLock(lu.backend).run(true, async () => {
    let medium: Uint8Array;
    try {
      medium = await lu.backend.read(offset, data.length);
    } catch {
      return mediumError('read');
    }
    try {
      await lu.backend.write(offset, orBytes(medium, data));
      if (sync) await lu.backend.flush();
    } catch {
      return mediumError('write');
    }
    return undefined;
  });
  return failed ?? writeDone(lu, t.blocks);
};

/**
 * ORWRITE(16). CDB USAGE DATA marks DPO and FUA, LBA and TRANSFER LENGTH; ORPROTECT is only accepted as 0, FUA_NV
 * and GROUP NUMBER are ignored.
 */
export const ORWRITE_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.OrWrite16,
    name: 'ORWRITE(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.OrWrite16, 0x18, ...FF4, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: orWrite,
  },
];
