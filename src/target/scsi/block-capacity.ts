/**
 * READ CAPACITY(10) (SBC-4 §5.20) and READ CAPACITY(16) (SBC-4 §5.21, SERVICE ACTION IN(16) action 0x10).
 * @module
 */
import { put32, put64, u32, u64 } from '../../scsi/bytes.js';
import { BlockOpcode, isResult, ServiceActionIn16, takeCdb, usage } from './block-common.js';
import { good, invalidFieldInCdb } from './result.js';
import type { CommandEntry, CommandHandler, LuContext } from './types.js';

/** The last LBA (an empty LU, which the LogicalUnit should never build, reports 0). */
function lastLba(lu: LuContext): bigint {
  return lu.blocks > 0n ? lu.blocks - 1n : 0n;
}

const readCapacity10: CommandHandler = (lu, request) => {
  const cdb = takeCdb(request, 10);
  if (isResult(cdb)) return cdb;
  // SBC-3 §5.15.1: with PMI 0 the (obsolete) LOGICAL BLOCK ADDRESS must be 0. PMI 1 asks for the last LBA before
  // a delay; there is none here, so it gets the last LBA of the medium.
  if ((cdb[8]! & 0x01) === 0 && u32(cdb, 2) !== 0) return invalidFieldInCdb(2);
  const last = lastLba(lu);
  const data = new Uint8Array(8);
  // SBC-4 §5.20.2: 0xffffffff when the last LBA does not fit: the initiator must use READ CAPACITY(16).
  put32(data, 0, last >= 0xffffffffn ? 0xffffffff : Number(last));
  put32(data, 4, lu.blockSize);
  return good(data);
};

const readCapacity16: CommandHandler = (lu, request) => {
  const cdb = takeCdb(request, 16);
  if (isResult(cdb)) return cdb;
  if ((cdb[14]! & 0x01) === 0 && u64(cdb, 2) !== 0n) return invalidFieldInCdb(2);
  const allocationLength = u32(cdb, 10);
  const data = new Uint8Array(32);
  put64(data, 0, lastLba(lu));
  put32(data, 8, lu.blockSize);
  // Byte 12: no protection (PROT_EN 0). Byte 13: one logical block per physical block (exponent 0).
  // Byte 14: LBPME for a thin backend, and LBPRZ because a deallocated block reads as zeros (SBC-4 §4.7.4.5).
  if (lu.backend.thin) data[14] = 0xc0;
  // The allocation length may be below the Expected Data Transfer Length: honour both (SPC-4 §4.2.5.6).
  return good(data.subarray(0, Math.min(data.length, allocationLength)));
};

/** READ CAPACITY(10) and READ CAPACITY(16). */
export const CAPACITY_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.ReadCapacity10,
    name: 'READ CAPACITY(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.ReadCapacity10, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x00),
    reservation: 'allowed',
    handler: readCapacity10,
  },
  {
    opcode: BlockOpcode.ServiceActionIn16,
    serviceAction: ServiceActionIn16.ReadCapacity16,
    name: 'READ CAPACITY(16)',
    cdbLength: 16,
    usage: usage(
      BlockOpcode.ServiceActionIn16,
      0x1f,
      ...new Array<number>(8).fill(0xff),
      0xff,
      0xff,
      0xff,
      0xff,
      0x01,
      0x00,
    ),
    reservation: 'allowed',
    handler: readCapacity16,
  },
];
