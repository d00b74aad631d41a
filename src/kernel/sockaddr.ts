/**
 * `struct sockaddr_in` (16 bytes) and `struct sockaddr_in6` (28 bytes) as TRANSPORT_EP_CONNECT carries them after
 * `struct iscsi_uevent`: the family in host byte order (little-endian here), port and address in network order.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgumentError } from '../errors.js';
import { addressFromBytes, addressToBytes } from '../ibft/address.js';
import { KernelError } from './errors.js';

/** `AF_INET`. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;
/** `sizeof(struct sockaddr_in)`. */
export const SOCKADDR_IN_SIZE = 16;
/** `sizeof(struct sockaddr_in6)`. */
export const SOCKADDR_IN6_SIZE = 28;

/** An IP endpoint. */
export interface SockaddrIp {
  /** IPv4 dotted quad or IPv6 literal (no brackets, no zone). */
  readonly host: string;
  readonly port: number;
  /** IPv6 scope id (interface index); 0 when absent. */
  readonly scopeId?: number;
}

/** Encodes an IPv4 or IPv6 endpoint as the kernel's sockaddr. Throws {@link InvalidArgumentError} when it is not one. */
export function encodeSockaddr(address: SockaddrIp): Buffer {
  const { host, port } = address;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`bad port ${port}`);
  const bytes = addressToBytes(host) ?? new Uint8Array(16);
  if (isIPv4(host)) {
    const out = Buffer.alloc(SOCKADDR_IN_SIZE);
    out.writeUInt16LE(AF_INET, 0);
    out.writeUInt16BE(port, 2);
    out.set(bytes.subarray(12, 16), 4);
    return out;
  }
  if (!isIPv6(host)) throw new InvalidArgumentError('the host is not an IPv4 or IPv6 literal');
  const scopeId = address.scopeId ?? 0;
  if (!Number.isInteger(scopeId) || scopeId < 0 || scopeId > 0xffffffff) {
    throw new InvalidArgumentError(`bad IPv6 scope id ${scopeId}`);
  }
  const out = Buffer.alloc(SOCKADDR_IN6_SIZE);
  out.writeUInt16LE(AF_INET6, 0);
  out.writeUInt16BE(port, 2);
  out.set(bytes, 8);
  out.writeUInt32LE(scopeId, 24);
  return out;
}

/** Decodes a sockaddr_in / sockaddr_in6. Throws {@link KernelError} (`field`) for another family or a short buffer. */
export function decodeSockaddr(bytes: Uint8Array): SockaddrIp {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 2) throw new KernelError('truncated', 'sockaddr shorter than its family field');
  const family = b.readUInt16LE(0);
  if (family === AF_INET) {
    if (b.length < SOCKADDR_IN_SIZE) throw new KernelError('truncated', 'sockaddr_in shorter than 16 bytes');
    return { host: [...b.subarray(4, 8)].join('.'), port: b.readUInt16BE(2) };
  }
  if (family === AF_INET6) {
    if (b.length < SOCKADDR_IN6_SIZE) throw new KernelError('truncated', 'sockaddr_in6 shorter than 28 bytes');
    const host = addressFromBytes(b.subarray(8, 24)) ?? '::';
    const scopeId = b.readUInt32LE(24);
    return { host, port: b.readUInt16BE(2), ...(scopeId === 0 ? {} : { scopeId }) };
  }
  throw new KernelError('field', `sockaddr family ${family} is neither AF_INET nor AF_INET6`);
}
