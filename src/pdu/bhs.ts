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

/**
 * The non-field bits of each opcode, from the RFC 7143 §11 figures: the reserved bits of byte 1, whether byte 1
 * bit 7 is fixed to 1 (the F bit of single-PDU operations), and the fully reserved byte ranges.
 */
const spec: Readonly<Record<OpcodeValue, readonly [byte1Reserved: number, fixedF: boolean, reservedBytes: string]>> = {
  [Opcode.NopOut]: [0x7f, true, '2-3 32-47'],
  [Opcode.ScsiCommand]: [0x18, false, '2-3'],
  [Opcode.TaskManagementRequest]: [0x00, true, '2-3 40-47'],
  [Opcode.LoginRequest]: [0x30, false, '22-23 32-47'],
  [Opcode.TextRequest]: [0x3f, false, '2-3 32-47'],
  [Opcode.DataOut]: [0x7f, false, '2-3 24-27 32-35 44-47'],
  [Opcode.LogoutRequest]: [0x00, true, '2-3 8-15 22-23 32-47'],
  [Opcode.Snack]: [0x70, true, '2-3 24-27 32-39'],
  [Opcode.NopIn]: [0x7f, true, '2-3 36-47'],
  [Opcode.ScsiResponse]: [0x61, true, '8-15'],
  [Opcode.TaskManagementResponse]: [0x7f, true, '3 8-15 20-23 36-47'],
  [Opcode.LoginResponse]: [0x30, false, '20-23 38-47'],
  [Opcode.TextResponse]: [0x3f, false, '2-3 36-47'],
  [Opcode.DataIn]: [0x38, false, '2'],
  [Opcode.LogoutResponse]: [0x7f, true, '3 8-15 20-23 36-39 44-47'],
  [Opcode.R2t]: [0x7f, true, '2-3'],
  [Opcode.AsyncMessage]: [0x7f, true, '2-3 20-23 44-47'],
  [Opcode.Reject]: [0x7f, true, '3 8-15 20-23 40-47'],
};

/** Opcodes whose byte 0 bit 6 is the I bit (§11.2.1.1); the Login Request's is fixed to 1, the others' reserved. */
const IMMEDIATE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.NopOut,
  Opcode.ScsiCommand,
  Opcode.TaskManagementRequest,
  Opcode.TextRequest,
  Opcode.LogoutRequest,
]);

/** Per opcode: which BHS bits are not fields (mask) and the value RFC 7143 prescribes for them (template). */
export interface BhsShape {
  readonly mask: Uint8Array;
  readonly template: Uint8Array;
  /** Offsets of the bytes that hold any non-field bit, so decoders check only those. */
  readonly checked: Uint8Array;
}

function buildShape(opcode: OpcodeValue): BhsShape {
  const [byte1Reserved, fixedF, reservedBytes] = spec[opcode];
  const mask = new Uint8Array(BHS_LENGTH);
  const template = new Uint8Array(BHS_LENGTH);
  mask[0] = IMMEDIATE_OPCODES.has(opcode) ? 0x80 : 0xc0;
  if (opcode === Opcode.LoginRequest) template[0] = 0x40;
  mask[1] = byte1Reserved | (fixedF ? 0x80 : 0);
  if (fixedF) template[1] = 0x80;
  for (const range of reservedBytes.split(' ')) {
    const [from, to = from] = range.split('-').map(Number) as [number, number?];
    mask.fill(0xff, from, to + 1);
  }
  const checked = Uint8Array.from(mask.keys()).filter((i) => mask[i] !== 0);
  return { mask, template, checked };
}

/** The shape of each opcode's BHS, indexed by opcode (undefined for the 46 unassigned values). */
export const bhsShapes: readonly (BhsShape | undefined)[] = Array.from({ length: 64 }, (_, op) =>
  Object.hasOwn(spec, op) ? buildShape(op as OpcodeValue) : undefined,
);

/** Reads a big-endian u32. */
export function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Reads a big-endian u16. */
export function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/**
 * The 8-byte LUN fields of single-level peripheral-device addressing, LUN 0-255 (SAM-5 §4.7.7.2: byte 1 is the
 * LUN, all else 0; what `lunFromNumber` gives for 0-255), precomputed: most PDUs carry one of them, and building
 * a bigint per PDU or per command allocates.
 */
export const PERIPHERAL_LUNS: readonly bigint[] = Array.from({ length: 256 }, (_, n) => BigInt(n) << 48n);

/** Reads a big-endian u64 as a bigint. */
export function u64(b: Uint8Array, at: number): bigint {
  const hi = u32(b, at);
  const lo = u32(b, at + 4);
  if (lo === 0) return (hi & 0xff00ffff) === 0 ? PERIPHERAL_LUNS[hi >>> 16]! : BigInt(hi) << 32n;
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
