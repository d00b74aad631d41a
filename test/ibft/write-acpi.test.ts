import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError } from '../../src/errors.js';
import type { IbftTable, IbftTableSpec } from '../../src/ibft/model.js';
import { parseIbft } from '../../src/ibft/parse-acpi.js';
import { writeIbft } from '../../src/ibft/write-acpi.js';
import { ibftTable } from './ibft-arbitraries.js';

const options = fc.record({
  align: fc.constantFrom(1, 4, 8, 16, 64),
  order: fc.constantFrom('grouped', 'interleaved'),
});

const minimal: IbftTableSpec = {
  signature: 'iBFT',
  oemId: 'OEM',
  oemTableId: 'TABLE',
  controlFlags: 0,
  initiator: { valid: true, bootSelected: true, reservedFlags: 0, name: 'iqn.2024-01.org.example:i' },
  nics: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      global: true,
      reservedFlags: 0,
      ip: '2001:db8::5',
      prefixLength: 64,
      origin: 1,
      vlan: 0,
      mac: '02:00:00:00:00:01',
      pciBdf: 0x18,
    },
  ],
  targets: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: '2001:db8::10',
      port: 3260,
      lun: 0n,
      chapType: 0,
      nicIndex: 0,
      name: 'iqn.2003-01.org.example:t',
    },
  ],
};

function rejects(spec: IbftTableSpec, pattern: RegExp): void {
  let caught: unknown;
  try {
    writeIbft(spec);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InvalidArgumentError);
  expect((caught as InvalidArgumentError).code).toBe(ErrorCode.InvalidArgument);
  expect((caught as Error).message).toMatch(pattern);
}

describe('writeIbft', () => {
  it('parse(write(model)) equals the model (1-3 NICs and targets, IPv4/IPv6, DHCP/static, CHAP or not)', () => {
    fc.assert(
      fc.property(ibftTable(3), options, (model: IbftTable, opts) => {
        expect(parseIbft(writeIbft(model, opts))).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });

  it('aligns every structure and the heap, and ends the table after the last NUL', () => {
    fc.assert(
      fc.property(ibftTable(3), fc.constantFrom(8, 16), (model, align) => {
        const bytes = writeIbft(model, { align });
        const v = new DataView(bytes.buffer, bytes.byteOffset);
        const controlLength = v.getUint16(50, true);
        const offsets = Array.from({ length: (controlLength - 8) / 2 }, (_, i) => v.getUint16(56 + 2 * i, true));
        for (const off of offsets.filter((o) => o !== 0)) expect(off % align).toBe(0);
        expect(v.getUint32(4, true)).toBe(bytes.length);
        expect(bytes.reduce((a, b) => a + b, 0) % 256).toBe(0);
        // Slots: initiator, then NIC i at 2i and target i at 2i + 1, nothing after the last used slot beyond 18 bytes.
        expect(controlLength).toBe(10 + 2 * Math.max(4, 2 * model.nics.length - 1, 2 * model.targets.length));
      }),
      { numRuns: 100 },
    );
  });

  it('writes the derived-free spec form, and normalises addresses on the way', () => {
    const t = parseIbft(writeIbft({ ...minimal, nics: [{ ...minimal.nics[0]!, gateway: '2001:0DB8:0:0::1' }] }));
    expect(t.nics[0]).toMatchObject({ ip: '2001:db8::5', gateway: '2001:db8::1', pciAddress: '0000:00:03.0' });
    expect(t.nics[0]?.subnetMask).toBeUndefined();
    expect(parseIbft(writeIbft({ ...minimal, initiator: undefined, nics: [], targets: [] })).nics).toEqual([]);
  });

  it('writes empty strings and secrets, 0.0.0.0 and :: as absent', () => {
    const t = parseIbft(
      writeIbft({
        ...minimal,
        targets: [{ ...minimal.targets[0]!, name: '', chapSecret: new Uint8Array(0), ip: '0.0.0.0' }],
        nics: [{ ...minimal.nics[0]!, ip: '::' }],
      }),
    );
    expect(t.targets[0]?.name).toBeUndefined();
    expect(t.targets[0]?.chapSecret).toBeUndefined();
    expect(t.targets[0]?.ip).toBeUndefined();
    expect(t.nics[0]?.ip).toBeUndefined();
  });

  it('rejects models it could not write faithfully, naming the field', () => {
    const nic = minimal.nics[0]!;
    const target = minimal.targets[0]!;
    rejects({ ...minimal, nics: [nic, { ...nic }] }, /nics\[1\]\.index 0 is a duplicate/);
    rejects({ ...minimal, targets: [target, { ...target }] }, /targets\[1\]\.index/);
    rejects({ ...minimal, nics: [{ ...nic, mac: '02:00:00:00:00' }] }, /nics\[0\]\.mac/);
    rejects({ ...minimal, nics: [{ ...nic, vlan: 70000 }] }, /nics\[0\]\.vlan/);
    rejects({ ...minimal, nics: [{ ...nic, ip: '10.0.0.256' }] }, /nics\[0\]\.ip/);
    rejects({ ...minimal, nics: [{ ...nic, ip: 'fe80::1%eth0' }] }, /nics\[0\]\.ip/);
    rejects({ ...minimal, nics: [{ ...nic, reservedFlags: 1 }] }, /nics\[0\]\.reservedFlags/);
    rejects({ ...minimal, targets: [{ ...target, lun: -1n }] }, /targets\[0\]\.lun/);
    rejects({ ...minimal, targets: [{ ...target, port: 65536 }] }, /targets\[0\]\.port/);
    rejects({ ...minimal, targets: [{ ...target, name: 'a\0b' }] }, /targets\[0\]\.name contains a NUL/);
    rejects({ ...minimal, oemId: 'SEVENCH' }, /oemId/);
    rejects({ ...minimal, oemTableId: 'tab\u00e9' }, /oemTableId/);
    rejects({ ...minimal, controlFlags: 256 }, /controlFlags/);
    rejects({ ...minimal, targets: [{ ...target, chapSecret: new Uint8Array(70000).fill(1) }] }, /too large/);
    expect(() => writeIbft(minimal, { align: 3 })).toThrow(InvalidArgumentError);
    const second = { ...nic, index: 1, mac: 'x' };
    expect(() => writeIbft({ ...minimal, nics: [nic, second] }, { order: 'interleaved' })).toThrow(/nics\[1\]\.mac/);
  });

  it('defaults the signature to iBFT and keeps control flags', () => {
    const t = parseIbft(writeIbft({ ...minimal, signature: undefined, controlFlags: 1 }));
    expect(t.signature).toBe('iBFT');
    expect(t.controlFlags).toBe(1);
  });
});
