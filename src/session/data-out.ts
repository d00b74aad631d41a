/**
 * The write side of a command (RFC 7143 §11.7, §11.8, §13.10-§13.14): how much data goes unsolicited (immediate
 * data in the SCSI Command, then unsolicited Data-Out), the checks an R2T must pass, and the Data-Out PDUs of one
 * sequence. Pure functions: the PDUs reference the caller's buffer (no copy) and are sent by the session.
 * @module
 */
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../errors.js';
import { Opcode } from '../pdu/opcodes.js';
import type { DataOutPdu, R2tPdu } from '../pdu/types.js';
import type { NegotiatedParameters } from './params.js';

/** The reserved tag value (§11.2.1.8): an ITT or TTT that refers to nothing. */
export const RESERVED_TAG = 0xffffffff;

/** The negotiated values that shape a write. */
export type WriteParameters = Pick<
  NegotiatedParameters,
  'initialR2T' | 'immediateData' | 'firstBurstLength' | 'maxBurstLength' | 'maxXmitDataSegmentLength'
>;

/** How much of a write travels without an R2T. */
export interface UnsolicitedPlan {
  /** Bytes carried in the SCSI Command's data segment (immediate data, §13.11). */
  readonly immediate: number;
  /**
   * End offset of the unsolicited data: Data-Out PDUs with TTT 0xffffffff cover `[immediate, unsolicitedEnd)`.
   * Equal to `immediate` when no unsolicited Data-Out follows (then the command's F bit is set).
   */
  readonly unsolicitedEnd: number;
}

/**
 * The unsolicited part of a write of `length` bytes. FirstBurstLength bounds all unsolicited data, immediate data
 * included (§13.14); immediate data also fits one data segment of the target's MaxRecvDataSegmentLength (§13.12);
 * with InitialR2T=Yes nothing but immediate data goes unsolicited (§13.10).
 */
export function planUnsolicited(params: WriteParameters, length: number): UnsolicitedPlan {
  const first = Math.min(length, params.firstBurstLength);
  const immediate = params.immediateData ? Math.min(first, params.maxXmitDataSegmentLength) : 0;
  return { immediate, unsolicitedEnd: params.initialR2T ? immediate : first };
}

/** One Data-Out sequence: the unsolicited data of a command, or the answer to one R2T. */
export interface DataOutSequence {
  readonly initiatorTaskTag: number;
  readonly lun: bigint;
  /** The R2T's TTT, or 0xffffffff for unsolicited data (§11.7.4). */
  readonly targetTransferTag: number;
  readonly expStatSN: number;
  /** The whole write buffer; PDUs carry views of it. */
  readonly data: Uint8Array;
  /** First byte of the sequence in `data` (the BufferOffset of its first PDU). */
  readonly offset: number;
  readonly length: number;
  /** Largest data segment: the target's MaxRecvDataSegmentLength. */
  readonly maxSegment: number;
}

const NO_AHS: DataOutPdu['ahs'] = Object.freeze([]);

/**
 * The Data-Out PDUs of one sequence, in order: segments of at most `maxSegment` bytes, DataSN counting from 0 within
 * the sequence (§11.7.5), BufferOffset from the start of the command's buffer (§11.7.6), F on the last one (§11.7.1).
 */
export function dataOutSequence(s: DataOutSequence): DataOutPdu[] {
  if (!(s.maxSegment > 0)) throw new InvalidArgumentError(`maxSegment ${s.maxSegment} must be positive`);
  const end = s.offset + s.length;
  const pdus: DataOutPdu[] = [];
  let dataSN = 0;
  for (let at = s.offset; at < end; at += s.maxSegment) {
    const stop = Math.min(end, at + s.maxSegment);
    pdus.push({
      kind: 'data-out',
      final: stop === end,
      lun: s.lun,
      initiatorTaskTag: s.initiatorTaskTag,
      targetTransferTag: s.targetTransferTag,
      expStatSN: s.expStatSN,
      dataSN: dataSN++,
      bufferOffset: at,
      ahs: NO_AHS,
      data: s.data.subarray(at, stop),
    });
  }
  return pdus;
}

/**
 * Checks an R2T against the command it names (§11.8): a valid TTT, a non-zero Desired Data Transfer Length of at
 * most MaxBurstLength (§13.13), and a range inside the command's write data. Returns the violation, if any.
 */
export function checkR2t(r2t: R2tPdu, transferLength: number, maxBurstLength: number): ProtocolError | undefined {
  const bad = (what: string, got: number, limit: number) =>
    new ProtocolError(ErrorCode.PduField, `R2T ${what}`, { opcode: Opcode.R2t, got, limit });
  if (r2t.targetTransferTag === RESERVED_TAG) return bad('with the reserved TTT 0xffffffff', RESERVED_TAG, 0);
  const { bufferOffset: offset, desiredDataTransferLength: length } = r2t;
  if (length === 0) return bad('asks for 0 bytes', 0, 1);
  if (length > maxBurstLength) return bad('asks for more than MaxBurstLength', length, maxBurstLength);
  if (offset + length > transferLength) {
    return bad('reaches beyond the write data', offset + length, transferLength);
  }
  return undefined;
}
