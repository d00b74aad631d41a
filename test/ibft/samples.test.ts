/**
 * The sample tables of the reference sheet (§8): bytes, parsed values, writer reproduction and the kernel's
 * sysfs view of the same tables.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IbftTable } from '../../src/ibft/model.js';
import { nicOfTarget, redactIbft } from '../../src/ibft/model.js';
import { parseIbft } from '../../src/ibft/parse-acpi.js';
import { readIbftSysfs } from '../../src/ibft/sysfs.js';
import { writeIbft } from '../../src/ibft/write-acpi.js';

const dir = new URL('../fixtures/ibft/', import.meta.url);
const bin = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const sysfs = (name: string) => readIbftSysfs(new URL(name, dir).pathname);
const enc = (s: string) => new TextEncoder().encode(s);

const SHA = {
  a: '9a886f0cbf44d36fc3f8f883f20383209ea6926c0d0549667351e31623810399',
  b: 'acd55408e909733364ad0ea18c0a6107d39c1bebe3ed9db596dec4eec9a00a6b',
  c: '2380573971b533c045d18fb0584623c4556f18e9d544575145dcedb5794e5f00',
  d: '2ef4fb69ef006d92ff9e38539347bd7d554c94095ed8f68103ed93c6d18679b8',
};
const flags3 = { valid: true, bootSelected: true, reservedFlags: 0 };
const noRadius = { radiusChap: false, radiusReverseChap: false };

const sampleA: IbftTable = {
  signature: 'iBFT',
  oemId: 'DRACUT',
  oemTableId: 'TEST',
  controlFlags: 0,
  initiator: { ...flags3, name: 'iqn.1994-05.com.redhat:633114aacf2' },
  nics: [
    {
      index: 0,
      ...flags3,
      global: false,
      ip: '192.168.50.101',
      prefixLength: 24,
      subnetMask: '255.255.255.0',
      origin: 3,
      dhcp: true,
      gateway: '192.168.50.1',
      primaryDns: '192.168.50.1',
      dhcpServer: '192.168.50.1',
      vlan: 0,
      mac: '52:54:00:12:34:00',
      pciBdf: 0x18,
      pciAddress: '0000:00:03.0',
      hostname: 'client',
    },
  ],
  targets: [
    {
      index: 0,
      ...flags3,
      ...noRadius,
      ip: '192.168.50.1',
      port: 3260,
      lun: 0x0001_0000_0000_0000n,
      lunNumber: 1,
      chapType: 0,
      nicIndex: 0,
      name: 'iqn.2009-06.dracut:target0',
    },
  ],
};

const sampleB: IbftTable = {
  signature: 'iBFT',
  oemId: 'TSTOEM',
  oemTableId: 'IBFTTEST',
  controlFlags: 0,
  initiator: { ...flags3, name: 'iqn.2024-01.org.example:host1' },
  nics: [
    {
      index: 0,
      ...flags3,
      global: false,
      ip: '10.0.0.5',
      prefixLength: 24,
      subnetMask: '255.255.255.0',
      origin: 1,
      dhcp: false,
      gateway: '10.0.0.1',
      primaryDns: '10.0.0.2',
      vlan: 100,
      mac: '02:00:00:00:00:05',
      pciBdf: 0x0300,
      pciAddress: '0000:03:00.0',
      hostname: 'host1',
    },
  ],
  targets: [
    {
      index: 0,
      ...flags3,
      ...noRadius,
      ip: '10.0.0.10',
      port: 3260,
      lun: 0n,
      lunNumber: 0,
      chapType: 2,
      nicIndex: 0,
      name: 'iqn.2003-01.org.example:disk1',
      chapName: 'inituser',
      chapSecret: enc('initsecret1234'),
      reverseChapName: 'tgtuser',
      reverseChapSecret: enc('tgtsecret5678'),
    },
  ],
};

const sampleC: IbftTable = {
  signature: 'iBFT',
  oemId: 'TSTOEM',
  oemTableId: 'IBFT6',
  controlFlags: 0,
  initiator: { ...flags3, name: 'iqn.2024-01.org.example:host6' },
  nics: [
    {
      index: 0,
      ...flags3,
      global: true,
      ip: 'fd00:10::5',
      prefixLength: 64,
      origin: 1,
      dhcp: false,
      gateway: 'fd00:10::1',
      primaryDns: 'fd00:10::2',
      vlan: 0,
      mac: '02:00:00:00:10:05',
      pciBdf: 0x18,
      pciAddress: '0000:00:03.0',
      hostname: 'host6',
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      global: false,
      reservedFlags: 0,
      ip: '192.168.20.5',
      prefixLength: 24,
      subnetMask: '255.255.255.0',
      origin: 3,
      dhcp: true,
      gateway: '192.168.20.1',
      primaryDns: '192.168.20.1',
      dhcpServer: '192.168.20.1',
      vlan: 0,
      mac: '02:00:00:00:20:05',
      pciBdf: 0x20,
      pciAddress: '0000:00:04.0',
    },
  ],
  targets: [
    {
      index: 0,
      ...flags3,
      ...noRadius,
      ip: 'fd00:10::10',
      port: 3260,
      lun: 0x0001_0000_0000_0000n,
      lunNumber: 1,
      chapType: 1,
      nicIndex: 0,
      name: 'iqn.2003-01.org.example:v6disk',
      chapName: 'user6',
      chapSecret: enc('secret6secret6'),
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      ...noRadius,
      reservedFlags: 0,
      ip: '192.168.20.10',
      port: 3261,
      lun: 0x0002_0000_0000_0000n,
      lunNumber: 2,
      chapType: 0,
      nicIndex: 1,
      name: 'iqn.2003-01.org.example:v4disk',
    },
  ],
};

const sampleD: IbftTable = {
  signature: 'iBFT',
  oemId: 'TSTOEM',
  oemTableId: 'IBFT3',
  controlFlags: 0,
  initiator: { ...flags3, name: 'iqn.2024-01.org.example:host3' },
  nics: [0, 1, 2].map((i) => ({
    index: i,
    valid: true,
    bootSelected: i === 0,
    global: false,
    reservedFlags: 0,
    ip: `10.0.${i}.5`,
    prefixLength: 24,
    subnetMask: '255.255.255.0',
    origin: 1,
    dhcp: false,
    vlan: 0,
    mac: `02:00:00:00:0${i}:05`,
    pciBdf: 0x18 + 8 * i,
    pciAddress: `0000:00:0${3 + i}.0`,
  })),
  targets: [0, 1, 2].map((i) => ({
    index: i,
    valid: true,
    bootSelected: i === 0,
    ...noRadius,
    reservedFlags: 0,
    ip: `10.0.${i}.10`,
    port: 3260,
    lun: 0n,
    lunNumber: 0,
    chapType: 0,
    nicIndex: i,
    name: `iqn.2003-01.org.example:${'abc'[i]}`,
  })),
};

const samples = [
  { name: 'A', file: 'sample-a.bin', sha: SHA.a, model: sampleA, options: { align: 8 } },
  { name: 'B', file: 'sample-b.bin', sha: SHA.b, model: sampleB, options: {} },
  { name: 'C', file: 'sample-c.bin', sha: SHA.c, model: sampleC, options: {} },
  { name: 'D', file: 'sample-d.bin', sha: SHA.d, model: sampleD, options: { order: 'interleaved' as const } },
];

describe('reference sample tables', () => {
  for (const s of samples) {
    it(`sample ${s.name}: the fixture has the sheet's SHA-256 and parses to the sheet's values`, () => {
      const bytes = bin(s.file);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha);
      expect(parseIbft(bytes)).toEqual(s.model);
    });

    it(`sample ${s.name}: the writer reproduces the table byte for byte`, () => {
      const written = writeIbft(s.model, s.options);
      expect(createHash('sha256').update(written).digest('hex')).toBe(s.sha);
      expect(Buffer.from(written).equals(Buffer.from(bin(s.file)))).toBe(true);
    });
  }

  it('sample D has a 22-byte control structure with the third pair at 0x42/0x44', () => {
    const view = new DataView(bin('sample-d.bin').buffer);
    expect(view.getUint16(50, true)).toBe(22);
    expect([view.getUint16(0x42, true), view.getUint16(0x44, true)]).toEqual([0x200, 0x270]);
  });

  it('links every target to its NIC by index', () => {
    const c = parseIbft(bin('sample-c.bin'));
    expect(c.targets.map((t) => nicOfTarget(c, t)?.mac)).toEqual(['02:00:00:00:10:05', '02:00:00:00:20:05']);
    expect(nicOfTarget(c, { ...c.targets[0]!, nicIndex: 9 })).toBeUndefined();
  });

  it('redacts the CHAP secrets of sample B in JSON', () => {
    const json = JSON.stringify(redactIbft(parseIbft(bin('sample-b.bin'))));
    expect(json).not.toContain('initsecret1234');
    expect(json).not.toContain('tgtsecret5678');
    expect(JSON.parse(json).targets[0]).toMatchObject({
      chapName: 'inituser',
      chapSecret: '[redacted]',
      reverseChapSecret: '[redacted]',
      lun: '0000000000000000',
    });
  });
});

describe("the kernel's /sys/firmware/ibft for the samples", () => {
  it('sample A (device link to 00:03.0) reads back as the raw table does', () => {
    expect(sysfs('sysfs-sample-a')).toEqual(sampleA);
  });

  it('sample B reads back as the raw table, without the PCI address the kernel could not link', () => {
    const nic = { ...sampleB.nics[0]!, pciBdf: undefined, pciAddress: undefined };
    expect(sysfs('sysfs-sample-b')).toEqual({ ...sampleB, nics: [nic] });
  });

  it('sample C (uncompressed IPv6, two device links) reads back as the raw table does', () => {
    expect(sysfs('sysfs-sample-c')).toEqual(sampleC);
  });
});
