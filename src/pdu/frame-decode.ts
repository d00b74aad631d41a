/**
 * Link, network and transport layer decoding of captured frames down to their TCP segment.
 * Used by the capture reader. Works on absolute offsets into the capture (one DataView for the whole file, views
 * only) and never trusts a length it has not bounds-checked.
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import { type CapturePacket, LinkType, type TcpEndpoint } from './capture-types.js';

/** Where a frame sits in the capture. Offsets are absolute; `originalEnd` ≥ `capturedEnd`. */
export interface FrameLocation {
  /** 1-based frame number. */
  readonly frame: number;
  readonly timestampNs: bigint;
  /** Offset of the frame's first byte in the capture. */
  readonly start: number;
  /** End of the captured bytes. */
  readonly capturedEnd: number;
  /** Where the frame would end had it been captured whole (larger than `capturedEnd` after a snaplen cut). */
  readonly originalEnd: number;
}

/** What {@link FrameDecoder.decode} found: a TCP segment, nothing of interest, or something to warn about. */
export type FrameResult = CapturePacket | { readonly skip: string } | null;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const IPPROTO_TCP = 6;

/** Thrown inside the decoder when a header does not fit in the captured bytes. */
class Short extends Error {}

/** Decodes the frames of one capture; caches endpoint objects so that equal endpoints share one object. */
export class FrameDecoder {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #endpoints = new Map<number | string, TcpEndpoint>();
  #loc: FrameLocation = { frame: 0, timestampNs: 0n, start: 0, capturedEnd: 0, originalEnd: 0 };

  /** @param bytes the whole capture; decoded payloads are views into it. */
  constructor(bytes: Uint8Array) {
    // A plain Uint8Array view: its subarray() is cheaper than a Buffer's.
    this.#bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Decodes one frame of link type `linkType`.
   * Returns the TCP segment, `null` when the frame is not TCP over IP (silently skipped), or `{ skip }` with a
   * reason worth a warning (IP fragment, frame cut short by the snaplen, unsupported link type).
   * @throws ProtocolError (ErrorCode.Capture) when a completely captured frame has inconsistent headers.
   */
  decode(linkType: number, loc: FrameLocation): FrameResult {
    this.#loc = loc;
    try {
      return this.#link(linkType, loc.start);
    } catch (e) {
      if (!(e instanceof Short)) throw e;
      // A header that does not fit: ordinary when the capture cut the frame, malformed otherwise.
      if (loc.capturedEnd < loc.originalEnd) {
        return { skip: `frame ${loc.frame} cut by the snapshot length before ${e.message}` };
      }
      throw this.#malformed(`${e.message} does not fit in the frame`, loc.start);
    }
  }

  #link(linkType: number, at: number): FrameResult {
    const view = this.#view;
    switch (linkType) {
      case LinkType.ETHERNET: {
        this.#need(at + 14, 'the Ethernet header');
        let p = at + 12;
        let type = view.getUint16(p);
        // IEEE 802.1Q / 802.1ad: up to two VLAN tags (4 bytes each) before the real EtherType.
        for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ); tags++) {
          p += 4;
          this.#need(p + 2, 'the VLAN tag');
          type = view.getUint16(p);
        }
        return this.#etherType(type, p + 2);
      }
      case LinkType.RAW:
      case LinkType.RAW_BSD:
      case LinkType.IPV4:
      case LinkType.IPV6:
        return this.#ip(at);
      case LinkType.LINUX_SLL:
        this.#need(at + 16, 'the Linux cooked header');
        return this.#etherType(view.getUint16(at + 14), at + 16);
      case LinkType.LINUX_SLL2:
        this.#need(at + 20, 'the Linux cooked v2 header');
        return this.#etherType(view.getUint16(at), at + 20);
      case LinkType.NULL:
      case LinkType.LOOP: {
        this.#need(at + 4, 'the loopback header');
        // The family is in the capturing host's byte order (NULL) or big-endian (LOOP): accept either.
        return isInetFamily(view.getUint32(at, true)) || isInetFamily(view.getUint32(at, false))
          ? this.#ip(at + 4)
          : null;
      }
      default:
        return { skip: `frame ${this.#loc.frame}: unsupported link type ${linkType}` };
    }
  }

  #etherType(type: number, at: number): FrameResult {
    return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? this.#ip(at) : null;
  }

  #ip(at: number): FrameResult {
    this.#need(at + 1, 'the IP header');
    const version = this.#bytes[at]! >> 4;
    if (version === 4) return this.#ipv4(at);
    if (version === 6) return this.#ipv6(at);
    throw this.#malformed(`IP version ${version} is neither 4 nor 6`, at);
  }

  #ipv4(at: number): FrameResult {
    const bytes = this.#bytes;
    const view = this.#view;
    this.#need(at + 20, 'the IPv4 header');
    const headerLength = (bytes[at]! & 0x0f) * 4;
    if (headerLength < 20) throw this.#malformed(`IPv4 header length ${headerLength} < 20`, at);
    this.#need(at + headerLength, 'the IPv4 options');
    let totalLength = view.getUint16(at + 2);
    // Captures taken on a host using TCP segmentation offload show total length 0: use the frame length.
    if (totalLength === 0) totalLength = this.#loc.originalEnd - at;
    if (totalLength < headerLength) {
      throw this.#malformed(`IPv4 total length ${totalLength} < header length ${headerLength}`, at);
    }
    if (at + totalLength > this.#loc.originalEnd)
      throw this.#malformed(`IPv4 total length ${totalLength} exceeds the frame`, at);
    // RFC 791: a fragment has MF set or a non-zero fragment offset.
    if ((view.getUint16(at + 6) & 0x3fff) !== 0) {
      return { skip: `frame ${this.#loc.frame}: IPv4 fragment skipped (not reassembled)` };
    }
    if (bytes[at + 9] !== IPPROTO_TCP) return null;
    return this.#tcp(at + headerLength, at + totalLength, view.getUint32(at + 12), view.getUint32(at + 16), -1);
  }

  #ipv6(at: number): FrameResult {
    const bytes = this.#bytes;
    this.#need(at + 40, 'the IPv6 header');
    const end = at + 40 + this.#view.getUint16(at + 4);
    if (end > this.#loc.originalEnd) throw this.#malformed('IPv6 payload length exceeds the frame', at);
    let next = bytes[at + 6]!;
    let p = at + 40;
    // RFC 8200 §4: walk hop-by-hop (0), routing (43) and destination options (60) headers; each is at least
    // 8 bytes long, so the walk ends within the frame.
    while (next === 0 || next === 43 || next === 60) {
      this.#need(p + 2, 'an IPv6 extension header');
      const length = (bytes[p + 1]! + 1) * 8;
      if (p + length > end) throw this.#malformed('IPv6 extension header exceeds the payload', p);
      next = bytes[p]!;
      p += length;
    }
    if (next === 44) return { skip: `frame ${this.#loc.frame}: IPv6 fragment skipped (not reassembled)` };
    if (next !== IPPROTO_TCP) return null;
    return this.#tcp(p, end, 0, 0, at);
  }

  /** `v4src`/`v4dst` are the IPv4 addresses; `ipv6At` is the IPv6 header offset, or -1 for IPv4. */
  #tcp(at: number, end: number, v4src: number, v4dst: number, ipv6At: number): FrameResult {
    const bytes = this.#bytes;
    const view = this.#view;
    if (at + 20 > end) throw this.#malformed('IP payload too short for a TCP header', at);
    this.#need(at + 20, 'the TCP header');
    const headerLength = (bytes[at + 12]! >> 4) * 4;
    if (headerLength < 20 || at + headerLength > end) {
      throw this.#malformed(`TCP data offset ${headerLength} is out of range`, at);
    }
    this.#need(at + headerLength, 'the TCP options');
    const payloadStart = at + headerLength;
    const srcPort = view.getUint16(at);
    const dstPort = view.getUint16(at + 2);
    return {
      frame: this.#loc.frame,
      timestampNs: this.#loc.timestampNs,
      src: ipv6At < 0 ? this.#endpoint4(v4src, srcPort) : this.#endpoint6(ipv6At + 8, srcPort),
      dst: ipv6At < 0 ? this.#endpoint4(v4dst, dstPort) : this.#endpoint6(ipv6At + 24, dstPort),
      seq: view.getUint32(at + 4),
      ack: view.getUint32(at + 8),
      flags: bytes[at + 13]! | ((bytes[at + 12]! & 1) << 8),
      payload: bytes.subarray(payloadStart, Math.min(end, this.#loc.capturedEnd)),
      wireLength: end - payloadStart,
    };
  }

  #endpoint4(address: number, port: number): TcpEndpoint {
    const key = address * 0x10000 + port; // < 2^48: exact
    let e = this.#endpoints.get(key);
    if (e === undefined) {
      const text = `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
      e = { address: text, port };
      this.#endpoints.set(key, e);
    }
    return e;
  }

  #endpoint6(at: number, port: number): TcpEndpoint {
    const address = ipv6Text(this.#bytes, at);
    const key = `${address}/${port}`;
    let e = this.#endpoints.get(key);
    if (e === undefined) {
      e = { address, port };
      this.#endpoints.set(key, e);
    }
    return e;
  }

  #need(end: number, what: string): void {
    if (end > this.#loc.capturedEnd) throw new Short(what);
  }

  #malformed(message: string, offset: number): ProtocolError {
    return new ProtocolError(ErrorCode.Capture, `frame ${this.#loc.frame}: ${message} (offset ${offset})`, { offset });
  }
}

/** AF_INET (2) or an AF_INET6 value: 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS). */
function isInetFamily(af: number): boolean {
  return af === 2 || af === 10 || af === 24 || af === 28 || af === 30;
}

/**
 * IPv6 address text in RFC 5952 §4 form: lower-case hex without leading zeros, the longest run of two or more zero
 * groups (the first one on a tie) written as `::`.
 */
export function ipv6Text(data: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((data[at + 2 * i]! << 8) | data[at + 2 * i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((n) => n.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
