/**
 * The target's side of a write (RFC 7143 §11.7, §11.8, §13.10-§13.17): collects the Data-Out of one
 * SCSI command into a buffer of its Expected Data Transfer Length — immediate data, then unsolicited Data-Out up
 * to FirstBurstLength, then solicited bursts of at most MaxBurstLength asked for with R2Ts, at most
 * MaxOutstandingR2T at a time (§13.17). Sans-IO: it returns the R2Ts to send and never touches a socket.
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import type { DataOutPdu } from '../pdu/types.js';

/** The reserved tag value (§11.2.1.8): on Data-Out, unsolicited data. */
export const RESERVED_TAG = 0xffffffff;

/** Limits from the session's negotiated parameters. */
export interface CollectorLimits {
  readonly immediateData: boolean;
  readonly initialR2T: boolean;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly maxOutstandingR2T: number;
}

/** One R2T to send: the engine adds the LUN, ITT and sequence numbers. */
export interface R2tRequest {
  readonly targetTransferTag: number;
  readonly r2tSN: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}

interface Burst {
  readonly ttt: number;
  readonly start: number;
  readonly end: number;
  next: number;
  dataSN: number;
}

/** A Data-Out (or immediate data) that breaks the rules; the engine rejects it (§11.17: reason 0x09 or 0x04). */
export class DataOutError extends ProtocolError {
  override name = 'DataOutError';
  constructor(
    message: string,
    /** Reject reason: 0x04 protocol error, 0x09 invalid PDU field. */
    readonly reason: number,
  ) {
    super(ErrorCode.PduField, message);
  }
}

/** Collects one command's Data-Out; see the module documentation. */
export class DataOutCollector {
  readonly buffer: Uint8Array;
  readonly #limits: CollectorLimits;
  readonly #allocateTag: () => number;
  #received = 0;
  #unsolicited: Burst | undefined;
  /** Next offset not yet asked for with an R2T. */
  #solicitNext: number;
  #r2tSN = 0;
  readonly #bursts = new Map<number, Burst>();

  /**
   * @param length the command's Expected Data Transfer Length
   * @param immediate the SCSI Command's data segment
   * @param final the command's F bit: no unsolicited Data-Out follows
   * @param allocateTag a new Target Transfer Tag, never 0xffffffff
   */
  constructor(
    length: number,
    immediate: Uint8Array,
    final: boolean,
    limits: CollectorLimits,
    allocateTag: () => number,
  ) {
    // A write carried whole as immediate data keeps the received bytes (a fresh socket chunk or the framer's own
    // copy, never reused): no second copy. Otherwise the Data-Out is gathered into a buffer of the EDTL.
    this.buffer = immediate.length === length && length > 0 ? immediate : new Uint8Array(length);
    this.#limits = limits;
    this.#allocateTag = allocateTag;
    if (immediate.length > 0) {
      // §13.11: immediate data only when ImmediateData=Yes; §13.14: at most FirstBurstLength, and never beyond EDTL.
      if (!limits.immediateData) throw new DataOutError('immediate data sent with ImmediateData=No', 0x04);
      if (immediate.length > Math.min(length, limits.firstBurstLength)) {
        throw new DataOutError(`${immediate.length} bytes of immediate data exceed the EDTL or FirstBurstLength`, 0x09);
      }
      if (this.buffer !== immediate) this.buffer.set(immediate);
      this.#received = immediate.length;
    }
    // §13.10: with InitialR2T=No and F=0, unsolicited Data-Out follows up to FirstBurstLength in all.
    const unsolicitedOut = !final && !limits.initialR2T;
    if (!final && limits.initialR2T) throw new DataOutError('F=0 on a command while InitialR2T=Yes', 0x04);
    const unsolicitedEnd = Math.min(length, limits.firstBurstLength);
    if (unsolicitedOut && unsolicitedEnd > immediate.length) {
      const start = immediate.length;
      this.#unsolicited = { ttt: RESERVED_TAG, start, end: unsolicitedEnd, next: start, dataSN: 0 };
    }
    this.#solicitNext = immediate.length;
  }

  /** Whether every byte of the EDTL has arrived. */
  get complete(): boolean {
    return this.#received >= this.buffer.length;
  }

  /** The R2Ts to send now (after the command, and after each completed burst). */
  solicit(): R2tRequest[] {
    // Solicited data starts only once the unsolicited sequence is over: its end is where the R2Ts begin.
    if (this.#unsolicited) return [];
    const out: R2tRequest[] = [];
    while (this.#solicitNext < this.buffer.length && this.#bursts.size < this.#limits.maxOutstandingR2T) {
      const start = this.#solicitNext;
      const end = Math.min(this.buffer.length, start + this.#limits.maxBurstLength);
      const ttt = this.#allocateTag();
      this.#bursts.set(ttt, { ttt, start, end, next: start, dataSN: 0 });
      this.#solicitNext = end;
      out.push({
        targetTransferTag: ttt,
        r2tSN: this.#r2tSN,
        bufferOffset: start,
        desiredDataTransferLength: end - start,
      });
      this.#r2tSN = (this.#r2tSN + 1) >>> 0;
    }
    return out;
  }

  /** Target Transfer Tags of the R2Ts still open (the engine routes Data-Out by them). */
  tags(): IterableIterator<number> {
    return this.#bursts.keys();
  }

  /**
   * Takes one Data-Out PDU. Returns true when it ended its burst (the engine then calls {@link solicit}).
   * @throws DataOutError when its TTT, DataSN, offset or length break §11.7 (DataPDUInOrder=Yes is negotiated).
   */
  receive(pdu: DataOutPdu): boolean {
    const burst = pdu.targetTransferTag === RESERVED_TAG ? this.#unsolicited : this.#bursts.get(pdu.targetTransferTag);
    if (!burst) {
      throw new DataOutError(
        pdu.targetTransferTag === RESERVED_TAG
          ? 'unsolicited Data-Out not allowed for this command'
          : `Data-Out with unknown Target Transfer Tag 0x${pdu.targetTransferTag.toString(16)}`,
        0x09,
      );
    }
    // §11.7.5: DataSN counts from 0 in each burst; §13.18 DataPDUInOrder=Yes: offsets increase without gaps.
    if (pdu.dataSN !== burst.dataSN) {
      throw new DataOutError(`Data-Out DataSN ${pdu.dataSN}, expected ${burst.dataSN}`, 0x09);
    }
    if (pdu.bufferOffset !== burst.next) {
      throw new DataOutError(`Data-Out BufferOffset ${pdu.bufferOffset}, expected ${burst.next}`, 0x09);
    }
    const end = burst.next + pdu.data.length;
    if (end > burst.end) {
      throw new DataOutError(`Data-Out runs to offset ${end}, past the end of its burst at ${burst.end}`, 0x09);
    }
    const unsolicited = burst === this.#unsolicited;
    // The unsolicited sequence may stop short of FirstBurstLength (F=1); the rest is then solicited (§13.14).
    const done = end === burst.end || (unsolicited && pdu.final);
    if (pdu.final !== done) {
      throw new DataOutError(
        done ? 'last Data-Out of a burst without the F bit' : 'F bit before the end of the burst',
        0x09,
      );
    }
    this.buffer.set(pdu.data, burst.next);
    burst.next = end;
    burst.dataSN = (burst.dataSN + 1) >>> 0;
    this.#received += pdu.data.length;
    if (!done) return false;
    if (unsolicited) {
      this.#unsolicited = undefined;
      this.#solicitNext = end;
    } else this.#bursts.delete(burst.ttt);
    return true;
  }
}
