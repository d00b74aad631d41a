import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BootConfigError } from '../../src/ibft/boot-error.js';
import { listIscsiDisks, listSysfsIscsiDisks, parseUdevDb, readIscsiBlockDevice } from '../../src/ibft/sysfs-disks.js';

const fixtures = fileURLToPath(new URL('../fixtures/boot/', import.meta.url));
const software = { sysRoot: join(fixtures, 'sysfs-software') };
const offload = { sysRoot: join(fixtures, 'sysfs-offload') };
const udevDbText = readFileSync(join(fixtures, 'udev-export-db.txt'), 'utf8');
const disk1 = 'iqn.2003-01.org.example:disk1';

describe('readIscsiBlockDevice', () => {
  it('maps the software disk to its session, connection, host and transport', async () => {
    expect(await readIscsiBlockDevice('sda', software)).toEqual({
      name: 'sda',
      devPath: '/devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda',
      hctl: { host: 0, channel: 0, target: 0, lun: 1 },
      host: { number: 0, transport: 'tcp', caps: 0x39, kind: 'software', ipAddress: '127.0.0.1' },
      session: {
        number: 1,
        targetName: disk1,
        tpgt: 1,
        initiatorName: 'iqn.2024-01.org.example:host1',
        ifaceName: 'default',
        state: 'LOGGED_IN',
      },
      connection: {
        name: 'connection1:0',
        persistentAddress: '127.0.0.1',
        persistentPort: 3260,
        address: '127.0.0.1',
        port: 3260,
        state: 'up',
      },
      idPath: 'ip-127.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-1',
      byPath: '/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-1',
    });
  });

  it('computes the ID_PATH udev recorded for the same devices', async () => {
    const recorded = new Map(parseUdevDb(udevDbText).map((r) => [r.devPath, r.properties.ID_PATH]));
    for (const name of ['sda', 'sdb', 'sdd']) {
      const disk = await readIscsiBlockDevice(name, software);
      const sameDevice = [...recorded].find(([path]) => path.startsWith(disk!.devPath.replace(/\/block\/.*$/, '')));
      expect(sameDevice?.[1]).toBe(disk!.idPath);
    }
  });

  it('keeps the address forms the kernel holds (IPv6 persistent vs socket address, 64-bit-safe LUN)', async () => {
    const sdb = await readIscsiBlockDevice('sdb', software);
    expect(sdb?.idPath).toBe('ip-::1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-0x412c000000000000');
    expect(sdb?.connection.address).toBe('0000:0000:0000:0000:0000:0000:0000:0001');
    expect(sdb?.hctl.lun).toBe(16684);
    const sdc = await readIscsiBlockDevice('sdc', software);
    expect(sdc?.idPath).toBe(
      'ip-fd00:0010:0000:0000:0000:0000:0000:0010:3260-iscsi-iqn.2003-01.org.example:v6disk-lun-1',
    );
    const sdd = await readIscsiBlockDevice('sdd', software);
    expect(sdd).toMatchObject({
      session: { number: 4, tpgt: 2 },
      connection: { persistentAddress: 'ip-10-0-0-1.ec2.internal', persistentPort: 3261 },
    });
  });

  it('maps offload HBAs: PCI function, transport and kind', async () => {
    expect(await readIscsiBlockDevice('sda', offload)).toMatchObject({
      hctl: { host: 5, lun: 0 },
      host: {
        number: 5,
        transport: 'bnx2i',
        caps: 0x8b9,
        kind: 'partial-offload',
        pciAddress: '0000:05:00.1',
        hwAddress: '00:10:18:aa:bb:cc',
      },
      session: { ifaceName: 'bnx2i.00:10:18:aa:bb:cc' },
      idPath: 'pci-0000:05:00.1-ip-10.0.0.10:3260-iscsi-iqn.1992-08.com.netapp:sn.1234-lun-0',
    });
    const qla = await readIscsiBlockDevice('sdb', offload);
    expect(qla?.host).toMatchObject({ transport: 'qla4xxx', kind: 'full-offload', pciAddress: '0000:06:00.0' });
    expect(qla?.host.initiatorName).toBe('iqn.2000-04.com.qlogic:isp4032.ab12');
    expect((await readIscsiBlockDevice('sda', offload))?.host.initiatorName).toBeUndefined();
  });

  it('returns undefined for devices that are not iSCSI or do not exist', async () => {
    expect(await readIscsiBlockDevice('vda', software)).toBeUndefined();
    expect(await readIscsiBlockDevice('loop0', software)).toBeUndefined();
    expect(await readIscsiBlockDevice('sdz', software)).toBeUndefined();
  });

  it('rejects names that are not one path component', async () => {
    await expect(readIscsiBlockDevice('../block/sda', software)).rejects.toBeInstanceOf(BootConfigError);
    await expect(readIscsiBlockDevice('..', software)).rejects.toMatchObject({
      code: 'ERR_ISCSI_BOOT_CONFIG',
      field: 'name',
    });
  });

  describe('with a damaged tree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-sysfs-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(software.sysRoot, dir, { recursive: true, verbatimSymlinks: true });
    const session1 = join(dir, 'devices/platform/host0/session1');

    it('names a missing persistent_port', async () => {
      rmSync(join(session1, 'connection1:0/iscsi_connection/connection1:0/persistent_port'));
      await expect(readIscsiBlockDevice('sda', { sysRoot: dir })).rejects.toMatchObject({
        field: 'sysfs persistent_port',
      });
    });

    it('falls back to another connection id and rejects a bad port', async () => {
      cpSync(join(session1, 'connection1:0'), join(session1, 'connection1:1'), { recursive: true });
      rmSync(join(session1, 'connection1:0'), { recursive: true });
      const conn = join(session1, 'connection1:1/iscsi_connection');
      cpSync(join(conn, 'connection1:0'), join(conn, 'connection1:1'), { recursive: true });
      writeFileSync(join(conn, 'connection1:1/persistent_port'), '3262\n');
      expect((await readIscsiBlockDevice('sda', { sysRoot: dir }))?.connection).toMatchObject({
        name: 'connection1:1',
        persistentPort: 3262,
      });
      writeFileSync(join(conn, 'connection1:1/persistent_port'), '70000\n');
      await expect(readIscsiBlockDevice('sda', { sysRoot: dir })).rejects.toMatchObject({
        field: 'sysfs persistent_port',
      });
    });
  });
});

describe('listSysfsIscsiDisks', () => {
  it('lists the iSCSI disks in kernel name order', async () => {
    expect((await listSysfsIscsiDisks(software)).map((d) => d.name)).toEqual(['sda', 'sdb', 'sdc', 'sdd']);
    expect((await listSysfsIscsiDisks(offload)).map((d) => [d.name, d.host.kind])).toEqual([
      ['sda', 'partial-offload'],
      ['sdb', 'full-offload'],
    ]);
  });
});

describe('listIscsiDisks', () => {
  it('gives the installer view from the udev database text alone', async () => {
    const disks = await listIscsiDisks({ udevDbText });
    expect(disks.map((d) => [d.name, d.kind, d.transport, d.session, d.lun])).toEqual([
      ['sda', 'software', undefined, 1, 1],
      ['sdb', 'partial-offload', 'bnx2i', 1, 0],
      ['sdc', 'full-offload', 'qla4xxx', 2, 3],
      ['sdd', 'software', undefined, 4, 2],
      ['sdf', 'software', undefined, 2, 16684],
    ]);
    expect(disks[0]).toEqual({
      name: 'sda',
      kind: 'software',
      portal: { host: '127.0.0.1', port: 3260, family: 4 },
      targetName: disk1,
      lun: 1,
      session: 1,
      idPath: 'ip-127.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-1',
      byPath: '/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-1',
      source: 'udev',
    });
    expect(disks[3]?.targetName).toBe('iqn.2024-01.org.example:db-lun-3-iscsi-x');
  });

  it('gives the same view from sysfs, and from both', async () => {
    const fromSysfs = await listIscsiDisks(software);
    expect(fromSysfs.map((d) => [d.name, d.kind, d.transport, d.session, d.portal.family])).toEqual([
      ['sda', 'software', 'tcp', 1, 4],
      ['sdb', 'software', 'tcp', 2, 6],
      ['sdc', 'software', 'tcp', 3, 6],
      ['sdd', 'software', 'tcp', 4, 'name'],
    ]);
    const fromUdev = await listIscsiDisks({ udevDbText });
    const { source: _a, transport: _b, ...sysfsSda } = fromSysfs[0]!;
    const { source: _c, ...udevSda } = fromUdev[0]!;
    expect(sysfsSda).toEqual(udevSda);
    const both = await listIscsiDisks({ ...software, udevDbText });
    expect(both.map((d) => d.byPath)).toEqual(fromSysfs.map((d) => d.byPath));
    expect(both.every((d) => d.source === 'sysfs')).toBe(true);
  });

  it('reports a malformed udev database as a typed error', async () => {
    await expect(listIscsiDisks({ udevDbText: 'garbage' })).rejects.toBeInstanceOf(BootConfigError);
  });
});
