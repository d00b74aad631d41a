import { describe, expect, it } from 'vitest';
import { addressFromBytes, addressToBytes, normaliseAddress } from '../../src/ibft/address.js';

const hex = (h: string) => new Uint8Array(Buffer.from(h.replaceAll(' ', ''), 'hex'));

describe('iBFT address fields', () => {
  it('reads IPv4-mapped addresses as dotted quads and IPv6 in RFC 5952 form', () => {
    expect(addressFromBytes(hex('00000000 00000000 0000ffff 0a000005'))).toBe('10.0.0.5');
    expect(addressFromBytes(hex('fd000010 00000000 00000000 00000005'))).toBe('fd00:10::5');
    expect(addressFromBytes(hex('00000000 00000000 00000000 00000001'))).toBe('::1');
    expect(addressFromBytes(hex('20010db8 00000000 00010000 00000001'))).toBe('2001:db8::1:0:0:1');
  });

  it('reads all zeros and ::ffff:0.0.0.0 as absent', () => {
    expect(addressFromBytes(new Uint8Array(16))).toBeUndefined();
    expect(addressFromBytes(hex('00000000 00000000 0000ffff 00000000'))).toBeUndefined();
  });

  it('writes IPv4 as IPv4-mapped and IPv6 in network order', () => {
    expect(Buffer.from(addressToBytes('192.168.50.1')!).toString('hex')).toBe('00000000000000000000ffffc0a83201');
    expect(Buffer.from(addressToBytes('::1')!).toString('hex')).toBe('00000000000000000000000000000001');
    expect(Buffer.from(addressToBytes('FD00:10::10')!).toString('hex')).toBe('fd000010000000000000000000000010');
  });

  it("normalises the kernel's uncompressed IPv6 and rejects what is not a bare literal", () => {
    expect(normaliseAddress('fd00:0010:0000:0000:0000:0000:0000:0005')).toBe('fd00:10::5');
    expect(normaliseAddress('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(normaliseAddress('0000:0000:0000:0000:0000:0000:0000:0000')).toBeUndefined();
    expect(normaliseAddress('0.0.0.0')).toBeUndefined();
    for (const bad of ['10.0.0.256', '010.0.0.5', 'fe80::1%eth0', 'fd00::/64', 'host', '', '1::2::3']) {
      expect(normaliseAddress(bad)).toBe(false);
    }
  });
});
