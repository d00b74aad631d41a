/**
 * src/kernel/sysfs-sessions.ts on a sysfs tree captured from a real kernel (test/fixtures/sysfs-iscsi/captured, made
 * by test/vm/udev-path.test.ts): the sessions, connections, hosts, transport and disks must be what open-iscsi
 * (`iscsiadm -m session -P 3`) and udev (path_id) reported for the same sessions at capture time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  readKernelHosts,
  readKernelIfaces,
  readKernelSession,
  readKernelSessions,
  readKernelTransports,
} from '../../src/kernel/sysfs-sessions.js';

const DIR = fileURLToPath(new URL('../fixtures/sysfs-iscsi/captured/', import.meta.url));
const captured = { sysRoot: join(DIR, 'sys') };
const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');

/** `iscsiadm -m session -P 3`, one block per target: name, persistent portal, SID, disks, negotiated values. */
function iscsiadmSessions(text: string) {
  return text
    .split(/^Target: /m)
    .slice(1)
    .map((block) => ({
      target: block.slice(0, block.indexOf(' ')),
      persistentPortal: /Persistent Portal: (\S+)/.exec(block)?.[1],
      sid: Number(/SID: (\d+)/.exec(block)?.[1]),
      disks: [...block.matchAll(/Attached scsi disk (\S+)/g)].map((m) => m[1]),
      luns: [...block.matchAll(/Lun: (\d+)/g)].map((m) => Number(m[1])),
      maxRecv: Number(/MaxRecvDataSegmentLength: (\d+)/.exec(block)?.[1]),
      firstBurst: Number(/FirstBurstLength: (\d+)/.exec(block)?.[1]),
      immediateData: /ImmediateData: Yes/.test(block),
      initialR2t: /InitialR2T: Yes/.test(block),
      recoveryTimeout: Number(/Recovery Timeout: (\d+)/.exec(block)?.[1]),
    }));
}

/** path-id.txt: disk → udev's ID_PATH and the size in sectors. */
const udev = new Map(
  read('path-id.txt')
    .trim()
    .split('\n')
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as const),
);

describe('kernel sessions from a captured sysfs tree (Linux 6.1, iscsi_tcp)', () => {
  it("matches open-iscsi's view of the same sessions (iscsiadm -m session -P 3)", async () => {
    const sessions = await readKernelSessions(captured);
    const adm = iscsiadmSessions(read('iscsiadm-session.txt'));
    expect(sessions.map((s) => s.sid)).toEqual(adm.map((a) => a.sid));
    for (const [i, s] of sessions.entries()) {
      const a = adm[i]!;
      const c = s.connections[0]!;
      const host = c.persistentAddress?.includes(':') ? `[${c.persistentAddress}]` : c.persistentAddress;
      expect(s.targetName).toBe(a.target);
      expect(`${host}:${c.persistentPort},${s.tpgt}`).toBe(a.persistentPortal);
      expect(s.disks.map((d) => d.name)).toEqual(a.disks);
      expect(s.disks.map((d) => d.hctl.lun)).toEqual(a.luns);
      expect(c.maxRecvDataSegmentLength).toBe(a.maxRecv);
      expect(s.firstBurstLength).toBe(a.firstBurst);
      expect(s.immediateData).toBe(a.immediateData);
      expect(s.initialR2t).toBe(a.initialR2t);
      expect(s.recoveryTimeout).toBe(a.recoveryTimeout);
    }
  });

  it('reads session, connection, host, transport and disks as the kernel printed them', async () => {
    const s2 = await readKernelSession(2, captured);
    expect(s2).toMatchObject({
      sid: 2,
      targetName: 'iqn.2026-11.test:udev-v6',
      tpgt: 1,
      state: 'LOGGED_IN',
      targetState: 'SCANNED',
      creator: 172,
      ifaceName: 'default',
      initiatorName: 'iqn.2026-11.test:udev-initiator',
      erl: 0,
      host: {
        number: 1,
        transport: 'tcp',
        procName: 'iscsi_tcp',
        ipAddress: '0000:0000:0000:0000:0000:0000:0000:0001',
      },
      transport: { name: 'tcp', caps: 0x39, handle: 18446744072639557728n, kind: 'software' },
    });
    // No CHAP on this session: the kernel prints (null) user names, which the reader leaves out.
    expect(s2).not.toHaveProperty('username');
    expect(s2).not.toHaveProperty('usernameIn');
    expect(s2?.connections).toEqual([
      {
        sid: 2,
        cid: 0,
        state: 'up',
        // As iscsiadm handed it to the kernel; the socket address is the kernel's uncompressed %pI6 form.
        persistentAddress: '::1',
        persistentPort: 3261,
        address: '0000:0000:0000:0000:0000:0000:0000:0001',
        port: 3261,
        localPort: 43954,
        headerDigest: false,
        dataDigest: false,
        maxRecvDataSegmentLength: 262144,
        maxXmitDataSegmentLength: 262144,
        expStatSn: 2813358060,
        pingTimeout: 5,
        recvTimeout: 5,
      },
    ]);
  });

  it("gives every disk its size and udev's ID_PATH", async () => {
    const disks = (await readKernelSessions(captured)).flatMap((s) => s.disks);
    expect(disks.map((d) => d.name)).toEqual(['sda', 'sdb', 'sdc', 'sdd']);
    for (const d of disks) {
      expect(d.idPath, d.name).toBe(udev.get(d.name));
      expect(d.byPath, d.name).toBe(`/dev/disk/by-path/${udev.get(d.name)}`);
      expect(d.sectors, d.name).toBe(Number(udev.get(`${d.name}-size`)));
      expect(d.sizeBytes, d.name).toBe(d.sectors! * 512);
    }
    // Target LUN 300 is flat-addressed: Linux LUN 0x4000 | 300.
    expect(disks[3]).toMatchObject({ hctl: { host: 1, channel: 0, target: 0, lun: 16684 }, sectors: 8192 });
  });

  it('lists the hosts and the transport, and no offload interfaces', async () => {
    expect((await readKernelHosts(captured)).map((h) => [h.number, h.transport, h.ipAddress])).toEqual([
      [0, 'tcp', '127.0.0.1'],
      [1, 'tcp', '0000:0000:0000:0000:0000:0000:0000:0001'],
    ]);
    expect(await readKernelTransports(captured)).toEqual([
      { name: 'tcp', caps: 0x39, handle: 18446744072639557728n, kind: 'software' },
    ]);
    expect(await readKernelIfaces(captured)).toEqual([]);
  });
});
