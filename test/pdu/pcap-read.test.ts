import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Address6 } from 'ip-address';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import type { CapturePacket, CaptureWarning } from '../../src/pdu/capture-types.js';
import { TcpFlag } from '../../src/pdu/capture-types.js';
import { ipv6Text } from '../../src/pdu/frame-decode.js';
import { readCapture } from '../../src/pdu/pcap-read.js';
import { reassemble, type StreamItem, type TcpDirection } from '../../src/pdu/tcp-reassembly.js';
import { describePeers, findTool, run } from '../helpers/peers.js';
import { tsharkFields } from '../helpers/tshark.js';
import {
  buildPcap,
  buildPcapng,
  type FixtureFrame,
  ipOf,
  pcapngBlock,
  scriptedExchange,
  splitPcap,
  wrapLink,
  writeCapture,
} from './capture-fixtures.js';

const V4 = { initiator: { address: '192.0.2.10', port: 40000 }, target: { address: '192.0.2.20', port: 3260 } };
const V6 = { initiator: { address: '2001:db8::10', port: 40001 }, target: { address: '2001:db8::20', port: 3260 } };
const BIG = 150_000;
const T0 = 1_700_000_000_000_000_000n;

/** A deterministic clock: T0, then +1.234567 ms per call. */
function clock(): () => bigint {
  let n = 0n;
  return () => T0 + n++ * 1_234_567n;
}

function capture(endpoints: typeof V4, big = BIG) {
  const script = scriptedExchange(big);
  return { script, file: writeCapture(script, { ...endpoints, now: clock() }) };
}

function streamBytes(d: TcpDirection): Buffer {
  expect(d.items.every((i) => i.kind === 'data')).toBe(true);
  return Buffer.concat(d.items.map((i) => (i.kind === 'data' ? i.bytes : new Uint8Array(0))));
}

/** Frames at which each PDU completes, using a test-local framer (48-byte BHS + padded data, no digests). */
function pduFrames(items: readonly StreamItem[]): number[] {
  const frames: number[] = [];
  let need = 48;
  let header = true;
  let have: number[] = [];
  for (const item of items) {
    if (item.kind !== 'data') throw new Error('unexpected gap');
    for (let i = 0; i < item.bytes.length; ) {
      const take = Math.min(need, item.bytes.length - i);
      if (header) have.push(...item.bytes.subarray(i, i + take));
      i += take;
      need -= take;
      if (need > 0) continue;
      if (header) {
        const dsl = (have[5]! << 16) | (have[6]! << 8) | have[7]!;
        need = (dsl + 3) & ~3;
        header = false;
        have = [];
      }
      if (need === 0) {
        frames.push(item.frame);
        header = true;
        need = 48;
      }
    }
  }
  return frames;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectCaptureError(fn: () => unknown, message: RegExp): ProtocolError {
  const e = catchError(fn);
  expect(e).toBeInstanceOf(ProtocolError);
  const p = e as ProtocolError;
  expect(p.code).toBe(ErrorCode.Capture);
  expect(p.message).toMatch(message);
  expect(typeof p.offset).toBe('number');
  return p;
}

describe('readCapture + reassemble on PcapWriter output', () => {
  for (const [name, endpoints] of [
    ['IPv4', V4],
    ['IPv6', V6],
  ] as const) {
    it(`${name}: gives back each direction's exact bytes, endpoints and timestamps`, () => {
      const { script, file } = capture(endpoints);
      const packets = readCapture(file);
      expect(packets.length).toBe(splitPcap(file).length);
      expect(packets.map((p) => p.frame)).toEqual(packets.map((_, i) => i + 1));
      const c = clock();
      for (const p of packets) expect(p.timestampNs).toBe((c() / 1000n) * 1000n); // microsecond pcap
      expect(packets[0]!.flags).toBe(TcpFlag.SYN);
      expect(packets[0]!.src).toEqual(endpoints.initiator);

      const conversations = reassemble(packets);
      expect(conversations.length).toBe(1);
      const conv = conversations[0]!;
      expect(conv.initiator).toEqual(endpoints.initiator);
      expect(conv.target).toEqual(endpoints.target);
      expect(conv.firstFrame).toBe(1);
      const sent = (from: string) => Buffer.concat(script.filter((p) => p.from === from).flatMap((p) => p.bytes));
      expect(streamBytes(conv.toTarget).equals(sent('initiator'))).toBe(true);
      expect(streamBytes(conv.toInitiator).equals(sent('target'))).toBe(true);
      expect(conv.toTarget.finished && conv.toInitiator.finished).toBe(true);
      // Offsets are contiguous from 0 and payloads are views into the file, not copies.
      let offset = 0;
      for (const item of conv.toTarget.items) {
        expect(item.offset).toBe(offset);
        if (item.kind === 'data') {
          expect(item.bytes.buffer).toBe(file.buffer);
          offset += item.bytes.length;
        }
      }
    });
  }

  it('reports the port filter and rejects a bad port', () => {
    const packets = readCapture(capture(V4, 10).file);
    expect(reassemble(packets, { port: 3261 })).toEqual([]);
    expect(reassemble(packets, { port: 40000 })[0]!.target).toEqual(V4.initiator);
    expect(catchError(() => reassemble(packets, { port: 0 }))).toMatchObject({ code: ErrorCode.InvalidArgument });
  });
});

// tshark and text2pcap are independent readers and writers of captures: without them these suites are skipped, or
// fail when ISCSI_TS_REQUIRE_PEERS=1.
describePeers(['tshark'], 'against tshark', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-pcap-read-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the frame that completes each PDU is the frame tshark shows it in', async () => {
    const { file } = capture(V4);
    const path = join(dir, 'frames.pcap');
    writeFileSync(path, file);
    const rows = await tsharkFields(path, { port: 3260, fields: ['frame.number', 'tcp.srcport', 'iscsi.opcode'] });
    const expected = (port: number) =>
      rows
        .filter(([, p]) => p === String(port))
        .flatMap(([frame = '', , ops = '']) => ops.split('|').map(() => Number(frame)));
    const conv = reassemble(readCapture(file))[0]!;
    expect(pduFrames(conv.toTarget.items)).toEqual(expected(V4.initiator.port));
    expect(pduFrames(conv.toInitiator.items)).toEqual(expected(V4.target.port));
    expect(pduFrames(conv.toTarget.items).length).toBe(3);
  });

  it('reads a pcapng written by tshark exactly like the pcap it came from', async () => {
    const { file } = capture(V6);
    const pcap = join(dir, 'src.pcap');
    const ng = join(dir, 'conv.pcapng');
    writeFileSync(pcap, file);
    const r = await run(findTool('tshark')!, ['-r', pcap, '-F', 'pcapng', '-w', ng]);
    expect(r.code).toBe(0);
    const converted = readFileSync(ng);
    expect(converted.readUInt32LE(0)).toBe(0x0a0d0d0a);
    const strip = (ps: CapturePacket[]) => ps.map((p) => ({ ...p, payload: Buffer.from(p.payload) }));
    expect(strip(readCapture(converted))).toEqual(strip(readCapture(file)));
  });

  // Each link type and container, built from the IP packets of a PcapWriter capture, is read identically by us and
  // by tshark (addresses, ports, raw seq/ack, flags, payload length, timestamp).
  const cases: [string, number, (l: number, f: FixtureFrame[]) => Uint8Array][] = [
    ['pcap BE, Ethernet + 802.1Q', 1, (l, f) => buildPcap(l, f, false)],
    ['pcap LE nanosecond, raw IP', 101, (l, f) => buildPcap(l, f, true, true)],
    ['pcap BE nanosecond, Linux SLL', 113, (l, f) => buildPcap(l, f, false, true)],
    ['pcap LE, Linux SLL2', 276, (l, f) => buildPcap(l, f, true)],
    ['pcap LE, BSD loopback', 0, (l, f) => buildPcap(l, f, true)],
    ['pcapng BE, SLL, extra blocks', 113, (l, f) => buildPcapng([l], f, false, { extraBlocks: true })],
    ['pcapng LE, raw IP, if_tsresol 9', 101, (l, f) => buildPcapng([l], f, true, { tsresol: 9 })],
  ];
  for (const [name, linkType, build] of cases) {
    for (const endpoints of [V4, V6]) {
      const v = endpoints === V4 ? 'IPv4' : 'IPv6';
      it(`${name} (${v}) agrees with tshark`, async () => {
        const records = splitPcap(capture(endpoints, 70_000).file);
        const frames = records.map((r) => ({ ...r, data: wrapLink(linkType, ipOf(r.data)) }));
        const file = build(linkType, frames);
        const path = join(dir, `${linkType}-${v}.cap`);
        writeFileSync(path, file);
        const ours = readCapture(file).map((p) =>
          [
            p.frame,
            p.src.address,
            p.src.port,
            p.dst.address,
            p.dst.port,
            p.seq,
            p.ack,
            p.flags,
            p.payload.length,
            p.timestampNs,
          ].join(' '),
        );
        const ip = v === 'IPv4' ? 'ip' : 'ipv6';
        const rows = await tsharkFields(path, {
          port: 3260,
          filter: 'frame',
          fields: [
            'frame.number',
            `${ip}.src`,
            'tcp.srcport',
            `${ip}.dst`,
            'tcp.dstport',
            'tcp.seq_raw',
            'tcp.ack_raw',
            'tcp.flags',
            'tcp.len',
            'frame.time_epoch',
          ],
        });
        // tshark also numbers the custom block of the pcapng case as a frame (without TCP): drop such rows.
        const theirs = rows
          .filter((f) => f[2] !== '')
          .map((f) => {
            const [sec = '', frac = ''] = f[9]!.split('.');
            const ns = BigInt(sec) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
            return [f[0], f[1], f[2], f[3], f[4], f[5], f[6], Number(f[7]), f[8], ns].join(' ');
          });
        expect(ours).toEqual(theirs);
        expect(ours.length).toBe(records.length);
        if (name.includes('extra blocks')) expect(rows.length).toBe(records.length + 1);
      });
    }
  }
});

describePeers(['text2pcap'], 'against text2pcap', () => {
  it('reads a text2pcap -n pcapng (one synthetic segment per hex dump)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-text2pcap-'));
    try {
      const payload = Buffer.from(`4080000000000000000000000000000011223344ffffffff${'00'.repeat(24)}`, 'hex');
      const hexdump = [...payload]
        .map((b, i) => (i % 16 === 0 ? `\n${i.toString(16).padStart(6, '0')} ` : ' ') + b.toString(16).padStart(2, '0'))
        .join('');
      const txt = join(dir, 'pdu.txt');
      const out = join(dir, 'pdu.pcapng');
      writeFileSync(txt, `${hexdump.trim()}\n`);
      const args = ['-q', '-n', '-T', '40000,3260', '-4', '127.0.0.1,127.0.0.2', txt, out];
      const r = await run(findTool('text2pcap')!, args);
      expect(r.code).toBe(0);
      const file = readFileSync(out);
      expect(file.readUInt32LE(0)).toBe(0x0a0d0d0a);
      const packets = readCapture(file);
      expect(packets.length).toBe(1);
      expect(packets[0]!.src).toEqual({ address: '127.0.0.1', port: 40000 });
      expect(packets[0]!.dst).toEqual({ address: '127.0.0.2', port: 3260 });
      expect(Buffer.from(packets[0]!.payload).equals(payload)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readCapture formats and layers', () => {
  const records = splitPcap(capture(V4, 1000).file);
  const ipPackets = records.map((r) => ipOf(r.data));
  const baseline = readCapture(
    buildPcap(
      101,
      records.map((r) => ({ ...r, data: ipOf(r.data) })),
      true,
    ),
  );
  const shape = (ps: CapturePacket[]) => ps.map((p) => [p.frame, p.src, p.dst, p.seq, p.ack, p.flags, [...p.payload]]);

  it('reads every link type in pcap (both byte orders) and pcapng (both byte orders) alike', () => {
    for (const lt of [0, 1, 101, 113, 276]) {
      const frames = records.map((r) => ({ ...r, data: wrapLink(lt, ipOf(r.data)) }));
      for (const file of [
        buildPcap(lt, frames, true),
        buildPcap(lt, frames, false, true),
        buildPcapng([lt], frames, true),
      ]) {
        expect(shape(readCapture(file))).toEqual(shape(baseline));
      }
      // A custom block is a frame for tshark (4.0): the packets after it are numbered one higher.
      const withExtra = readCapture(buildPcapng([lt], frames, false, { extraBlocks: true }));
      expect(shape(withExtra)).toEqual(shape(baseline).map(([frame, ...rest]) => [(frame as number) + 1, ...rest]));
    }
  });

  it('honours each pcapng interface link type, Simple Packet Blocks and a second section', () => {
    const frames = records.map((r, i) => ({ ...r, iface: i % 2, data: wrapLink(i % 2 === 0 ? 1 : 276, ipOf(r.data)) }));
    const mixed = buildPcapng([1, 276], frames, false);
    expect(shape(readCapture(mixed))).toEqual(shape(baseline));
    const simple = buildPcapng(
      [113],
      records.map((r) => ({ ...r, data: wrapLink(113, ipOf(r.data)) })),
      true,
      { simple: true },
    );
    const read = readCapture(simple);
    expect(shape(read)).toEqual(shape(baseline));
    expect(read.every((p) => p.timestampNs === 0n)).toBe(true);
    // Two sections back to back, the second in the other byte order: frame numbers continue.
    const two = Buffer.concat([
      buildPcapng(
        [101],
        frames.slice(0, 3).map((f, i) => ({ ...f, data: ipPackets[i]!, iface: 0 })),
        true,
      ),
      buildPcapng(
        [101],
        frames.slice(3).map((f, i) => ({ ...f, data: ipPackets[i + 3]!, iface: 0 })),
        false,
      ),
    ]);
    expect(shape(readCapture(two))).toEqual(shape(baseline));
  });

  it('converts if_tsresol units (power of 10 and power of 2) to nanoseconds', () => {
    const frames = [{ seconds: 1_700_000_000, micros: 250_000, data: ipPackets[0]! }];
    expect(readCapture(buildPcapng([101], frames, true, { tsresol: 3 }))[0]!.timestampNs).toBe(
      1_700_000_000_250_000_000n,
    );
    expect(readCapture(buildPcapng([101], frames, true, { tsresol: 9 }))[0]!.timestampNs).toBe(
      1_700_000_000_250_000_000n,
    );
    // 2^-10 units: build by hand, 1.5 s = 1536 units.
    const epb = new DataView(new ArrayBuffer(20));
    epb.setUint32(8, 1536, true);
    epb.setUint32(12, ipPackets[0]!.length, true);
    epb.setUint32(16, ipPackets[0]!.length, true);
    const idb = new DataView(new ArrayBuffer(16));
    idb.setUint16(0, 101, true);
    idb.setUint16(8, 9, true);
    idb.setUint16(10, 1, true);
    idb.setUint8(12, 0x8a);
    const file = Buffer.concat([
      buildPcapng([], [], true),
      pcapngBlock(1, new Uint8Array(idb.buffer), true),
      pcapngBlock(6, Buffer.concat([new Uint8Array(epb.buffer), ipPackets[0]!]), true),
    ]);
    expect(readCapture(file)[0]!.timestampNs).toBe(1_500_000_000n);
  });

  it('applies if_tsoffset and reads obsolete Packet Blocks (type 2) as frames', () => {
    const idb = new DataView(new ArrayBuffer(24));
    idb.setUint16(0, 101, false);
    idb.setUint16(8, 14, false); // if_tsoffset: 8-byte signed seconds
    idb.setUint16(10, 8, false);
    idb.setBigInt64(12, 100n, false);
    const pb = new DataView(new ArrayBuffer(20));
    pb.setUint16(0, 0, false); // interface 0, 16-bit, then a 16-bit drops count
    pb.setUint32(8, 2_500_000, false); // 2.5 s in microseconds
    pb.setUint32(12, ipPackets[3]!.length, false);
    pb.setUint32(16, ipPackets[3]!.length, false);
    const file = Buffer.concat([
      buildPcapng([], [], false),
      pcapngBlock(1, new Uint8Array(idb.buffer), false),
      pcapngBlock(2, Buffer.concat([new Uint8Array(pb.buffer), ipPackets[3]!]), false),
    ]);
    const [p] = readCapture(file);
    expect(p!.frame).toBe(1);
    expect(p!.timestampNs).toBe(102_500_000_000n);
    expect([...p!.payload]).toEqual([...baseline[3]!.payload]);
  });

  it('honours IPv4 options, IPv6 extension headers and the TCP data offset', () => {
    const tcpPayload = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
    // IPv4 with 4 bytes of options (IHL 6) and TCP with 12 bytes of options (data offset 8).
    const tcp = new Uint8Array(32 + 4);
    const tv = new DataView(tcp.buffer);
    tv.setUint16(0, 1234);
    tv.setUint16(2, 3260);
    tv.setUint32(4, 1000);
    tcp[12] = 8 << 4;
    tcp[13] = TcpFlag.ACK | TcpFlag.PSH;
    tcp.set(tcpPayload, 32);
    const ip4 = new Uint8Array(24 + tcp.length);
    ip4[0] = 0x46;
    new DataView(ip4.buffer).setUint16(2, ip4.length);
    ip4[9] = 6;
    ip4.set([10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0], 12);
    ip4.set(tcp, 24);
    const ip6 = new Uint8Array(40 + 8 + 16 + tcp.length);
    const v6 = new DataView(ip6.buffer);
    v6.setUint32(0, 0x60000000);
    v6.setUint16(4, ip6.length - 40);
    ip6[6] = 0; // hop-by-hop
    ip6[23] = 1;
    ip6[39] = 2;
    ip6.set([60, 0, 1, 4, 0, 0, 0, 0], 40); // hop-by-hop -> destination options, PadN
    ip6.set([6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 48); // destination options (16 bytes) -> TCP
    ip6.set(tcp, 64);
    const read = readCapture(
      buildPcap(
        101,
        [ip4, ip6].map((data) => ({ seconds: 1, micros: 0, data })),
        true,
      ),
    );
    expect(read.map((p) => [p.src.address, p.src.port, p.dst.address, p.seq, [...p.payload]])).toEqual([
      ['10.0.0.1', 1234, '10.0.0.2', 1000, [...tcpPayload]],
      ['::1', 1234, '::2', 1000, [...tcpPayload]],
    ]);
  });

  it('skips non-TCP frames silently, fragments with a warning, and still counts their frame numbers', () => {
    const udp = Uint8Array.from(ipPackets[0]!);
    udp[9] = 17;
    const fragment = Uint8Array.from(ipPackets[3]!);
    fragment[6] = 0x20; // MF
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    const frames = [wrapLink(101, udp), wrapLink(101, fragment), wrapLink(101, ipPackets[4]!)];
    const warnings: CaptureWarning[] = [];
    const read = readCapture(
      buildPcap(
        101,
        frames.map((data) => ({ seconds: 0, micros: 0, data })),
        true,
      ),
      { onWarning: (w) => warnings.push(w) },
    );
    expect(read.map((p) => p.frame)).toEqual([3]);
    expect(warnings.map((w) => [w.frame, w.message])).toEqual([[2, expect.stringMatching(/fragment/)]]);
    const eth = readCapture(buildPcap(1, [{ seconds: 0, micros: 0, data: arp }], true));
    expect(eth).toEqual([]);
  });

  it('treats IPv4 total length 0 (segmentation offload) as the frame length', () => {
    const tso = Uint8Array.from(ipPackets[3]!);
    tso[2] = 0;
    tso[3] = 0;
    const [p] = readCapture(buildPcap(101, [{ seconds: 0, micros: 0, data: tso }], true));
    expect([...p!.payload]).toEqual([...baseline[3]!.payload]);
  });

  it('delivers what a snaplen cut left, warns, and reassembly reports the missing bytes as a gap', () => {
    const { script, file } = capture(V4, 3000);
    const recs = splitPcap(file);
    const cut = recs.map((r, i) =>
      i === 4 ? { ...r, data: r.data.subarray(0, 14 + 20 + 20 + 10), originalLength: r.data.length } : r,
    );
    const warnings: CaptureWarning[] = [];
    const packets = readCapture(buildPcap(1, cut, true), { onWarning: (w) => warnings.push(w) });
    expect(packets[4]!.payload.length).toBe(10);
    expect(packets[4]!.wireLength).toBeGreaterThan(10);
    expect(warnings.map((w) => w.frame)).toEqual([5]);
    const items = reassemble(packets)[0]!.toInitiator.items;
    const loginRsp = Buffer.concat(script[1]!.bytes);
    expect(items.map((i) => [i.kind, i.offset, i.kind === 'gap' ? i.length : i.bytes.length])).toEqual([
      ['data', 0, 10],
      ['gap', 10, loginRsp.length - 10],
      ['data', loginRsp.length, 48],
      ['data', loginRsp.length + 48, 48],
    ]);
    // A cut inside the headers: the frame is skipped with a warning, not an error.
    const headerCut = recs.map((r, i) =>
      i === 4 ? { ...r, data: r.data.subarray(0, 30), originalLength: r.data.length } : r,
    );
    const w2: CaptureWarning[] = [];
    expect(readCapture(buildPcap(1, headerCut, true), { onWarning: (w) => w2.push(w) }).length).toBe(recs.length - 1);
    expect(w2[0]!.message).toMatch(/snapshot length/);
  });

  it('formats IPv6 addresses in RFC 5952 form, as ip-address does', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const bytes = new Uint8Array(16);
        groups.forEach((g, i) => {
          bytes[2 * i] = g >> 8;
          bytes[2 * i + 1] = g & 0xff;
        });
        const text = ipv6Text(bytes, 0);
        expect(text).toBe(Address6.fromUnsignedByteArray([...bytes]).correctForm());
        expect([...new Address6(text).toUnsignedByteArray()]).toEqual([...bytes]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('readCapture on malformed input', () => {
  const good = capture(V4, 2000).file;

  it('names the problem and its offset', () => {
    expectCaptureError(() => readCapture(new Uint8Array(2)), /too short/);
    expectCaptureError(() => readCapture(new Uint8Array(64)), /unknown capture format/);
    expectCaptureError(() => readCapture(good.subarray(0, 20)), /global header truncated/);
    const e = expectCaptureError(() => readCapture(good.subarray(0, 24 + 10)), /record header truncated/);
    expect(e.offset).toBe(24);
    expectCaptureError(() => readCapture(good.subarray(0, good.length - 1)), /runs past the end/);
    const ng = buildPcapng([101], [{ seconds: 0, micros: 0, data: ipOf(splitPcap(good)[0]!.data) }], true);
    const badLength = Buffer.from(ng);
    badLength.writeUInt32LE(0xfffffff0, 4);
    expectCaptureError(() => readCapture(badLength), /block length/);
    const badTrailer = Buffer.from(ng);
    badTrailer.writeUInt32LE(99, 24); // SHB is 28 bytes: trailing length at 24
    expectCaptureError(() => readCapture(badTrailer), /trailing length/);
    const badMagic = Buffer.from(ng);
    badMagic.writeUInt32LE(0x12345678, 8);
    expectCaptureError(() => readCapture(badMagic), /byte-order magic/);
    const noIface = buildPcapng([], [{ seconds: 0, micros: 0, data: new Uint8Array(40) }], true);
    expectCaptureError(() => readCapture(noIface), /undeclared interface/);
    const shortEpb = Buffer.concat([buildPcapng([101], [], true), pcapngBlock(6, new Uint8Array(8), true)]);
    expectCaptureError(() => readCapture(shortEpb), /too short/);
    const capLen = Buffer.from(ng);
    capLen.writeUInt32LE(0x7fffffff, 28 + 20 + 8 + 12); // SHB 28, IDB 20, EPB header 8: captured length
    expectCaptureError(() => readCapture(capLen), /runs past its block|invalid/);
  });

  it('rejects inconsistent IP and TCP headers in a fully captured frame', () => {
    const ip = Uint8Array.from(ipOf(splitPcap(good)[2]!.data)); // the handshake's final ACK: no payload
    const variants: [string, (b: Uint8Array) => void, RegExp][] = [
      ['IHL 4', (b) => (b[0] = 0x44), /header length 16 < 20/],
      ['version 5', (b) => (b[0] = 0x55), /IP version 5/],
      ['total length too big', (b) => new DataView(b.buffer).setUint16(2, b.length + 1), /exceeds the frame/],
      ['total length < IHL', (b) => new DataView(b.buffer).setUint16(2, 12), /total length 12/],
      ['TCP offset 4', (b) => (b[32] = 0x40), /data offset 16/],
      ['TCP offset 15', (b) => (b[32] = 0xf0), /data offset 60/],
    ];
    for (const [, mutate, message] of variants) {
      const b = Uint8Array.from(ip);
      mutate(b);
      const e = expectCaptureError(
        () => readCapture(buildPcap(101, [{ seconds: 0, micros: 0, data: b }], true)),
        message,
      );
      expect(e.message).toMatch(/frame 1/);
      expect(e.offset).toBeGreaterThanOrEqual(24 + 16);
    }
  });

  it('throws only ProtocolError, quickly, on random, truncated and bit-flipped captures', () => {
    const ng = buildPcapng(
      [1, 113],
      splitPcap(good).map((r, i) => ({ ...r, iface: i % 2, data: i % 2 ? wrapLink(113, ipOf(r.data)) : r.data })),
      false,
    );
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.constantFrom(good, ng).chain((f) => fc.integer({ min: 0, max: f.length }).map((n) => f.subarray(0, n))),
      fc.tuple(fc.constantFrom(good, ng), fc.array(fc.nat(), { minLength: 1, maxLength: 8 })).map(([f, flips]) => {
        const b = Uint8Array.from(f);
        for (const n of flips) b[n % b.length]! ^= 1 << (n % 8);
        return b;
      }),
      // Headers intact, random bytes after them.
      fc
        .tuple(fc.constantFrom(good.subarray(0, 24), ng.subarray(0, 28)), fc.uint8Array({ maxLength: 300 }))
        .map(([h, t]) => Buffer.concat([h, t])),
    );
    fc.assert(
      fc.property(inputs, (bytes) => {
        const start = performance.now();
        try {
          const packets = readCapture(bytes);
          reassemble(packets);
        } catch (e) {
          if (!(e instanceof ProtocolError) || e.code !== ErrorCode.Capture) throw e;
        }
        expect(performance.now() - start).toBeLessThan(250);
      }),
      { numRuns: 1500 },
    );
  });
});

/** Builds a packet without a capture file (for reassembly tests). */
function pkt(
  frame: number,
  from: 'a' | 'b',
  seq: number,
  flags: number,
  payload: Uint8Array = new Uint8Array(0),
): CapturePacket {
  const a = { address: '198.51.100.1', port: 50000 };
  const b = { address: '198.51.100.2', port: 3260 };
  return {
    frame,
    timestampNs: BigInt(frame),
    src: from === 'a' ? a : b,
    dst: from === 'a' ? b : a,
    seq: seq >>> 0,
    ack: 0,
    flags,
    payload,
    wireLength: payload.length,
  };
}

const ACK = TcpFlag.ACK;

describe('reassemble', () => {
  it('lets the SYN consume one sequence number and attributes buffered bytes to the frame that filled the hole', () => {
    const isn = 0xfffffff0;
    const stream = Uint8Array.from({ length: 40 }, (_, i) => i);
    const items = reassemble([
      pkt(1, 'a', isn, TcpFlag.SYN),
      pkt(2, 'a', isn + 1 + 20, ACK, stream.subarray(20, 40)), // out of order, across the 2^32 wrap
      pkt(3, 'a', isn + 1, ACK, stream.subarray(0, 20)),
    ])[0]!.toTarget.items;
    expect(items.map((i) => [i.kind, i.frame, i.offset])).toEqual([
      ['data', 3, 0],
      ['data', 3, 20],
    ]);
    expect(Buffer.concat(items.map((i) => (i.kind === 'data' ? i.bytes : new Uint8Array(0))))).toEqual(
      Buffer.from(stream),
    );
  });

  it('starts a capture without a handshake at the first segment seen, and decides the target by port', () => {
    const conv = reassemble([pkt(7, 'b', 500, ACK, Uint8Array.of(1, 2)), pkt(8, 'a', 9, ACK, Uint8Array.of(3))])[0]!;
    expect(conv.target.port).toBe(3260);
    expect(conv.firstFrame).toBe(7);
    expect(conv.toInitiator.items).toMatchObject([{ kind: 'data', frame: 7, offset: 0 }]);
    expect(conv.toTarget.items).toMatchObject([{ kind: 'data', frame: 8, offset: 0 }]);
    expect(conv.toTarget.finished).toBe(false);
  });

  it('starts a new conversation when a new SYN reuses the 4-tuple', () => {
    const convs = reassemble([
      pkt(1, 'a', 100, TcpFlag.SYN),
      pkt(2, 'a', 101, ACK, Uint8Array.of(1)),
      pkt(3, 'a', 102, TcpFlag.FIN | ACK),
      pkt(4, 'a', 100, TcpFlag.SYN), // same ISN: a retransmitted SYN of the first connection
      pkt(5, 'a', 7000, TcpFlag.SYN),
      pkt(6, 'a', 7001, ACK, Uint8Array.of(2)),
    ]);
    expect(
      convs.map((c) => [c.firstFrame, c.toTarget.items.map((i) => (i.kind === 'data' ? [...i.bytes] : []))]),
    ).toEqual([
      [1, [[1]]],
      [5, [[2]]],
    ]);
  });

  it('when both ports equal the target port, the side that accepted the SYN is the target', () => {
    const a = { address: '10.0.0.1', port: 3260 };
    const b = { address: '10.0.0.2', port: 3260 };
    const mk = (frame: number, src: typeof a, dst: typeof a, flags: number): CapturePacket => ({
      frame,
      timestampNs: 0n,
      src,
      dst,
      seq: 1,
      ack: 0,
      flags,
      payload: new Uint8Array(0),
      wireLength: 0,
    });
    expect(reassemble([mk(1, b, a, TcpFlag.SYN), mk(2, a, b, TcpFlag.SYN | ACK)])[0]!.target).toEqual(a);
    expect(reassemble([mk(1, a, b, TcpFlag.SYN | ACK)])[0]!.target).toEqual(b); // no SYN seen: first destination
  });

  it('reports a trailing hole before the FIN as a gap', () => {
    const items = reassemble([pkt(1, 'a', 0, ACK, new Uint8Array(10)), pkt(2, 'a', 30, TcpFlag.FIN | ACK)])[0]!.toTarget
      .items;
    expect(items.map((i) => [i.kind, i.frame, i.offset, i.kind === 'gap' ? i.length : i.bytes.length])).toEqual([
      ['data', 1, 0, 10],
      ['gap', 2, 10, 20],
    ]);
  });

  // Property: any delivery order with duplicates and overlapping retransmissions gives the original stream; dropped
  // ranges become gaps at the right offsets and the rest is delivered around them.
  it('reassembles shuffled, duplicated, overlapping and partly lost segments', () => {
    const scenario = fc
      .record({
        stream: fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        cuts: fc.array(fc.nat(), { maxLength: 30 }),
        isn: fc.integer({ min: 0, max: 0xffffffff }),
        syn: fc.boolean(),
        seed: fc.array(fc.nat(), { maxLength: 60 }),
        dropMask: fc.array(fc.boolean(), { maxLength: 31 }),
        overlaps: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { maxLength: 10 }),
      })
      .map((s) => {
        const bounds = [...new Set([0, s.stream.length, ...s.cuts.map((c) => c % s.stream.length)])].sort(
          (x, y) => x - y,
        );
        const segments = bounds.slice(1).map((end, i) => ({ start: bounds[i]!, end, dropped: s.dropMask[i] === true }));
        return { ...s, segments };
      });
    fc.assert(
      fc.property(scenario, ({ stream, isn, syn, seed, segments, overlaps }) => {
        const dataSeq = syn ? isn + 1 : isn;
        const kept = segments.filter((g) => !g.dropped);
        // Overlapping retransmissions: random ranges across up to 4 consecutive kept segments (never into a dropped
        // one, which would fill its hole).
        const extra = overlaps.flatMap(([x, y, z, w]) => {
          const i = x % segments.length;
          if (segments[i]!.dropped) return [];
          let j = i;
          while (j < i + (z % 4) && j + 1 < segments.length && !segments[j + 1]!.dropped) j++;
          const first = segments[i]!;
          const last = segments[j]!;
          const start = first.start + (y % (first.end - first.start));
          const end = Math.max(start + 1, last.start + 1 + (w % (last.end - last.start)));
          return end <= last.end ? [{ start, end }] : [];
        });
        const deliveries = [...kept, ...kept.filter((_, i) => seed[i] !== undefined && seed[i]! % 3 === 0), ...extra];
        // Fisher-Yates with the seed (deterministic per case).
        for (let i = deliveries.length - 1; i > 0; i--) {
          const j = (seed[i % Math.max(1, seed.length)] ?? 0) % (i + 1);
          [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
        }
        const packets: CapturePacket[] = [];
        // The first packet fixes the stream start when there is no SYN: send a zero-length ACK at offset 0 first.
        packets.push(syn ? pkt(1, 'a', isn, TcpFlag.SYN) : pkt(1, 'a', isn, ACK));
        for (const d of deliveries)
          packets.push(pkt(packets.length + 1, 'a', dataSeq + d.start, ACK, stream.subarray(d.start, d.end)));
        packets.push(pkt(packets.length + 1, 'a', dataSeq + stream.length, TcpFlag.FIN | ACK));

        const items = reassemble(packets)[0]!.toTarget.items;
        // Expected: data where kept, one gap per run of dropped segments.
        const expected: [string, number, number][] = [];
        for (const g of segments) {
          const last = expected.at(-1);
          const kind = g.dropped ? 'gap' : 'data';
          if (last !== undefined && last[0] === kind) last[2] = g.end;
          else expected.push([kind, g.start, g.end]);
        }
        const got: [string, number, number][] = [];
        for (const i of items) {
          const end = i.offset + (i.kind === 'gap' ? i.length : i.bytes.length);
          const last = got.at(-1);
          if (last !== undefined && last[0] === i.kind && last[2] === i.offset && i.kind === 'data') last[2] = end;
          else got.push([i.kind, i.offset, end]);
          if (i.kind === 'data')
            expect(Buffer.from(i.bytes).equals(Buffer.from(stream.subarray(i.offset, end)))).toBe(true);
        }
        expect(got).toEqual(expected);
        // Frames never go backwards along the stream for data delivered while packets arrived.
        const dataFrames = items.filter((i) => i.kind === 'data').map((i) => i.frame);
        if (!segments.some((g) => g.dropped)) expect(dataFrames).toEqual([...dataFrames].sort((x, y) => x - y));
      }),
      { numRuns: 400 },
    );
  });

  it('handles many out-of-order segments in bounded time', () => {
    const n = 20_000;
    const packets = [pkt(1, 'a', 0, TcpFlag.SYN)];
    for (let i = n - 1; i >= 0; i--)
      packets.push(pkt(packets.length + 1, 'a', 1 + i * 10, ACK, new Uint8Array(10).fill(i & 0xff)));
    const start = performance.now();
    const items = reassemble(packets)[0]!.toTarget.items;
    expect(performance.now() - start).toBeLessThan(2000);
    expect(items.length).toBe(n);
    expect(items.every((i) => i.frame === n + 1)).toBe(true);
  });
});
