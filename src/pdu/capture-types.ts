/**
 * Types and constants shared by the pcap writer, the capture reader and TCP reassembly.
 * @module
 */

/** One end of a TCP connection. */
export interface TcpEndpoint {
  /** IPv4 dotted quad, or IPv6 in RFC 5952 text form (lower case, longest zero run compressed). */
  readonly address: string;
  /** TCP port, 0..65535. */
  readonly port: number;
}

/** TCP header flag bits (RFC 9293 §3.1), as found in {@link CapturePacket.flags}. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Link-layer header types (tcpdump.org LINKTYPE_* values) the capture reader understands. */
export const LinkType = {
  /** BSD loopback: a 4-byte address family in the capturing host's byte order. */
  NULL: 0,
  /** Ethernet II, optionally with 802.1Q / 802.1ad VLAN tags. */
  ETHERNET: 1,
  /** Raw IP as some BSDs number it (DLT_RAW = 12). */
  RAW_BSD: 12,
  /** Raw IPv4 or IPv6, version taken from the first nibble. */
  RAW: 101,
  /** OpenBSD loopback: a 4-byte address family in network byte order. */
  LOOP: 108,
  /** Linux "cooked" capture, version 1 (16-byte header). */
  LINUX_SLL: 113,
  /** Raw IPv4 only. */
  IPV4: 228,
  /** Raw IPv6 only. */
  IPV6: 229,
  /** Linux "cooked" capture, version 2 (20-byte header). */
  LINUX_SLL2: 276,
} as const;

/** One TCP segment read from a capture. */
export interface CapturePacket {
  /** 1-based frame number, counted over every packet record of the file exactly as tshark numbers frames. */
  readonly frame: number;
  /** Capture time in nanoseconds since the Unix epoch (0n for pcapng Simple Packet Blocks, which carry none). */
  readonly timestampNs: bigint;
  readonly src: TcpEndpoint;
  readonly dst: TcpEndpoint;
  /** Sequence number (absolute, as on the wire). */
  readonly seq: number;
  /** Acknowledgment number (meaningful when `flags` has ACK). */
  readonly ack: number;
  /** TCP flags (see {@link TcpFlag}; bit 8 is the NS bit). */
  readonly flags: number;
  /** The captured TCP payload: a view into the capture bytes, never a copy. */
  readonly payload: Uint8Array;
  /**
   * Payload length the IP header announces. It is larger than `payload.length` only when the capture
   * cut the frame short (snaplen); the missing bytes then show up as a gap after reassembly.
   */
  readonly wireLength: number;
}

/** Something the reader skipped or could only partly read, without the input being malformed. */
export interface CaptureWarning {
  /** Frame number concerned (0 when the warning is about the file rather than a frame). */
  readonly frame: number;
  /** Byte offset in the capture where the concerned record starts. */
  readonly offset: number;
  readonly message: string;
}
