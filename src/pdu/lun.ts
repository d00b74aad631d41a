/**
 * SAM LUN structure (8 bytes, carried big-endian in BHS bytes 8-15 and REPORT LUNS data), kept as a `bigint`.
 * Only the first level (bytes 0-1, or more for extended addressing) is interpreted: iSCSI targets use
 * single-level LUNs. The address methods are those of SAM-5 §4.7.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** The first-level address of a LUN, by address method. */
export type LunAddress =
  | { readonly method: 'peripheral'; readonly bus: number; readonly lun: number }
  | { readonly method: 'flat'; readonly lun: number }
  | { readonly method: 'logical-unit'; readonly target: number; readonly bus: number; readonly lun: number }
  | { readonly method: 'extended-flat'; readonly lun: number }
  | { readonly method: 'well-known'; readonly lun: number }
  | { readonly method: 'extended'; readonly length: number; readonly extendedMethod: number; readonly raw: bigint };

const TOP = 56n;

/**
 * The usual encoding of a LUN number: peripheral addressing below 256 and flat space addressing below 16384
 * (as Linux's int_to_scsilun), extended flat space (SAM-5) below 2**24.
 */
export function lunFromNumber(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n >= 0x1000000) throw new InvalidArgumentError(`LUN ${n} out of range`);
  if (n < 0x100) return BigInt(n) << 48n;
  if (n < 0x4000) return BigInt(0x4000 | n) << 48n;
  return BigInt((0xd2000000 | n) >>> 0) << 32n;
}

/** The LUN number of a single-level LUN, or undefined when the address method does not carry a plain number. */
export function lunToNumber(lun: bigint): number | undefined {
  const a = decodeLun(lun);
  switch (a.method) {
    case 'peripheral':
      return a.bus === 0 ? a.lun : undefined;
    case 'flat':
    case 'extended-flat':
      return a.lun;
    default:
      return undefined;
  }
}

/** Reads the first-level address of a LUN. */
export function decodeLun(lun: bigint): LunAddress {
  const b0 = Number((lun >> TOP) & 0xffn);
  const b1 = Number((lun >> 48n) & 0xffn);
  switch (b0 >> 6) {
    case 0:
      return { method: 'peripheral', bus: b0 & 0x3f, lun: b1 };
    case 1:
      return { method: 'flat', lun: ((b0 & 0x3f) << 8) | b1 };
    case 2:
      return { method: 'logical-unit', target: b0 & 0x3f, bus: b1 >> 5, lun: b1 & 0x1f };
    default: {
      const length = (b0 >> 4) & 0x3;
      const extendedMethod = b0 & 0xf;
      if (length === 0 && extendedMethod === 1) return { method: 'well-known', lun: b1 };
      if (length === 1 && extendedMethod === 2)
        return { method: 'extended-flat', lun: Number((lun >> 32n) & 0xffffffn) };
      return { method: 'extended', length, extendedMethod, raw: lun };
    }
  }
}

/** Builds a well-known LUN (e.g. 1 = REPORT LUNS well-known logical unit, 0xc101000000000000). */
export function wellKnownLun(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new InvalidArgumentError(`well-known LUN ${n} out of range`);
  return BigInt(0xc100 | n) << 48n;
}

/** Formats a LUN as 16 hex digits, as tools print the raw structure. */
export function formatLun(lun: bigint): string {
  return lun.toString(16).padStart(16, '0');
}
