/**
 * The read side of a command (RFC 7143 §11.7): Data-In segments placed into the command's buffer by BufferOffset,
 * with bounds and overlap checks, and the SCSI Response data segment (sense data, §11.4.7).
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import { Opcode } from '../pdu/opcodes.js';

const bad = (message: string, opcode: number, got: number, limit: number) =>
  new ProtocolError(ErrorCode.PduField, message, { opcode, got, limit });

/**
 * A read buffer being filled by Data-In PDUs. With DataPDUInOrder=Yes (and DataSequenceInOrder=Yes, which a
 * single-connection ERL 0 session uses) every segment must start where the previous one ended (§13.18: continuously
 * increasing addresses, no overlays). With DataPDUInOrder=No segments may come in any order; they must still not
 * overlap, since nothing is retransmitted at ERL 0. Either way no byte is written outside the buffer.
 */
export class DataInBuffer {
  /** The caller's buffer (or one allocated for the command); its length is the expected read length. */
  readonly buffer: Uint8Array;
  readonly #inOrder: boolean;
  /** Covered ranges as sorted, disjoint, non-adjacent [start, end) pairs, flattened. */
  readonly #ranges: number[] = [];
  #bytes = 0;

  constructor(buffer: Uint8Array, inOrder: boolean) {
    this.buffer = buffer;
    this.#inOrder = inOrder;
  }

  /** Bytes placed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Length of the prefix of the buffer that is filled without a hole. */
  get contiguous(): number {
    return this.#ranges[0] === 0 ? this.#ranges[1]! : 0;
  }

  /**
   * Copies one Data-In segment to `offset`. When `data` already is that part of the buffer (the framer placed it
   * there, see {@link DataInBuffer.slot}), nothing is copied; the checks are the same.
   * @throws {ProtocolError} when it reaches beyond the expected length, overlaps earlier data, or (in order) does
   * not start where the previous segment ended.
   */
  place(offset: number, data: Uint8Array): void {
    const length = data.length;
    const err = this.#refusal(offset, length);
    if (err) throw err;
    if (length === 0) return;
    this.#cover(offset, offset + length);
    const buffer = this.buffer;
    if (data.buffer !== buffer.buffer || data.byteOffset !== buffer.byteOffset + offset) buffer.set(data, offset);
    this.#bytes += length;
  }

  /**
   * The part of the buffer where `length` bytes at `offset` would go, when {@link DataInBuffer.place} would accept
   * them now; undefined otherwise (and for an empty segment). Changes nothing: the segment still has to be placed.
   */
  slot(offset: number, length: number): Uint8Array | undefined {
    if (length === 0 || this.#refusal(offset, length)) return undefined;
    return this.buffer.subarray(offset, offset + length);
  }

  /** Why a segment of `length` bytes at `offset` cannot be placed now, or undefined when it can. */
  #refusal(offset: number, length: number): ProtocolError | undefined {
    const end = offset + length;
    if (end > this.buffer.length) {
      return bad(
        `Data-In at offset ${offset} (${length} bytes) overflows the ${this.buffer.length}-byte read`,
        Opcode.DataIn,
        end,
        this.buffer.length,
      );
    }
    if (length === 0) return undefined;
    if (this.#inOrder && offset !== this.contiguous) {
      return bad(
        `Data-In at offset ${offset}, expected ${this.contiguous} (DataPDUInOrder=Yes)`,
        Opcode.DataIn,
        offset,
        this.contiguous,
      );
    }
    const r = this.#ranges;
    // Common case: the segment continues the last range (in-order data).
    if (r.length > 0 && r[r.length - 1] === offset) return undefined;
    // The first range that ends after `offset` must begin at or after `end`.
    let j = 0;
    while (j < r.length && r[j + 1]! <= offset) j += 2;
    if (j < r.length && r[j]! < end) {
      return bad(`Data-In [${offset}, ${end}) overlaps data already received`, Opcode.DataIn, offset, r[j]!);
    }
    return undefined;
  }

  /** Adds [start, end), which overlaps nothing (see #refusal), to the covered ranges, merging neighbours. */
  #cover(start: number, end: number): void {
    const r = this.#ranges;
    if (r.length > 0 && r[r.length - 1] === start) {
      r[r.length - 1] = end;
      return;
    }
    // i: the first range that ends at or after `start`; every range before it ends before `start`.
    let i = 0;
    while (i < r.length && r[i + 1]! < start) i += 2;
    const joinsLeft = i < r.length && r[i + 1] === start;
    const j = joinsLeft ? i + 2 : i;
    const joinsRight = j < r.length && r[j] === end;
    if (joinsLeft && joinsRight)
      r.splice(i + 1, 2); // [a, start) + [start, end) + [end, b) → [a, b)
    else if (joinsLeft) r[i + 1] = end;
    else if (joinsRight) r[j] = start;
    else r.splice(i, 0, start, end);
  }
}

/** The parts of a SCSI Response data segment (§11.4.7). */
export interface ResponseData {
  /** Sense data (a copy), when SenseLength > 0. */
  readonly sense: Uint8Array | undefined;
  /** Response data after the sense data (a copy), when present. */
  readonly responseData: Uint8Array | undefined;
}

/**
 * Splits a SCSI Response data segment: a 2-byte SenseLength, that many bytes of sense data, then response data.
 * @throws {ProtocolError} when SenseLength exceeds the segment.
 */
export function parseResponseData(data: Uint8Array): ResponseData {
  if (data.length === 0) return { sense: undefined, responseData: undefined };
  if (data.length < 2) throw bad('SCSI Response data segment shorter than SenseLength', Opcode.ScsiResponse, 1, 2);
  const senseLength = (data[0]! << 8) | data[1]!;
  if (2 + senseLength > data.length) {
    throw bad(
      `SenseLength ${senseLength} exceeds the ${data.length}-byte data segment`,
      Opcode.ScsiResponse,
      senseLength,
      data.length - 2,
    );
  }
  return {
    // Uint8Array's slice copies; a Buffer's (the received chunk) would be a view.
    sense: senseLength > 0 ? Uint8Array.prototype.slice.call(data, 2, 2 + senseLength) : undefined,
    responseData: 2 + senseLength < data.length ? Uint8Array.prototype.slice.call(data, 2 + senseLength) : undefined,
  };
}
