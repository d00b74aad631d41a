/**
 * The Basic Header Segment layout (RFC 7143 §11.2.1): 48 bytes, big-endian, with per-opcode reserved bits
 * and bits fixed to 1 (the F bit of single-PDU operations, the I bit of Login Requests).
 * @module
 */
import { Opcode, type OpcodeValue } from './opcodes.js';
import type { PduKind } from './types.js';

/** BHS size in bytes. */
export const BHS_LENGTH = 48;

/** The largest DataSegmentLength the 24-bit field can carry. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;

/** The reserved tag value (§11.2.1.8, §11.18.4). */
export const RESERVED_TAG = 0xffffffff;

/** Opcode of each PDU kind. */
export const kindOpcode: Readonly<Record<PduKind, OpcodeValue>> = {
  'nop-out': Opcode.NopOut,
  'scsi-command': Opcode.ScsiCommand,
  'task-management-request': Opcode.TaskManagementRequest,
  'login-request': Opcode.LoginRequest,
  'text-request': Opcode.TextRequest,
  'data-out': Opcode.DataOut,
  'logout-request': Opcode.LogoutRequest,
  snack: Opcode.Snack,
  'nop-in': Opcode.NopIn,
  'scsi-response': Opcode.ScsiResponse,
  'task-management-response': Opcode.TaskManagementResponse,
  'login-response': Opcode.LoginResponse,
  'text-response': Opcode.TextResponse,
  'data-in': Opcode.DataIn,
  'logout-response': Opcode.LogoutResponse,
  r2t: Opcode.R2t,
  'async-message': Opcode.AsyncMessage,
  reject: Opcode.Reject,
};

/** [byte offset, bit mask] pairs. A mask of 0xff over a range is written as [first, last]. */
interface BitSpec {
  /** Bits that are reserved: sent as 0. */
  readonly reserved: readonly (readonly [number, number])[];
  /** Whole reserved byte ranges, inclusive. */
  readonly reservedBytes: readonly (readonly [number, number])[];
  /** Bits fixed to 1. */
  readonly fixed: readonly (readonly [number, number])[];
}

const F = [1, 0x80] as const;

// Byte 0 bit 7 is reserved in every PDU; bit 6 is the I bit for NOP-Out, SCSI Command, TMF Request,
// Text Request and Logout Request, fixed to 1 for Login Request (§11.12), and reserved otherwise.
const spec: Readonly<Record<OpcodeValue, BitSpec>> = {
  [Opcode.NopOut]: {
    reserved: [[1, 0x7f]],
    reservedBytes: [
      [2, 3],
      [32, 47],
    ],
    fixed: [F],
  },
  [Opcode.ScsiCommand]: { reserved: [[1, 0x18]], reservedBytes: [[2, 3]], fixed: [] },
  [Opcode.TaskManagementRequest]: {
    reserved: [],
    reservedBytes: [
      [2, 3],
      [40, 47],
    ],
    fixed: [F],
  },
  [Opcode.LoginRequest]: {
    reserved: [[1, 0x30]],
    reservedBytes: [
      [22, 23],
      [32, 47],
    ],
    fixed: [[0, 0x40]],
  },
  [Opcode.TextRequest]: {
    reserved: [[1, 0x3f]],
    reservedBytes: [
      [2, 3],
      [32, 47],
    ],
    fixed: [],
  },
  [Opcode.DataOut]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [2, 3],
      [24, 27],
      [32, 35],
      [44, 47],
    ],
    fixed: [],
  },
  [Opcode.LogoutRequest]: {
    reserved: [],
    reservedBytes: [
      [2, 3],
      [8, 15],
      [22, 23],
      [32, 47],
    ],
    fixed: [F],
  },
  [Opcode.Snack]: {
    reserved: [
      [0, 0x40],
      [1, 0x70],
    ],
    reservedBytes: [
      [2, 3],
      [24, 27],
      [32, 39],
    ],
    fixed: [F],
  },
  [Opcode.NopIn]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [2, 3],
      [36, 47],
    ],
    fixed: [F],
  },
  [Opcode.ScsiResponse]: {
    reserved: [
      [0, 0x40],
      [1, 0x61],
    ],
    reservedBytes: [[8, 15]],
    fixed: [F],
  },
  [Opcode.TaskManagementResponse]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [3, 3],
      [8, 15],
      [20, 23],
      [36, 47],
    ],
    fixed: [F],
  },
  [Opcode.LoginResponse]: {
    reserved: [
      [0, 0x40],
      [1, 0x30],
    ],
    reservedBytes: [
      [20, 23],
      [38, 47],
    ],
    fixed: [],
  },
  [Opcode.TextResponse]: {
    reserved: [
      [0, 0x40],
      [1, 0x3f],
    ],
    reservedBytes: [
      [2, 3],
      [36, 47],
    ],
    fixed: [],
  },
  [Opcode.DataIn]: {
    reserved: [
      [0, 0x40],
      [1, 0x38],
    ],
    reservedBytes: [[2, 2]],
    fixed: [],
  },
  [Opcode.LogoutResponse]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [3, 3],
      [8, 15],
      [20, 23],
      [36, 39],
      [44, 47],
    ],
    fixed: [F],
  },
  [Opcode.R2t]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [[2, 3]],
    fixed: [F],
  },
  [Opcode.AsyncMessage]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [2, 3],
      [20, 23],
      [44, 47],
    ],
    fixed: [F],
  },
  [Opcode.Reject]: {
    reserved: [
      [0, 0x40],
      [1, 0x7f],
    ],
    reservedBytes: [
      [3, 3],
      [8, 15],
      [20, 23],
      [40, 47],
    ],
    fixed: [F],
  },
};

/** Per opcode: which BHS bits are not fields (mask) and the value RFC 7143 prescribes for them (template). */
export interface BhsShape {
  readonly mask: Uint8Array;
  readonly template: Uint8Array;
}

function buildShape(s: BitSpec): BhsShape {
  const mask = new Uint8Array(BHS_LENGTH);
  const template = new Uint8Array(BHS_LENGTH);
  mask[0] = 0x80;
  for (const [at, bits] of s.reserved) mask[at]! |= bits;
  for (const [from, to] of s.reservedBytes) mask.fill(0xff, from, to + 1);
  for (const [at, bits] of s.fixed) {
    mask[at]! |= bits;
    template[at]! |= bits;
  }
  return { mask, template };
}

/** The shape of each opcode's BHS. */
export const bhsShapes: ReadonlyMap<number, BhsShape> = new Map(
  Object.entries(spec).map(([op, s]) => [Number(op), buildShape(s)]),
);

/** Reads a big-endian u32. */
export function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Reads a big-endian u16. */
export function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Reads a big-endian u64 as a bigint. */
export function u64(b: Uint8Array, at: number): bigint {
  const hi = u32(b, at);
  const lo = u32(b, at + 4);
  if (lo === 0) return hi === 0 ? 0n : BigInt(hi) << 32n;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Reads the 48-bit ISID at bytes 8-13. */
export function u48(b: Uint8Array, at: number): number {
  return u16(b, at) * 0x100000000 + u32(b, at + 2);
}

/** DataSegmentLength of a BHS (bytes 5-7). */
export function dataSegmentLength(bhs: Uint8Array): number {
  return (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
}

/** TotalAHSLength of a BHS in bytes (byte 4 counts 4-byte words). */
export function totalAhsLength(bhs: Uint8Array): number {
  return bhs[4]! * 4;
}
