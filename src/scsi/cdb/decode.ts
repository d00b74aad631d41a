/**
 * Decodes a CDB into the same fields its builder takes, for traces, tests and a target's command dispatch.
 * A CDB field of a SCSI Command PDU is 16 bytes with the unused tail zeroed (RFC 7143 §11.3.5), so longer input
 * is accepted; shorter than the operation code's group needs is an error.
 * @module
 */
import { need } from '../bytes.js';
import { READ_CAPACITY_16_SERVICE_ACTION, ScsiOpcode } from '../command.js';
import type { InquiryCdb } from './inquiry.js';
import { decodeInquiryCdb } from './inquiry.js';
import type { ModeSenseCdb } from './mode-sense.js';
import { decodeModeSenseCdb } from './mode-sense.js';
import type { ReadCapacity10Cdb, ReadCapacity16Cdb } from './read-capacity.js';
import { decodeReadCapacity10Cdb, decodeReadCapacity16Cdb } from './read-capacity.js';
import type { ReadWriteCdb } from './read-write.js';
import { decodeReadWriteCdb } from './read-write.js';
import type { ReportLunsCdb } from './report-luns.js';
import { decodeReportLunsCdb } from './report-luns.js';
import type { RequestSenseCdb } from './request-sense.js';
import { decodeRequestSenseCdb } from './request-sense.js';
import type { SynchronizeCacheCdb } from './synchronize-cache.js';
import { decodeSynchronizeCacheCdb } from './synchronize-cache.js';
import type { TestUnitReadyCdb } from './test-unit-ready.js';
import { decodeTestUnitReadyCdb } from './test-unit-ready.js';
import type { UnmapCdb } from './unmap.js';
import { decodeUnmapCdb } from './unmap.js';
import type { WriteSame16Cdb } from './write-same.js';
import { decodeWriteSame16Cdb } from './write-same.js';

/** A CDB whose command is not one of those decoded here. */
export interface UnknownCdb {
  readonly kind: 'unknown';
  readonly opcode: number;
  /** SERVICE ACTION of a SERVICE ACTION IN(16) other than READ CAPACITY(16). */
  readonly serviceAction?: number;
}

/** Any decoded CDB, discriminated by `kind`. */
export type DecodedCdb =
  | TestUnitReadyCdb
  | RequestSenseCdb
  | InquiryCdb
  | ModeSenseCdb
  | ReadCapacity10Cdb
  | ReadCapacity16Cdb
  | ReadWriteCdb
  | SynchronizeCacheCdb
  | UnmapCdb
  | WriteSame16Cdb
  | ReportLunsCdb
  | UnknownCdb;

/**
 * CDB length fixed by the operation code's GROUP CODE (SPC-4 §4.2.5.1): 6, 10, 12 or 16 bytes, or undefined
 * for group 3 (reserved / variable length) and groups 6-7 (vendor specific).
 */
export function cdbLength(opcode: number): number | undefined {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return undefined;
  }
}

/** Decodes `cdb`; unknown commands come back as `{ kind: 'unknown', opcode }`. */
export function decodeCdb(cdb: Uint8Array): DecodedCdb {
  need(cdb, 1, 'CDB');
  const opcode = cdb[0]!;
  const length = cdbLength(opcode);
  if (length === undefined) return { kind: 'unknown', opcode };
  need(cdb, length, `CDB of operation code 0x${opcode.toString(16).padStart(2, '0')}`);
  switch (opcode) {
    case ScsiOpcode.TestUnitReady:
      return decodeTestUnitReadyCdb(cdb);
    case ScsiOpcode.RequestSense:
      return decodeRequestSenseCdb(cdb);
    case ScsiOpcode.Inquiry:
      return decodeInquiryCdb(cdb);
    case ScsiOpcode.ModeSense6:
    case ScsiOpcode.ModeSense10:
      return decodeModeSenseCdb(cdb);
    case ScsiOpcode.ReadCapacity10:
      return decodeReadCapacity10Cdb(cdb);
    case ScsiOpcode.Read10:
    case ScsiOpcode.Read16:
    case ScsiOpcode.Write10:
    case ScsiOpcode.Write16:
      return decodeReadWriteCdb(cdb);
    case ScsiOpcode.SynchronizeCache10:
    case ScsiOpcode.SynchronizeCache16:
      return decodeSynchronizeCacheCdb(cdb);
    case ScsiOpcode.Unmap:
      return decodeUnmapCdb(cdb);
    case ScsiOpcode.WriteSame16:
      return decodeWriteSame16Cdb(cdb);
    case ScsiOpcode.ReportLuns:
      return decodeReportLunsCdb(cdb);
    case ScsiOpcode.ServiceActionIn16: {
      const serviceAction = cdb[1]! & 0x1f;
      if (serviceAction === READ_CAPACITY_16_SERVICE_ACTION) return decodeReadCapacity16Cdb(cdb);
      return { kind: 'unknown', opcode, serviceAction };
    }
    default:
      return { kind: 'unknown', opcode };
  }
}
