/**
 * udev against our ID_PATH computation on a real kernel: inside a QEMU guest running Debian's kernel, systemd-udevd
 * runs, `iscsi-ts serve` exports two targets on 127.0.0.1:3260 and [::1]:3261 and open-iscsi logs in to one over
 * IPv4 (LUNs 0 and 1) and the other over IPv6 (LUNs 0 and 300). For each disk, udev's `path_id` builtin and its
 * `/dev/disk/by-path` links must equal what `iscsi-ts disks` computes from sysfs, and `iscsi-ts disks --udev-db`
 * must identify the disks from `udevadm info --export-db` alone. The guest also captures the sysfs entries our
 * readers walk (test/vm/udev-path.guest.sh); the host reads that capture with the same readers.
 *
 * `ISCSI_TS_CAPTURE_DIR=<dir>` keeps the run's files (the sysfs tarball, path_id output, udev database) there; that
 * is how test/fixtures/sysfs-iscsi/captured/ was made.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IscsiDisk } from '../../src/ibft/sysfs-disks.js';
import { listSysfsIscsiDisks, parseUdevDb } from '../../src/ibft/sysfs-disks.js';
import { byPathLink, idPathTag, parseIdPath } from '../../src/ibft/udev.js';
import { readKernelSessions } from '../../src/kernel/sysfs-sessions.js';
import { describeRun, describeVm, markers, prepareVm, REPO_ROOT, runInVm, type VmRunResult } from '../helpers/vm.js';

/**
 * Hard limit for the VM run: the guest needed 150-200 s on a 2-core host under TCG with a load average of 8 (each
 * `node` start takes 10+ s there); idle it is several times faster.
 */
const VM_TIMEOUT_MS = 360_000;
const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'udev-path.guest.sh');
/** Holds `-iscsi-` and `-lun-`: the name must survive our parsing of ID_PATH where a split on `-` would not. */
const TARGET4 = 'iqn.2026-11.test:udev-iscsi-lun-7';
const TARGET6 = 'iqn.2026-11.test:udev-v6';

/** What the guest recorded per disk: udev's ID_PATH and ID_PATH_TAG, size (sectors), H:C:T:L. */
interface GuestDisk {
  idPath: string;
  tag: string;
  sectors: number;
  hctl: string;
}

function guestDisks(text: string): Map<string, GuestDisk> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) fields.set(line.slice(0, sp), line.slice(sp + 1));
  }
  const out = new Map<string, GuestDisk>();
  for (const [key, value] of fields) {
    if (key.includes('-')) continue;
    out.set(key, {
      idPath: value,
      tag: fields.get(`${key}-tag`) ?? '',
      sectors: Number(fields.get(`${key}-size`)),
      hctl: fields.get(`${key}-hctl`) ?? '',
    });
  }
  return out;
}

/** The disks we expect, by (target, Linux LUN): LUN 300 is flat-addressed, so Linux sees 0x4000 | 300 = 16684. */
const EXPECTED = [
  { target: TARGET4, lun: 0, idPath: `ip-127.0.0.1:3260-iscsi-${TARGET4}-lun-0`, sectors: 16384 },
  { target: TARGET4, lun: 1, idPath: `ip-127.0.0.1:3260-iscsi-${TARGET4}-lun-1`, sectors: 16384 },
  { target: TARGET6, lun: 0, idPath: `ip-::1:3261-iscsi-${TARGET6}-lun-0`, sectors: 16384 },
  { target: TARGET6, lun: 16684, idPath: `ip-::1:3261-iscsi-${TARGET6}-lun-0x412c000000000000`, sectors: 8192 },
];

describeVm('udev path_id against iscsi-ts disks on a real kernel (QEMU)', () => {
  let run: VmRunResult;
  let files: Record<string, Buffer>;
  let sysRoot: string | undefined;
  const text = (name: string): string => files[name]?.toString('utf8') ?? '';
  const json = (name: string): IscsiDisk[] => JSON.parse(text(name)) as IscsiDisk[];

  beforeAll(async () => {
    const setup = await prepareVm();
    run = await runInVm(
      {
        command: `bash ${SCRIPT}`,
        stageCheckout: true,
        timeoutMs: VM_TIMEOUT_MS,
        env: { TARGET4, TARGET6, INITIATOR_IQN: 'iqn.2026-11.test:udev-initiator' },
      },
      setup,
    );
    files = run.scratchFiles;
    const keep = process.env.ISCSI_TS_CAPTURE_DIR;
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const [name, data] of Object.entries(files)) writeFileSync(join(keep, name), data);
      writeFileSync(join(keep, 'output.txt'), run.output);
    }
    const tarball = files['sysfs-captured.tar.gz'];
    if (tarball !== undefined) {
      const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-sysfs-'));
      writeFileSync(join(dir, 'capture.tar.gz'), tarball);
      execFileSync('tar', ['-xzf', join(dir, 'capture.tar.gz'), '-C', dir]);
      sysRoot = join(dir, 'sys');
    }
  }, VM_TIMEOUT_MS + 600_000);

  afterAll(() => {
    if (sysRoot) rmSync(join(sysRoot, '..'), { recursive: true, force: true });
  });

  it('runs every step of the guest script', () => {
    expect(run.rc, describeRun(run)).toBe(0);
    expect(markers(run.output), describeRun(run)).toEqual([
      'modules',
      'udevd',
      'iscsid',
      'serve',
      'login-ipv4',
      'login-ipv6',
      'udev-links',
      'path-id',
      'export-db',
      'cli-disks',
      'capture',
      'logout',
      'done',
    ]);
  });

  it("gives udev's path_id the ID_PATH we expect for IPv4, IPv6 (no brackets) and LUN 300", () => {
    const disks = guestDisks(text('path-id.txt'));
    expect([...disks.values()].map((d) => d.idPath).sort()).toEqual(EXPECTED.map((e) => e.idPath).sort());
    for (const [name, d] of disks) {
      const want = EXPECTED.find((e) => e.idPath === d.idPath)!;
      expect(d.sectors, name).toBe(want.sectors);
      expect(d.hctl.split(':')[3], name).toBe(String(want.lun));
      // ID_PATH_TAG: our idPathTag gives udev's value.
      expect(idPathTag(d.idPath), name).toBe(d.tag);
    }
  });

  it('computes the same ID_PATH and by-path name from sysfs as udev (iscsi-ts disks --json)', () => {
    const udev = guestDisks(text('path-id.txt'));
    const links = new Map(
      text('by-path.txt')
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string])
        .map(([link, to]) => [to.replace(/^.*\//, ''), `/dev/disk/by-path/${link}`]),
    );
    const ours = json('disks-sysfs.json');
    expect(ours.map((d) => d.name).sort()).toEqual([...udev.keys()].sort());
    for (const d of ours) {
      const want = EXPECTED.find((e) => e.idPath === udev.get(d.name)?.idPath)!;
      expect(d.idPath, d.name).toBe(udev.get(d.name)?.idPath);
      expect(d.byPath, d.name).toBe(links.get(d.name));
      expect(d.byPath, d.name).toBe(byPathLink(d.idPath));
      expect(d, d.name).toMatchObject({
        kind: 'software',
        source: 'sysfs',
        transport: 'tcp',
        targetName: want.target,
        lun: want.lun,
        portal: want.target === TARGET4 ? { host: '127.0.0.1', port: 3260, family: 4 } : { host: '::1', port: 3261 },
      });
    }
    // With the udev database as well, the by-path names come from udev's own links: still the same.
    expect(json('disks-both.json')).toEqual(ours);
  });

  it('identifies the disks from `udevadm info --export-db` alone (iscsi-ts disks --udev-db)', () => {
    const fromSysfs = json('disks-sysfs.json');
    const fromUdev = json('disks-udev.json');
    expect(fromUdev.map((d) => d.idPath).sort()).toEqual(EXPECTED.map((e) => e.idPath).sort());
    for (const d of fromUdev) {
      const { transport, ...same } = fromSysfs.find((s) => s.idPath === d.idPath)!;
      // Same name, kind, portal, target, LUN, session and by-path; the transport name is not in udev's data for a
      // software host (offload kinds come from the HBA's PCI driver record).
      expect(transport).toBe('tcp');
      expect(d, d.idPath).toEqual({ ...same, source: 'udev' });
    }
    const records = parseUdevDb(text('udev-db.txt')).filter((r) => r.properties.ID_PATH?.includes('-iscsi-'));
    expect(records.filter((r) => r.properties.DEVTYPE === 'disk')).toHaveLength(4);
    for (const r of records) {
      expect(r.properties.ID_BUS, r.devPath).toBe('scsi');
      expect(parseIdPath(r.properties.ID_PATH!).targetName).toMatch(/^iqn\.2026-11\.test:udev-/);
    }
  });

  it('reads the captured sysfs tree with our readers as the guest saw it', async () => {
    expect(sysRoot).toBeDefined();
    const udev = guestDisks(text('path-id.txt'));
    const disks = await listSysfsIscsiDisks({ sysRoot: sysRoot! });
    expect(disks.map((d) => [d.name, d.idPath])).toEqual([...udev].map(([n, d]) => [n, d.idPath]).sort());
    const sessions = await readKernelSessions({ sysRoot: sysRoot! });
    expect(sessions.map((s) => [s.targetName, s.tpgt, s.state, s.connections[0]?.persistentAddress])).toEqual([
      [TARGET4, 1, 'LOGGED_IN', '127.0.0.1'],
      [TARGET6, 1, 'LOGGED_IN', '::1'],
    ]);
    for (const s of sessions) {
      for (const d of s.disks) {
        expect(d.idPath, d.name).toBe(udev.get(d.name)?.idPath);
        expect(d.sectors, d.name).toBe(udev.get(d.name)?.sectors);
      }
    }
    expect(run.output).not.toMatch(/password/);
  });
}, ['iscsid', 'iscsiadm', 'udevadm']);
