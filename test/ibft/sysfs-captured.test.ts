/**
 * src/ibft/sysfs-disks.ts on a sysfs tree captured from a real kernel (test/fixtures/sysfs-iscsi/captured, made by
 * test/vm/udev-path.test.ts): the ID_PATH and by-path names we compute must be the ones udev's path_id builtin and
 * systemd-udevd gave the same disks at capture time, and the udev records must give the same disks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listIscsiDisks, listSysfsIscsiDisks, readIscsiBlockDevice } from '../../src/ibft/sysfs-disks.js';
import { idPathTag, parseIdPath } from '../../src/ibft/udev.js';

const DIR = fileURLToPath(new URL('../fixtures/sysfs-iscsi/captured/', import.meta.url));
const captured = { sysRoot: join(DIR, 'sys') };
const read = (name: string): string => readFileSync(join(DIR, name), 'utf8');
const T4 = 'iqn.2026-11.test:udev-iscsi-lun-7';
const T6 = 'iqn.2026-11.test:udev-v6';

/** path-id.txt: `sdX <ID_PATH>`, `sdX-tag <ID_PATH_TAG>`, `sdX-size <sectors>`, `sdX-hctl <H:C:T:L>`. */
const udev = new Map(
  read('path-id.txt')
    .trim()
    .split('\n')
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as const),
);
/** by-path.txt: `<link name> ../../sdX` → sdX → /dev/disk/by-path/<link name>. */
const byPath = new Map(
  read('by-path.txt')
    .trim()
    .split('\n')
    .map((l) => l.split(' ') as [string, string])
    .map(([link, to]) => [to.slice(to.lastIndexOf('/') + 1), `/dev/disk/by-path/${link}`] as const),
);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('iSCSI disks from a captured kernel sysfs tree', () => {
  it("computes udev's ID_PATH, ID_PATH_TAG and by-path name for every disk", async () => {
    const disks = await listSysfsIscsiDisks(captured);
    expect(disks.map((d) => d.name)).toEqual(['sda', 'sdb', 'sdc', 'sdd']);
    for (const d of disks) {
      expect(d.idPath, d.name).toBe(udev.get(d.name));
      expect(idPathTag(d.idPath), d.name).toBe(udev.get(`${d.name}-tag`));
      expect(d.byPath, d.name).toBe(byPath.get(d.name));
      const { host, channel, target, lun } = d.hctl;
      expect(`${host}:${channel}:${target}:${lun}`, d.name).toBe(udev.get(`${d.name}-hctl`));
    }
  });

  it('maps each disk to its session, connection, host and transport', async () => {
    expect(await readIscsiBlockDevice('sdd', captured)).toEqual({
      name: 'sdd',
      devPath: '/devices/platform/host1/session2/target1:0:0/1:0:0:16684/block/sdd',
      hctl: { host: 1, channel: 0, target: 0, lun: 16684 },
      // Kernel quirk: the software host's ipaddress is the local address, uncompressed for IPv6.
      host: {
        number: 1,
        transport: 'tcp',
        caps: 0x39,
        kind: 'software',
        ipAddress: '0000:0000:0000:0000:0000:0000:0000:0001',
      },
      session: {
        number: 2,
        targetName: T6,
        tpgt: 1,
        initiatorName: 'iqn.2026-11.test:udev-initiator',
        ifaceName: 'default',
        state: 'LOGGED_IN',
      },
      // persistent_address keeps the form iscsiadm handed over (::1); address is the kernel's %pI6 form.
      connection: {
        name: 'connection2:0',
        persistentAddress: '::1',
        persistentPort: 3261,
        address: '0000:0000:0000:0000:0000:0000:0000:0001',
        port: 3261,
        state: 'up',
      },
      idPath: `ip-::1:3261-iscsi-${T6}-lun-0x412c000000000000`,
      byPath: `/dev/disk/by-path/ip-::1:3261-iscsi-${T6}-lun-0x412c000000000000`,
    });
    const sda = await readIscsiBlockDevice('sda', captured);
    expect(sda).toMatchObject({
      host: { number: 0, ipAddress: '127.0.0.1', kind: 'software' },
      session: { number: 1, targetName: T4, tpgt: 1 },
      connection: { persistentAddress: '127.0.0.1', persistentPort: 3260 },
    });
    // (null) attributes are left out.
    expect(sda?.host).not.toHaveProperty('netdev');
    expect(sda?.host).not.toHaveProperty('hwAddress');
  });

  it('gives the installer view the guest printed (iscsi-ts disks --json)', async () => {
    const ours = JSON.parse(JSON.stringify(await listIscsiDisks(captured)));
    expect(ours).toEqual(JSON.parse(read('disks.json')));
  });

  it('identifies the same disks from the udev records alone, and takes by-path links from them', async () => {
    const udevDbText = read('udev-db.txt');
    const fromSysfs = await listIscsiDisks(captured);
    const fromUdev = await listIscsiDisks({ udevDbText });
    expect(fromUdev).toEqual(fromSysfs.map(({ transport: _t, ...d }) => ({ ...d, source: 'udev' })));
    expect(await listIscsiDisks({ ...captured, udevDbText })).toEqual(fromSysfs);
    // The target name holds "-iscsi-" and "-lun-": parsing ID_PATH still finds it whole.
    expect(parseIdPath(udev.get('sdb')!)).toMatchObject({
      targetName: T4,
      lun: 1,
      portal: { host: '127.0.0.1', port: 3260 },
    });
  });

  it('holds no CHAP password file', () => {
    const all = files(join(DIR, 'sys'));
    expect(all.length).toBeGreaterThan(50);
    expect(all.filter((f) => /password/.test(f))).toEqual([]);
  });
});
