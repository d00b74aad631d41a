import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDecode } from '../../src/cli/decode.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { PcapWriter } from '../../src/pdu/pcap-write.js';
import { encodeText } from '../../src/pdu/text.js';
import type { Pdu } from '../../src/pdu/types.js';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-cli-'));
const pcap = join(dir, 'chap.pcap');
const CHAP_R = `0x${'ab'.repeat(16)}`;
const CHAP_C = `0x${'cd'.repeat(16)}`;

const login = (kind: 'login-request' | 'login-response', keys: [string, string][], itt = 1): Pdu =>
  kind === 'login-request'
    ? {
        kind,
        transit: true,
        continue: false,
        currentStage: 0,
        nextStage: 1,
        versionMax: 0,
        versionMin: 0,
        isid: 0x00023d000001,
        tsih: 0,
        initiatorTaskTag: itt,
        cid: 0,
        cmdSN: 1,
        expStatSN: 0,
        ahs: [],
        data: encodeText(keys),
      }
    : {
        kind,
        transit: true,
        continue: false,
        currentStage: 0,
        nextStage: 1,
        versionMax: 0,
        versionActive: 0,
        isid: 0x00023d000001,
        tsih: 0,
        initiatorTaskTag: itt,
        statSN: 0,
        expCmdSN: 1,
        maxCmdSN: 1,
        statusClass: 0,
        statusDetail: 0,
        ahs: [],
        data: encodeText(keys),
      };

beforeAll(() => {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter({
    initiator: { address: '::1', port: 51000 },
    target: { address: '::1', port: 3261 },
    write: (c) => chunks.push(c),
    now: () => 1_700_000_000_000_000_000n,
  });
  w.record(
    'initiator',
    encodePdu(
      login('login-request', [
        ['InitiatorName', 'iqn.2024-01.test:i'],
        ['AuthMethod', 'CHAP,None'],
      ]),
    ),
  );
  w.record(
    'target',
    encodePdu(
      login('login-response', [
        ['AuthMethod', 'CHAP'],
        ['CHAP_A', '5'],
        ['CHAP_I', '7'],
        ['CHAP_C', CHAP_C],
      ]),
    ),
  );
  w.record(
    'initiator',
    encodePdu(
      login('login-request', [
        ['CHAP_N', 'user'],
        ['CHAP_R', CHAP_R],
      ]),
    ),
  );
  w.close();
  writeFileSync(pcap, Buffer.concat(chunks));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('iscsi-ts decode', () => {
  it('prints one line per PDU with keys, never CHAP challenges or responses', () => {
    const lines: string[] = [];
    expect(runDecode(pcap, { port: 3261, json: false }, (l) => lines.push(l))).toBe(0);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/I->T\s+Login Request\s+ITT 0x00000001.*AuthMethod=CHAP,None/);
    expect(lines[1]).toMatch(/T->I\s+Login Response.*CHAP_A=5 CHAP_I=7 CHAP_C=<redacted 34 bytes>/);
    expect(lines[2]).toMatch(/CHAP_N=user CHAP_R=<redacted 34 bytes>/);
    expect(lines[3]).toBe('3 PDUs');
    const all = lines.join('\n');
    expect(all).not.toContain('abab');
    expect(all).not.toContain('cdcd');
  });

  it('--json gives one object per PDU with frame, opcode, opcodeName, itt and every field', () => {
    const lines: string[] = [];
    runDecode(pcap, { port: 3261, json: true }, (l) => lines.push(l));
    const objects = JSON.parse(lines.join('\n')) as Record<string, unknown>[];
    expect(objects).toHaveLength(3);
    expect(objects[0]).toMatchObject({
      frame: 4,
      from: 'initiator',
      src: '::1:51000',
      opcode: 3,
      opcodeName: 'Login Request',
      itt: 1,
      kind: 'login-request',
      transit: true,
      currentStage: 0,
      nextStage: 1,
      isid: '00023d000001',
      cmdSN: 1,
      dataSegmentLength: expect.any(Number),
    });
    expect(objects[2]!.text).toEqual([
      ['CHAP_N', 'user'],
      ['CHAP_R', '<redacted 34 bytes>'],
    ]);
    expect(lines.join('')).not.toContain('abab');
  });

  it('runs as the iscsi-ts binary and reports an unreadable capture with its error code', () => {
    const bin = join(import.meta.dirname, '../../dist/cli/main.js');
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, 'not a capture at all');
    let stderr = '';
    try {
      execFileSync('node', [bin, 'decode', bad], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      stderr = (err as { stderr: string }).stderr;
    }
    expect(stderr).toMatch(/iscsi-ts: .*\(ERR_ISCSI_CAPTURE\)/);
    const out = execFileSync('node', [bin, 'decode', '--port', '3261', pcap], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toHaveLength(4);
  });
});
