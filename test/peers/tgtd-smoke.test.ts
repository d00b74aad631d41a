/**
 * Smoke test of the real-peer infrastructure: a private tgtd on loopback (IPv4 and IPv6 portals), libiscsi's
 * iscsi-inq as an independent initiator, and tshark judging the traffic on the wire. If this suite fails, the
 * interop suites built on the same helpers cannot be trusted either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../helpers/peers.js';
import { describePeers, findTool, run } from '../helpers/peers.js';
import type { Tgtd } from '../helpers/tgtd.js';
import { startTgtd } from '../helpers/tgtd.js';
import type { Capture } from '../helpers/tshark.js';
import { iscsiProblems, startCapture, tsharkFields } from '../helpers/tshark.js';

const NOAUTH_IQN = 'iqn.2024-01.test.iscsi-ts:smoke.noauth';
const CHAP_IQN = 'iqn.2024-01.test.iscsi-ts:smoke.chap';
// Throw-away credentials: CHAP_C/CHAP_R pairs in captures allow offline guessing, so never reuse real ones.
const CHAP = { user: 'smokechapuser', secret: 'smokechapsec12' } as const;
const MiB = 1024 * 1024;

/** iscsi-inq, bounded (a misbehaving target can make libiscsi loop forever). */
function inquiry(url: string): Promise<RunResult> {
  return run(findTool('iscsi-inq') ?? 'iscsi-inq', [url], { timeoutMs: 20_000 });
}

/** iscsi-inq's standard INQUIRY report of a tgtd disk LUN. */
function expectTgtdDisk(r: RunResult): void {
  expect(r.timedOut).toBe(false);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
  expect(r.stdout).toMatch(/^Vendor:IET\s*$/m);
  expect(r.stdout).toMatch(/^Product:VIRTUAL-DISK\s*$/m);
}

/** Number of PDUs per opcode; a frame holding several PDUs lists its opcodes joined with '|'. */
function countOpcodes(rows: string[][], column: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of rows) {
    for (const op of (row[column] ?? '').split('|')) {
      if (op !== '') counts.set(op, (counts.get(op) ?? 0) + 1);
    }
  }
  return counts;
}

describePeers(
  ['tgtd', 'tgtadm', 'iscsi-inq', 'tshark'],
  'tgtd + iscsi-inq + tshark smoke',
  () => {
    describe('no-auth target, IPv4 and IPv6 portals', () => {
      let tgtd: Tgtd | undefined;
      let capture: Capture | undefined;

      beforeAll(async () => {
        tgtd = await startTgtd({ portal: 'both', targets: [{ iqn: NOAUTH_IQN, luns: [{ sizeBytes: 64 * MiB }] }] });
        capture = await startCapture({ port: tgtd.port });
      });
      afterAll(async () => {
        await capture?.remove();
        await tgtd?.stop();
      });

      it('iscsi-inq reads the INQUIRY data over 127.0.0.1', async () => {
        const url = tgtd!.url(0, 1);
        expect(url).toBe(`iscsi://127.0.0.1:${tgtd!.port}/${NOAUTH_IQN}/1`);
        expectTgtdDisk(await inquiry(url));
      });

      it('iscsi-inq reads the INQUIRY data over [::1]', async () => {
        const url = tgtd!.url(0, 1, { host: '::1' });
        expect(url).toBe(`iscsi://[::1]:${tgtd!.port}/${NOAUTH_IQN}/1`);
        expectTgtdDisk(await inquiry(url));
      });

      it('tshark sees logins and SCSI commands on both families, with no malformed iSCSI PDU', async () => {
        const pcap = await capture!.stop();
        const port = tgtd!.port;
        const rows = await tsharkFields(pcap, { port, fields: ['frame.number', 'tcp.srcport', 'iscsi.opcode'] });
        const opcodes = countOpcodes(rows, 2);
        // Two sessions (one per address family): each a Login Request/Response, SCSI Commands, a Logout.
        expect(opcodes.get('0x03') ?? 0).toBeGreaterThanOrEqual(2);
        expect(opcodes.get('0x23') ?? 0).toBeGreaterThanOrEqual(2);
        expect(opcodes.get('0x01') ?? 0).toBeGreaterThanOrEqual(2);
        expect(opcodes.get('0x21') ?? 0).toBeGreaterThanOrEqual(1);
        // Direction follows iscsi.target_ports: requests come from the initiator's port, responses from tgtd's.
        for (const row of rows) {
          const fromTarget = row[1] === String(port);
          for (const op of (row[2] ?? '').split('|')) expect((Number(op) & 0x20) !== 0).toBe(fromTarget);
        }
        const logins = await tsharkFields(pcap, {
          port,
          filter: 'iscsi.opcode == 0x03',
          fields: ['ip.src', 'ipv6.src'],
        });
        expect(logins.filter((r) => r[0] === '127.0.0.1').length).toBeGreaterThanOrEqual(1);
        expect(logins.filter((r) => r[1] === '::1').length).toBeGreaterThanOrEqual(1);
        expect(await iscsiProblems(pcap, { port })).toEqual([]);
      });
    });

    describe('one-way CHAP target', () => {
      let tgtd: Tgtd | undefined;
      let capture: Capture | undefined;

      beforeAll(async () => {
        tgtd = await startTgtd({ targets: [{ iqn: CHAP_IQN, luns: [{ sizeBytes: 16 * MiB }], chap: CHAP }] });
        capture = await startCapture({ port: tgtd.port });
      });
      afterAll(async () => {
        await capture?.remove();
        await tgtd?.stop();
      });

      it('accepts the right secret', async () => {
        const url = tgtd!.url(0, 1);
        expect(url).toBe(`iscsi://${CHAP.user}%${CHAP.secret}@127.0.0.1:${tgtd!.port}/${CHAP_IQN}/1`);
        expectTgtdDisk(await inquiry(url));
      });

      it('rejects a wrong secret and a login without CHAP', async () => {
        const wrong = await inquiry(tgtd!.url(0, 1, { chap: { user: CHAP.user, secret: 'wrongsecret123' } }));
        expect(wrong.timedOut).toBe(false);
        expect(wrong.code).not.toBe(0);
        expect(wrong.stdout).not.toMatch(/Vendor:/);
        const none = await inquiry(tgtd!.url(0, 1, { chap: null }));
        expect(none.timedOut).toBe(false);
        expect(none.code).not.toBe(0);
        expect(none.stdout).not.toMatch(/Vendor:/);
      });

      it('tshark sees the CHAP exchange and the authentication failures (status 0x0201)', async () => {
        const pcap = await capture!.stop();
        const port = tgtd!.port;
        const rows = await tsharkFields(pcap, {
          port,
          filter: 'iscsi.opcode == 0x23',
          fields: ['iscsi.login.status', 'iscsi.keyvalue'],
        });
        const statuses = rows.map((r) => r[0]);
        // The accepted login ends with success; both refused logins end with "authentication failure".
        expect(statuses.filter((s) => s === '0x0201').length).toBe(2);
        expect(statuses).toContain('0x0000');
        expect(rows.some((r) => (r[1] ?? '').split('|').some((kv) => kv.startsWith('CHAP_C=0x')))).toBe(true);
        expect(await iscsiProblems(pcap, { port })).toEqual([]);
      });
    });
  },
  { root: true },
);
