/**
 * PRE-FETCH(10) and (16) (SBC-3 §5.9, §5.10): asks the device server to bring a range of blocks into its cache.
 * The backends serve every block without a slower medium behind them (a memory backend is its own cache, a file
 * backend has the host's page cache and no hint to give it), so a valid range always "fits in the cache" and the
 * answer is CONDITION MET, which SBC-3 §5.9 gives for that case with IMMED 0 and 1 alike (GOOD is for a
 * cache too small for the range). libiscsi sees
 * CONDITION MET as success (its iSCSI layer reports it as GOOD to callers).
 * @module
 */
import { ScsiStatus } from '../../scsi/names.js';
import { BlockOpcode, checkRange, decodeTransfer, FF4, isResult, takeCdb, usage } from './block-common.js';
import type { CommandEntry, CommandHandler, ScsiResult } from './types.js';

/** CONDITION MET: no sense data, no Data-In (SAM-5 §5.3.1). */
const CONDITION_MET: ScsiResult = { status: ScsiStatus.ConditionMet };

function preFetchHandler(cdbLength: number): CommandHandler {
  return (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    // LBA and PREFETCH LENGTH sit where READ(10)/(16) keep LBA and TRANSFER LENGTH. A PREFETCH LENGTH of 0 means
    // "to the end of the medium", which needs only the LBA checked, as SYNCHRONIZE CACHE does.
    const t = decodeTransfer(cdb);
    // IMMED (byte 1 bit 1) needs nothing: status is the same, and there is no work to return early from.
    return checkRange(lu, t.lba, t.blocks) ?? CONDITION_MET;
  };
}

/** PRE-FETCH(10) and (16). CDB USAGE DATA marks IMMED, LBA and PREFETCH LENGTH; GROUP NUMBER is ignored. */
export const PREFETCH_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.PreFetch10,
    name: 'PRE-FETCH(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.PreFetch10, 0x02, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'read',
    handler: preFetchHandler(10),
  },
  {
    opcode: BlockOpcode.PreFetch16,
    name: 'PRE-FETCH(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.PreFetch16, 0x02, ...FF4, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: preFetchHandler(16),
  },
];
