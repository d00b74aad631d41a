import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type IbftTable,
  ibftToJson,
  isDhcpNic,
  lunNumberOf,
  pciAddressOf,
  REDACTED,
  redactIbft,
  subnetMaskOf,
} from '../../src/ibft/model.js';
import { ibftTable, lunNumber, maskOf } from './ibft-arbitraries.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('derived fields', () => {
  it('subnet masks for IPv4 prefixes 1..32 only', () => {
    expect(subnetMaskOf('10.0.0.5', 24)).toBe('255.255.255.0');
    expect(subnetMaskOf(undefined, 20)).toBe('255.255.240.0');
    expect(subnetMaskOf('10.0.0.5', 32)).toBe('255.255.255.255');
    expect(subnetMaskOf('10.0.0.5', 1)).toBe('128.0.0.0');
    expect(subnetMaskOf('10.0.0.5', 0)).toBeUndefined();
    expect(subnetMaskOf('10.0.0.5', 33)).toBeUndefined();
    expect(subnetMaskOf('fd00:10::5', 64)).toBeUndefined(); // the kernel's 255.255.255.255 means nothing
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), (p) => subnetMaskOf('1.2.3.4', p) === maskOf('1.2.3.4', p)),
    );
  });

  it('PCI addresses in domain 0', () => {
    expect(pciAddressOf(0x0018)).toBe('0000:00:03.0');
    expect(pciAddressOf(0x0300)).toBe('0000:03:00.0');
    expect(pciAddressOf(0xffff)).toBe('0000:ff:1f.7');
    expect(pciAddressOf(undefined)).toBeUndefined();
  });

  it('LUN numbers of single-level LUNs only', () => {
    expect(lunNumberOf(0x0001_0000_0000_0000n)).toBe(1);
    expect(lunNumberOf(0x412c_0000_0000_0000n)).toBe(300);
    expect(lunNumberOf(0xd212_3456_0000_0000n)).toBe(0x123456);
    expect(lunNumberOf(0x0101_0000_0000_0000n)).toBeUndefined(); // peripheral, bus 1
    expect(lunNumberOf(0x0001_0002_0000_0000n)).toBeUndefined(); // second level
    expect(lunNumberOf(0xc101_0000_0000_0000n)).toBeUndefined(); // well-known
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (l) => lunNumberOf(l) === lunNumber(l)));
  });

  it('DHCP when origin is 3 or a DHCP server is given', () => {
    expect(isDhcpNic(3, undefined)).toBe(true);
    expect(isDhcpNic(1, '10.0.0.1')).toBe(true);
    expect(isDhcpNic(1, undefined)).toBe(false);
  });
});

describe('redaction', () => {
  const table: IbftTable = {
    signature: 'iBFT',
    oemId: '',
    oemTableId: '',
    controlFlags: 0,
    nics: [],
    targets: [
      {
        index: 0,
        valid: true,
        bootSelected: true,
        radiusChap: false,
        radiusReverseChap: false,
        reservedFlags: 0,
        port: 3260,
        lun: 0x0001_0000_0000_0000n,
        lunNumber: 1,
        chapType: 2,
        nicIndex: 0,
        chapName: 'user',
        chapSecret: enc('sekrit-sekrit'),
        reverseChapName: 'tgt',
        reverseChapSecret: new Uint8Array([0xff, 0x01]),
      },
    ],
  };

  it('redacts secrets and makes LUNs JSON-safe by default', () => {
    const text = JSON.stringify(redactIbft(table));
    expect(text).not.toContain('sekrit');
    const t = JSON.parse(text).targets[0];
    expect(t).toMatchObject({
      chapSecret: REDACTED,
      reverseChapSecret: REDACTED,
      lun: '0001000000000000',
      chapName: 'user',
    });
  });

  it('shows secrets as text, or hex when not UTF-8, only on request', () => {
    const t = ibftToJson(table, { showSecrets: true }).targets[0]!;
    expect(t.chapSecret).toBe('sekrit-sekrit');
    expect(t.reverseChapSecret).toBe('0xff01');
  });

  it('every model serialises without throwing and without secret bytes', () => {
    fc.assert(
      fc.property(ibftTable(2), (m) => {
        const parsed = JSON.parse(JSON.stringify(redactIbft(m)));
        for (const t of parsed.targets) {
          expect([undefined, REDACTED]).toContain(t.chapSecret);
          expect([undefined, REDACTED]).toContain(t.reverseChapSecret);
        }
      }),
      { numRuns: 50 },
    );
  });
});
