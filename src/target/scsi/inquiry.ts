/**
 * INQUIRY (SPC-4 §6.6): standard data built from the LU identity, VPD pages through `vpd.ts`, and the standard
 * data of a LUN that does not exist (peripheral qualifier 011b).
 * @module
 */
import { put16 } from '../../scsi/bytes.js';
import { good, invalidFieldInCdb } from './result.js';
import type { LuContext, LuIdentity, ScsiRequest, ScsiResult } from './types.js';
import { vpdPage } from './vpd.js';

/** Length of the standard INQUIRY data returned (through the version descriptors and reserved bytes 74-95). */
export const STANDARD_INQUIRY_LENGTH = 96;

/** VERSION DESCRIPTORs (SPC-4 table 144): SAM-5, iSCSI (no version claimed), SPC-4, SBC-3. */
const VERSION_DESCRIPTORS: readonly number[] = [0x00a0, 0x0960, 0x0460, 0x04c0];

/** Writes `text` into `out[o..o+n)` left-aligned and space padded (SPC-4 §4.3.1); non-ASCII becomes '?'. */
export function putAscii(out: Uint8Array, o: number, n: number, text: string): void {
  for (let i = 0; i < n; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x20;
    out[o + i] = c >= 0x20 && c < 0x7f ? c : 0x3f;
  }
}

/**
 * Standard INQUIRY data. `present` false gives PERIPHERAL QUALIFIER 011b / DEVICE TYPE 0x1F, what SPC-4 §6.6.2
 * asks for a LUN the target does not have.
 */
export function standardInquiry(identity: Pick<LuIdentity, 'vendor' | 'product' | 'revision'>, present = true) {
  const out = new Uint8Array(STANDARD_INQUIRY_LENGTH);
  out[0] = present ? 0x00 : 0x7f;
  out[2] = 0x06; // VERSION: SPC-4
  out[3] = 0x12; // HISUP=1 (SAM-5 LUN format), RESPONSE DATA FORMAT 2
  out[4] = STANDARD_INQUIRY_LENGTH - 5; // ADDITIONAL LENGTH: the full length, whatever the allocation length
  out[5] = 0x00; // SCCS, ACC, TPGS=0 (no ALUA), 3PC, PROTECT=0
  out[6] = 0x00; // ENCSERV, MULTIP
  out[7] = 0x02; // CMDQUE: tagged command queuing
  putAscii(out, 8, 8, identity.vendor);
  putAscii(out, 16, 16, identity.product);
  putAscii(out, 32, 4, identity.revision);
  VERSION_DESCRIPTORS.forEach((v, i) => {
    put16(out, 58 + 2 * i, v);
  });
  return out;
}

/**
 * INQUIRY handler: CMDDT=1 (obsolete) or EVPD=0 with a PAGE CODE is INVALID FIELD IN CDB; EVPD=1 returns a VPD
 * page or INVALID FIELD IN CDB at byte 2. The whole data is returned; the session layer cuts it to the
 * ALLOCATION LENGTH (SPC-4 §4.2.5.6).
 */
export function inquiry(lu: LuContext, request: ScsiRequest): ScsiResult {
  const cdb = request.cdb;
  if ((cdb[1]! & 0x02) !== 0) return invalidFieldInCdb(1, 1);
  if ((cdb[1]! & 0x01) === 0) {
    if (cdb[2] !== 0) return invalidFieldInCdb(2);
    return good(standardInquiry(lu.identity));
  }
  const page = vpdPage(lu, request.nexus, cdb[2]!);
  return page ? good(page) : invalidFieldInCdb(2);
}
