/**
 * How the target answers a finished SCSI command (RFC 7143 §11.4, §11.7): Data-In PDUs no longer than the
 * initiator's MaxRecvDataSegmentLength, the F bit closing each MaxBurstLength sequence (§13.13), DataSN counting
 * from 0, and the status either collapsed into the last Data-In (S bit, §11.7.3: only without sense data) or sent
 * in a SCSI Response with the sense data and the residuals (§11.4.5).
 * @module
 */
import type { DataInPdu, Pdu, ScsiResponsePdu } from '../pdu/types.js';
import { ScsiStatus } from '../scsi/names.js';
import { senseSegment } from '../scsi/sense-encode.js';
import type { ScsiResult } from './scsi/types.js';

const EMPTY = new Uint8Array(0);
const RESERVED_TAG = 0xffffffff;

/** What the answer needs to know about the command and the connection. */
export interface ResponseContext {
  readonly lun: bigint;
  readonly initiatorTaskTag: number;
  /** The command's R bit and Expected Data Transfer Length (the bidirectional read length when both bits are set). */
  readonly read: boolean;
  readonly readLength: number;
  /** The command's W bit and its EDTL. */
  readonly write: boolean;
  readonly writeLength: number;
  /** The initiator's MaxRecvDataSegmentLength. */
  readonly maxSegment: number;
  readonly maxBurst: number;
}

/** The sequence fields of the status-carrying PDU; `statSN` is consumed by it. */
export interface ResponseSequence {
  readonly statSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

interface Residual {
  readonly overflow: boolean;
  readonly underflow: boolean;
  readonly count: number;
}

/** §11.4.5: overflow when the command wanted more than the EDTL, underflow when less. */
function residual(wanted: number, expected: number): Residual {
  if (wanted > expected) return { overflow: true, underflow: false, count: wanted - expected };
  if (wanted < expected) return { overflow: false, underflow: true, count: expected - wanted };
  return { overflow: false, underflow: false, count: 0 };
}

/** GOOD, CONDITION MET, INTERMEDIATE, INTERMEDIATE-CONDITION MET (SAM-5 §5.3.1). */
const GOOD_STATUSES: ReadonlySet<number> = new Set([ScsiStatus.Good, ScsiStatus.ConditionMet, 0x10, 0x14]);

const NONE: Residual = { overflow: false, underflow: false, count: 0 };

/** The PDUs answering one command, status last. */
export function buildResponse(ctx: ResponseContext, result: ScsiResult, seq: ResponseSequence): Pdu[] {
  const data = ctx.read ? (result.data ?? EMPTY) : EMPTY;
  const sent = Math.min(data.length, ctx.readLength);
  const readResidual = ctx.read ? residual(data.length, ctx.readLength) : NONE;
  const writeResidual = ctx.write ? residual(result.dataOutLength ?? ctx.writeLength, ctx.writeLength) : NONE;
  const hasSense = result.sense !== undefined && result.sense.length > 0;
  // §11.7.3: status may ride on the last Data-In only when there is no sense and no bidirectional residual to tell,
  // and §11.7.4 only for a command that did not end with an exception (GOOD, CONDITION MET, INTERMEDIATE[-CONDITION
  // MET]); BUSY, RESERVATION CONFLICT, TASK SET FULL... go in a SCSI Response.
  const collapse = sent > 0 && !hasSense && !ctx.write && GOOD_STATUSES.has(result.status);
  const out: Pdu[] = [];
  let dataSN = 0;
  for (let offset = 0; offset < sent; ) {
    const burstEnd = Math.min(sent, offset - (offset % ctx.maxBurst) + ctx.maxBurst);
    const end = Math.min(burstEnd, offset + ctx.maxSegment);
    const last = end === sent;
    const status = last && collapse;
    const pdu: DataInPdu = {
      kind: 'data-in',
      final: end === burstEnd,
      acknowledge: false,
      residualOverflow: status && readResidual.overflow,
      residualUnderflow: status && readResidual.underflow,
      statusPresent: status,
      status: status ? result.status : 0,
      lun: ctx.lun,
      initiatorTaskTag: ctx.initiatorTaskTag,
      targetTransferTag: RESERVED_TAG,
      // §11.7.4: StatSN is meaningful only with the S bit; the window fields always are.
      statSN: status ? seq.statSN : 0,
      expCmdSN: seq.expCmdSN,
      maxCmdSN: seq.maxCmdSN,
      dataSN,
      bufferOffset: offset,
      residualCount: status ? readResidual.count : 0,
      ahs: [],
      data: data.subarray(offset, end),
    };
    out.push(pdu);
    dataSN = (dataSN + 1) >>> 0;
    offset = end;
  }
  if (collapse) return out;
  // Bidirectional commands report the read residual in the o/u bits and the write residual in O/U (§11.4.5.2).
  const bidi = ctx.read && ctx.write;
  const main = ctx.write ? writeResidual : readResidual;
  const response: ScsiResponsePdu = {
    kind: 'scsi-response',
    bidiReadResidualOverflow: bidi && readResidual.overflow,
    bidiReadResidualUnderflow: bidi && readResidual.underflow,
    residualOverflow: main.overflow,
    residualUnderflow: main.underflow,
    response: 0,
    status: result.status,
    initiatorTaskTag: ctx.initiatorTaskTag,
    snackTag: 0,
    statSN: seq.statSN,
    expCmdSN: seq.expCmdSN,
    maxCmdSN: seq.maxCmdSN,
    // §11.4.8: ExpDataSN is the number of Data-In PDUs sent for the command.
    expDataSN: dataSN,
    bidiReadResidualCount: bidi ? readResidual.count : 0,
    residualCount: main.count,
    ahs: [],
    data: hasSense ? senseSegment(result.sense!) : EMPTY,
  };
  out.push(response);
  return out;
}
