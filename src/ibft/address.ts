/**
 * iBFT IP address fields: 16 bytes in network order, IPv4 as IPv4-mapped (`::ffff:a.b.c.d`). Normalised with
 * `ip-address`: IPv4 as a dotted quad, IPv6 in RFC 5952 compressed form.
 * @module
 */
import { Address4, Address6 } from 'ip-address';

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;

/**
 * The normalised text of a 16-byte address field, or undefined when it is absent: all zeros (iPXE) or
 * `::ffff:0.0.0.0` (EDK2).
 */
export function addressFromBytes(bytes: Uint8Array): string | undefined {
  const mapped = MAPPED_PREFIX.every((b, i) => bytes[i] === b);
  if (mapped) {
    const v4 = bytes.subarray(12, 16);
    if (v4.every((b) => b === 0)) return undefined;
    return Address4.fromHex(Buffer.from(v4).toString('hex')).correctForm();
  }
  if (bytes.every((b) => b === 0)) return undefined;
  return Address6.fromUnsignedByteArray([...bytes]).correctForm();
}

/**
 * The 16 bytes of an IPv4 or IPv6 literal (no prefix, no zone), or undefined when it is not one.
 * `0.0.0.0` and `::` give all zeros (absent).
 */
export function addressToBytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  if (IPV4_RE.test(text)) {
    if (!Address4.isValid(text)) return undefined;
    out.set(MAPPED_PREFIX);
    out.set(new Address4(text).toArray(), 12);
    return out;
  }
  if (!IPV6_RE.test(text) || !text.includes(':') || !Address6.isValid(text)) return undefined;
  const bytes = new Address6(text).toUnsignedByteArray();
  // toUnsignedByteArray drops leading zero bytes (it goes through a bigint).
  out.set(bytes, 16 - bytes.length);
  return out;
}

/** An address literal in the model's normal form (undefined for the null addresses), or `false` if invalid. */
export function normaliseAddress(text: string): string | undefined | false {
  const bytes = addressToBytes(text);
  return bytes === undefined ? false : addressFromBytes(bytes);
}
