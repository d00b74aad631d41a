/**
 * READ DEFECT DATA(10) and (12) (SBC-3 §5.12, §5.13). The backends have no defect management, so both the
 * primary (PLIST) and grown (GLIST) lists exist and are empty: the answer is the parameter header alone, with
 * PLISTV/GLISTV set for the lists asked for and the requested DEFECT LIST FORMAT echoed (an empty list is valid in
 * every format, so no format needs refusing except the reserved 111b). The device server cuts the header to the
 * ALLOCATION LENGTH (allocation-length.ts).
 * @module
 */
import { BlockOpcode, FF4, isResult, takeCdb, usage } from './block-common.js';
import { good, invalidFieldInCdb } from './result.js';
import type { CommandEntry, CommandHandler } from './types.js';

/** The reserved DEFECT LIST FORMAT (SBC-4 table "Defect list format": 000b-110b are defined). */
const RESERVED_FORMAT = 0x07;

/**
 * READ DEFECT DATA(10) keeps REQ_PLIST, REQ_GLIST and DEFECT LIST FORMAT in CDB byte 2 and answers with a 4-byte
 * header (16-bit DEFECT LIST LENGTH at bytes 2-3); the 12-byte form keeps them in byte 1 and answers with an 8-byte
 * header (32-bit DEFECT LIST LENGTH at bytes 4-7, after a GENERATION CODE of 0: not supported). In both, header
 * byte 1 has the same layout as the CDB's flags byte: PLISTV (bit 4), GLISTV (bit 3), DEFECT LIST FORMAT (2-0).
 * The (12) ADDRESS DESCRIPTOR INDEX needs no check: every index is past the end of an empty list.
 */
function readDefectDataHandler(cdbLength: 10 | 12): CommandHandler {
  const flagsAt = cdbLength === 10 ? 2 : 1;
  return (_lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const flags = cdb[flagsAt]!;
    if ((flags & 0x07) === RESERVED_FORMAT) return invalidFieldInCdb(flagsAt, 2);
    const header = new Uint8Array(cdbLength === 10 ? 4 : 8);
    header[1] = flags & 0x1f; // DEFECT LIST LENGTH stays 0
    return good(header);
  };
}

/** READ DEFECT DATA(10) and (12). */
export const DEFECT_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.ReadDefectData10,
    name: 'READ DEFECT DATA(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.ReadDefectData10, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00),
    reservation: 'read',
    handler: readDefectDataHandler(10),
  },
  {
    opcode: BlockOpcode.ReadDefectData12,
    name: 'READ DEFECT DATA(12)',
    cdbLength: 12,
    // The ADDRESS DESCRIPTOR INDEX (bytes 2-5) is read in the sense that any value gives the same empty answer.
    usage: usage(BlockOpcode.ReadDefectData12, 0x1f, ...FF4, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: readDefectDataHandler(12),
  },
];
