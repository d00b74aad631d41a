/**
 * Additional Header Segments (RFC 7143 §11.2.2): AHSLength (2 bytes), AHSType (1 byte), then AHSLength bytes of
 * AHS-specific data (the first of them is byte 3), padded to a multiple of 4.
 * @module
 */
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../errors.js';
import type { Report } from './report.js';

/** AHS codes (§11.2.2.3: low six bits of AHSType; the top two bits are reserved). */
export const AhsType = { ExtendedCdb: 1, BidiReadLength: 2 } as const;

/** Extended CDB AHS (§11.2.2.3.1): the CDB bytes beyond the 16 carried in the BHS. */
export interface ExtendedCdbAhs {
  readonly type: 'extended-cdb';
  /** CDB bytes 16 and onwards. */
  readonly cdb: Uint8Array;
}

/** Bidirectional Expected Read-Data Length AHS (§11.2.2.3.2). */
export interface BidiReadLengthAhs {
  readonly type: 'bidi-read-length';
  readonly expectedReadDataLength: number;
}

/** Any other AHS, or a known one that breaks its format (lenient decoding), kept byte for byte. */
export interface RawAhs {
  readonly type: 'raw';
  /** The whole AHSType byte, reserved bits included. */
  readonly ahsType: number;
  /** AHSLength bytes starting at AHS byte 3. */
  readonly specific: Uint8Array;
}

/** One Additional Header Segment. */
export type Ahs = ExtendedCdbAhs | BidiReadLengthAhs | RawAhs;

/** Wire size of one AHS, padding included. */
export function ahsSize(ahs: Ahs): number {
  return pad4(3 + specificLength(ahs));
}

function specificLength(ahs: Ahs): number {
  switch (ahs.type) {
    case 'extended-cdb':
      return 1 + ahs.cdb.length;
    case 'bidi-read-length':
      return 5;
    case 'raw':
      return ahs.specific.length;
  }
}

/** Writes `list` at `offset` in `out` (which must be zeroed); returns the bytes written. */
export function writeAhs(list: readonly Ahs[], out: Uint8Array, offset: number): number {
  let at = offset;
  for (const ahs of list) {
    const len = specificLength(ahs);
    if (len > 0xffff) throw new InvalidArgumentError(`AHS of ${len} bytes exceeds AHSLength's 16 bits`);
    out[at] = len >> 8;
    out[at + 1] = len & 0xff;
    switch (ahs.type) {
      case 'extended-cdb':
        out[at + 2] = AhsType.ExtendedCdb;
        out.set(ahs.cdb, at + 4);
        break;
      case 'bidi-read-length': {
        out[at + 2] = AhsType.BidiReadLength;
        const v = ahs.expectedReadDataLength >>> 0;
        out[at + 4] = v >>> 24;
        out[at + 5] = v >>> 16;
        out[at + 6] = v >>> 8;
        out[at + 7] = v;
        break;
      }
      case 'raw':
        out[at + 2] = ahs.ahsType;
        out.set(ahs.specific, at + 3);
        break;
    }
    at += pad4(3 + len);
  }
  return at - offset;
}

/** Decodes `length` bytes of AHS at `offset`; format problems go to `report`. */
export function readAhs(buf: Uint8Array, offset: number, length: number, opcode: number, report: Report): Ahs[] {
  const list: Ahs[] = [];
  const end = offset + length;
  let at = offset;
  while (at < end) {
    if (end - at < 4) {
      throw new ProtocolError(ErrorCode.PduAhs, 'AHS header runs past TotalAHSLength', { opcode, offset: at });
    }
    const len = (buf[at]! << 8) | buf[at + 1]!;
    const size = pad4(3 + len);
    if (size > end - at) {
      throw new ProtocolError(ErrorCode.PduAhs, `AHSLength ${len} runs past TotalAHSLength`, {
        opcode,
        offset: at,
        got: len,
        limit: end - at - 3,
      });
    }
    for (let i = at + 3 + len; i < at + size; i++) {
      if (buf[i] !== 0) report(new ProtocolError(ErrorCode.PduAhs, 'non-zero AHS padding', { opcode, offset: i }));
    }
    list.push(readOne(buf, at, len, opcode, report));
    at += size;
  }
  return list;
}

function readOne(buf: Uint8Array, at: number, len: number, opcode: number, report: Report): Ahs {
  const ahsType = buf[at + 2]!;
  const specific = buf.subarray(at + 3, at + 3 + len);
  const code = ahsType & 0x3f;
  const problem = (message: string): RawAhs => {
    report(new ProtocolError(ErrorCode.PduAhs, message, { opcode, offset: at, got: ahsType }));
    return { type: 'raw', ahsType, specific };
  };
  if (ahsType & 0xc0) return problem('reserved AHSType bits set');
  if (code === AhsType.ExtendedCdb) {
    if (len < 2) return problem(`Extended CDB AHS too short (AHSLength ${len})`);
    if (specific[0] !== 0) return problem('Extended CDB AHS reserved byte set');
    return { type: 'extended-cdb', cdb: specific.subarray(1) };
  }
  if (code === AhsType.BidiReadLength) {
    if (len !== 5) return problem(`Bidirectional Read-Data Length AHS has AHSLength ${len}, not 5`);
    if (specific[0] !== 0) return problem('Bidirectional Read-Data Length AHS reserved byte set');
    const v = ((specific[1]! << 24) | (specific[2]! << 16) | (specific[3]! << 8) | specific[4]!) >>> 0;
    return { type: 'bidi-read-length', expectedReadDataLength: v };
  }
  // Codes 60-63 are for non-iSCSI extensions; 0 and 3-59 are reserved (§11.2.2.3).
  if (code < 60) return problem(`reserved AHS type ${code}`);
  return { type: 'raw', ahsType, specific };
}

/** Rounds up to a multiple of 4 (§11.2.3 padding). */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}
