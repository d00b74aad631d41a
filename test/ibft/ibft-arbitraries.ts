/**
 * fast-check arbitraries for iBFT models in normal form, with the derived fields computed here independently of
 * src/ibft (IPv6 text through the WHATWG URL serialiser, which compresses like RFC 5952).
 */
import fc from 'fast-check';
import type { IbftInitiator, IbftNic, IbftTable, IbftTarget } from '../../src/ibft/model.js';

const encoder = new TextEncoder();

const ipv4 = fc.ipV4().filter((a) => a !== '0.0.0.0');
const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const ipv6 = fc
  .array(group, { minLength: 8, maxLength: 8 })
  .filter((g) => g.some((x) => x !== 0) && !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff))
  .map((g) => new URL(`http://[${g.map((x) => x.toString(16)).join(':')}]/`).hostname.slice(1, -1));

/** A normalised IPv4 or IPv6 address. */
export const address = fc.oneof(ipv4, ipv6);
const optAddress = fc.option(address, { nil: undefined });

/** Non-empty text that survives UTF-8 and has no NUL. */
const text = (max: number) =>
  fc
    .oneof(
      fc.string({ minLength: 1, maxLength: max, unit: fc.constantFrom(...'iqn.2003-01:example-disk_0') }),
      fc.string({ minLength: 1, maxLength: max, unit: 'grapheme-ascii' }),
      fc.string({ minLength: 1, maxLength: max, unit: 'binary' }),
    )
    .filter((s) => !s.includes('\0') && new TextDecoder().decode(encoder.encode(s)) === s);
const optText = (max: number) => fc.option(text(max), { nil: undefined });
const secret = fc.option(fc.uint8Array({ minLength: 1, maxLength: 24, min: 1 }), { nil: undefined });
const ascii = (max: number) =>
  fc.string({ maxLength: max, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) });

/** Expected subnet mask, computed bit by bit. */
export function maskOf(ip: string | undefined, prefix: number): string | undefined {
  if (prefix < 1 || prefix > 32 || ip?.includes(':')) return undefined;
  const bits = Array.from({ length: 32 }, (_, i) => (i < prefix ? '1' : '0')).join('');
  return [0, 8, 16, 24].map((i) => Number.parseInt(bits.slice(i, i + 8), 2)).join('.');
}

/** Expected single-level LUN number. */
export function lunNumber(lun: bigint): number | undefined {
  const b = Array.from({ length: 8 }, (_, i) => Number((lun >> BigInt(56 - 8 * i)) & 0xffn));
  const zeroFrom = (k: number) => b.slice(k).every((x) => x === 0);
  if (b[0] === 0 && zeroFrom(2)) return b[1];
  if ((b[0]! & 0xc0) === 0x40 && zeroFrom(2)) return (b[0]! & 0x3f) * 256 + b[1]!;
  if (b[0] === 0xd2 && zeroFrom(4)) return b[1]! * 65536 + b[2]! * 256 + b[3]!;
  return undefined;
}

const lun = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((n) => BigInt(n) << 48n),
  fc.integer({ min: 0, max: 0x3fff }).map((n) => BigInt(0x4000 | n) << 48n),
  fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
);

const initiator: fc.Arbitrary<IbftInitiator> = fc.record({
  valid: fc.boolean(),
  bootSelected: fc.boolean(),
  reservedFlags: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 63 }).map((n) => n << 2),
  ),
  name: optText(60),
  isnsServer: optAddress,
  slpServer: optAddress,
  primaryRadiusServer: optAddress,
  secondaryRadiusServer: optAddress,
});

const nic = (index: number): fc.Arbitrary<IbftNic> =>
  fc
    .record({
      valid: fc.boolean(),
      bootSelected: fc.boolean(),
      global: fc.boolean(),
      reservedFlags: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 31 }).map((n) => n << 3),
      ),
      ip: optAddress,
      prefixLength: fc.oneof(fc.constantFrom(0, 8, 24, 32, 64, 128), fc.integer({ min: 0, max: 255 })),
      origin: fc.oneof(fc.constantFrom(0, 1, 3, 4, 16), fc.integer({ min: 0, max: 255 })),
      gateway: optAddress,
      primaryDns: optAddress,
      secondaryDns: optAddress,
      dhcpServer: optAddress,
      vlan: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
      mac: fc
        .uint8Array({ minLength: 6, maxLength: 6 })
        .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')),
      pciBdf: fc.integer({ min: 0, max: 0xffff }),
      hostname: optText(30),
    })
    .map((n) => ({
      index,
      ...n,
      subnetMask: maskOf(n.ip, n.prefixLength),
      dhcp: n.origin === 3 || n.dhcpServer !== undefined,
      pciAddress: `0000:${hex2(n.pciBdf >> 8)}:${hex2((n.pciBdf >> 3) & 31)}.${n.pciBdf & 7}`,
    }));

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

const target = (index: number, nicIndices: readonly number[]): fc.Arbitrary<IbftTarget> =>
  fc
    .record({
      valid: fc.boolean(),
      bootSelected: fc.boolean(),
      radiusChap: fc.boolean(),
      radiusReverseChap: fc.boolean(),
      reservedFlags: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 15 }).map((n) => n << 4),
      ),
      ip: optAddress,
      port: fc.oneof(fc.constant(3260), fc.integer({ min: 0, max: 0xffff })),
      lun,
      chapType: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 0, max: 255 })),
      nicIndex: fc.oneof(fc.constantFrom(...nicIndices), fc.integer({ min: 0, max: 255 })),
      name: optText(80),
      chapName: optText(40),
      chapSecret: secret,
      reverseChapName: optText(40),
      reverseChapSecret: secret,
    })
    .map((t) => ({ index, ...t, lunNumber: lunNumber(t.lun) }));

/** Any model in normal form with 1..`max` NICs and targets (distinct indices, in random order). */
export const ibftTable = (max = 3): fc.Arbitrary<IbftTable> =>
  fc
    .record({
      nicIdx: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: max }),
      targetIdx: fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: max }),
    })
    .chain(({ nicIdx, targetIdx }) =>
      fc.record({
        signature: fc.constantFrom('iBFT' as const, 'IBFT' as const, 'BIFT' as const),
        oemId: ascii(6),
        oemTableId: ascii(8),
        controlFlags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
        initiator: fc.option(initiator, { nil: undefined, freq: 8 }),
        nics: fc.tuple(...nicIdx.map((i) => nic(i))),
        targets: fc.tuple(...targetIdx.map((i) => target(i, nicIdx))),
      }),
    );

/** Fixes the header checksum of a table in place (sum of `length` bytes ≡ 0 mod 256). */
export function fixChecksum(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 10) return bytes;
  const length = Math.min(bytes.length, new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true));
  bytes[9] = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) sum += bytes[i]!;
  bytes[9] = (256 - (sum & 0xff)) & 0xff;
  return bytes;
}
