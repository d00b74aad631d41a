/**
 * The Initiator Session ID (RFC 7143 §11.12.5): six bytes T|A, B, C, D held as a 48-bit number.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** ISID format types (the two top bits, T). */
export const IsidType = { Oui: 0, En: 1, Random: 2, Reserved: 3 } as const;

/** The ISID split into its RFC 7143 §11.12.5 fields. */
export interface IsidFields {
  /** Format: 0 OUI, 1 IANA enterprise number, 2 random, 3 reserved. */
  readonly t: number;
  /** 6 bits. */
  readonly a: number;
  /** 16 bits. */
  readonly b: number;
  /** 8 bits. */
  readonly c: number;
  /** 16 bits: the qualifier in the EN and random formats. */
  readonly d: number;
}

/** Splits an ISID into T, A, B, C, D. */
export function isidFields(isid: number): IsidFields {
  const hi = Math.floor(isid / 0x100000000);
  const lo = isid >>> 0;
  return {
    t: (hi >> 14) & 3,
    a: (hi >> 8) & 0x3f,
    b: ((hi & 0xff) << 8) | (lo >>> 24),
    c: (lo >>> 16) & 0xff,
    d: lo & 0xffff,
  };
}

/** Joins ISID fields into the 48-bit value. */
export function makeIsid(f: IsidFields): number {
  check('T', f.t, 3);
  check('A', f.a, 0x3f);
  check('B', f.b, 0xffff);
  check('C', f.c, 0xff);
  check('D', f.d, 0xffff);
  const hi = (f.t << 14) | (f.a << 8) | (f.b >> 8);
  const lo = (((f.b & 0xff) << 24) | (f.c << 16) | f.d) >>> 0;
  return hi * 0x100000000 + lo;
}

/** An ISID as 12 hex digits (the form iscsiadm and Wireshark print). */
export function formatIsid(isid: number): string {
  return isid.toString(16).padStart(12, '0');
}

function check(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(`ISID field ${name}=${v} out of range`);
}
