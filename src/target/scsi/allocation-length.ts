/**
 * ALLOCATION LENGTH (SPC-4 §4.2.5.6): the device server stops the Data-In after that many bytes, without an
 * error, while length fields inside the data still give the full length. Handlers build whole answers; this cuts
 * them, in one place for every command that has the field.
 * @module
 */
import { u16, u32 } from '../../scsi/bytes.js';
import type { ScsiResult } from './types.js';

/** Where each command keeps its allocation length: [byte offset, width in bytes]. */
const FIELD: Readonly<Record<number, readonly [number, 1 | 2 | 4]>> = {
  3: [4, 1], // REQUEST SENSE
  18: [3, 2], // INQUIRY
  26: [4, 1], // MODE SENSE(6)
  90: [7, 2], // MODE SENSE(10)
  55: [7, 2], // READ DEFECT DATA(10)
  94: [7, 2], // PERSISTENT RESERVE IN
  158: [10, 4], // SERVICE ACTION IN(16): READ CAPACITY(16), GET LBA STATUS
  160: [6, 4], // REPORT LUNS
  163: [6, 4], // MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES
  183: [6, 4], // READ DEFECT DATA(12)
};

/** The allocation length of `cdb`, or undefined when its command has none. */
export function allocationLength(cdb: Uint8Array): number | undefined {
  const field = FIELD[cdb[0] ?? -1];
  if (!field || cdb.length < field[0] + field[1]) return undefined;
  const [at, width] = field;
  return width === 1 ? cdb[at]! : width === 2 ? u16(cdb, at) : u32(cdb, at);
}

/** `result` with its Data-In cut to the CDB's allocation length. */
export function limitToAllocation(cdb: Uint8Array, result: ScsiResult): ScsiResult {
  const limit = allocationLength(cdb);
  if (limit === undefined || !result.data || result.data.length <= limit) return result;
  return { ...result, data: result.data.subarray(0, limit) };
}
