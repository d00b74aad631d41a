import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError } from '../../src/errors.js';
import { TcpFlag } from '../../src/pdu/capture-types.js';
import { DEFAULT_MAX_SEGMENT_PAYLOAD, PcapWriter } from '../../src/pdu/pcap-write.js';
import { describePeers } from '../helpers/peers.js';
import { tsharkFields } from '../helpers/tshark.js';
import { bhs, pdu, scriptedExchange, splitPcap, writeCapture } from './capture-fixtures.js';

const V4 = { initiator: { address: '192.0.2.10', port: 40000 }, target: { address: '192.0.2.20', port: 3260 } };
const V6 = { initiator: { address: '2001:db8::10', port: 40001 }, target: { address: '2001:db8::20', port: 3260 } };
const BIG = 200_000; // > 3 segments of 65000 bytes

/** RFC 1071 checksum written independently of the writer (byte pairs summed, carries folded at the end). */
function onesComplement(parts: readonly Uint8Array[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all[i]! * 256 + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

const u16 = (b: Uint8Array, at: number) => b[at]! * 256 + b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

describe('PcapWriter', () => {
  it('writes the global header and the handshake at once, synchronously', () => {
    const chunks: Uint8Array[] = [];
    new PcapWriter({ ...V4, write: (c) => chunks.push(c), now: () => 1_700_000_000_123_456_789n });
    expect(chunks.length).toBe(4);
    const h = Buffer.from(chunks[0]!);
    expect(h.length).toBe(24);
    expect(h.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([h.readUInt16LE(4), h.readUInt16LE(6)]).toEqual([2, 4]);
    expect(h.readUInt32LE(16)).toBe(262144);
    expect(h.readUInt32LE(20)).toBe(1);
    const syn = Buffer.from(chunks[1]!);
    expect(syn.readUInt32LE(0)).toBe(1_700_000_000);
    expect(syn.readUInt32LE(4)).toBe(123_456); // microseconds, truncated
    const tcp = 16 + 14 + 20;
    expect(syn[tcp + 13]).toBe(TcpFlag.SYN);
    expect(syn[tcp + 12]! >> 4).toBe(7); // 20 bytes + MSS, NOP, window scale
  });

  it('uses locally administered MACs and consistent seq/ack numbers, IPv4 and TCP checksums', () => {
    const file = writeCapture(scriptedExchange(BIG), V4);
    const frames = splitPcap(file).map((r) => r.data);
    // 3 handshake + 5 single-segment PDUs + ceil((48 + BIG) / 65000) segments + 3 closing frames
    expect(frames.length).toBe(3 + 5 + Math.ceil((48 + BIG) / DEFAULT_MAX_SEGMENT_PAYLOAD) + 3);
    const next: Record<number, number> = {};
    for (const [i, f] of frames.entries()) {
      const fromInitiator = f[11] === 1;
      expect([...f.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0, fromInitiator ? 2 : 1]);
      expect([...f.subarray(6, 12)]).toEqual([2, 0, 0, 0, 0, fromInitiator ? 1 : 2]);
      expect(u16(f, 12)).toBe(0x0800);
      const ip = f.subarray(14);
      expect(onesComplement([ip.subarray(0, 20)])).toBe(0xffff); // header checksum verifies
      expect(u16(ip, 2)).toBe(ip.length);
      const tcp = ip.subarray(20);
      const pseudo = Buffer.concat([ip.subarray(12, 20), Uint8Array.of(0, 6, tcp.length >> 8, tcp.length & 0xff)]);
      expect(onesComplement([pseudo, tcp])).toBe(0xffff);
      const src = u16(tcp, 0);
      const flags = tcp[13]!;
      const seq = u32(tcp, 4);
      const payload = tcp.length - (tcp[12]! >> 4) * 4;
      expect(payload).toBeLessThanOrEqual(DEFAULT_MAX_SEGMENT_PAYLOAD);
      if (i > 0) expect(flags & TcpFlag.ACK).toBe(TcpFlag.ACK);
      if (next[src] !== undefined) expect(seq).toBe(next[src]);
      const other = src === 3260 ? 40000 : 3260;
      if ((flags & TcpFlag.ACK) !== 0 && next[other] !== undefined) expect(u32(tcp, 8)).toBe(next[other]);
      next[src] = (seq + payload + (flags & (TcpFlag.SYN | TcpFlag.FIN) ? 1 : 0)) >>> 0;
    }
  });

  it('writes IPv6 headers with the right payload length and TCP checksum', () => {
    const file = writeCapture(scriptedExchange(70_000), V6);
    for (const f of splitPcap(file).map((r) => r.data)) {
      expect(u16(f, 12)).toBe(0x86dd);
      const ip = f.subarray(14);
      expect(ip[0]! >> 4).toBe(6);
      expect(u16(ip, 4)).toBe(ip.length - 40);
      expect(ip[6]).toBe(6);
      const tcp = ip.subarray(40);
      const len = tcp.length;
      const pseudo = Buffer.concat([ip.subarray(8, 40), Uint8Array.of(0, 0, len >> 8, len & 0xff, 0, 0, 0, 6)]);
      expect(onesComplement([pseudo, tcp])).toBe(0xffff);
    }
  });

  it('splits a PDU given as many small buffers at the segment limit, keeping the bytes', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ ...V4, write: (c) => chunks.push(c), maxSegmentPayload: 1000 });
    const parts = Array.from({ length: 37 }, (_, i) => new Uint8Array(i * 11).fill(i));
    parts.splice(5, 0, new Uint8Array(0));
    w.record('initiator', parts);
    const payloads = chunks.slice(4).map((c) => c.subarray(16 + 14 + 20 + 20));
    expect(payloads.map((p) => p.length).slice(0, -1)).toEqual(Array(payloads.length - 1).fill(1000));
    expect(Buffer.concat(payloads).equals(Buffer.concat(parts))).toBe(true);
    // Only the last segment of the PDU carries PSH.
    expect(chunks.slice(4).map((c) => c[16 + 14 + 20 + 13])).toEqual([
      ...Array(payloads.length - 1).fill(TcpFlag.ACK),
      TcpFlag.PSH | TcpFlag.ACK,
    ]);
  });

  it('copies the caller buffers (chunks stay valid when the caller reuses its buffer)', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ ...V4, write: (c) => chunks.push(c) });
    const buf = new Uint8Array(48).fill(0xaa);
    w.record('initiator', [buf]);
    buf.fill(0);
    expect(
      chunks
        .at(-1)!
        .subarray(-48)
        .every((b) => b === 0xaa),
    ).toBe(true);
  });

  it('writes nothing for an empty PDU, a FIN exchange on close, and refuses records after close', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ ...V4, write: (c) => chunks.push(c) });
    w.record('target', []);
    w.record('target', [new Uint8Array(0)]);
    expect(chunks.length).toBe(4);
    w.close();
    w.close();
    const flags = chunks.slice(4).map((c) => c[16 + 14 + 20 + 13]);
    expect(flags).toEqual([TcpFlag.FIN | TcpFlag.ACK, TcpFlag.FIN | TcpFlag.ACK, TcpFlag.ACK]);
    expect(() => w.record('initiator', [new Uint8Array(48)])).toThrow(InvalidArgumentError);
  });

  it('lets the receiver acknowledge explicitly once 64 MiB are unacknowledged (window never fills)', () => {
    const frames: number[] = [];
    const w = new PcapWriter({ ...V4, write: (c) => frames.push(c[16 + 14 + 20 + 13]!) });
    const mib = new Uint8Array(1 << 20);
    w.record('initiator', Array(63).fill(mib));
    expect(frames.at(-1)).toBe(TcpFlag.PSH | TcpFlag.ACK); // below the threshold: no extra frame
    w.record('initiator', [mib]);
    expect(frames.slice(-2)).toEqual([TcpFlag.PSH | TcpFlag.ACK, TcpFlag.ACK]); // 64 MiB: the target acks
    const count = frames.length;
    w.record('target', [new Uint8Array(48)]);
    w.record('initiator', Array(63).fill(mib));
    expect(frames.length).toBe(count + 1 + Math.ceil((63 << 20) / DEFAULT_MAX_SEGMENT_PAYLOAD));
  });

  it('wraps sequence numbers modulo 2^32', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ ...V4, write: (c) => chunks.push(c), isn: { initiator: 0xffffff00, target: 7 } });
    w.record('initiator', [new Uint8Array(0x200)]);
    w.record('target', [new Uint8Array(4)]);
    const tcp = (c: Uint8Array) => c.subarray(16 + 14 + 20);
    expect(u32(tcp(chunks[4]!), 4)).toBe(0xffffff01);
    expect(u32(tcp(chunks[5]!), 8)).toBe(0x101); // target acks 0xffffff01 + 0x200 mod 2^32
  });

  it('rejects bad addresses, mixed IP versions, ports and options with InvalidArgumentError', () => {
    const write = () => {};
    const bad: unknown[] = [
      { ...V4, target: { address: '2001:db8::1', port: 3260 } },
      { ...V4, initiator: { address: 'example.com', port: 1 } },
      { ...V4, initiator: { address: '300.1.1.1', port: 1 } },
      { ...V4, target: { address: '192.0.2.1', port: 0 } },
      { ...V4, target: { address: '192.0.2.1', port: 65536 } },
      { ...V4, maxSegmentPayload: 0 },
      { ...V4, maxSegmentPayload: 65496 },
      { ...V4, isn: { initiator: -1, target: 0 } },
    ];
    for (const options of bad) {
      const e = (() => {
        try {
          new PcapWriter({ ...(options as typeof V4), write });
        } catch (err) {
          return err;
        }
        return undefined;
      })();
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).code).toBe(ErrorCode.InvalidArgument);
    }
  });
});

// tshark is an independent dissector: without it this suite is skipped, or fails when ISCSI_TS_REQUIRE_PEERS=1.
describePeers(['tshark'], 'PcapWriter output read by tshark', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-pcap-write-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, endpoints] of [
    ['IPv4', V4],
    ['IPv6', V6],
  ] as const) {
    it(`${name}: tshark sees every PDU in order and direction, well-formed, with good checksums`, async () => {
      const script = scriptedExchange(BIG);
      const file = join(dir, `${name}.pcap`);
      const bytes = writeCapture(script, endpoints);
      writeFileSync(file, bytes);

      const rows = await tsharkFields(file, {
        port: 3260,
        fields: ['iscsi.opcode', 'iscsi.initiatortasktag', 'tcp.srcport'],
      });
      const seen = rows.flatMap(([ops = '', itts = '', port = '']) => {
        const itt = itts.split('|');
        return ops.split('|').map((op, i) => [op, itt[i], Number(port)]);
      });
      const port = (from: string) => (from === 'initiator' ? endpoints.initiator.port : endpoints.target.port);
      expect(seen).toEqual(script.map((p) => [p.opcode, p.itt, port(p.from)]));

      // No malformed frame, no TCP analysis complaint (retransmission, lost segment, window full ...), and
      // nothing at expert level "warning" (0x00600000) or above.
      const bad = await tsharkFields(file, {
        port: 3260,
        filter: '_ws.malformed || tcp.analysis.flags || _ws.expert.severity >= 0x00600000',
        fields: ['frame.number'],
      });
      expect(bad).toEqual([]);

      // Checksums verified by tshark 4.0: tcp.checksum.status / ip.checksum.status 1 is "Good" (0 Bad, 2 Unverified).
      const status = await tsharkFields(file, {
        port: 3260,
        filter: 'frame',
        extraOptions: ['-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'],
        fields: ['tcp.checksum.status', 'ip.checksum.status'],
      });
      expect(status.length).toBe(splitPcap(bytes).length);
      for (const row of status) expect(row).toEqual(name === 'IPv4' ? ['1', '1'] : ['1', '']);
    });
  }

  it('tshark reports a bad TCP checksum when a payload byte is flipped (the check is live)', async () => {
    const file = writeCapture([{ from: 'initiator', bytes: pdu(bhs(0x40, 0x80, 9, 0, 0xffffffff)) }], V4);
    const segment = splitPcap(file)[3]!.data; // the first data segment
    segment[segment.length - 1]! ^= 0x01;
    const path = join(dir, 'flipped.pcap');
    writeFileSync(path, file);
    const status = await tsharkFields(path, {
      port: 3260,
      filter: 'frame',
      extraOptions: ['-o', 'tcp.check_checksum:TRUE'],
      fields: ['tcp.checksum.status'],
    });
    expect(status.map(([s]) => s)).toEqual(['1', '1', '1', '0', '1', '1', '1']);
  });
});
