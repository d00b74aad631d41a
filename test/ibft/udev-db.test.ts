import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { identifyDisk } from '../../src/ibft/udev.js';
import { parseUdevDb, parseUdevProperties } from '../../src/ibft/udev-db.js';
import { bootErrorOf, onlyBootErrors } from './boot-helpers.js';

const fixture = readFileSync(new URL('../fixtures/boot/udev-export-db.txt', import.meta.url), 'utf8');

describe('parseUdevDb', () => {
  it('reads every record of the fixture', () => {
    const records = parseUdevDb(fixture);
    expect(records.map((r) => r.sysName)).toEqual([
      'host0',
      'sda',
      'sda1',
      'vda',
      'sde',
      '0000:05:00.1',
      'sdb',
      '0000:06:00.0',
      'sdc',
      'sdd',
      'sdf',
    ]);
  });

  it('reads the record captured in the VM (systemd-udevd 252) field by field', () => {
    const sda = parseUdevDb(fixture)[1]!;
    expect(sda).toMatchObject({
      devPath: '/devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda',
      sysName: 'sda',
      subsystem: 'block',
      devType: 'disk',
      devNum: 'b 8:0',
      devNode: 'sda',
      linkPriority: 0,
      diskSeq: '1',
    });
    expect(sda.symlinks).toHaveLength(4);
    expect(sda.symlinks[1]).toBe('disk/by-path/ip-127.0.0.1:3260-iscsi-iqn.2003-01.org.example:disk1-lun-1');
    expect(sda.properties.ID_VENDOR_ENC).toBe('IET\\x20\\x20\\x20\\x20\\x20');
    expect(sda.properties.DEVLINKS?.split(' ')).toHaveLength(4);
    expect(Object.keys(sda.properties)).toHaveLength(27);
    expect(identifyDisk(sda.properties)).toMatchObject({ kind: 'software', session: 1, lun: 1 });
  });

  it('ignores unknown letters, accepts CRLF, empty values and a missing final newline', () => {
    const text =
      'P: /devices/x\r\nR: 1\r\nJ: +pci:x\r\nI: 3\r\nW: 9\r\nS:\r\nE: A=b=c\r\nE: EMPTY=\r\n\r\n\r\nP: /devices/y';
    const records = parseUdevDb(text);
    expect(records).toEqual([
      { devPath: '/devices/x', symlinks: [''], properties: { A: 'b=c', EMPTY: '' } },
      { devPath: '/devices/y', symlinks: [], properties: {} },
    ]);
    expect(parseUdevDb('')).toEqual([]);
  });

  it('keeps a __proto__ key as an own property', () => {
    const [record] = parseUdevDb('P: /x\nE: __proto__=polluted\n');
    expect(Object.hasOwn(record!.properties, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each<[string, string, string]>([
    ['a line without a letter', 'P: /x\nhello\n', 'udev-db line 2'],
    ['a lower-case letter', 'p: /x\n', 'udev-db line 1'],
    ['an E: line without "="', 'P: /x\nE: NOVALUE\n', 'udev-db line 2'],
    ['two records run together', 'P: /x\nN: a\nP: /y\n', 'udev-db line 3'],
    ['a record without P:', 'N: sda\nE: A=1\n', 'udev-db'],
    ['a bad link priority', 'P: /x\nL: high\n', 'udev-db'],
  ])('rejects %s', (_, text, field) => {
    bootErrorOf(() => parseUdevDb(text), field);
  });

  it('throws only BootConfigError for arbitrary text', () => {
    const line = fc.oneof(
      fc.string(),
      fc.constantFrom('P: /d', 'E: A=1', 'S: disk/x', 'L: 0', 'N: sda', '', 'E: =', 'Q:'),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        onlyBootErrors(() => parseUdevDb(lines.join('\n')));
        onlyBootErrors(() => parseUdevProperties(lines.join('\n')));
      }),
      { numRuns: 400 },
    );
  });
});

describe('parseUdevProperties', () => {
  it.each<[string, string]>([
    ['--query=property', 'ID_BUS=scsi\nID_PATH=ip-::1:3260-iscsi-iqn.x:y-lun-0\n'],
    ['--export', "ID_BUS='scsi'\nID_PATH='ip-::1:3260-iscsi-iqn.x:y-lun-0'\n"],
    [
      'udevadm info',
      'P: /devices/x\nN: sda\nS: disk/by-path/a\nE: ID_BUS=scsi\nE: ID_PATH=ip-::1:3260-iscsi-iqn.x:y-lun-0\n',
    ],
  ])('reads %s output', (_, text) => {
    expect(parseUdevProperties(text)).toEqual({ ID_BUS: 'scsi', ID_PATH: 'ip-::1:3260-iscsi-iqn.x:y-lun-0' });
  });

  it('rejects a line that is not KEY=value', () => {
    bootErrorOf(() => parseUdevProperties('ID_BUS=scsi\njunk\n'), 'udev-properties line 2');
  });
});
