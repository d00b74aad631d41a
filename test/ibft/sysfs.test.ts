import { chmodSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { IbftError } from '../../src/ibft/errors.js';
import type { IbftTable } from '../../src/ibft/model.js';
import { parseSysfsLun, readIbftSysfs } from '../../src/ibft/sysfs.js';
import { ibftTable } from './ibft-arbitraries.js';
import { writeKernelTree } from './kernel-sysfs.js';

const fixture = (name: string) => new URL(`../fixtures/ibft/${name}`, import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'ibft-sysfs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A scratch copy of a fixture tree with some attributes overwritten (verbatim: include the `\n`). */
function variant(base: string, files: Record<string, string | Buffer>): string {
  const root = join(scratch, `t${copies++}`);
  cpSync(fixture(base), root, { recursive: true, verbatimSymlinks: true });
  for (const [path, value] of Object.entries(files)) writeFileSync(join(root, path), value);
  return root;
}

function failure(root: string): IbftError {
  try {
    readIbftSysfs(root);
  } catch (err) {
    if (err instanceof IbftError) return err;
    throw err;
  }
  throw new Error('readIbftSysfs accepted the tree');
}

describe('readIbftSysfs', () => {
  it('returns undefined when there is no tree', () => {
    expect(readIbftSysfs(join(scratch, 'absent'))).toBeUndefined();
  });

  it('reads an offload-style tree with its quirks', () => {
    const t = readIbftSysfs(fixture('sysfs-offload-quirks'))!;
    expect(t.signature).toBeUndefined();
    expect(t.oemId).toBe('');
    expect(t.initiator).toMatchObject({ valid: false, bootSelected: true, name: 'iqn.2024-01.org.example:hba' });
    expect(t.nics[0]).toMatchObject({
      ip: '172.16.1.20',
      prefixLength: 20, // from subnet-mask 255.255.240.0, no prefix-len file
      subnetMask: '255.255.240.0',
      mac: '00:1b:21:aa:bb:cc',
      dhcp: false,
    });
    expect(t.nics[0]?.hostname).toBeUndefined(); // empty line: offset set, length 0
    expect(t.nics[0]?.pciBdf).toBeUndefined();
    const target = t.targets[0]!;
    expect(target.ip).toBeUndefined(); // printed in full as all zeros
    expect(target.port).toBe(3260); // open-iscsi's default
    expect(target.lun).toBe(0x412c_0000_0000_0000n);
    expect(target.lunNumber).toBe(300);
    expect(target.chapName).toBe('hbauser');
    expect(target.chapSecret).toBeUndefined();
  });

  it('orders entries by index and reads the device link and the reverse CHAP secret file', () => {
    const root = variant('sysfs-sample-b', {
      'target0/rev-chap-name-secret': Buffer.from('bytes\xff\n', 'latin1'),
    });
    cpSync(join(root, 'ethernet0'), join(root, 'ethernet10'), { recursive: true });
    writeFileSync(join(root, 'ethernet10/index'), '10\n');
    symlinkSync('../../../devices/pci0000:00/0000:1a:1f.7', join(root, 'ethernet10/device'));
    const t = readIbftSysfs(root)!;
    expect(t.nics.map((n) => [n.index, n.pciAddress])).toEqual([
      [0, undefined],
      [10, '0000:1a:1f.7'],
    ]);
    expect(t.nics[1]?.pciBdf).toBe((0x1a << 8) | (0x1f << 3) | 7);
    expect(t.targets[0]?.reverseChapSecret).toEqual(new Uint8Array(Buffer.from('bytes\xff', 'latin1')));
  });

  const bad: [string, string, Record<string, string | Buffer>, string][] = [
    ['a non-numeric VLAN', 'sysfs-sample-b', { 'ethernet0/vlan': 'x\n' }, 'ethernet0/vlan'],
    ['a VLAN above 16 bits', 'sysfs-sample-b', { 'ethernet0/vlan': '65536\n' }, 'ethernet0/vlan'],
    ['a bad address', 'sysfs-sample-b', { 'target0/ip-addr': '10.0.0.300\n' }, 'target0/ip-addr'],
    ['a bad MAC', 'sysfs-sample-b', { 'ethernet0/mac': '02:00:00:00:05\n' }, 'ethernet0/mac'],
    ['a bad LUN', 'sysfs-sample-b', { 'target0/lun': '0000\n' }, 'target0/lun'],
    ['a bad signature', 'sysfs-sample-b', { 'acpi_header/signature': 'XSDT\n' }, 'acpi_header/signature'],
    [
      'a non-contiguous mask',
      'sysfs-offload-quirks',
      { 'ethernet0/subnet-mask': '255.0.255.0' },
      'ethernet0/subnet-mask',
    ],
    [
      'invalid UTF-8 in a name',
      'sysfs-sample-b',
      { 'target0/target-name': Buffer.from([0xff, 0x0a]) },
      'target0/target-name',
    ],
    ['an oversized attribute', 'sysfs-sample-b', { 'target0/target-name': 'x'.repeat(5000) }, 'target0/target-name'],
    ['duplicate NIC indices', 'sysfs-sample-c', { 'ethernet1/index': '0\n' }, 'ethernet0/index'],
  ];
  for (const [what, base, files, field] of bad) {
    it(`rejects ${what}, naming ${field}`, () => {
      const err = failure(variant(base, files));
      expect(err.code).toBe(ErrorCode.Ibft);
      expect(err.field).toBe(field);
      expect(err.offset).toBeUndefined();
    });
  }

  it.skipIf(process.getuid?.() === 0)('reports EACCES with the CAP_SYS_ADMIN hint', () => {
    const root = variant('sysfs-sample-b', {});
    chmodSync(join(root, 'target0/chap-secret'), 0o000);
    expect(failure(root).message).toMatch(/EACCES.*CAP_SYS_ADMIN/);
  });
});

describe('readIbftSysfs over kernel-format trees of arbitrary models', () => {
  /** What the sysfs view keeps of a model (see the module documentation of src/ibft/sysfs.ts). */
  function sysfsView(m: IbftTable, links: boolean, read: IbftTable): IbftTable {
    const byIndex = <T extends { index: number }>(xs: readonly T[]) => [...xs].sort((a, b) => a.index - b.index);
    return {
      ...m,
      controlFlags: 0,
      nics: byIndex(m.nics).map((n) => (links ? n : { ...n, pciBdf: undefined, pciAddress: undefined })),
      targets: byIndex(m.targets).map((t, i) => {
        const bytes = Array.from({ length: 8 }, (_, k) => Number((t.lun >> BigInt(56 - 8 * k)) & 0xffn));
        // Unambiguous when every byte prints as one digit, or for single-level LUNs; else take what was read.
        const exact = bytes.every((b) => b < 0x10) || t.lunNumber !== undefined;
        const got = read.targets[i];
        return {
          ...t,
          ...(exact || got === undefined ? {} : { lun: got.lun, lunNumber: got.lunNumber }),
          chapSecret: t.chapName === undefined ? undefined : t.chapSecret,
          reverseChapSecret: t.reverseChapName === undefined ? undefined : t.reverseChapSecret,
        };
      }),
    };
  }

  it('reads back every model except what sysfs cannot express', () => {
    fc.assert(
      fc.property(ibftTable(3), fc.boolean(), (model, links) => {
        const root = join(scratch, `k${copies++}`);
        writeKernelTree(root, model, links);
        const read = readIbftSysfs(root)!;
        expect(read).toEqual(sysfsView(model, links, read));
      }),
      { numRuns: 60 },
    );
  });
});

describe('parseSysfsLun', () => {
  const cases: [string, bigint][] = [
    ['00000000', 0n],
    ['01000000', 0x0001_0000_0000_0000n],
    ['02000000', 0x0002_0000_0000_0000n],
    ['0f000000', 0x000f_0000_0000_0000n],
    ['010000000', 0x0010_0000_0000_0000n], // LUN 16: the only reading
    ['01f000000', 0x001f_0000_0000_0000n], // LUN 31, not 00 01 f0 …
    ['0ff000000', 0x00ff_0000_0000_0000n], // LUN 255
    ['412c000000', 0x412c_0000_0000_0000n], // flat LUN 300
    ['ffffffffffffffff', 0xffff_ffff_ffff_ffffn],
  ];
  for (const [text, lun] of cases) {
    it(`${text} → 0x${lun.toString(16).padStart(16, '0')}`, () => expect(parseSysfsLun(text)).toBe(lun));
  }

  it('prints back to the same text with %x per byte (the kernel format)', () => {
    for (const [text, lun] of cases) {
      const printed = Array.from({ length: 8 }, (_, i) => ((lun >> BigInt(56 - 8 * i)) & 0xffn).toString(16)).join('');
      expect(printed).toBe(text);
    }
  });

  it('rejects text that is not 8 unpadded bytes', () => {
    // 7 or 17 digits, a non-hex digit, upper case, and 9 digits whose only two-digit reading starts with 0.
    for (const text of ['0000000', '00000000000000000', '0000000g', 'ABCDEF00', '000000000']) {
      expect(() => parseSysfsLun(text)).toThrow(IbftError);
    }
  });
});
