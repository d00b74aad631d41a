/**
 * PDU decoding: bytes → typed {@link Pdu}. Total: any input either decodes or fails with an {@link IscsiError};
 * nothing is allocated by a length read from the input beyond views of the input itself.
 *
 * Strict decoding ({@link decodePdu}) throws on the first violation of RFC 7143; lenient decoding
 * ({@link decodePduLenient}) decodes what it can and lists the violations, for conformance testers and fuzzers.
 * @module
 */
import { DigestError, ErrorCode, type IscsiError, ProtocolError } from '../errors.js';
import { type Ahs, pad4, readAhs } from './ahs.js';
import { BHS_LENGTH, bhsShapes, dataSegmentLength, totalAhsLength, u32 } from './bhs.js';
import { crc32c, readDigest } from './crc32c.js';
import { decodeFields } from './decode-fields.js';
import { isOpcode, type Sender, senderOf } from './opcodes.js';
import { type Report, throwViolation } from './report.js';
import type { Pdu } from './types.js';

/** Options for decoding a PDU. */
export interface DecodeOptions {
  /** A CRC32C header digest follows the header (HeaderDigest=CRC32C negotiated). */
  readonly headerDigest?: boolean;
  /** A CRC32C data digest follows a non-empty data segment (DataDigest=CRC32C negotiated). */
  readonly dataDigest?: boolean;
  /** The side that sent the PDU; an opcode of the other side is a violation (ERR_ISCSI_PDU_DIRECTION). */
  readonly sender?: Sender;
}

/** The result of a lenient decode. */
export interface LenientDecodeResult {
  /** The PDU, unless the input could not be decoded at all (truncated, unknown opcode, bad AHS). */
  readonly pdu: Pdu | undefined;
  /** Every rule the input broke, in the order found. */
  readonly violations: readonly IscsiError[];
}

/**
 * Decodes exactly one whole PDU (BHS, AHS, header digest, data segment, padding, data digest).
 * @throws {ProtocolError} on malformed input or a violated rule; {@link DigestError} on a digest mismatch.
 */
export function decodePdu(bytes: Uint8Array, options: DecodeOptions = {}): Pdu {
  return decodeWhole(bytes, options, throwViolation);
}

/** Decodes one PDU, collecting violations instead of throwing on them. Never throws for bad input. */
export function decodePduLenient(bytes: Uint8Array, options: DecodeOptions = {}): LenientDecodeResult {
  const violations: IscsiError[] = [];
  try {
    const pdu = decodeWhole(bytes, options, (v) => violations.push(v));
    return { pdu, violations };
  } catch (err) {
    if (err instanceof ProtocolError) return { pdu: undefined, violations: [...violations, err] };
    throw err;
  }
}

/**
 * Wire length of the PDU whose BHS starts `bhs`, from TotalAHSLength and DataSegmentLength.
 * `bhs` needs only its first 8 bytes.
 */
export function pduWireLength(bhs: Uint8Array, options: DecodeOptions = {}): number {
  const dsl = dataSegmentLength(bhs);
  return (
    BHS_LENGTH +
    totalAhsLength(bhs) +
    (options.headerDigest ? 4 : 0) +
    pad4(dsl) +
    (options.dataDigest && dsl > 0 ? 4 : 0)
  );
}

function decodeWhole(bytes: Uint8Array, options: DecodeOptions, report: Report): Pdu {
  if (bytes.length < BHS_LENGTH) {
    throw new ProtocolError(ErrorCode.PduTruncated, `${bytes.length} bytes is shorter than a BHS`, {
      got: bytes.length,
      limit: BHS_LENGTH,
    });
  }
  const opcode = bytes[0]! & 0x3f;
  const total = pduWireLength(bytes, options);
  if (bytes.length < total) {
    throw new ProtocolError(ErrorCode.PduTruncated, `PDU needs ${total} bytes, got ${bytes.length}`, {
      opcode,
      got: bytes.length,
      limit: total,
    });
  }
  if (bytes.length > total) {
    report(
      new ProtocolError(ErrorCode.PduField, `${bytes.length - total} bytes follow the PDU`, {
        opcode,
        got: bytes.length,
        limit: total,
      }),
    );
  }
  const headerEnd = BHS_LENGTH + totalAhsLength(bytes);
  const header = bytes.subarray(0, headerEnd);
  let at = headerEnd;
  if (options.headerDigest) {
    checkDigest('header', header, readDigest(bytes, at), bytes, report);
    at += 4;
  }
  const dsl = dataSegmentLength(bytes);
  const data = bytes.subarray(at, at + dsl);
  const padded = bytes.subarray(at, at + pad4(dsl));
  checkPadding(padded, dsl, opcode, report);
  if (options.dataDigest && dsl > 0) checkDigest('data', padded, readDigest(bytes, at + padded.length), bytes, report);
  return decodeParts(header, data, report, options.sender);
}

/** Reports a digest mismatch over `covered`. `bhs` gives the ITT and opcode for the error. */
export function checkDigest(
  which: 'header' | 'data',
  covered: Uint8Array,
  received: number,
  bhs: Uint8Array,
  report: Report,
): void {
  const computed = crc32c(covered);
  if (computed !== received) {
    // A header digest error means no header field can be trusted (RFC 7143 §7.8).
    const trusted = which === 'data';
    report(
      new DigestError(
        which,
        computed,
        received,
        trusted ? u32(bhs, 16) : undefined,
        trusted ? bhs[0]! & 0x3f : undefined,
      ),
    );
  }
}

/** RFC 7143 §11.1: padding bytes SHOULD be sent as 0, so non-zero padding is a (strict-mode) violation. */
export function checkPadding(padded: Uint8Array, dsl: number, opcode: number, report: Report): void {
  for (let i = dsl; i < padded.length; i++) {
    if (padded[i] !== 0) {
      report(new ProtocolError(ErrorCode.PduField, 'non-zero padding byte', { opcode, offset: i, got: padded[i] }));
      return;
    }
  }
}

const NO_AHS: readonly Ahs[] = Object.freeze([]);

/**
 * Decodes a PDU from its header (BHS and AHS, digest removed) and its data segment (padding removed).
 * This is the framer's path: both are views into the received stream.
 */
export function decodeParts(header: Uint8Array, data: Uint8Array, report: Report, sender?: Sender): Pdu {
  const opcode = header[0]! & 0x3f;
  if (!isOpcode(opcode)) {
    throw new ProtocolError(ErrorCode.PduOpcode, `unknown opcode 0x${opcode.toString(16)}`, { opcode, offset: 0 });
  }
  if (sender !== undefined && senderOf(opcode) !== sender) {
    report(
      new ProtocolError(ErrorCode.PduDirection, `opcode 0x${opcode.toString(16)} is not sent by the ${sender}`, {
        opcode,
        got: senderOf(opcode),
        limit: sender,
      }),
    );
  }
  const deviations = findDeviations(header, opcode, report);
  const ahsLength = totalAhsLength(header);
  const ahs = ahsLength === 0 ? NO_AHS : readAhs(header, BHS_LENGTH, ahsLength, opcode, report);
  const pdu = decodeFields(opcode, header, ahs, data, report);
  if (deviations) (pdu as { deviations?: Uint8Array }).deviations = deviations;
  return pdu;
}

function findDeviations(header: Uint8Array, opcode: number, report: Report): Uint8Array | undefined {
  const { mask, template, checked } = bhsShapes[opcode]!;
  let any = 0;
  for (let k = 0; k < checked.length; k++) {
    const i = checked[k]!;
    any |= (header[i]! ^ template[i]!) & mask[i]!;
  }
  if (any === 0) return undefined;
  const deviations = new Uint8Array(BHS_LENGTH);
  for (let i = 0; i < BHS_LENGTH; i++) {
    const d = (header[i]! ^ template[i]!) & mask[i]!;
    if (d === 0) continue;
    deviations[i] = d;
    const what = d & template[i]! ? 'fixed bit clear' : 'reserved bit set';
    report(
      new ProtocolError(ErrorCode.PduReserved, `${what} in BHS byte ${i} (0x${d.toString(16)})`, {
        opcode,
        offset: i,
        got: header[i],
      }),
    );
  }
  return deviations;
}
