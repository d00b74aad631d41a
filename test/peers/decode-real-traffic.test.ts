/**
 * Real traffic, independent judges: libiscsi's utilities talk to a private tgtd on loopback while tshark captures;
 * `iscsi-ts decode --json` (the real binary) must then read the capture exactly as tshark does, PDU by PDU.
 * The no-auth target offers header digests (tgtd answers CRC32C to libiscsi's None,CRC32C), so the decoder
 * must follow the digests the login negotiated.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePeers, findTool, run } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';
import { type Capture, startCapture, tsharkFields, tsharkVerbose } from '../helpers/tshark.js';

const NOAUTH = 'iqn.2024-01.test.iscsi-ts:decode.noauth';
const CHAPPED = 'iqn.2024-01.test.iscsi-ts:decode.chap';
// Throw-away credentials: a capture's CHAP_C/CHAP_R pair allows offline guessing.
const CHAP = { user: 'decodeuser', secret: 'decodesecret99' } as const;
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

interface JsonPdu {
  frame: number;
  opcode: number;
  itt?: number;
  dataSegmentLength?: number;
  text?: [string, string][];
  violations?: unknown[];
  [field: string]: unknown;
}

describePeers(
  ['tgtd', 'tgtadm', 'iscsi-inq', 'iscsi-ls', 'iscsi-readcapacity16', 'tshark'],
  'iscsi-ts decode on real traffic',
  () => {
    let tgtd: Tgtd | undefined;
    let capture: Capture | undefined;
    let pcap = '';
    let ours: JsonPdu[] = [];
    let decodeOutput = '';

    beforeAll(async () => {
      tgtd = await startTgtd({
        portal: 'both',
        targets: [
          { iqn: NOAUTH, luns: [{ sizeBytes: 16 * 1024 * 1024 }], params: { HeaderDigest: 'CRC32C,None' } },
          { iqn: CHAPPED, luns: [{ sizeBytes: 16 * 1024 * 1024 }], chap: CHAP },
        ],
      });
      capture = await startCapture({ port: tgtd.port });
      const tool = (name: string, args: string[]) => run(findTool(name) ?? name, args, { timeoutMs: 20_000 });
      const results = [
        await tool('iscsi-ls', [`iscsi://127.0.0.1:${tgtd.port}`]),
        await tool('iscsi-inq', [tgtd.url(0, 1)]),
        await tool('iscsi-inq', [tgtd.url(0, 1, { host: '::1' })]),
        await tool('iscsi-readcapacity16', [tgtd.url(1, 1)]),
      ];
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      pcap = await capture.stop();
      decodeOutput = execFileSync('node', [BIN, 'decode', '--json', '--port', String(tgtd.port), pcap], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      ours = JSON.parse(decodeOutput) as JsonPdu[];
    }, 90_000);

    afterAll(async () => {
      await capture?.remove();
      await tgtd?.stop();
    });

    it('finds the same PDUs as tshark: frame, opcode, ITT and DataSegmentLength of each', async () => {
      const rows = await tsharkFields(pcap, {
        port: tgtd!.port,
        fields: ['frame.number', 'iscsi.opcode', 'iscsi.initiatortasktag', 'iscsi.datasegmentlength'],
      });
      const theirs = rows.flatMap(([frame, opcodes, itts, dsls]) => {
        const ops = opcodes!.split('|');
        return ops.map((op, i) => ({
          frame: Number(frame),
          opcode: Number(op),
          itt: Number(itts!.split('|')[i]),
          dataSegmentLength: Number(dsls!.split('|')[i]),
        }));
      });
      expect(theirs.length).toBeGreaterThan(30);
      expect(
        ours.map((p) => ({ frame: p.frame, opcode: p.opcode, itt: p.itt, dataSegmentLength: p.dataSegmentLength })),
      ).toEqual(theirs);
      // Every kind of PDU the session tour produces.
      const opcodes = new Set(ours.map((p) => p.opcode));
      for (const op of [0x03, 0x23, 0x04, 0x24, 0x01, 0x21, 0x25, 0x06, 0x26]) expect(opcodes).toContain(op);
    });

    it('reads the same sequence numbers as tshark', async () => {
      const fields = ['iscsi.cmdsn', 'iscsi.expstatsn', 'iscsi.statsn', 'iscsi.expcmdsn', 'iscsi.maxcmdsn'] as const;
      const names = ['cmdSN', 'expStatSN', 'statSN', 'expCmdSN', 'maxCmdSN'] as const;
      const rows = await tsharkFields(pcap, { port: tgtd!.port, fields: ['frame.number', 'iscsi.opcode', ...fields] });
      let compared = 0;
      for (const row of rows) {
        if (row[1]!.includes('|')) continue; // several PDUs in one frame: occurrences cannot be paired
        const pdu = ours.find((p) => p.frame === Number(row[0]))!;
        names.forEach((name, i) => {
          const cell = row[i + 2];
          if (cell === undefined || cell === '' || pdu[name] === undefined) return;
          expect(pdu[name], `${name} in frame ${row[0]}`).toBe(Number(cell));
          compared++;
        });
      }
      expect(compared).toBeGreaterThan(60);
    });

    it('follows the negotiated header digests, and tshark verifies the same ones good', async () => {
      const verbose = await tsharkVerbose(pcap, { port: tgtd!.port });
      const good = (verbose.match(/Digest: .*Good CRC32/g) ?? []).length;
      expect(good).toBeGreaterThan(0);
      expect(verbose).not.toMatch(/Bad CRC/);
      expect(ours.filter((p) => p.violations !== undefined)).toEqual([]);
      // The digest-carrying PDUs are 4 bytes longer than 48 + padded data: find some.
      const withDigest = ours.filter((p) => p.opcode === 0x01 && (p.length as number) === 52);
      expect(withDigest.length).toBeGreaterThan(0);
    });

    it('shows login keys but never the CHAP challenge or response', async () => {
      const rows = await tsharkFields(pcap, { port: tgtd!.port, fields: ['iscsi.keyvalue'] });
      const chapValues = rows
        .flatMap((r) => (r[0] ?? '').split('|'))
        .filter((kv) => kv.startsWith('CHAP_R=') || kv.startsWith('CHAP_C='))
        .map((kv) => kv.slice(7));
      expect(chapValues.length).toBeGreaterThanOrEqual(2);
      for (const v of chapValues) expect(decodeOutput.toLowerCase()).not.toContain(v.toLowerCase());
      const keys = ours.flatMap((p) => p.text ?? []);
      expect(keys).toContainEqual(['SendTargets', 'All']);
      expect(keys).toContainEqual(['CHAP_N', CHAP.user]);
      expect(keys.find(([k]) => k === 'CHAP_R')?.[1]).toMatch(/^<redacted \d+ bytes>$/);
    });
  },
);
