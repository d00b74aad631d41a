/**
 * The SBC-4 half of the device server's command table: the block commands of a direct-access LU, for the
 * LogicalUnit to merge with the SPC commands. Decisions an integrator needs:
 *
 * - Writes are write-through when FUA is set or the caching page's WCE is 0 (backend flush before GOOD);
 *   SYNCHRONIZE CACHE always flushes and waits even with IMMED.
 * - A Data-Out shorter than the CDB's transfer needs is refused with INVALID FIELD IN CDB and nothing is written.
 * - Block Limits: MAXIMUM TRANSFER LENGTH and MAXIMUM WRITE SAME LENGTH of 0 mean no limit; MAXIMUM UNMAP LBA /
 *   DESCRIPTOR COUNT and MAXIMUM COMPARE AND WRITE LENGTH are taken literally. WRITE SAME with 0 blocks is
 *   refused, so VPD 0xB0 must advertise WSNZ=1; ANCHOR is refused (ANC_SUP=0, VPD 0xB2 ANC_SUP 0).
 * - UNMAP on a fully provisioned backend is INVALID COMMAND OPERATION CODE (it is listed in this table all the
 *   same: REPORT SUPPORTED OPERATION CODES may want to drop it when `backend.thin` is false).
 * - READ CAPACITY(16) reports LBPME=LBPRZ=1 for a thin backend (VPD 0xB2 should say LBPU=1, LBPWS=1, LBPWS10=1,
 *   LBPRZ=1, provisioning type thin).
 * - NACA=1 in the CONTROL byte is refused with INVALID FIELD IN CDB; CONTROL usage data is 0.
 * - Failed backend calls answer MEDIUM ERROR (UNRECOVERED READ ERROR or WRITE ERROR).
 * - WRITE AND VERIFY always flushes before it verifies; PRE-FETCH answers CONDITION MET (the backends have no
 *   slower medium behind a cache); READ DEFECT DATA reports empty defect lists.
 * @module
 */
import { CAPACITY_COMMANDS } from './block-capacity.js';
import { DEFECT_COMMANDS } from './block-defects.js';
import { ORWRITE_COMMANDS } from './block-orwrite.js';
import { PREFETCH_COMMANDS } from './block-prefetch.js';
import { PROVISIONING_COMMANDS } from './block-provisioning.js';
import { READ_WRITE_COMMANDS } from './block-read-write.js';
import { VERIFY_COMMANDS } from './block-verify.js';
import { WRITE_VERIFY_COMMANDS } from './block-write-verify.js';
import type { CommandEntry } from './types.js';

export { BlockOpcode, MediumAsc, ServiceActionIn16 } from './block-common.js';

/** Every block command (SBC-4) the device server implements. */
export const BLOCK_COMMANDS: readonly CommandEntry[] = [
  ...READ_WRITE_COMMANDS,
  ...VERIFY_COMMANDS,
  ...WRITE_VERIFY_COMMANDS,
  ...ORWRITE_COMMANDS,
  ...PREFETCH_COMMANDS,
  ...PROVISIONING_COMMANDS,
  ...CAPACITY_COMMANDS,
  ...DEFECT_COMMANDS,
];
