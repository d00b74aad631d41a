import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBootArgs, runDisks } from '../../src/cli/boot.js';
import { parseBootArgs } from '../../src/ibft/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

function capture() {
  const lines: string[] = [];
  return { lines, out: (l: string) => lines.push(l) };
}

describe('iscsi-ts boot-args', () => {
  it('writes netroot and rd.iscsi.initiator for a URL, secrets redacted unless asked', () => {
    const url = 'iscsi://alice%alice-secret-1@[fd00::10]:3261/iqn.2024-01.example:disk1/1';
    const c = capture();
    expect(runBootArgs(url, { initiatorName: 'iqn.2024-01.example:host' }, c.out)).toBe(0);
    expect(c.lines[0]).toContain('netroot=iscsi:alice:<redacted>@[fd00::10]::3261:1:iqn.2024-01.example:disk1');
    expect(c.lines[0]).toContain('rd.iscsi.initiator=iqn.2024-01.example:host');
    expect(c.lines.join('\n')).not.toContain('alice-secret-1');
    const shown = capture();
    runBootArgs(url, { showSecrets: true, initiatorName: 'iqn.2024-01.example:host' }, shown.out);
    const parsed = parseBootArgs(shown.lines[0]!);
    expect(parsed.targets[0]).toMatchObject({
      targetName: 'iqn.2024-01.example:disk1',
      lun: 1,
      portal: { host: 'fd00::10', port: 3261 },
    });
    expect(parsed.initiatorName).toBe('iqn.2024-01.example:host');
  });

  it('--firmware gives rd.iscsi.firmware=1 and the table initiator name', () => {
    const c = capture();
    expect(
      runBootArgs(undefined, { firmware: true, ibftFile: `${fixtures}ibft/sample-c.bin`, json: true }, c.out),
    ).toBe(0);
    const json = JSON.parse(c.lines.join('\n')) as { args: string[]; dracutModules: string[] };
    expect(json.args).toContain('rd.iscsi.firmware=1');
    expect(json.args).toContain('rd.iscsi.initiator=iqn.2024-01.org.example:host6');
    expect(json.dracutModules).toEqual(['network', 'iscsi']);
  });
});

describe('iscsi-ts disks', () => {
  it('lists the iSCSI disks of a sysfs tree', async () => {
    const c = capture();
    expect(await runDisks({ sysRoot: `${fixtures}boot/sysfs-software`, json: true }, c.out)).toBe(0);
    const disks = JSON.parse(c.lines.join('\n')) as { kind: string; byPath: string; targetName: string }[];
    expect(disks.length).toBeGreaterThan(0);
    expect(disks[0]).toMatchObject({ kind: 'software' });
    expect(disks[0]!.byPath).toMatch(/^\/dev\/disk\/by-path\/ip-.*-iscsi-.*-lun-\d+$/);
  });

  it('lists the iSCSI disks of a udev database dump', async () => {
    const c = capture();
    await runDisks({ udevDb: `${fixtures}boot/udev-export-db.txt`, sysRoot: `${fixtures}boot/sysfs-software` }, c.out);
    expect(c.lines.join('\n')).toMatch(/iscsi-/);
  });
});
