/**
 * RFC 1982 serial number arithmetic for 32-bit iSCSI sequence numbers (CmdSN, StatSN, DataSN, R2TSN),
 * as RFC 7143 §4.2.2.1 requires: comparisons are modulo 2**32 with a window of 2**31.
 * @module
 */

/** `a + n` modulo 2**32 (n may be negative). */
export function serialAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** Signed distance from `a` to `b` in serial space: positive when b is after a. Undefined at exactly 2**31. */
export function serialDiff(a: number, b: number): number {
  return (b - a) | 0;
}

/** RFC 1982 §3.2 `a < b`. Two numbers exactly 2**31 apart are incomparable: neither is less. */
export function serialLt(a: number, b: number): boolean {
  const d = ((b >>> 0) - (a >>> 0)) >>> 0;
  return d !== 0 && d < 0x80000000;
}

/** RFC 1982 `a > b`. */
export function serialGt(a: number, b: number): boolean {
  return serialLt(b, a);
}

/** `a <= b` in serial space. */
export function serialLte(a: number, b: number): boolean {
  return a >>> 0 === b >>> 0 || serialLt(a, b);
}

/** `a >= b` in serial space. */
export function serialGte(a: number, b: number): boolean {
  return a >>> 0 === b >>> 0 || serialGt(a, b);
}

/** True when `low <= n <= high` in serial space (e.g. ExpCmdSN <= CmdSN <= MaxCmdSN). */
export function serialInWindow(n: number, low: number, high: number): boolean {
  return serialLte(low, n) && serialLte(n, high);
}
