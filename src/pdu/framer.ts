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
 *
 * Placement ({@link Framer.setPlacement}): a Data-In that spans chunks can have its data segment copied straight
 * into its final place (the command's read buffer) as the bytes arrive, instead of into a buffer of its own that
 * the receiver would copy again. A large read then costs one copy per byte and no allocation per PDU.
 * @module
 */
import { DigestError, ErrorCode, InvalidArgumentError, type IscsiError, ProtocolError } from '../errors.js';
import { pad4 } from './ahs.js';
import { BHS_LENGTH, dataSegmentLength, MAX_DATA_SEGMENT_LENGTH, totalAhsLength, u32 } from './bhs.js';
import { crc32c, readDigest } from './crc32c.js';
import { checkDigest, checkPadding, decodeParts } from './decode.js';
import { Opcode, type Sender } from './opcodes.js';
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

/**
 * Chooses where the data segment of a Data-In PDU goes (see {@link Framer.setPlacement}). Gets the PDU's header
 * (BHS and AHS, header digest already verified) and returns a view of exactly DataSegmentLength bytes that may be
 * written now, or undefined to leave the PDU to the ordinary path. It must not keep `header`.
 */
export type PlacementHook = (header: Uint8Array) => Uint8Array | undefined;

/** One framed PDU. */
export interface FramedPdu {
  readonly pdu: Pdu;
  /** The whole PDU as received, digests and padding included (built on first use for a placed PDU). */
  readonly wire: Uint8Array;
  /** True when the data segment was written into the placement hook's destination, which `pdu.data` is. */
  readonly placed?: boolean;
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
  #place: PlacementHook | undefined;
  /** The Data-In whose data segment is being written into a hook's destination. */
  #placing: Placement | undefined;
  /** The hook declined the PDU at the head of the queue: it takes the ordinary path. */
  #declined = false;
  /** How many of the last queued chunks were pushed since the last {@link Framer.detach}. */
  #fresh = 0;

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

  /**
   * Sets (or with undefined, removes) the placement hook. From then on, a Data-In PDU (opcode 0x25) with data
   * that is not inside one received chunk is offered to the hook once its header is complete and its header
   * digest verified; when the hook returns a destination, the data segment is copied there chunk by chunk as it
   * arrives (padding and digests are not), and the PDU comes out of {@link Framer.next} with `placed` set and
   * `pdu.data` being the destination. Padding, data digest and fields are checked when the PDU is complete, as for
   * any PDU: by then the destination holds the received bytes even if a check fails. {@link Framer.nextLenient}
   * never places.
   */
  setPlacement(hook: PlacementHook | undefined): void {
    this.#place = hook;
  }

  /**
   * The destination given by the hook for the PDU in progress must not be written any more (its command was
   * given up): the bytes received so far are copied out, and the rest of the PDU goes to a buffer of its own.
   * Does nothing when no placement is in progress.
   */
  abandonPlacement(): void {
    const p = this.#placing;
    if (!p || p.abandoned) return;
    p.data = new Uint8Array(p.data); // a copy, even of a Buffer (whose slice is a view)
    p.abandoned = true;
  }

  /** Bytes received and not yet handed out as part of a PDU. */
  get bufferedBytes(): number {
    return this.#buffered + (this.#placing ? this.#placing.received : 0);
  }

  /**
   * Queues received bytes. The chunk must not be modified while PDUs that view it are in use, nor before
   * {@link Framer.detach} while it is queued.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#fresh++;
  }

  /**
   * Copies the still-queued bytes of the chunks pushed since the last call into memory of the framer's own, so
   * the caller may reuse those chunks (a socket reading into one reusable buffer). PDUs already handed out are
   * not copied: they stay views of the chunks. Cheap after the PDUs were taken: what is left is the start of the
   * next PDU, and a placed Data-In's data is already in its destination.
   */
  detach(): void {
    const chunks = this.#chunks;
    for (let i = Math.max(0, chunks.length - this.#fresh); i < chunks.length; i++) {
      const from = i === 0 ? this.#offset : 0;
      chunks[i] = Uint8Array.prototype.slice.call(chunks[i]!, from); // a copy (Buffer's own slice is a view)
      if (i === 0) this.#offset = 0;
    }
    this.#fresh = 0;
  }

  /**
   * The next whole PDU, or undefined until more bytes arrive.
   * @throws {ProtocolError} on a malformed or oversized PDU, {@link DigestError} on a digest mismatch. After a
   * data digest error the stream is still in step and `next` may be called again (RFC 7143 §7.8); after any other
   * error the framer stays failed.
   */
  next(): FramedPdu | undefined {
    if (this.#place !== undefined && this.#placing === undefined && !this.#declined) this.#startPlacement();
    if (this.#placing !== undefined) return this.#continuePlacement();
    const wire = this.#take();
    if (wire === undefined) return undefined;
    return { pdu: this.#decode(wire, throwViolation)!, wire };
  }

  /**
   * Like {@link Framer.next} but collects rule violations instead of throwing them; framing errors still throw.
   * @throws {InvalidArgumentError} while {@link Framer.next} is placing a PDU
   */
  nextLenient(): LenientFramedPdu | undefined {
    if (this.#placing) throw new InvalidArgumentError('nextLenient called while next is placing a Data-In PDU');
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
    this.#declined = false;
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

  /**
   * Offers the Data-In at the head of the queue to the placement hook when it spans chunks and its header is
   * complete. Anything unusual (a header digest mismatch, a length over the limit) is left to the ordinary path,
   * which reports it exactly as without a hook.
   */
  #startPlacement(): void {
    if (this.#failed || this.#buffered < BHS_LENGTH) return;
    const first = this.#chunks[0]!;
    const inFirst = first.length - this.#offset;
    let head: Uint8Array;
    if (inFirst >= BHS_LENGTH) head = first.subarray(this.#offset, this.#offset + BHS_LENGTH);
    else {
      this.#copyOut(this.#head, BHS_LENGTH, false);
      head = this.#head;
    }
    if ((head[0]! & 0x3f) !== Opcode.DataIn) return;
    const dsl = dataSegmentLength(head);
    if (dsl === 0 || dsl > this.#maxData) return;
    const headerLength = BHS_LENGTH + totalAhsLength(head);
    const digests = (this.#headerDigest ? 4 : 0) + (this.#dataDigest ? 4 : 0);
    const total = headerLength + pad4(dsl) + digests;
    // A PDU inside one chunk is handed out as a view: the receiver's one copy is the only one.
    if (inFirst >= total) return;
    const headerWireLength = headerLength + (this.#headerDigest ? 4 : 0);
    if (this.#buffered < headerWireLength) return; // asked again when more bytes come
    this.#declined = true; // until this PDU is handed out, unless placement starts below
    const headerWire = new Uint8Array(headerWireLength);
    this.#copyOut(headerWire, headerWireLength, false);
    const header = headerWire.subarray(0, headerLength);
    // RFC 7143 §7.8: no field of a header with a bad digest can be trusted, so the hook does not see it.
    if (this.#headerDigest && crc32c(header) !== readDigest(headerWire, headerLength)) return;
    const data = this.#place!(header);
    if (data === undefined) return;
    if (data.length !== dsl) {
      this.#failed = new InvalidArgumentError(`placement hook gave ${data.length} bytes for a ${dsl}-byte segment`);
      throw this.#failed;
    }
    this.#consume(headerWireLength);
    this.#declined = false;
    this.#placing = {
      headerWire,
      header,
      data,
      tail: new Uint8Array(pad4(dsl) - dsl + (this.#dataDigest ? 4 : 0)),
      dataDigest: this.#dataDigest,
      received: headerWireLength,
      filled: 0,
      tailFilled: 0,
      crc: 0,
      abandoned: false,
    };
  }

  /** Moves queued bytes of the PDU being placed to its destination; hands the PDU out once complete. */
  #continuePlacement(): FramedPdu | undefined {
    const p = this.#placing!;
    const dsl = p.data.length;
    while (p.filled < dsl && this.#buffered > 0) {
      const c = this.#chunks[0]!;
      const take = Math.min(c.length - this.#offset, dsl - p.filled);
      const bytes = c.subarray(this.#offset, this.#offset + take);
      p.data.set(bytes, p.filled);
      if (p.dataDigest) p.crc = crc32c(bytes, p.crc);
      p.filled += take;
      p.received += take;
      this.#consume(take);
    }
    if (p.filled < dsl) return undefined;
    const tailTake = Math.min(p.tail.length - p.tailFilled, this.#buffered);
    if (tailTake > 0) {
      this.#copyOut(p.tail.subarray(p.tailFilled), tailTake, true);
      p.tailFilled += tailTake;
      p.received += tailTake;
    }
    if (p.tailFilled < p.tail.length) return undefined;
    this.#placing = undefined;
    const padding = pad4(dsl) - dsl;
    checkPadding(p.tail.subarray(0, padding), 0, Opcode.DataIn, throwViolation);
    if (p.dataDigest) {
      // RFC 7143 §11.1: the data digest covers the data segment and its padding.
      const computed = crc32c(p.tail.subarray(0, padding), p.crc);
      const received = readDigest(p.tail, padding);
      if (computed !== received) throw new DigestError('data', computed, received, u32(p.header, 16), Opcode.DataIn);
    }
    const pdu = decodeParts(p.header, p.data, throwViolation, this.#sender);
    return new PlacedPdu(pdu, p.headerWire, p.data, p.tail, !p.abandoned);
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

/** A Data-In being placed: its header, where its data goes, and its padding and data digest as they come. */
interface Placement {
  /** BHS, AHS and header digest as received. */
  readonly headerWire: Uint8Array;
  /** BHS and AHS. */
  readonly header: Uint8Array;
  /** The hook's destination, or a copy of it once abandoned. */
  data: Uint8Array;
  /** Padding, then the data digest when on. */
  readonly tail: Uint8Array;
  readonly dataDigest: boolean;
  /** Bytes of the PDU consumed from the queue so far. */
  received: number;
  filled: number;
  tailFilled: number;
  /** CRC32C of the data bytes received so far. */
  crc: number;
  abandoned: boolean;
}

/** A placed PDU; its wire bytes are put together only when asked for (a pcap trace). */
class PlacedPdu implements FramedPdu {
  readonly pdu: Pdu;
  readonly placed: boolean;
  readonly #parts: readonly Uint8Array[];
  #wire: Uint8Array | undefined;

  constructor(pdu: Pdu, headerWire: Uint8Array, data: Uint8Array, tail: Uint8Array, placed: boolean) {
    this.pdu = pdu;
    this.placed = placed;
    this.#parts = [headerWire, data, tail];
  }

  get wire(): Uint8Array {
    if (this.#wire === undefined) {
      const wire = new Uint8Array(this.#parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of this.#parts) {
        wire.set(p, at);
        at += p.length;
      }
      this.#wire = wire;
    }
    return this.#wire;
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
