/**
 * What a CDB builder returns: the CDB plus the data direction and Expected Data Transfer Length a session needs to
 * send it (RFC 7143 §11.3: the R/W bits and EDTL of the SCSI Command PDU), and the operation codes used here.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** Direction of the data phase, seen from the initiator: Data-In (`read`), Data-Out (`write`) or none. */
export type ScsiDirection = 'none' | 'read' | 'write';

/** A ready-to-send SCSI command. */
export interface ScsiCommand {
  /** The CDB, exactly 6, 10, 12 or 16 bytes long. */
  readonly cdb: Uint8Array;
  /** Data direction; `none` when no data moves. */
  readonly direction: ScsiDirection;
  /** Expected Data Transfer Length in bytes: the allocation length for reads, the Data-Out length for writes. */
  readonly transferLength: number;
  /** The Data-Out bytes when the builder produced them itself (UNMAP parameter list, WRITE SAME block). */
  readonly data?: Uint8Array;
}

/** SCSI operation codes (SPC-4, SBC-3) of the commands built and decoded here. */
export const ScsiOpcode = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Inquiry: 0x12,
  ModeSense6: 0x1a,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  SynchronizeCache10: 0x35,
  Unmap: 0x42,
  ModeSense10: 0x5a,
  Read16: 0x88,
  Write16: 0x8a,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  /** SERVICE ACTION IN(16); service action 0x10 is READ CAPACITY(16). */
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
} as const;

/** SERVICE ACTION IN(16) service action of READ CAPACITY(16) (SBC-3 §5.16). */
export const READ_CAPACITY_16_SERVICE_ACTION = 0x10;

/** Largest Expected Data Transfer Length a SCSI Command PDU can carry (a 32-bit field). */
export const MAX_TRANSFER_LENGTH = 0xffffffff;

/** Throws InvalidArgumentError unless `value` is an integer in 0..max. */
export function checkUint(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${name} ${value} out of range 0..${max}`);
  }
  return value;
}

/** A logical block address as a bigint, checked against `max` (0xffffffff for 10-byte CDBs, 2**64-1 for 16). */
export function checkLba(value: number | bigint, max: bigint): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`lba ${value} is not a safe integer (pass a bigint)`);
  }
  const lba = BigInt(value);
  if (lba < 0n || lba > max) throw new InvalidArgumentError(`lba ${lba} out of range 0..${max}`);
  return lba;
}

/** `blocks * blockSize`, checked to fit the 32-bit Expected Data Transfer Length. */
export function transferBytes(blocks: number, blockSize: number): number {
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new InvalidArgumentError(`blockSize ${blockSize} must be a positive integer`);
  }
  const bytes = blocks * blockSize;
  if (bytes > MAX_TRANSFER_LENGTH) {
    throw new InvalidArgumentError(`${blocks} blocks of ${blockSize} bytes exceed the 32-bit transfer length`);
  }
  return bytes;
}
