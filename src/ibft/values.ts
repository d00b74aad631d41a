/**
 * Value checks shared by the dracut and udev modules: IP literals and host names, Linux interface names, MAC
 * addresses, LUN numbers and the characters a kernel command line field can carry.
 * @internal
 * @module
 */
import { Address6 } from 'ip-address';
import { BootConfigError } from './boot-error.js';

/** How a host is written: IPv4 literal, IPv6 literal (optionally with a `%zone`), or a DNS host name. */
export type HostFamily = 4 | 6 | 'name';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
// RFC 1123 §2.1: labels of letters, digits and inner hyphens, at most 63 characters; a name of at most 253.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);
const V6_RE = /^[0-9A-Fa-f:.]+$/;
// Linux interface names (the usual zone ids) never hold '/', ':' or white space (net/core/dev.c dev_valid_name).
const ZONE_RE = /^[A-Za-z0-9_.@+-]{1,64}$/;
const IFNAME_RE = /^[^\s/:]{1,15}$/;
const MAC_RE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;
const U64_MAX = (1n << 64n) - 1n;

/** Whether `text` is a dotted-quad IPv4 literal (no leading zeros, no prefix). */
export function isIpv4(text: string): boolean {
  return IPV4_RE.test(text);
}

/** Whether `text` is an IPv6 literal without brackets or prefix, optionally followed by `%zone`. */
export function isIpv6(text: string): boolean {
  const pct = text.indexOf('%');
  const address = pct < 0 ? text : text.slice(0, pct);
  if (pct >= 0 && !ZONE_RE.test(text.slice(pct + 1))) return false;
  return address.includes(':') && V6_RE.test(address) && Address6.isValid(address);
}

/** The family of a host string, or `undefined` when it is neither an IP literal nor a valid host name. */
export function hostFamily(host: string): HostFamily | undefined {
  if (isIpv4(host)) return 4;
  if (isIpv6(host)) return 6;
  if (host.length > 253 || !HOST_NAME_RE.test(host)) return undefined;
  // RFC 3696 §2: a top-level label is never all-numeric, so `300.1.1.1` is a bad address, not a name.
  const labels = host.replace(/\.$/, '').split('.');
  return /^\d+$/.test(labels[labels.length - 1]!) ? undefined : 'name';
}

/** Whether `text` is a Linux network interface name (1–15 characters, no `/`, `:` or white space). */
export function isInterfaceName(text: string): boolean {
  return IFNAME_RE.test(text) && text !== '.' && text !== '..';
}

/** Whether `text` is a colon-separated 6-byte MAC address (either case). */
export function isMac(text: string): boolean {
  return MAC_RE.test(text);
}

/**
 * Characters allowed in a field of a dracut argument that dracut splits on `:` and expands unquoted in its shell
 * code: no white space or control characters (the kernel splits the command line on spaces), no `"` (kernel
 * quoting), no `:` or `@` (dracut's separators), no `*`, `?`, `[`, `]` (pathname expansion of `set $v`).
 */
const CMDLINE_FIELD_RE = /^[^\s\p{Cc}":@*?[\]]+$/u;

/** Whether `text` can be one field of a `:`-separated dracut argument. */
export function isCmdlineField(text: string): boolean {
  return CMDLINE_FIELD_RE.test(text);
}

/** Throws a {@link BootConfigError} unless `text` can be one `:`-separated dracut field. */
export function checkCmdlineField(text: string, field: string, what: string): void {
  if (text.length === 0) throw new BootConfigError(`${what} is empty`, field);
  if (!isCmdlineField(text)) {
    throw new BootConfigError(
      `${what} contains a character dracut cannot carry (white space, control, '"', ':', '@', '*', '?', '[' or ']')`,
      field,
    );
  }
}

/** Checks a LUN (a non-negative integer below 2^64) and returns it as a bigint. */
export function lunToBigInt(lun: number | bigint, field: string): bigint {
  if (typeof lun === 'number' && !Number.isSafeInteger(lun)) {
    throw new BootConfigError('the LUN must be a non-negative integer (use a bigint above 2^53)', field);
  }
  const value = BigInt(lun);
  if (value < 0n || value > U64_MAX) throw new BootConfigError('the LUN must be in 0..2^64-1', field);
  return value;
}

/** A LUN as a number when it is a safe integer, else as a bigint. */
export function lunValue(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Parses a decimal LUN of at most 20 digits (0..2^64-1). */
export function parseDecimalLun(text: string, field: string): number | bigint {
  if (!/^\d{1,20}$/.test(text)) throw new BootConfigError(`the LUN '${clip(text)}' is not a decimal number`, field);
  const value = BigInt(text);
  if (value > U64_MAX) throw new BootConfigError('the LUN is above 2^64-1', field);
  return lunValue(value);
}

/** Parses a TCP port written in decimal (1..65535). */
export function parsePort(text: string, field: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new BootConfigError(`the port '${clip(text)}' is not a TCP port number`, field);
  }
  return port;
}

/** `text` cut to 64 characters, for error messages (never used on fields that may hold secrets). */
export function clip(text: string): string {
  return text.length <= 64 ? text : `${text.slice(0, 61)}...`;
}
