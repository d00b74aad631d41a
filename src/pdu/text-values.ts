/**
 * Parsers and formatters for the value types of RFC 7143 §6.1 (boolean-value, numerical-value,
 * numeric-range, list-of-values, binary-value) and the reserved answers of §6.2.
 *
 * Every parser is pure and throws {@link ProtocolError} with {@link ErrorCode.TextValue} on bad input.
 * Messages show at most a short preview of the offending value, and binary values (which carry CHAP
 * challenges and responses) are never shown at all.
 * @module
 */

import { ErrorCode, InvalidArgumentError, ProtocolError } from '../errors.js';

/** The answers RFC 7143 §6.2 reserves for negotiation: a key an acceptor does not know, does not apply, or refuses. */
export const ReservedValue = {
  NotUnderstood: 'NotUnderstood',
  Irrelevant: 'Irrelevant',
  Reject: 'Reject',
} as const;

/** One of the {@link ReservedValue} strings. */
export type ReservedValueString = (typeof ReservedValue)[keyof typeof ReservedValue];

/**
 * Whether `value` is one of the reserved answers `NotUnderstood`, `Irrelevant` or `Reject` (case sensitive).
 * RFC 7143 §6.2 makes proposing one of them a protocol error; they are only valid as answers.
 */
export function isReservedValue(value: string): value is ReservedValueString {
  return value === 'NotUnderstood' || value === 'Irrelevant' || value === 'Reject';
}

/** Range options for {@link parseNumber} and {@link parseNumericRange}. */
export interface NumberRange {
  /** Smallest accepted value (default 0). */
  readonly min?: number;
  /** Largest accepted value (default `Number.MAX_SAFE_INTEGER`; use {@link parseBigNumber} above that). */
  readonly max?: number;
}

/** A parsed numeric-range `low~high` (RFC 7143 §6.1), with `low <= high`. */
export interface NumericRange {
  readonly low: number;
  readonly high: number;
}

/** Binary encodings of RFC 7143 §6.1: hex-constant (`0x…`) or base64-constant (`0b…`). */
export type BinaryEncoding = 'hex' | 'base64';

const MAX_U64 = (1n << 64n) - 1n;
// RFC 7143 §6.1 decimal-constant: "1-9 followed by any number of digits 0-9, or a single 0".
const DECIMAL_RE = /^(?:0|[1-9][0-9]*)$/;
const HEX_RE = /^0[xX][0-9a-fA-F]+$/;
// base64-constant: "0b" or "0B" followed by base64 digits (RFC 4648 §4), optionally padded with "=".
const BASE64_RE = /^0[bB][A-Za-z0-9+/]+={0,2}$/;

/** Parses a boolean-value: exactly `Yes` or `No` (RFC 7143 §6.1; case sensitive). */
export function parseBoolean(value: string): boolean {
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  throw valueError(`expected Yes or No, got ${preview(value)}`, value);
}

/** Formats a boolean as the boolean-value `Yes` or `No`. */
export function formatBoolean(value: boolean): 'Yes' | 'No' {
  return value ? 'Yes' : 'No';
}

/**
 * Parses a numerical-value: a decimal-constant or a hex-constant (`0x`/`0X`), RFC 7143 §6.1, as a bigint in
 * 0 … 2^64-1. Decimal constants with leading zeros are rejected, as the RFC grammar does not allow them.
 */
export function parseBigNumber(value: string): bigint {
  const hex = HEX_RE.test(value);
  if (!hex && !DECIMAL_RE.test(value)) {
    throw valueError(`expected a decimal or 0x hex number, got ${preview(value)}`, value);
  }
  // Bound the digit count before converting, so a long value never becomes a huge bigint.
  // Hex may carry leading zeros (RFC 7143 §6.1 only discourages them); 2^64-1 has 16 hex or 20 decimal digits.
  const digits = hex ? value.slice(2).replace(/^0+(?=.)/, '') : value;
  const n = digits.length > (hex ? 16 : 20) ? MAX_U64 + 1n : BigInt(hex ? `0x${digits}` : digits);
  if (n > MAX_U64) throw valueError(`number ${preview(value)} is 2^64 or more`, value);
  return n;
}

/**
 * Parses a numerical-value (see {@link parseBigNumber}) as a number and checks it against `range`
 * (default 0 … `Number.MAX_SAFE_INTEGER`).
 */
export function parseNumber(value: string, range: NumberRange = {}): number {
  const min = range.min ?? 0;
  const max = Math.min(range.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const big = parseBigNumber(value);
  const n = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(big);
  if (!(n >= min && n <= max)) {
    throw new ProtocolError(ErrorCode.TextValue, `number ${preview(value)} is outside ${min}..${max}`, {
      got: preview(value),
      limit: `${min}..${max}`,
    });
  }
  return n;
}

/** Formats a non-negative integer below 2^64 as a decimal-constant. */
export function formatNumber(value: number | bigint): string {
  const ok = typeof value === 'bigint' ? value >= 0n && value <= MAX_U64 : Number.isSafeInteger(value) && value >= 0;
  if (!ok) throw new InvalidArgumentError(`not a numerical-value: ${String(value)}`);
  return value.toString(10);
}

/**
 * Parses a numeric-range `low~high` of two numerical-values; RFC 7143 §6.1 requires the right value
 * to be no lower than the left one. Both ends are checked against `range`.
 */
export function parseNumericRange(value: string, range: NumberRange = {}): NumericRange {
  const tilde = value.indexOf('~');
  if (tilde < 0 || tilde !== value.lastIndexOf('~')) {
    throw valueError(`expected a numeric-range low~high, got ${preview(value)}`, value);
  }
  const low = parseNumber(value.slice(0, tilde), range);
  const high = parseNumber(value.slice(tilde + 1), range);
  if (high < low) throw valueError(`numeric-range ${preview(value)} ends below its start`, value);
  return { low, high };
}

/**
 * Splits a list-of-values (RFC 7143 §6.1: values separated by commas). The list and every element
 * must be non-empty.
 */
export function parseList(value: string): string[] {
  const items = value.split(',');
  if (items.some((item) => item.length === 0)) {
    throw valueError(`list-of-values ${preview(value)} has an empty element`, value);
  }
  return items;
}

/** Joins values into a list-of-values; each must be non-empty and free of commas and NUL. */
export function formatList(values: readonly string[]): string {
  if (values.length === 0) throw new InvalidArgumentError('a list-of-values needs at least one value');
  for (const v of values) {
    if (v.length === 0 || v.includes(',') || v.includes('\0')) {
      throw new InvalidArgumentError(`list element ${preview(v)} is empty or holds a comma or NUL`);
    }
  }
  return values.join(',');
}

/**
 * The implicit byte-length of a hex-constant or base64-constant (RFC 7143 §6.1): `floor((n+1)/2)` for n hex
 * digits, `floor(n*3/4)` for n base64 characters not counting trailing `=`. Returns `undefined` when `value`
 * is not a well-formed binary constant. Used to apply length limits without decoding.
 */
export function binaryByteLength(value: string): number | undefined {
  if (HEX_RE.test(value)) return Math.floor((value.length - 2 + 1) / 2);
  if (BASE64_RE.test(value)) {
    const n = base64Digits(value);
    // A base64 string of 4k+1 characters cannot come from any byte string (RFC 4648 §4).
    if (n % 4 === 1) return undefined;
    return Math.floor((n * 3) / 4);
  }
  return undefined;
}

/**
 * Decodes a binary-value given as a hex-constant (`0x`/`0X`, any case, odd digit counts allowed: the first
 * digit is then the low nibble of the first byte) or a base64-constant (`0b`/`0B`, RFC 4648 alphabet, padding
 * optional but, if present, it must complete a 4-character group). Decimal-encoded regular-binary-values
 * have a key-defined length; read those with {@link parseBigNumber}.
 * @param maxBytes - reject values whose decoded length would exceed this, before decoding.
 */
export function parseBinary(value: string, maxBytes = Number.POSITIVE_INFINITY): Uint8Array {
  // The value is never shown in messages: binary values carry CHAP challenges and responses.
  const length = binaryByteLength(value);
  if (length === undefined) {
    throw new ProtocolError(
      ErrorCode.TextValue,
      `binary-value of ${value.length} characters is not a well-formed 0x hex or 0b base64 constant`,
      { got: value.length },
    );
  }
  if (length > maxBytes) {
    throw new ProtocolError(ErrorCode.TextValue, `binary-value of ${length} bytes exceeds ${maxBytes}`, {
      got: length,
      limit: maxBytes,
    });
  }
  const body = value.slice(2);
  if (value.charCodeAt(1) === 0x78 || value.charCodeAt(1) === 0x58) {
    return Uint8Array.from(Buffer.from(body.length % 2 === 1 ? `0${body}` : body, 'hex'));
  }
  if (body.includes('=') && body.length % 4 !== 0) {
    throw new ProtocolError(
      ErrorCode.TextValue,
      `padded base64-constant of ${body.length} characters is not a multiple of 4`,
      {
        got: body.length,
      },
    );
  }
  return Uint8Array.from(Buffer.from(body, 'base64'));
}

/**
 * Encodes bytes as a binary-value: `0x` followed by lower-case hex digits (two per byte), or `0b` followed by
 * padded RFC 4648 base64. An empty input has no valid encoding (both constants need at least one digit).
 */
export function formatBinary(bytes: Uint8Array, encoding: BinaryEncoding = 'hex'): string {
  if (bytes.length === 0) throw new InvalidArgumentError('an empty byte string has no binary-value encoding');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return encoding === 'hex' ? `0x${buf.toString('hex')}` : `0b${buf.toString('base64')}`;
}

function base64Digits(value: string): number {
  let end = value.length;
  while (end > 2 && value.charCodeAt(end - 1) === 0x3d) end--;
  return end - 2;
}

/** A short, quoted, escaped preview of a value for error messages (never the whole of a long value). */
export function preview(value: string, max = 32): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

function valueError(message: string, value: string): ProtocolError {
  return new ProtocolError(ErrorCode.TextValue, message, { got: preview(value) });
}
