/**
 * Test helpers for capture tests: hand-built iSCSI PDUs, a PcapWriter run collected into one buffer, a minimal
 * independent pcap record splitter, and re-wrapping of IP packets into other link layers and containers. Kept
 * deliberately simple and independent of src/pdu/pcap-read.ts so they can judge it.
 */
import { PcapWriter, type PcapWriterOptions, type TraceDirection } from '../../src/pdu/pcap-write.js';

/** A 48-byte BHS with the given first two bytes, ITT, TTT (bytes 20-23) and DataSegmentLength. */
export function bhs(byte0: number, byte1: number, itt: number, dataLength: number, word20 = 0): Uint8Array {
  const b = new Uint8Array(48);
  const v = new DataView(b.buffer);
  b[0] = byte0;
  b[1] = byte1;
  b[5] = (dataLength >> 16) & 0xff;
  b[6] = (dataLength >> 8) & 0xff;
  b[7] = dataLength & 0xff;
  v.setUint32(16, itt);
  v.setUint32(20, word20);
  return b;
}

/** A whole PDU as a buffer list: BHS, data segment, zero padding to a multiple of 4. */
export function pdu(header: Uint8Array, data: Uint8Array = new Uint8Array(0)): Uint8Array[] {
  const pad = (4 - (data.length % 4)) % 4;
  return pad === 0 ? [header, data] : [header, data, new Uint8Array(pad)];
}

/** One PDU of a scripted exchange, and what tshark should report for it. */
export interface ScriptedPdu {
  readonly from: TraceDirection;
  readonly bytes: Uint8Array[];
  /** `iscsi.opcode` as tshark prints it (6 bits, no I bit). */
  readonly opcode: string;
  /** `iscsi.initiatortasktag` as tshark prints it. */
  readonly itt: string;
}

const text = (s: string) => new TextEncoder().encode(s);

/**
 * A small exchange tshark accepts: every BHS passes the 4.0 dissector's sanity checks (e.g. a NOP-Out needs
 * byte 1 = 0x80 and non-zero ITT and TTT; a Login Response needs bytes 20-23 zero). `bigData` bytes of ping data
 * make the third NOP-Out span several segments.
 */
export function scriptedExchange(bigData: number): ScriptedPdu[] {
  const login = text('InitiatorName=iqn.2024-01.test:init\0SessionType=Normal\0');
  const loginRsp = text('TargetPortalGroupTag=1\0');
  const big = new Uint8Array(bigData);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
  return [
    {
      from: 'initiator',
      bytes: pdu(bhs(0x43, 0x87, 0x00000001, login.length), login),
      opcode: '0x03',
      itt: '0x00000001',
    },
    {
      from: 'target',
      bytes: pdu(bhs(0x23, 0x87, 0x00000001, loginRsp.length), loginRsp),
      opcode: '0x23',
      itt: '0x00000001',
    },
    { from: 'initiator', bytes: pdu(bhs(0x40, 0x80, 0x11223344, 0, 0xffffffff)), opcode: '0x00', itt: '0x11223344' },
    { from: 'target', bytes: pdu(bhs(0x20, 0x80, 0x11223344, 0, 0xffffffff)), opcode: '0x20', itt: '0x11223344' },
    {
      from: 'initiator',
      bytes: pdu(bhs(0x40, 0x80, 0x55667788, big.length, 0xffffffff), big),
      opcode: '0x00',
      itt: '0x55667788',
    },
    { from: 'target', bytes: pdu(bhs(0x20, 0x80, 0x55667788, 0, 0xffffffff)), opcode: '0x20', itt: '0x55667788' },
  ];
}

/** Runs a PcapWriter over `script` and returns the whole file. */
export function writeCapture(
  script: readonly { readonly from: TraceDirection; readonly bytes: Uint8Array[] }[],
  options: Omit<PcapWriterOptions, 'write'>,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter({ ...options, write: (c) => chunks.push(c) });
  for (const p of script) w.record(p.from, p.bytes);
  w.close();
  return Buffer.concat(chunks);
}

/** One record of a little-endian microsecond pcap, split without using the code under test. */
export interface RawRecord {
  readonly seconds: number;
  readonly micros: number;
  readonly data: Uint8Array;
}

export function splitPcap(file: Uint8Array): RawRecord[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (v.getUint32(0, true) !== 0xa1b2c3d4) throw new Error('fixture expects a little-endian microsecond pcap');
  const out: RawRecord[] = [];
  for (let at = 24; at < file.length; ) {
    const len = v.getUint32(at + 8, true);
    out.push({
      seconds: v.getUint32(at, true),
      micros: v.getUint32(at + 4, true),
      data: file.subarray(at + 16, at + 16 + len),
    });
    at += 16 + len;
  }
  return out;
}

/** The IP packet of an untagged Ethernet frame. */
export function ipOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(14);
}

/** Re-wraps an IP packet in a link-layer header. */
export function wrapLink(linkType: number, ip: Uint8Array): Uint8Array {
  const v6 = ip[0]! >> 4 === 6;
  const ethType = v6 ? 0x86dd : 0x0800;
  let header: Uint8Array;
  switch (linkType) {
    case 0: {
      // BSD loopback, little-endian host: AF_INET = 2, AF_INET6 = 30 (macOS).
      header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, v6 ? 30 : 2, true);
      break;
    }
    case 1: {
      // Ethernet with one 802.1Q tag (VLAN 100).
      header = new Uint8Array(18);
      header.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 100, ethType >> 8, ethType & 0xff]);
      break;
    }
    case 101:
      header = new Uint8Array(0);
      break;
    case 113: {
      header = new Uint8Array(16);
      const hv = new DataView(header.buffer);
      hv.setUint16(0, 0); // packet sent to us
      hv.setUint16(2, 1); // ARPHRD_ETHER
      hv.setUint16(4, 6);
      header.set([2, 0, 0, 0, 0, 1], 6);
      hv.setUint16(14, ethType);
      break;
    }
    case 276: {
      header = new Uint8Array(20);
      const hv = new DataView(header.buffer);
      hv.setUint16(0, ethType);
      hv.setUint32(4, 1); // interface index
      hv.setUint16(8, 1); // ARPHRD_ETHER
      header[10] = 0;
      header[11] = 6;
      header.set([2, 0, 0, 0, 0, 1], 12);
      break;
    }
    default:
      throw new Error(`fixture: link type ${linkType}`);
  }
  return Buffer.concat([header, ip]);
}

export interface FixtureFrame {
  readonly seconds: number;
  readonly micros: number;
  readonly data: Uint8Array;
  readonly originalLength?: number;
}

/** A classic pcap with the given byte order and timestamp unit (nanosecond timestamps are micros * 1000). */
export function buildPcap(linkType: number, frames: readonly FixtureFrame[], le: boolean, nano = false): Uint8Array {
  const parts: Uint8Array[] = [];
  const h = new DataView(new ArrayBuffer(24));
  h.setUint32(0, nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  h.setUint16(4, 2, le);
  h.setUint16(6, 4, le);
  h.setUint32(16, 262144, le);
  h.setUint32(20, linkType, le);
  parts.push(new Uint8Array(h.buffer));
  for (const f of frames) {
    const r = new DataView(new ArrayBuffer(16));
    r.setUint32(0, f.seconds, le);
    r.setUint32(4, nano ? f.micros * 1000 : f.micros, le);
    r.setUint32(8, f.data.length, le);
    r.setUint32(12, f.originalLength ?? f.data.length, le);
    parts.push(new Uint8Array(r.buffer), f.data);
  }
  return Buffer.concat(parts);
}

/** A pcapng block: type, body (padded to 4 bytes), trailing length. */
export function pcapngBlock(type: number, body: Uint8Array, le: boolean): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const out = new Uint8Array(12 + padded);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, out.length, le);
  out.set(body, 8);
  v.setUint32(out.length - 4, out.length, le);
  return out;
}

/**
 * A pcapng file with one section and one interface per entry of `linkTypes`; frames go to the interface given,
 * as Enhanced Packet Blocks, or as Simple Packet Blocks when `simple` is set (interface 0 only).
 * `tsresol` (if_tsresol option byte) applies to every interface.
 */
export function buildPcapng(
  linkTypes: readonly number[],
  frames: readonly (FixtureFrame & { readonly iface?: number })[],
  le: boolean,
  options: { readonly simple?: boolean; readonly tsresol?: number; readonly extraBlocks?: boolean } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  const shb = new DataView(new ArrayBuffer(16));
  shb.setUint32(0, 0x1a2b3c4d, le);
  shb.setUint16(4, 1, le);
  shb.setUint16(6, 0, le);
  shb.setInt32(8, -1, le);
  shb.setInt32(12, -1, le);
  parts.push(pcapngBlock(0x0a0d0d0a, new Uint8Array(shb.buffer), le));
  for (const lt of linkTypes) {
    const hasRes = options.tsresol !== undefined;
    const idb = new DataView(new ArrayBuffer(hasRes ? 20 : 8));
    idb.setUint16(0, lt, le);
    idb.setUint32(4, 262144, le);
    if (hasRes) {
      idb.setUint16(8, 9, le); // if_tsresol
      idb.setUint16(10, 1, le);
      idb.setUint8(12, options.tsresol!);
      // bytes 13..15 padding, then opt_endofopt (code 0, length 0) at 16..19
    }
    parts.push(pcapngBlock(1, new Uint8Array(idb.buffer), le));
  }
  if (options.extraBlocks) {
    // A Name Resolution Block and a custom block: readers must skip them.
    parts.push(pcapngBlock(4, new Uint8Array(4), le), pcapngBlock(0x00000bad, Uint8Array.of(1, 2, 3, 4, 5), le));
  }
  const perSecond = options.tsresol === undefined ? 1_000_000n : 10n ** BigInt(options.tsresol);
  for (const f of frames) {
    if (options.simple) {
      const body = new Uint8Array(4 + f.data.length);
      new DataView(body.buffer).setUint32(0, f.originalLength ?? f.data.length, le);
      body.set(f.data, 4);
      parts.push(pcapngBlock(3, body, le));
      continue;
    }
    const units = ((BigInt(f.seconds) * 1_000_000n + BigInt(f.micros)) * perSecond) / 1_000_000n;
    const body = new Uint8Array(20 + f.data.length);
    const v = new DataView(body.buffer);
    v.setUint32(0, f.iface ?? 0, le);
    v.setUint32(4, Number(units >> 32n), le);
    v.setUint32(8, Number(units & 0xffffffffn), le);
    v.setUint32(12, f.data.length, le);
    v.setUint32(16, f.originalLength ?? f.data.length, le);
    body.set(f.data, 20);
    parts.push(pcapngBlock(6, body, le));
  }
  return Buffer.concat(parts);
}
