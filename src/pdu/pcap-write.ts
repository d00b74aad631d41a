/**
 * Classic pcap writer that wraps iSCSI bytes in synthetic Ethernet + IPv4/IPv6 + TCP headers, so that
 * Wireshark and tshark see a well-formed TCP conversation (handshake, consistent sequence and
 * acknowledgment numbers, valid checksums, FIN exchange) and dissect the payload as iSCSI.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';
import { InvalidArgumentError } from '../errors.js';
import { LinkType, type TcpEndpoint, TcpFlag } from './capture-types.js';

/** Which side sent a PDU. */
export type TraceDirection = 'initiator' | 'target';

/** Options of {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** Address and port of the initiator (the TCP client). */
  readonly initiator: TcpEndpoint;
  /** Address and port of the target (the TCP server, usually port 3260). Same IP version as `initiator`. */
  readonly target: TcpEndpoint;
  /** Receives the file bytes, synchronously, in order. Each chunk is a fresh buffer the callee may keep. */
  readonly write: (chunk: Uint8Array) => void;
  /** Clock in nanoseconds since the Unix epoch (default: wall clock refined by the monotonic clock). */
  readonly now?: () => bigint;
  /** Largest TCP payload per segment (default 65000; at most 65495, what a 16-bit IPv4 total length allows). */
  readonly maxSegmentPayload?: number;
  /** Initial sequence numbers (default fixed values, so traces are reproducible). */
  readonly isn?: { readonly initiator: number; readonly target: number };
  /** Write the pcap file header (default true); false appends another connection to a file that has one. */
  readonly fileHeader?: boolean;
}

/** pcap snapshot length written in the global header. */
export const PCAP_SNAPLEN = 262144;
/** Default largest TCP payload per synthesized segment. */
export const DEFAULT_MAX_SEGMENT_PAYLOAD = 65000;

const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
const ETH_HEADER = 14;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_HEADER = 20;
/** MSS (4 bytes) + NOP + window scale (3 bytes): keeps the SYN options 32-bit aligned. */
const SYN_OPTIONS = 8;
/** Window scale shift announced in the SYNs: 0xffff << 14 ≈ 1 GiB, so large PDUs never fill the window. */
const WINDOW_SHIFT = 14;
/** The receiver acknowledges explicitly once this many bytes are unacknowledged (stays far below the window). */
const ACK_THRESHOLD = 64 * 1024 * 1024;
const MAX_PAYLOAD_LIMIT = 0xffff - IPV4_HEADER - TCP_HEADER;

interface Side {
  readonly mac: Uint8Array;
  readonly ip: Uint8Array;
  readonly port: number;
  /** Next sequence number this side sends. */
  seq: number;
  /** Bytes this side sent that the other side has not acknowledged in a segment of its own yet. */
  unacked: number;
}

/**
 * Writes a classic pcap (microsecond timestamps, LINKTYPE_ETHERNET) of one iSCSI connection.
 *
 * The constructor emits the global header and a TCP three-way handshake; {@link PcapWriter.record} emits one
 * PDU as one or more PSH/ACK segments; {@link PcapWriter.close} emits the FIN exchange. The writer keeps no
 * PDU data after `record` returns.
 */
export class PcapWriter {
  readonly #write: (chunk: Uint8Array) => void;
  readonly #now: () => bigint;
  readonly #maxPayload: number;
  readonly #ipv6: boolean;
  readonly #initiator: Side;
  readonly #target: Side;
  #ipId = 0;
  #closed = false;

  /** @throws InvalidArgumentError when an address, port or option is invalid or the IP versions differ. */
  constructor(options: PcapWriterOptions) {
    const v6 = isIPv6(options.initiator.address);
    if (
      v6 !== isIPv6(options.target.address) ||
      (!v6 && !(isIPv4(options.initiator.address) && isIPv4(options.target.address)))
    ) {
      throw new InvalidArgumentError('initiator and target addresses must both be IPv4 or both be IPv6 literals');
    }
    const maxPayload = options.maxSegmentPayload ?? DEFAULT_MAX_SEGMENT_PAYLOAD;
    if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_PAYLOAD_LIMIT) {
      throw new InvalidArgumentError(`maxSegmentPayload must be an integer in 1..${MAX_PAYLOAD_LIMIT}`);
    }
    this.#write = options.write;
    this.#now = options.now ?? wallClock();
    this.#maxPayload = maxPayload;
    this.#ipv6 = v6;
    const isn = options.isn ?? { initiator: 0x1a2b0000, target: 0x5c6d0000 };
    this.#initiator = side(options.initiator, 1, isn.initiator, v6);
    this.#target = side(options.target, 2, isn.target, v6);

    if (options.fileHeader !== false) {
      const header = new DataView(new ArrayBuffer(24));
      header.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
      header.setUint16(4, 2, true); // version 2.4
      header.setUint16(6, 4, true);
      header.setUint32(16, PCAP_SNAPLEN, true);
      header.setUint32(20, LinkType.ETHERNET, true);
      this.#write(new Uint8Array(header.buffer));
    }

    // RFC 9293 §3.5: SYN and SYN-ACK each consume one sequence number.
    const i = this.#initiator;
    const t = this.#target;
    this.#segment(i, t, TcpFlag.SYN, [], 0);
    i.seq = (i.seq + 1) >>> 0;
    this.#segment(t, i, TcpFlag.SYN | TcpFlag.ACK, [], 0);
    t.seq = (t.seq + 1) >>> 0;
    this.#segment(i, t, TcpFlag.ACK, [], 0);
  }

  /**
   * Records one PDU sent by `direction`, given as a list of buffers that are written back to back.
   * An empty PDU writes nothing.
   * @throws InvalidArgumentError after {@link PcapWriter.close}.
   */
  record(direction: TraceDirection, bytes: readonly Uint8Array[]): void {
    if (this.#closed) throw new InvalidArgumentError('PcapWriter.record called after close');
    const [from, to] = direction === 'initiator' ? [this.#initiator, this.#target] : [this.#target, this.#initiator];
    let total = 0;
    for (const b of bytes) total += b.length;
    let part = 0;
    let partOffset = 0;
    while (total > 0) {
      const size = Math.min(total, this.#maxPayload);
      total -= size;
      // Gather this segment's slice of the buffer list (views, copied once into the frame).
      const pieces: Uint8Array[] = [];
      let need = size;
      while (need > 0) {
        const buf = bytes[part]!;
        const take = Math.min(need, buf.length - partOffset);
        if (take > 0) pieces.push(buf.subarray(partOffset, partOffset + take));
        need -= take;
        partOffset += take;
        if (partOffset === buf.length) {
          part++;
          partOffset = 0;
        }
      }
      const last = total === 0;
      this.#segment(from, to, last ? TcpFlag.PSH | TcpFlag.ACK : TcpFlag.ACK, pieces, size);
      from.seq = (from.seq + size) >>> 0;
      from.unacked += size;
    }
    if (from.unacked >= ACK_THRESHOLD) this.#segment(to, from, TcpFlag.ACK, [], 0);
  }

  /** Writes the FIN exchange (initiator FIN, target FIN, initiator ACK). Later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const i = this.#initiator;
    const t = this.#target;
    this.#segment(i, t, TcpFlag.FIN | TcpFlag.ACK, [], 0);
    i.seq = (i.seq + 1) >>> 0; // RFC 9293 §3.5: FIN consumes one sequence number.
    this.#segment(t, i, TcpFlag.FIN | TcpFlag.ACK, [], 0);
    t.seq = (t.seq + 1) >>> 0;
    this.#segment(i, t, TcpFlag.ACK, [], 0);
  }

  /** Builds one frame (record header + Ethernet + IP + TCP + payload) in a fresh buffer and writes it. */
  #segment(from: Side, to: Side, flags: number, pieces: readonly Uint8Array[], size: number): void {
    const syn = (flags & TcpFlag.SYN) !== 0;
    const tcpHeader = TCP_HEADER + (syn ? SYN_OPTIONS : 0);
    const ipHeader = this.#ipv6 ? IPV6_HEADER : IPV4_HEADER;
    const frameLength = ETH_HEADER + ipHeader + tcpHeader + size;
    const out = new Uint8Array(16 + frameLength);
    const view = new DataView(out.buffer);

    const ns = BigInt.asUintN(64, this.#now());
    view.setUint32(0, Number((ns / 1_000_000_000n) & 0xffffffffn), true);
    view.setUint32(4, Number((ns % 1_000_000_000n) / 1000n), true);
    view.setUint32(8, frameLength, true);
    view.setUint32(12, frameLength, true);

    out.set(to.mac, 16);
    out.set(from.mac, 22);
    view.setUint16(28, this.#ipv6 ? 0x86dd : 0x0800);

    const ip = 16 + ETH_HEADER;
    const tcp = ip + ipHeader;
    const tcpLength = tcpHeader + size;
    if (this.#ipv6) {
      view.setUint32(ip, 0x60000000); // version 6, traffic class 0, flow label 0
      view.setUint16(ip + 4, tcpLength);
      out[ip + 6] = 6; // next header: TCP
      out[ip + 7] = 64; // hop limit
      out.set(from.ip, ip + 8);
      out.set(to.ip, ip + 24);
    } else {
      out[ip] = 0x45; // version 4, IHL 5
      view.setUint16(ip + 2, ipHeader + tcpLength);
      view.setUint16(ip + 4, this.#ipId);
      this.#ipId = (this.#ipId + 1) & 0xffff;
      view.setUint16(ip + 6, 0x4000); // DF, no fragments
      out[ip + 8] = 64; // TTL
      out[ip + 9] = 6; // protocol: TCP
      out.set(from.ip, ip + 12);
      out.set(to.ip, ip + 16);
      view.setUint16(ip + 10, ~sum16(out, ip, IPV4_HEADER, 0) & 0xffff); // RFC 791 header checksum
    }

    view.setUint16(tcp, from.port);
    view.setUint16(tcp + 2, to.port);
    view.setUint32(tcp + 4, from.seq);
    const ack = (flags & TcpFlag.ACK) !== 0;
    view.setUint32(tcp + 8, ack ? to.seq : 0);
    out[tcp + 12] = (tcpHeader / 4) << 4;
    out[tcp + 13] = flags;
    view.setUint16(tcp + 14, 0xffff); // window (scaled by WINDOW_SHIFT once both SYNs are seen)
    if (syn) {
      out.set([2, 4, 0xff, 0xd7, 1, 3, 3, WINDOW_SHIFT], tcp + TCP_HEADER); // MSS 65495, NOP, window scale
    }
    let at = tcp + tcpHeader;
    for (const p of pieces) {
      out.set(p, at);
      at += p.length;
    }
    if (ack) to.unacked = 0;

    // RFC 9293 §3.1 (IPv4 pseudo-header) and RFC 8200 §8.1 (IPv6 pseudo-header).
    let pseudo = sum16(from.ip, 0, from.ip.length, 0);
    pseudo = sum16(to.ip, 0, to.ip.length, pseudo);
    pseudo += 6 + (tcpLength & 0xffff) + (tcpLength >>> 16);
    const checksum = ~sum16(out, tcp, tcpLength, pseudo) & 0xffff;
    view.setUint16(tcp + 16, checksum);

    this.#write(out);
  }
}

function side(endpoint: TcpEndpoint, macLast: number, isn: number, v6: boolean): Side {
  const { port } = endpoint;
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new InvalidArgumentError(`port must be an integer in 1..65535, got ${String(port)}`);
  }
  if (!Number.isInteger(isn) || isn < 0 || isn > 0xffffffff) {
    throw new InvalidArgumentError('initial sequence numbers must be integers in 0..2^32-1');
  }
  const ip = v6
    ? Uint8Array.from(new Address6(endpoint.address).toUnsignedByteArray())
    : Uint8Array.from(endpoint.address.split('.'), Number);
  // Locally administered unicast MACs (bit 1 of the first octet set, bit 0 clear).
  return { mac: Uint8Array.of(2, 0, 0, 0, 0, macLast), ip, port, seq: isn, unacked: 0 };
}

/** One's-complement sum (RFC 1071) of `length` bytes at `offset`, folded to 16 bits, added to `initial`. */
function sum16(bytes: Uint8Array, offset: number, length: number, initial: number): number {
  let sum = initial;
  const end = offset + length - 1;
  let i = offset;
  for (; i < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i === end) sum += bytes[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** Wall-clock nanoseconds: Date.now() at creation, advanced by the monotonic high-resolution clock. */
function wallClock(): () => bigint {
  const base = BigInt(Date.now()) * 1_000_000n;
  const start = process.hrtime.bigint();
  return () => base + (process.hrtime.bigint() - start);
}

/**
 * One pcap file for several connections (a login that was redirected or retried, a session that reconnects):
 * the first connection writes the file header, each connection gets its own TCP conversation.
 */
export class PcapTrace {
  readonly #write: (chunk: Uint8Array) => void;
  #started = false;

  constructor(write: (chunk: Uint8Array) => void) {
    this.#write = write;
  }

  /** A writer for one more connection in the file. */
  connection(initiator: TcpEndpoint, target: TcpEndpoint): PcapWriter {
    const writer = new PcapWriter({ initiator, target, write: this.#write, fileHeader: !this.#started });
    this.#started = true;
    return writer;
  }
}
