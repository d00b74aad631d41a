/**
 * Typed PDUs: one interface per RFC 7143 §11 opcode, joined in the {@link Pdu} union on `kind`.
 * Field names follow the RFC. Lengths (TotalAHSLength, DataSegmentLength) are not fields: they are
 * derived from `ahs` and `data` when encoding and checked when decoding.
 *
 * On the receive path `data` (and AHS payloads) are views into the received buffer, valid for as
 * long as the caller keeps that buffer unchanged; copy them to keep them longer.
 * @module
 */
import type { Ahs } from './ahs.js';

/** Fields every PDU has. */
export interface PduCommon {
  /** Additional Header Segments, in wire order (RFC 7143 §11.2.2). */
  readonly ahs: readonly Ahs[];
  /** The data segment, without padding or digest. */
  readonly data: Uint8Array;
  /** Initiator Task Tag; 0xffffffff is the reserved value (§11.2.1.8). */
  readonly initiatorTaskTag: number;
  /**
   * Only when a lenient decode met them: the 48 BHS bytes XOR what RFC 7143 prescribes for the bits that are
   * not fields (reserved bits that were set, fixed bits that were clear). Encoding applies it back, so a
   * lenient decode re-encodes byte for byte, and a fuzzer can set any reserved bit.
   */
  readonly deviations?: Uint8Array;
}

/** PDUs an initiator may send with the I (immediate delivery) bit. */
interface Immediate {
  /** The I bit (§11.2.1.1): deliver without waiting for CmdSN order. */
  readonly immediate: boolean;
}

/** Target PDUs that carry the status sequence window. */
interface TargetSequence {
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** NOP-Out, §11.18. */
export interface NopOutPdu extends PduCommon, Immediate {
  readonly kind: 'nop-out';
  readonly lun: bigint;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** Task attributes of a SCSI Command (§11.3.1 ATTR). */
export const TaskAttribute = { Untagged: 0, Simple: 1, Ordered: 2, HeadOfQueue: 3, ACA: 4 } as const;

/** SCSI Command, §11.3. `cdb` is the 16 bytes in the BHS; an Extended CDB AHS holds the rest. */
export interface ScsiCommandPdu extends PduCommon, Immediate {
  readonly kind: 'scsi-command';
  /** F: no unsolicited Data-Out follows. */
  readonly final: boolean;
  /** R: data is expected from the target. */
  readonly read: boolean;
  /** W: data is expected from the initiator. */
  readonly write: boolean;
  /** ATTR, 3 bits (see {@link TaskAttribute}). */
  readonly attributes: number;
  readonly lun: bigint;
  readonly expectedDataTransferLength: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  /** Bytes 32-47 of the BHS. */
  readonly cdb: Uint8Array;
}

/** Task Management Function Request, §11.5. */
export interface TaskManagementRequestPdu extends PduCommon, Immediate {
  readonly kind: 'task-management-request';
  /** Function code, 7 bits (§11.5.1): 1 ABORT TASK ... 8 TASK REASSIGN. */
  readonly function: number;
  readonly lun: bigint;
  readonly referencedTaskTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
  readonly refCmdSN: number;
  readonly expDataSN: number;
}

/** Login Request, §11.12. The I bit is always 1 and is not a field. */
export interface LoginRequestPdu extends PduCommon {
  readonly kind: 'login-request';
  /** T: transit to `nextStage`. */
  readonly transit: boolean;
  /** C: the text continues in the next PDU. */
  readonly continue: boolean;
  /** CSG: 0 security negotiation, 1 operational negotiation, 3 full feature phase. */
  readonly currentStage: number;
  /** NSG, meaningful when `transit`. */
  readonly nextStage: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** 48-bit Initiator Session ID (see isid.ts). */
  readonly isid: number;
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** Text Request, §11.10. */
export interface TextRequestPdu extends PduCommon, Immediate {
  readonly kind: 'text-request';
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly targetTransferTag: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** SCSI Data-Out, §11.7. */
export interface DataOutPdu extends PduCommon {
  readonly kind: 'data-out';
  readonly final: boolean;
  readonly lun: bigint;
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
}

/** Logout Request, §11.14. */
export interface LogoutRequestPdu extends PduCommon, Immediate {
  readonly kind: 'logout-request';
  /** Reason code, 7 bits: 0 close session, 1 close connection, 2 remove connection for recovery. */
  readonly reasonCode: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/** SNACK Request, §11.16. */
export interface SnackPdu extends PduCommon {
  readonly kind: 'snack';
  /** Type, 4 bits: 0 Data/R2T, 1 Status, 2 DataACK, 3 R-Data. */
  readonly type: number;
  readonly lun: bigint;
  /** Target Transfer Tag or SNACK Tag. */
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  readonly begRun: number;
  readonly runLength: number;
}

/** NOP-In, §11.19. */
export interface NopInPdu extends PduCommon, TargetSequence {
  readonly kind: 'nop-in';
  readonly lun: bigint;
  readonly targetTransferTag: number;
}

/** SCSI Response, §11.4. The data segment holds SenseLength, sense data and response data. */
export interface ScsiResponsePdu extends PduCommon, TargetSequence {
  readonly kind: 'scsi-response';
  /** o: bidirectional read residual overflow. */
  readonly bidiReadResidualOverflow: boolean;
  /** u: bidirectional read residual underflow. */
  readonly bidiReadResidualUnderflow: boolean;
  /** O: residual overflow. */
  readonly residualOverflow: boolean;
  /** U: residual underflow. */
  readonly residualUnderflow: boolean;
  /** iSCSI service response: 0x00 command completed at target, 0x01 target failure. */
  readonly response: number;
  /** SCSI status byte. */
  readonly status: number;
  readonly snackTag: number;
  readonly expDataSN: number;
  readonly bidiReadResidualCount: number;
  readonly residualCount: number;
}

/** Task Management Function Response, §11.6. */
export interface TaskManagementResponsePdu extends PduCommon, TargetSequence {
  readonly kind: 'task-management-response';
  readonly response: number;
}

/** Login Response, §11.13. */
export interface LoginResponsePdu extends PduCommon, TargetSequence {
  readonly kind: 'login-response';
  readonly transit: boolean;
  readonly continue: boolean;
  readonly currentStage: number;
  readonly nextStage: number;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly isid: number;
  readonly tsih: number;
  readonly statusClass: number;
  readonly statusDetail: number;
}

/** Text Response, §11.11. */
export interface TextResponsePdu extends PduCommon, TargetSequence {
  readonly kind: 'text-response';
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: bigint;
  readonly targetTransferTag: number;
}

/** SCSI Data-In, §11.7. `statSN` and `status` are meaningful when `statusPresent` (S). */
export interface DataInPdu extends PduCommon, TargetSequence {
  readonly kind: 'data-in';
  readonly final: boolean;
  /** A: the target asks for a DataACK SNACK (ERL > 0). */
  readonly acknowledge: boolean;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  /** S: the PDU carries the command's status. */
  readonly statusPresent: boolean;
  readonly status: number;
  readonly lun: bigint;
  readonly targetTransferTag: number;
  readonly dataSN: number;
  readonly bufferOffset: number;
  readonly residualCount: number;
}

/** Logout Response, §11.15. */
export interface LogoutResponsePdu extends PduCommon, TargetSequence {
  readonly kind: 'logout-response';
  readonly response: number;
  readonly time2Wait: number;
  readonly time2Retain: number;
}

/** Ready To Transfer, §11.8. */
export interface R2tPdu extends PduCommon, TargetSequence {
  readonly kind: 'r2t';
  readonly lun: bigint;
  readonly targetTransferTag: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

/** Asynchronous Message, §11.9. The ITT is always 0xffffffff. */
export interface AsyncMessagePdu extends PduCommon, TargetSequence {
  readonly kind: 'async-message';
  readonly lun: bigint;
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
}

/** Reject, §11.17. The data segment is the rejected PDU's header. The ITT is always 0xffffffff. */
export interface RejectPdu extends PduCommon, TargetSequence {
  readonly kind: 'reject';
  readonly reason: number;
  /** DataSN/R2TSN of the rejected PDU, or reserved. */
  readonly dataSN: number;
}

/** PDUs an initiator sends. */
export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TaskManagementRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackPdu;

/** PDUs a target sends. */
export type TargetPdu =
  | NopInPdu
  | ScsiResponsePdu
  | TaskManagementResponsePdu
  | LoginResponsePdu
  | TextResponsePdu
  | DataInPdu
  | LogoutResponsePdu
  | R2tPdu
  | AsyncMessagePdu
  | RejectPdu;

/** Any RFC 7143 PDU, discriminated by `kind`. */
export type Pdu = InitiatorPdu | TargetPdu;

/** The `kind` strings. */
export type PduKind = Pdu['kind'];

/** The PDU type for a given kind. */
export type PduOfKind<K extends PduKind> = Extract<Pdu, { kind: K }>;
