/**
 * The SCSI device server of the embedded target (SAM-5 §4.6): what the iSCSI session layer hands it, what it
 * answers, and the shape of its command table. The device server owns no socket and no iSCSI state; the session
 * layer collects Data-Out before calling it and splits its Data-In into PDUs.
 * @module
 */
import type { BlockBackend } from '../backend/types.js';

/**
 * The I_T nexus a command arrived on (SAM-5 §4.7): unit attentions, RESERVE(6) and persistent reservations are kept
 * per nexus.
 */
export interface Nexus {
  /** The SCSI initiator port name: `InitiatorName,i,0x<ISID as 12 hex digits>` (RFC 7143 §4.4.2, SPC-4 §7.6.4.6). */
  readonly initiatorPort: string;
  /** The iSCSI InitiatorName alone (for TransportID in PERSISTENT RESERVE IN READ FULL STATUS). */
  readonly initiatorName: string;
  /** The ISID, as a 48-bit number. */
  readonly isid: number;
  /** The relative target port identifier (1-based; the portal group of the session). */
  readonly relativeTargetPort: number;
}

/** SAM-5 task attributes of a SCSI Command PDU (RFC 7143 §11.3.1 ATTR). */
export type TaskAttribute = 'untagged' | 'simple' | 'ordered' | 'head-of-queue' | 'aca';

/** One command for the device server. */
export interface ScsiRequest {
  /** The LUN as a flat number (SAM-5 single level, 0..16383). */
  readonly lun: number;
  /** The CDB as received (16 bytes or longer with an extended-CDB AHS; its opcode gives the real length). */
  readonly cdb: Uint8Array;
  readonly nexus: Nexus;
  /** Expected Data Transfer Length for Data-In: the most bytes the initiator accepts (RFC 7143 §11.3.4). */
  readonly dataInLength: number;
  /** The complete Data-Out (empty when the command carries none). */
  readonly dataOut: Uint8Array;
  readonly attribute: TaskAttribute;
}

/**
 * The device server's answer. The session layer sends `data` (truncated to the EDTL, with the residual counted)
 * and then the status, with `sense` in the SCSI Response segment when the status is CHECK CONDITION.
 */
export interface ScsiResult {
  readonly status: number;
  /** Sense data (fixed or descriptor format), without the 2-byte SenseLength. */
  readonly sense?: Uint8Array;
  /**
   * Data-In: what the command transfers (at most its allocation length). The session layer sends at most the
   * EDTL and reports the difference as a residual (RFC 7143 §11.4.5).
   */
  readonly data?: Uint8Array;
  /**
   * For commands with Data-Out: the bytes the CDB asked for (e.g. blocks × block size). The session layer reports
   * the difference from the EDTL as a residual overflow or underflow (§11.4.5); absent means "the EDTL".
   */
  readonly dataOutLength?: number;
}

/** Identity of a logical unit: INQUIRY and VPD 0x80 / 0x83 are built from it. */
export interface LuIdentity {
  /** T10 vendor identification, up to 8 ASCII characters. */
  readonly vendor: string;
  /** Product identification, up to 16 ASCII characters. */
  readonly product: string;
  /** Product revision level, up to 4 ASCII characters. */
  readonly revision: string;
  /** Unit serial number (VPD 0x80), printable ASCII. */
  readonly serial: string;
  /** A 64-bit NAA (type 5 or 6 high 64 bits) designator unique to this LU, for VPD 0x83. */
  readonly naa: bigint;
  /** The iSCSI target name (VPD 0x83 SCSI name string designator of the target port/device). */
  readonly targetName: string;
}

/** Limits a logical unit advertises in the Block Limits VPD page (SBC-3 §6.6.4) and enforces. */
export interface LuLimits {
  /** MAXIMUM TRANSFER LENGTH in blocks for READ/WRITE/VERIFY; larger requests get INVALID FIELD IN CDB. */
  readonly maxTransferBlocks: number;
  /** OPTIMAL TRANSFER LENGTH in blocks. */
  readonly optimalTransferBlocks: number;
  /** MAXIMUM UNMAP LBA COUNT. */
  readonly maxUnmapBlocks: number;
  /** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
  readonly maxUnmapDescriptors: number;
  /** MAXIMUM WRITE SAME LENGTH in blocks. */
  readonly maxWriteSameBlocks: number;
  /** MAXIMUM COMPARE AND WRITE LENGTH in blocks (1..255). */
  readonly maxCompareAndWriteBlocks: number;
}

/** What a command handler sees of its logical unit. */
export interface LuContext {
  readonly lun: number;
  readonly backend: BlockBackend;
  /** Logical block length in bytes (512 or 4096, or any power of two 512..65536). */
  readonly blockSize: number;
  /** Number of logical blocks (`backend.size / blockSize`). */
  readonly blocks: bigint;
  readonly identity: LuIdentity;
  readonly limits: LuLimits;
  /** Writes refused with DATA PROTECT / WRITE PROTECTED (the backend's or the LU's own setting). */
  readonly readOnly: boolean;
  /** The caching mode page's WCE bit (changeable through MODE SELECT). */
  readonly writeCacheEnabled: boolean;
}

/** A command handler: validates the CDB and its parameter data, acts, and answers; never throws for bad input. */
export type CommandHandler = (lu: LuContext, request: ScsiRequest) => ScsiResult | Promise<ScsiResult>;

/** How a command interacts with reservations (SPC-4 §5.9.1 table 47, simplified to what a disk needs). */
export type ReservationClass =
  /** Allowed whatever the reservation (INQUIRY, REPORT LUNS, REQUEST SENSE, ...). */
  | 'allowed'
  /** Reads the medium: conflicts with Exclusive Access reservations held by another nexus. */
  | 'read'
  /** Changes the medium or the LU's state: conflicts with Write Exclusive and Exclusive Access. */
  | 'write';

/** One row of a device server's command table (also the source of REPORT SUPPORTED OPERATION CODES). */
export interface CommandEntry {
  readonly opcode: number;
  /** For opcodes whose service action selects the command (SERVICE ACTION IN(16), MAINTENANCE IN, PR IN/OUT). */
  readonly serviceAction?: number;
  readonly name: string;
  /** CDB length in bytes. */
  readonly cdbLength: number;
  /**
   * CDB USAGE DATA for REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35.3): byte 0 is the opcode, then for each byte
   * the bits a device server looks at. Its length is `cdbLength`.
   */
  readonly usage: Uint8Array;
  readonly reservation: ReservationClass;
  /** Runs even while a unit attention is pending (INQUIRY, REPORT LUNS, REQUEST SENSE: SAM-5 §5.14). */
  readonly ignoresUnitAttention?: boolean;
  readonly handler: CommandHandler;
}
