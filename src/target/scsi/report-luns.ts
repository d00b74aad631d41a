/**
 * REPORT LUNS (SPC-4 §6.33): the LUN inventory in SAM-5 single-level format.
 * @module
 */
import { put32, u32 } from '../../scsi/bytes.js';
import { good, invalidFieldInCdb } from './result.js';
import type { ScsiResult } from './types.js';

/**
 * The 8-byte LUN of a flat LUN number (SAM-5 §4.7.3): peripheral device addressing below 256, flat space
 * addressing (01b) up to 16383.
 */
export function encodeLun(lun: number): Uint8Array {
  const out = new Uint8Array(8);
  if (lun < 256) out[1] = lun;
  else {
    out[0] = 0x40 | ((lun >>> 8) & 0x3f);
    out[1] = lun & 0xff;
  }
  return out;
}

/**
 * REPORT LUNS answer for a target with `luns`. SELECT REPORT 0 and 2 list every LUN; 1 (well-known LUs) and
 * 0x10-0x12 (administrative and subsidiary LUs) list none, as this target has neither. An ALLOCATION LENGTH below
 * 16 is INVALID FIELD IN CDB (SPC-4 §6.33).
 */
export function reportLuns(cdb: Uint8Array, luns: readonly number[]): ScsiResult {
  const select = cdb[2]!;
  if (u32(cdb, 6) < 16) return invalidFieldInCdb(6);
  let listed: readonly number[];
  if (select === 0x00 || select === 0x02) listed = [...luns].sort((a, b) => a - b);
  else if (select === 0x01 || (select >= 0x10 && select <= 0x12)) listed = [];
  else return invalidFieldInCdb(2);
  const out = new Uint8Array(8 + 8 * listed.length);
  put32(out, 0, 8 * listed.length);
  listed.forEach((lun, i) => {
    out.set(encodeLun(lun), 8 + 8 * i);
  });
  return good(out);
}
