/**
 * The framer: a TCP byte stream in, whole PDUs out (RFC 7143 §11.2), in pull mode so the caller can change
 * digests and limits between two PDUs (digests start right after the last Login Response, §13.1).
 *
 * ```ts
 * framer.push(chunk);
 * for (let f = framer.next(); f; f = framer.next()) handle(f.pdu);
 * ```
 * `push` only queues; `next` decodes one PDU when all its bytes are there. A PDU that arrived inside one chunk
 * is handed out as views of that chunk (no copy); one that spans chunks is copied once into a buffer of exactly
 * its size, after its lengths were checked against the limits. The caller controls how much is queued by how
 * it reads (socket backpressure); {@link Framer.bufferedBytes} tells how much is waiting.
 * @module
 */
import { ErrorCode, InvalidArgumentError, type IscsiError, ProtocolError } from '../errors.js';
import { pad4 } from './ahs.js';
import { BHS_LENGTH, dataSegmentLength, MAX_DATA_SEGMENT_LENGTH, totalAhsLength } from './bhs.js';
import { readDigest } from './crc32c.js';
import { checkDigest, checkPadding, decodeParts } from './decode.js';
import type { Sender } from './opcodes.js';
import { type Report, throwViolation } from './report.js';
import type { Pdu } from './types.js';

/** Before MaxRecvDataSegmentLength is negotiated, data segments above this are refused (RFC 7143 §13.12 default). */
export const DEFAULT_MAX_DATA_SEGMENT_LENGTH = 8192;

/** Framer settings; all can be changed between PDUs with {@link Framer.configure}. */
export interface FramerOptions {
  /** Incoming PDUs carry a CRC32C header digest. */
  readonly headerDigest?: boolean;
  /** Incoming PDUs with data carry a CRC32C data digest. */
  readonly dataDigest?: boolean;
  /** Largest accepted DataSegmentLength: our declared MaxRecvDataSegmentLength (default 8192). */
  readonly maxDataSegmentLength?: number;
  /** The side sending the PDUs read here; PDUs of the other side are violations. */
  readonly sender?: Sender;
}

/** One framed PDU. */
export interface FramedPdu {
  readonly pdu: Pdu;
  /** The whole PDU as received, digests and padding included. */
  readonly wire: Uint8Array;
}

/** One PDU framed leniently: decoded if possible, with every violation found. */
export interface LenientFramedPdu {
  readonly pdu: Pdu | undefined;
  readonly wire: Uint8Array;
  readonly violations: readonly IscsiError[];
}

/** Turns a byte stream into PDUs. See the module documentation. */
export class Framer {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #failed: IscsiError | undefined;
  #headerDigest: boolean;
  #dataDigest: boolean;
  #maxData: number;
  #sender: Sender | undefined;
  readonly #head = new Uint8Array(BHS_LENGTH);

  constructor(options: FramerOptions = {}) {
    this.#headerDigest = false;
    this.#dataDigest = false;
    this.#maxData = DEFAULT_MAX_DATA_SEGMENT_LENGTH;
    this.configure(options);
  }

  /** Changes settings; they apply from the next PDU on. */
  configure(options: FramerOptions): void {
    if (options.headerDigest !== undefined) this.#headerDigest = options.headerDigest;
    if (options.dataDigest !== undefined) this.#dataDigest = options.dataDigest;
    if (options.sender !== undefined) this.#sender = options.sender;
    const max = options.maxDataSegmentLength;
    if (max !== undefined) {
      if (!Number.isInteger(max) || max < 0 || max > MAX_DATA_SEGMENT_LENGTH) {
        throw new InvalidArgumentError(`maxDataSegmentLength ${max} out of range`);
      }
      this.#maxData = max;
    }
  }

  /** Bytes queued and not yet handed out. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Queues received bytes. The chunk must not be modified while PDUs that view it are in use. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The next whole PDU, or undefined until more bytes arrive.
   * @throws {ProtocolError} on a malformed or oversized PDU, {@link DigestError} on a digest mismatch. After a
   * data digest error the stream is still in step and `next` may be called again (RFC 7143 §7.8); after any other
   * error the framer stays failed.
   */
  next(): FramedPdu | undefined {
    const wire = this.#take();
    if (wire === undefined) return undefined;
    return { pdu: this.#decode(wire, throwViolation)!, wire };
  }

  /** Like {@link Framer.next} but collects rule violations instead of throwing them; framing errors still throw. */
  nextLenient(): LenientFramedPdu | undefined {
    const wire = this.#take();
    if (wire === undefined) return undefined;
    const violations: IscsiError[] = [];
    try {
      return { pdu: this.#decode(wire, (v) => violations.push(v)), wire, violations };
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return { pdu: undefined, wire, violations: [...violations, err] };
    }
  }

  /** Returns the bytes of the next whole PDU and consumes them, or undefined when incomplete. */
  #take(): Uint8Array | undefined {
    if (this.#failed) throw this.#failed;
    if (this.#buffered < BHS_LENGTH) return undefined;
    const first = this.#chunks[0]!;
    let head: Uint8Array;
    if (first.length - this.#offset >= BHS_LENGTH) head = first.subarray(this.#offset, this.#offset + BHS_LENGTH);
    else {
      this.#copyOut(this.#head, BHS_LENGTH, false);
      head = this.#head;
    }
    const dsl = dataSegmentLength(head);
    if (dsl > this.#maxData) {
      this.#failed = new ProtocolError(
        ErrorCode.PduTooLarge,
        `DataSegmentLength ${dsl} exceeds MaxRecvDataSegmentLength ${this.#maxData}`,
        { opcode: head[0]! & 0x3f, offset: 5, got: dsl, limit: this.#maxData },
      );
      throw this.#failed;
    }
    const total =
      BHS_LENGTH +
      totalAhsLength(head) +
      (this.#headerDigest ? 4 : 0) +
      pad4(dsl) +
      (this.#dataDigest && dsl > 0 ? 4 : 0);
    if (this.#buffered < total) return undefined;
    if (first.length - this.#offset >= total) {
      const wire = first.subarray(this.#offset, this.#offset + total);
      this.#consume(total);
      return wire;
    }
    // Filled completely below, so it need not be zeroed first.
    const scratch = Buffer.allocUnsafe(total);
    const wire = new Uint8Array(scratch.buffer, scratch.byteOffset, total);
    this.#copyOut(wire, total, true);
    return wire;
  }

  /** Copies the next `n` queued bytes into `out`, consuming them when `consume` is set. */
  #copyOut(out: Uint8Array, n: number, consume: boolean): void {
    let filled = 0;
    let index = 0;
    let offset = this.#offset;
    while (filled < n) {
      const c = this.#chunks[index]!;
      const take = Math.min(c.length - offset, n - filled);
      out.set(c.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (offset === c.length) {
        index++;
        offset = 0;
      }
    }
    if (consume) this.#consume(n);
  }

  #consume(n: number): void {
    this.#buffered -= n;
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0]!;
      const here = c.length - this.#offset;
      if (here > left) {
        this.#offset += left;
        return;
      }
      left -= here;
      this.#chunks.shift();
      this.#offset = 0;
    }
  }

  #decode(wire: Uint8Array, report: Report): Pdu {
    const headerEnd = BHS_LENGTH + totalAhsLength(wire);
    const header = wire.subarray(0, headerEnd);
    let at = headerEnd;
    if (this.#headerDigest) {
      try {
        checkDigest('header', header, readDigest(wire, at), wire, report);
      } catch (err) {
        // No header field can be trusted, so neither can the stream position (RFC 7143 §7.8).
        this.#failed = err as IscsiError;
        throw err;
      }
      at += 4;
    }
    const dsl = dataSegmentLength(wire);
    const padded = wire.subarray(at, at + pad4(dsl));
    checkPadding(padded, dsl, wire[0]! & 0x3f, report);
    if (this.#dataDigest && dsl > 0) checkDigest('data', padded, readDigest(wire, at + padded.length), wire, report);
    return decodeParts(header, padded.subarray(0, dsl), report, this.#sender);
  }
}

/**
 * Frames PDUs from a byte source such as a `net.Socket`. The source is read only as fast as PDUs are taken
 * (backpressure: a paused consumer leaves bytes in the socket and TCP closes the window), and PDUs are decoded
 * one at a time, so the consumer may call `framer.configure` between two PDUs.
 */
export async function* framePdus(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  framer: Framer = new Framer(),
): AsyncGenerator<FramedPdu, void, undefined> {
  for await (const chunk of source) {
    framer.push(chunk);
    for (let f = framer.next(); f; f = framer.next()) yield f;
  }
  if (framer.bufferedBytes > 0) {
    throw new ProtocolError(ErrorCode.PduTruncated, `stream ended inside a PDU (${framer.bufferedBytes} bytes left)`, {
      got: framer.bufferedBytes,
    });
  }
}
