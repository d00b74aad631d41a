import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/kernel/errors.js';
import {
  readKernelHosts,
  readKernelIfaces,
  readKernelSession,
  readKernelSessions,
  readKernelTransports,
  readTransportHandle,
  transportKind,
} from '../../src/kernel/sysfs-sessions.js';

const FIXTURES = new URL('../fixtures/sysfs-iscsi/', import.meta.url).pathname;
const software = { sysRoot: join(FIXTURES, 'software') };
const offload = { sysRoot: join(FIXTURES, 'offload') };

describe('kernel sessions from sysfs: software session (iscsi_tcp)', () => {
  it('reads the session, its connection, host, transport and disk', async () => {
    const sessions = await readKernelSessions(software);
    expect(sessions).toHaveLength(1);
    const s = sessions[0]!;
    expect(s).toMatchObject({
      sid: 1,
      targetName: 'iqn.2024-01.example:handoff-lun',
      tpgt: 1,
      state: 'LOGGED_IN',
      targetState: 'ALLOCATED',
      creator: 140,
      recoveryTimeout: 120,
      ifaceName: 'default',
      initiatorName: 'iqn.2024-01.example:handoff-initiator',
      username: 'handoff-in',
      usernameIn: 'handoff-out',
      erl: 0,
      firstBurstLength: 65536,
      maxBurstLength: 262144,
      immediateData: true,
      initialR2t: true,
      fastAbort: true,
      abortTimeout: 15,
      discoverySession: false,
      transport: { name: 'tcp', caps: 0x39, handle: 18446744072638771296n, kind: 'software' },
      host: { number: 0, transport: 'tcp', procName: 'iscsi_tcp', ipAddress: '127.0.0.1' },
    });
    // (null) attributes are absent, not the string "(null)"; there is no isid/tsid file for iscsi_tcp.
    expect(s.host).not.toHaveProperty('netdev');
    expect(s.host).not.toHaveProperty('hwAddress');
    expect(s).not.toHaveProperty('isid');
    expect(s.connections).toEqual([
      {
        sid: 1,
        cid: 0,
        state: 'up',
        persistentAddress: '127.0.0.1',
        persistentPort: 3260,
        address: '127.0.0.1',
        port: 3260,
        localPort: 40532,
        headerDigest: false,
        dataDigest: false,
        maxRecvDataSegmentLength: 262144,
        maxXmitDataSegmentLength: 8192,
        expStatSn: 4,
        pingTimeout: 5,
        recvTimeout: 5,
      },
    ]);
    expect(s.disks).toEqual([
      {
        name: 'sda',
        hctl: { host: 0, channel: 0, target: 0, lun: 1 },
        sectors: 65536,
        sizeBytes: 33554432,
        idPath: 'ip-127.0.0.1:3260-iscsi-iqn.2024-01.example:handoff-lun-lun-1',
        byPath: '/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2024-01.example:handoff-lun-lun-1',
      },
    ]);
  });

  it('never reads CHAP passwords', async () => {
    const all = JSON.stringify(
      [await readKernelSessions(software), await readKernelSessions(offload)],
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
    );
    expect(all).not.toContain('FIXTURE-SECRET');
    expect(all).not.toMatch(/password/i);
  });

  it('one session by number; an unknown one is undefined', async () => {
    expect((await readKernelSession(1, software))?.targetName).toBe('iqn.2024-01.example:handoff-lun');
    expect(await readKernelSession(9, software)).toBeUndefined();
  });

  it('the transport handle for NETLINK_ISCSI, as a bigint above 2^53', async () => {
    expect(await readTransportHandle('tcp', software)).toBe(0xffffffffc02d3060n);
    await expect(readTransportHandle('iser', software)).rejects.toMatchObject({
      name: 'KernelError',
      reason: 'sysfs',
      message: expect.stringContaining('not registered'),
    });
    await expect(readTransportHandle('../x', software)).rejects.toBeInstanceOf(KernelError);
  });

  it('an empty or absent tree gives empty lists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-sysfs-'));
    try {
      expect(await readKernelSessions({ sysRoot: dir })).toEqual([]);
      expect(await readKernelTransports({ sysRoot: dir })).toEqual([]);
      expect(await readKernelIfaces({ sysRoot: dir })).toEqual([]);
      expect(await readKernelHosts({ sysRoot: dir })).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('a session mid-login (no target name yet) still lists, its disk without a by-path name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-sysfs-'));
    try {
      cpSync(software.sysRoot, dir, { recursive: true, verbatimSymlinks: true });
      const session = join(dir, 'devices/platform/host0/session1/iscsi_session/session1');
      rmSync(join(session, 'targetname'));
      writeFileSync(join(session, 'state'), 'FAILED\n');
      const [s] = await readKernelSessions({ sysRoot: dir });
      expect(s).toMatchObject({ sid: 1, state: 'FAILED' });
      expect(s).not.toHaveProperty('targetName');
      expect(s?.disks[0]).toMatchObject({ name: 'sda', sectors: 65536 });
      expect(s?.disks[0]).not.toHaveProperty('byPath');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('offload hosts (layout from scsi_transport_iscsi.c)', () => {
  it('qla4xxx is full offload, bnx2i partial, with PCI by-path names', async () => {
    const sessions = await readKernelSessions(offload);
    expect(sessions.map((s) => [s.sid, s.transport?.name, s.transport?.kind])).toEqual([
      [1, 'qla4xxx', 'full-offload'],
      [2, 'bnx2i', 'partial-offload'],
    ]);
    expect(sessions[0]).toMatchObject({
      creator: -1,
      recoveryTimeout: -1,
      isid: '00023d000001',
      tsid: 1,
      targetAlias: 'bootdisk',
      host: { number: 5, pciAddress: '0000:05:00.1', hwAddress: '00:0e:1e:04:8b:2a', portState: 'LINK UP' },
      connections: [{ sid: 1, cid: 0, headerDigest: true, dataDigest: false, persistentAddress: '192.168.50.2' }],
      disks: [
        {
          name: 'sdb',
          hctl: { host: 5, channel: 0, target: 0, lun: 0 },
          sizeBytes: 107374182400,
          byPath:
            '/dev/disk/by-path/pci-0000:05:00.1-ip-192.168.50.2:3260-iscsi-iqn.2001-05.com.example:storage.boot-lun-0',
        },
      ],
    });
    expect(sessions[1]?.disks.map((d) => d.idPath)).toEqual([
      'pci-0000:06:00.0-ip-10.1.2.3:3260-iscsi-iqn.2003-01.org.example:data-lun-3',
    ]);
    expect(sessions[1]?.host).toMatchObject({ netdev: 'eth1', transport: 'bnx2i' });
    // Firmware sessions expose no handle: it needs CAP_SYS_ADMIN and the fixture has none.
    expect(sessions[0]?.transport).not.toHaveProperty('handle');
  });

  it('transports and their kinds from the capability bits (cxgb4i has no CAP_DATA_PATH_OFFLOAD)', async () => {
    expect((await readKernelTransports(offload)).map((t) => [t.name, t.caps, t.kind])).toEqual([
      ['bnx2i', 0x8b9, 'partial-offload'],
      ['cxgb4i', 0x30b9, 'partial-offload'],
      ['qla4xxx', 0x48b8, 'full-offload'],
    ]);
    expect(transportKind('tcp', 0x39)).toBe('software');
    expect(transportKind('iser', 0x89)).toBe('software');
    expect(transportKind('qedi')).toBe('partial-offload');
  });

  it('hosts, including one with no session', async () => {
    expect((await readKernelHosts(offload)).map((h) => [h.number, h.transport, h.pciAddress])).toEqual([
      [5, 'qla4xxx', '0000:05:00.1'],
      [6, 'bnx2i', '0000:06:00.0'],
      [7, 'cxgb4i', '0000:07:00.4'],
    ]);
  });

  it('iSCSI interfaces of the HBAs', async () => {
    const ifaces = await readKernelIfaces(offload);
    expect(ifaces.map((i) => i.name)).toEqual(['ipv4-iface-5-0', 'ipv6-iface-5-1', 'ipv4-iface-6-0']);
    expect(ifaces[0]).toEqual({
      name: 'ipv4-iface-5-0',
      family: 'ipv4',
      hostNo: 5,
      ifaceNum: 0,
      enabled: 'enabled',
      ipAddress: '192.168.50.10',
      subnet: '255.255.255.0',
      gateway: '192.168.50.1',
      bootproto: 'static',
      ipAddressState: 'Valid',
      vlanId: 0,
      vlanEnabled: 'disabled',
      mtu: 1500,
      port: 3260,
      initiatorName: 'iqn.2000-04.com.qlogic:isp8214.000e1e048b2a.5',
    });
    expect(ifaces[1]).toMatchObject({ family: 'ipv6', linkLocalAddress: 'fe80:0000:0000:0000:020e:1eff:fe04:8b2a' });
    expect(ifaces[2]).toMatchObject({ hostNo: 6, vlanId: 100, vlanPriority: 3, mtu: 9000, bootproto: 'dhcp' });
  });
});
