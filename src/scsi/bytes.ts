/**
 * Big-endian field readers and the one error every SCSI parser throws. SCSI (SPC/SBC) carries every multi-byte
 * field big-endian; parsers bounds-check before they read, so the readers themselves do not.
 * @module
 */
import type { ProtocolErrorDetails } from '../errors.js';
import { ErrorCode, ProtocolError } from '../errors.js';

/** The typed error for malformed SCSI data: `ProtocolError` with code `ERR_ISCSI_SCSI_DATA`. */
export function scsiDataError(message: string, details: ProtocolErrorDetails = {}): ProtocolError {
  return new ProtocolError(ErrorCode.ScsiData, message, details);
}

/** Throws unless `data` holds at least `length` bytes; `what` names the structure for the message. */
export function need(data: Uint8Array, length: number, what: string): void {
  if (data.length < length) {
    throw scsiDataError(`${what}: ${data.length} bytes, at least ${length} needed`, {
      offset: data.length,
      got: data.length,
      limit: length,
    });
  }
}

/** Unsigned 16-bit big-endian at `o`. */
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Unsigned 24-bit big-endian at `o`. */
export function u24(b: Uint8Array, o: number): number {
  return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
}

/** Unsigned 32-bit big-endian at `o`. */
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Unsigned 64-bit big-endian at `o`, as a bigint. */
export function u64(b: Uint8Array, o: number): bigint {
  return (BigInt(u32(b, o)) << 32n) | BigInt(u32(b, o + 4));
}

/** Writes `v` (0..0xffff) big-endian at `o`. */
export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 0xff;
}

/** Writes `v` (0..0xffffffff) big-endian at `o`. */
export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Writes `v` (0..2**64-1) big-endian at `o`. */
export function put64(b: Uint8Array, o: number, v: bigint): void {
  put32(b, o, Number(v >> 32n));
  put32(b, o + 4, Number(v & 0xffffffffn));
}

/** Lower-case hex of `b` (designators, identifiers). */
export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * SPC ASCII field (vendor, product, serial): printable bytes as characters, others as '?', NUL padding and
 * surrounding spaces removed. SPC §4.3.1 asks for left-aligned, space-padded text; targets also pad with NULs.
 */
export function ascii(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x === 0 ? ' ' : x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '?';
  return s.trim();
}

/**
 * A frozen code → value table built from `[code, value]` pairs, so codes stay in hex in the source
 * (an object literal's numeric keys would be normalised to decimal).
 */
export function nameTable<T>(entries: readonly (readonly [number, T])[]): Readonly<Record<number, T>> {
  return Object.freeze(Object.fromEntries(entries)) as Readonly<Record<number, T>>;
}
