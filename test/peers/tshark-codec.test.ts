/**
 * Cross-check of the codec against an independent dissector: PDUs generated from every opcode are encoded,
 * written to a pcap with PcapWriter, dissected by tshark, and compared with our own reading field by field.
 * Generated PDUs are kept within what Wireshark's sanity checks accept (known TMF functions, one of F/C on Text,
 * ...); field values are otherwise arbitrary.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { encodePdu, encodePduBytes } from '../../src/pdu/encode.js';
import { isidFields } from '../../src/pdu/isid.js';
import { PcapWriter } from '../../src/pdu/pcap-write.js';
import { encodeText } from '../../src/pdu/text.js';
import { decodeCapture } from '../../src/pdu/trace-decode.js';
import type { Pdu } from '../../src/pdu/types.js';
import { pduArbitraries } from '../helpers/arbitraries.js';
import { describePeers } from '../helpers/peers.js';
import { tsharkFields, tsharkVerbose } from '../helpers/tshark.js';

const PORT = 3260;
const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-tshark-'));
afterAll(() => {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

const text = encodeText([
  ['InitiatorName', 'iqn.2024-01.test.example:init'],
  ['HeaderDigest', 'None'],
]);

/**
 * Adjusts a generated PDU to what Wireshark's sanity checks (packet-iscsi.c) accept. Wireshark counts
 * TotalAHSLength only for SCSI Commands, the one PDU with defined AHS types, and follows at most one
 * Extended CDB and one Bidirectional Read-Data Length AHS, as real commands carry.
 */
function sane(pdu: Pdu): Pdu {
  const ahs =
    pdu.kind === 'scsi-command'
      ? (['extended-cdb', 'bidi-read-length'] as const).flatMap((t) => pdu.ahs.filter((a) => a.type === t).slice(0, 1))
      : [];
  const p = { ...pdu, ahs } as Pdu;
  switch (p.kind) {
    case 'nop-out':
      return { ...p, initiatorTaskTag: p.initiatorTaskTag || 1, targetTransferTag: p.targetTransferTag || 1 };
    case 'scsi-command':
      return {
        ...p,
        lun: p.lun & 0xffff000000000000n,
        // Wireshark drops commands announcing a transfer in neither direction.
        expectedDataTransferLength: p.read || p.write ? p.expectedDataTransferLength & 0xffffff : 0,
      };
    case 'task-management-request':
      return { ...p, function: 1 + (p.function % 8) };
    case 'task-management-response':
      return { ...p, response: p.response % 7 };
    case 'login-request':
    case 'login-response':
      return { ...p, nextStage: p.transit && p.nextStage === 0 ? 1 : p.nextStage, data: text };
    case 'text-request':
    case 'text-response':
      return { ...p, final: !p.continue, data: text };
    case 'logout-request':
      return { ...p, reasonCode: p.reasonCode % 3 };
    case 'logout-response':
      return { ...p, response: p.response % 4 };
    case 'snack': {
      const type = p.type % 4;
      if (type === 1 || type === 2) return { ...p, type, initiatorTaskTag: 0xffffffff };
      if (type === 3) return { ...p, type, targetTransferTag: (p.targetTransferTag % 0xfffffffe) + 1 };
      return { ...p, type };
    }
    case 'scsi-response':
      return { ...p, status: [0x00, 0x02, 0x08, 0x18, 0x28][p.status % 5]! };
    case 'r2t':
      return { ...p, desiredDataTransferLength: p.desiredDataTransferLength || 1 };
    case 'reject': {
      const rejected: Pdu = {
        ...fc.sample(pduArbitraries['nop-out'], { numRuns: 1, seed: p.dataSN })[0]!,
        ahs: [],
        data: new Uint8Array(0),
      };
      return { ...p, reason: 1 + (p.reason % 11), ahs: [], data: encodePduBytes(sane(rejected)) };
    }
    default:
      return p;
  }
}

// tshark field ↔ our field, compared wherever tshark shows the field.
const FIELDS: readonly [string, (p: Pdu) => number | undefined][] = [
  // tshark shows no ITT of its own for a Reject; its first ITT is that of the rejected header it carries.
  ['iscsi.initiatortasktag', (p) => (p.kind === 'reject' ? Buffer.from(p.data).readUInt32BE(16) : p.initiatorTaskTag)],
  ['iscsi.datasegmentlength', (p) => p.data.length],
  ['iscsi.cmdsn', (p) => ('cmdSN' in p ? p.cmdSN : undefined)],
  ['iscsi.expstatsn', (p) => ('expStatSN' in p ? p.expStatSN : undefined)],
  ['iscsi.statsn', (p) => ('statSN' in p ? p.statSN : undefined)],
  ['iscsi.expcmdsn', (p) => ('expCmdSN' in p ? p.expCmdSN : undefined)],
  ['iscsi.maxcmdsn', (p) => ('maxCmdSN' in p ? p.maxCmdSN : undefined)],
  ['iscsi.datasn', (p) => ('dataSN' in p ? p.dataSN : undefined)],
  ['iscsi.r2tsn', (p) => ('r2tSN' in p ? p.r2tSN : undefined)],
  ['iscsi.bufferOffset', (p) => ('bufferOffset' in p ? p.bufferOffset : undefined)],
  ['iscsi.targettransfertag', (p) => ('targetTransferTag' in p ? p.targetTransferTag : undefined)],
  ['iscsi.desireddatalength', (p) => (p.kind === 'r2t' ? p.desiredDataTransferLength : undefined)],
  [
    'iscsi.scsicommand.expecteddatatransferlength',
    (p) => (p.kind === 'scsi-command' ? p.expectedDataTransferLength : undefined),
  ],
  ['iscsi.tsih', (p) => ('tsih' in p ? p.tsih : undefined)],
  ['iscsi.cid', (p) => ('cid' in p ? p.cid : undefined)],
  ['iscsi.time2wait', (p) => (p.kind === 'logout-response' ? p.time2Wait : undefined)],
  ['iscsi.time2retain', (p) => (p.kind === 'logout-response' ? p.time2Retain : undefined)],
  ['iscsi.refcmdsn', (p) => (p.kind === 'task-management-request' ? p.refCmdSN : undefined)],
  [
    'iscsi.taskmanfun.referencedtasktag',
    (p) => (p.kind === 'task-management-request' ? p.referencedTaskTag : undefined),
  ],
  ['iscsi.taskmanfun.function', (p) => (p.kind === 'task-management-request' ? p.function : undefined)],
  ['iscsi.snack.begrun', (p) => (p.kind === 'snack' ? p.begRun : undefined)],
  ['iscsi.snack.runlength', (p) => (p.kind === 'snack' ? p.runLength : undefined)],
  ['iscsi.parameter1', (p) => (p.kind === 'async-message' ? p.parameter1 : undefined)],
  ['iscsi.parameter3', (p) => (p.kind === 'async-message' ? p.parameter3 : undefined)],
  ['iscsi.asyncevent', (p) => (p.kind === 'async-message' ? p.asyncEvent : undefined)],
  ['iscsi.logout.reason', (p) => (p.kind === 'logout-request' ? p.reasonCode : undefined)],
  ['iscsi.logout.response', (p) => (p.kind === 'logout-response' ? p.response : undefined)],
  ['iscsi.reject.reason', (p) => (p.kind === 'reject' ? p.reason : undefined)],
  ['iscsi.scsiresponse.residualcount', (p) => (p.kind === 'scsi-response' ? p.residualCount : undefined)],
  ['iscsi.login.status', (p) => (p.kind === 'login-response' ? (p.statusClass << 8) | p.statusDetail : undefined)],
  ['iscsi.totalahslength', (p) => (p.kind === 'scsi-command' ? ahsWords(p) : undefined)],
  ['iscsi.I', (p) => ('immediate' in p ? bit(p.immediate) : undefined)],
  ['iscsi.scsicommand.F', (p) => (p.kind === 'scsi-command' ? bit(p.final) : undefined)],
  ['iscsi.scsicommand.R', (p) => (p.kind === 'scsi-command' ? bit(p.read) : undefined)],
  ['iscsi.scsicommand.W', (p) => (p.kind === 'scsi-command' ? bit(p.write) : undefined)],
  ['iscsi.scsicommand.attr', (p) => (p.kind === 'scsi-command' ? p.attributes : undefined)],
  ['iscsi.scsiresponse.o', (p) => (p.kind === 'scsi-response' ? bit(p.bidiReadResidualOverflow) : undefined)],
  ['iscsi.scsiresponse.u', (p) => (p.kind === 'scsi-response' ? bit(p.bidiReadResidualUnderflow) : undefined)],
  ['iscsi.scsiresponse.O', (p) => (p.kind === 'scsi-response' ? bit(p.residualOverflow) : undefined)],
  ['iscsi.scsiresponse.U', (p) => (p.kind === 'scsi-response' ? bit(p.residualUnderflow) : undefined)],
  ['iscsi.scsiresponse.status', (p) => (p.kind === 'scsi-response' ? p.status : undefined)],
  ['iscsi.scsiresponse.response', (p) => (p.kind === 'scsi-response' ? p.response : undefined)],
  [
    'iscsi.scsiresponse.bidireadresidualcount',
    (p) => (p.kind === 'scsi-response' ? p.bidiReadResidualCount : undefined),
  ],
  ['iscsi.expdatasn', (p) => ('expDataSN' in p ? p.expDataSN : undefined)],
  ['iscsi.scsidata.F', (p) => (p.kind === 'data-in' || p.kind === 'data-out' ? bit(p.final) : undefined)],
  ['iscsi.scsidata.A', (p) => (p.kind === 'data-in' ? bit(p.acknowledge) : undefined)],
  ['iscsi.scsidata.S', (p) => (p.kind === 'data-in' ? bit(p.statusPresent) : undefined)],
  ['iscsi.scsidata.O', (p) => (p.kind === 'data-in' ? bit(p.residualOverflow) : undefined)],
  ['iscsi.scsidata.U', (p) => (p.kind === 'data-in' ? bit(p.residualUnderflow) : undefined)],
  ['iscsi.scsidata.readresidualcount', (p) => (p.kind === 'data-in' ? p.residualCount : undefined)],
  ['iscsi.versionmax', (p) => ('versionMax' in p ? p.versionMax : undefined)],
  ['iscsi.versionmin', (p) => (p.kind === 'login-request' ? p.versionMin : undefined)],
  ['iscsi.versionactive', (p) => (p.kind === 'login-response' ? p.versionActive : undefined)],
  ['iscsi.isid.t', (p) => ('isid' in p ? isidFields(p.isid).t : undefined)],
  ['iscsi.isid.b', (p) => ('isid' in p ? isidFields(p.isid).b : undefined)],
  ['iscsi.isid.d', (p) => ('isid' in p ? isidFields(p.isid).d : undefined)],
  ['iscsi.login.T', (p) => ('transit' in p ? bit(p.transit) : undefined)],
  ['iscsi.login.C', (p) => (p.kind === 'login-request' || p.kind === 'login-response' ? bit(p.continue) : undefined)],
  ['iscsi.login.csg', (p) => ('currentStage' in p ? p.currentStage : undefined)],
  ['iscsi.login.nsg', (p) => ('nextStage' in p ? p.nextStage : undefined)],
  ['iscsi.text.F', (p) => (p.kind === 'text-request' || p.kind === 'text-response' ? bit(p.final) : undefined)],
  ['iscsi.text.C', (p) => (p.kind === 'text-request' || p.kind === 'text-response' ? bit(p.continue) : undefined)],
  ['iscsi.taskmanfun.response', (p) => (p.kind === 'task-management-response' ? p.response : undefined)],
  ['iscsi.snack.type', (p) => (p.kind === 'snack' ? p.type : undefined)],
  ['iscsi.eventvendorcode', (p) => (p.kind === 'async-message' ? p.asyncVCode : undefined)],
  ['iscsi.parameter2', (p) => (p.kind === 'async-message' ? p.parameter2 : undefined)],
];

function bit(b: boolean): number {
  return b ? 1 : 0;
}

function ahsWords(p: Pdu): number {
  return encodePduBytes(p)[4] ?? 0;
}

/** tshark prints booleans as True/False and numbers in decimal or 0x hex. */
function cellValue(cell: string): number {
  const first = cell.split('|')[0]!;
  if (first === 'True') return 1;
  if (first === 'False') return 0;
  return Number(first);
}

function writeCapture(name: string, pdus: readonly Pdu[], digestFrom?: number): string {
  const chunks: Uint8Array[] = [];
  let t = 1_700_000_000_000_000_000n;
  const writer = new PcapWriter({
    initiator: { address: '127.0.0.1', port: 40000 },
    target: { address: '127.0.0.2', port: PORT },
    write: (c) => chunks.push(c),
    now: () => (t += 1000n),
  });
  pdus.forEach((p, i) => {
    const headerDigest = digestFrom !== undefined && i >= digestFrom;
    writer.record(senderOfKind(p), encodePdu(p, { headerDigest }));
  });
  writer.close();
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

function senderOfKind(p: Pdu): 'initiator' | 'target' {
  return [
    'nop-out',
    'scsi-command',
    'task-management-request',
    'login-request',
    'text-request',
    'data-out',
    'logout-request',
    'snack',
  ].includes(p.kind)
    ? 'initiator'
    : 'target';
}

describePeers(['tshark'], 'codec against tshark (independent dissector)', () => {
  it('every generated PDU of all 18 opcodes reads the same in tshark as in iscsi-ts', async () => {
    const kinds = Object.values(pduArbitraries) as fc.Arbitrary<Pdu>[];
    const pdus = kinds.flatMap((arb, i) => fc.sample(arb, { numRuns: 12, seed: 7001 + i }).map(sane));
    // Shuffle deterministically so directions interleave.
    pdus.sort((a, b) => (a.initiatorTaskTag ^ a.data.length) - (b.initiatorTaskTag ^ b.data.length));
    const pcap = writeCapture('codec.pcap', pdus);
    const rows = await tsharkFields(pcap, {
      port: PORT,
      fields: ['frame.number', 'iscsi.opcode', ...FIELDS.map(([f]) => f)],
    });
    const ours = decodeCapture(await import('node:fs').then((fs) => fs.readFileSync(pcap)), { port: PORT });
    expect(ours.problems).toEqual([]);
    expect(ours.pdus.map((t) => t.pdu)).toEqual(pdus);
    // One PDU per frame here, so tshark rows and our PDUs pair up in order.
    expect(rows.length).toBe(pdus.length);
    let compared = 0;
    rows.forEach((row, i) => {
      const p = pdus[i]!;
      const traced = ours.pdus[i]!;
      expect(Number(row[0]), `frame of PDU ${i}`).toBe(traced.frame);
      expect(Number(row[1]!.split('|')[0]), `opcode of PDU ${i} (${p.kind})`).toBe(traced.opcode);
      FIELDS.forEach(([field, get], j) => {
        const ourValue = get(p);
        const cell = row[j + 2];
        if (ourValue === undefined || cell === undefined || cell === '') return;
        expect(cellValue(cell), `${field} of PDU ${i} (${p.kind})`).toBe(ourValue);
        compared++;
      });
    });
    expect(compared).toBeGreaterThan(pdus.length * 4);
  });

  it('header digest verdicts agree with tshark, including one corrupted digest', async () => {
    const login = (kind: 'login-request' | 'login-response', keys: string): Pdu =>
      ({
        ...fc.sample(pduArbitraries[kind] as fc.Arbitrary<Pdu>, { numRuns: 1, seed: 3 })[0]!,
        transit: true,
        continue: false,
        currentStage: 1,
        nextStage: 3,
        ...(kind === 'login-response' ? { statusClass: 0, statusDetail: 0 } : {}),
        ahs: [],
        data: encodeText([['HeaderDigest', keys]]),
      }) as Pdu;
    const ffp = ['nop-out', 'scsi-command', 'data-in', 'scsi-response', 'r2t', 'data-out', 'nop-in'] as const;
    const pdus: Pdu[] = [login('login-request', 'CRC32C,None'), login('login-response', 'CRC32C')];
    for (let i = 0; i < 20; i++)
      pdus.push(
        sane(fc.sample(pduArbitraries[ffp[i % ffp.length]!] as fc.Arbitrary<Pdu>, { numRuns: 1, seed: 50 + i })[0]!),
      );
    const good = writeCapture('digests.pcap', pdus, 2);
    const verbose = await tsharkVerbose(good, { port: PORT });
    expect((verbose.match(/Digest: .*Good CRC32/g) ?? []).length).toBe(20);
    expect(verbose).not.toMatch(/Bad CRC/);
    const oursGood = decodeCapture(await import('node:fs').then((fs) => fs.readFileSync(good)), { port: PORT });
    expect(oursGood.pdus.filter((t) => t.violations.length > 0)).toEqual([]);

    // Corrupt the header digest of the 6th full-feature PDU: a later one, which tshark reports as Bad.
    const bytes = (await import('node:fs')).readFileSync(good);
    const target = encodePduBytes(pdus[7]!, { headerDigest: true });
    const digestAt = 48 + target[4]! * 4;
    const at = bytes.indexOf(Buffer.from(target.subarray(0, digestAt + 4)));
    expect(at).toBeGreaterThan(0);
    bytes[at + digestAt]! ^= 0xff;
    const badPath = join(dir, 'bad-digest.pcap');
    writeFileSync(badPath, bytes);
    const badVerbose = await tsharkVerbose(badPath, { port: PORT });
    expect((badVerbose.match(/Digest: .*Bad CRC32/g) ?? []).length).toBe(1);
    const oursBad = decodeCapture(bytes, { port: PORT });
    const flagged = [...oursBad.pdus.filter((t) => t.violations.some((v) => v.code === 'ERR_ISCSI_DIGEST'))];
    expect(flagged.map((t) => t.frame)).toEqual([oursGood.pdus[7]!.frame]);
  });
});
