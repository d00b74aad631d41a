/**
 * Readable names for SCSI status codes (SAM-5 §5.3), sense keys (SPC-4 §4.5.6), additional sense codes,
 * peripheral device types and the operation codes built here — for error messages, logs and the CLI.
 * @module
 */
import { ADDITIONAL_SENSE_NAMES } from './asc-names.js';
import { nameTable } from './bytes.js';
import { READ_CAPACITY_16_SERVICE_ACTION, ScsiOpcode } from './command.js';

/** SCSI status codes (SAM-5 table 33), as carried in the SCSI Response PDU's Status field. */
export const ScsiStatus = {
  Good: 0x00,
  CheckCondition: 0x02,
  ConditionMet: 0x04,
  Busy: 0x08,
  ReservationConflict: 0x18,
  TaskSetFull: 0x28,
  AcaActive: 0x30,
  TaskAborted: 0x40,
} as const;

const STATUS_NAMES: Readonly<Record<number, string>> = nameTable([
  [0x00, 'GOOD'],
  [0x02, 'CHECK CONDITION'],
  [0x04, 'CONDITION MET'],
  [0x08, 'BUSY'],
  [0x10, 'INTERMEDIATE'], // obsolete (SAM-4)
  [0x14, 'INTERMEDIATE-CONDITION MET'], // obsolete (SAM-4)
  [0x18, 'RESERVATION CONFLICT'],
  [0x22, 'COMMAND TERMINATED'], // obsolete (SAM-3)
  [0x28, 'TASK SET FULL'],
  [0x30, 'ACA ACTIVE'],
  [0x40, 'TASK ABORTED'],
]);

/** Name of a SCSI status, or `STATUS 0x..` for a reserved value. */
export function scsiStatusName(status: number): string {
  return STATUS_NAMES[status] ?? `STATUS 0x${hex2(status)}`;
}

/** True for the statuses that mean the command succeeded: GOOD and CONDITION MET (SAM-5 §5.3.1). */
export function isScsiStatusSuccess(status: number): boolean {
  return status === ScsiStatus.Good || status === ScsiStatus.ConditionMet;
}

/** Sense keys (SPC-4 table 27). */
export const SenseKey = {
  NoSense: 0x0,
  RecoveredError: 0x1,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  BlankCheck: 0x8,
  VendorSpecific: 0x9,
  CopyAborted: 0xa,
  AbortedCommand: 0xb,
  VolumeOverflow: 0xd,
  Miscompare: 0xe,
  Completed: 0xf,
} as const;

const SENSE_KEY_NAMES: readonly string[] = [
  'NO SENSE',
  'RECOVERED ERROR',
  'NOT READY',
  'MEDIUM ERROR',
  'HARDWARE ERROR',
  'ILLEGAL REQUEST',
  'UNIT ATTENTION',
  'DATA PROTECT',
  'BLANK CHECK',
  'VENDOR SPECIFIC',
  'COPY ABORTED',
  'ABORTED COMMAND',
  'RESERVED (0xC)', // obsolete EQUAL
  'VOLUME OVERFLOW',
  'MISCOMPARE',
  'COMPLETED', // SPC-5; reserved before
];

/** Name of a sense key (0..15). */
export function senseKeyName(senseKey: number): string {
  return SENSE_KEY_NAMES[senseKey] ?? `SENSE KEY 0x${hex2(senseKey)}`;
}

/**
 * Name of an additional sense code and qualifier. Unknown codes get a generic text that still shows both bytes;
 * ASC or ASCQ 0x80-0xff are vendor specific (SPC-4 §4.5.2.1).
 */
export function additionalSenseName(asc: number, ascq: number): string {
  const known = ADDITIONAL_SENSE_NAMES[(asc << 8) | ascq];
  if (known) return known;
  const nn = hex2(ascq).toUpperCase();
  // SPC-4 Annex D: two ranges carry a number in the qualifier.
  if (asc === 0x40 && ascq >= 0x80) return `DIAGNOSTIC FAILURE ON COMPONENT ${nn}`;
  if (asc === 0x4d) return `TAGGED OVERLAPPED COMMANDS (TASK TAG ${nn})`;
  if (asc >= 0x80) return `VENDOR SPECIFIC (ASC 0x${hex2(asc)}, ASCQ 0x${hex2(ascq)})`;
  if (ascq >= 0x80) return `VENDOR SPECIFIC QUALIFIER (ASC 0x${hex2(asc)}, ASCQ 0x${hex2(ascq)})`;
  return `ASC 0x${hex2(asc)}, ASCQ 0x${hex2(ascq)}`;
}

const DEVICE_TYPE_NAMES: Readonly<Record<number, string>> = nameTable([
  [0x00, 'direct access block device'],
  [0x01, 'sequential access device'],
  [0x02, 'printer'],
  [0x03, 'processor'],
  [0x04, 'write-once device'],
  [0x05, 'CD/DVD device'],
  [0x07, 'optical memory device'],
  [0x08, 'media changer'],
  [0x0c, 'storage array controller'],
  [0x0d, 'enclosure services device'],
  [0x0e, 'simplified direct access device'],
  [0x0f, 'optical card reader/writer'],
  [0x11, 'object-based storage device'],
  [0x12, 'automation/drive interface'],
  [0x14, 'host managed zoned block device'],
  [0x1e, 'well known logical unit'],
  [0x1f, 'unknown or no device type'],
]);

/** Name of a PERIPHERAL DEVICE TYPE (SPC-4 table 139). */
export function peripheralDeviceTypeName(type: number): string {
  return DEVICE_TYPE_NAMES[type] ?? `device type 0x${hex2(type)}`;
}

const OPCODE_NAMES: Readonly<Record<number, string>> = nameTable([
  [ScsiOpcode.TestUnitReady, 'TEST UNIT READY'],
  [ScsiOpcode.RequestSense, 'REQUEST SENSE'],
  [ScsiOpcode.Inquiry, 'INQUIRY'],
  [ScsiOpcode.ModeSense6, 'MODE SENSE(6)'],
  [ScsiOpcode.ReadCapacity10, 'READ CAPACITY(10)'],
  [ScsiOpcode.Read10, 'READ(10)'],
  [ScsiOpcode.Write10, 'WRITE(10)'],
  [ScsiOpcode.SynchronizeCache10, 'SYNCHRONIZE CACHE(10)'],
  [ScsiOpcode.Unmap, 'UNMAP'],
  [ScsiOpcode.ModeSense10, 'MODE SENSE(10)'],
  [ScsiOpcode.Read16, 'READ(16)'],
  [ScsiOpcode.Write16, 'WRITE(16)'],
  [ScsiOpcode.SynchronizeCache16, 'SYNCHRONIZE CACHE(16)'],
  [ScsiOpcode.WriteSame16, 'WRITE SAME(16)'],
  [ScsiOpcode.ServiceActionIn16, 'SERVICE ACTION IN(16)'],
  [ScsiOpcode.ReportLuns, 'REPORT LUNS'],
]);

/** Name of the command in `cdb` (or of a bare operation code), `OPCODE 0x..` when not one built here. */
export function scsiCommandName(cdb: Uint8Array | number): string {
  const opcode = typeof cdb === 'number' ? cdb : cdb[0];
  if (opcode === undefined) return 'EMPTY CDB';
  if (
    typeof cdb !== 'number' &&
    opcode === ScsiOpcode.ServiceActionIn16 &&
    ((cdb[1] ?? 0) & 0x1f) === READ_CAPACITY_16_SERVICE_ACTION
  ) {
    return 'READ CAPACITY(16)';
  }
  return OPCODE_NAMES[opcode] ?? `OPCODE 0x${hex2(opcode)}`;
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}
