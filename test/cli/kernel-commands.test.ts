/**
 * `iscsi-ts sessions` and `iscsi-ts logout` on a sysfs tree captured from a real kernel session (two sessions,
 * four disks): readable and JSON output, and a logout of a session that is not there.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runKernelLogout, runSessions } from '../../src/cli/kernel-commands.js';

const SYS = join(import.meta.dirname, '../fixtures/sysfs-iscsi/captured/sys');

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} } };
}

it('lists the kernel sessions with their portal, transport and disks', async () => {
  const { out, io } = capture();
  expect(await runSessions({ sysRoot: SYS }, io)).toBe(0);
  const text = out.join('\n');
  expect(text).toMatch(
    /^session 1: iqn\.2026-11\.test:udev-iscsi-lun-7 at 127\.0\.0\.1:3260,1 \[LOGGED_IN; tcp \(software\)/m,
  );
  expect(text).toMatch(/^session 2: iqn\.2026-11\.test:udev-v6 at \[::1\]:3261,1 /m);
  expect(text).toContain('/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2026-11.test:udev-iscsi-lun-7-lun-0');
  expect(text.match(/^ {2}\/dev\/sd[a-d] /gm)).toHaveLength(4);
});

it('prints the same sessions as JSON, and the hosts with --ifaces', async () => {
  const { out, io } = capture();
  expect(await runSessions({ sysRoot: SYS, json: true }, io)).toBe(0);
  const sessions = JSON.parse(out.join('\n')) as { sid: number; targetName: string; disks: { name: string }[] }[];
  expect(sessions.map((s) => [s.sid, s.targetName, s.disks.map((d) => d.name)])).toEqual([
    [1, 'iqn.2026-11.test:udev-iscsi-lun-7', ['sda', 'sdb']],
    [2, 'iqn.2026-11.test:udev-v6', ['sdc', 'sdd']],
  ]);
  const withIfaces = capture();
  expect(await runSessions({ sysRoot: SYS, json: true, ifaces: true }, withIfaces.io)).toBe(0);
  const all = JSON.parse(withIfaces.out.join('\n')) as { hosts: unknown[]; ifaces: unknown[] };
  expect(all.hosts.length).toBeGreaterThan(0);
});

it('says so when logging out a session that does not exist', async () => {
  const { err, io } = capture();
  expect(await runKernelLogout('7', { sysRoot: SYS }, io)).toBe(5);
  expect(err.join('\n')).toContain('no kernel iSCSI session 7');
});
