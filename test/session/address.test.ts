import { isIPv6, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../../src/errors.js';
import {
  connectOptions,
  DEFAULT_ISCSI_PORT,
  formatPortal,
  type Portal,
  parsePortal,
  parseTargetAddress,
} from '../../src/session/address.js';

/** Runs `f` and returns the IscsiError it throws (failing the test on anything else). */
function addressErrorOf(f: () => unknown): IscsiError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(IscsiError);
    expect((error as IscsiError).code).toBe(ErrorCode.Address);
    return error as IscsiError;
  }
  throw new Error('expected an ERR_ISCSI_ADDRESS error');
}

const v4 = (host: string, port = 3260): Portal => ({ host, port, family: 4 });
const v6 = (host: string, port = 3260, zone?: string): Portal =>
  zone === undefined ? { host, port, family: 6 } : { host, port, family: 6, zone };
const name = (host: string, port = 3260): Portal => ({ host, port, family: 'name' });

describe('parsePortal', () => {
  it.each<[string, Portal]>([
    ['storage', name('storage')],
    ['storage:3261', name('storage', 3261)],
    ['Target.Example.COM:860', name('target.example.com', 860)],
    ['a-b.c-d.example', name('a-b.c-d.example')],
    ['1host.example', name('1host.example')],
    ['example.com.', name('example.com.')],
    ['1.2.3.4x', name('1.2.3.4x')],
    [`${'a'.repeat(63)}.example`, name(`${'a'.repeat(63)}.example`)],
    ['1.2.3.4', v4('1.2.3.4')],
    ['1.2.3.4:3261', v4('1.2.3.4', 3261)],
    ['0.0.0.0:1', v4('0.0.0.0', 1)],
    ['255.255.255.255:65535', v4('255.255.255.255', 65535)],
    ['127.0.0.1:03260', v4('127.0.0.1')],
    ['[::1]', v6('::1')],
    ['[::1]:3261', v6('::1', 3261)],
    ['::1', v6('::1')],
    ['::', v6('::')],
    ['[2001:DB8:0:0:0:0:0:1]:3260', v6('2001:db8::1')],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', v6('2001:db8::1:0:0:1')],
    ['1:0:1:1:1:1:1:1', v6('1:0:1:1:1:1:1:1')],
    ['[::ffff:10.0.0.1]:3260', v6('::ffff:10.0.0.1')],
    ['::ffff:a00:1', v6('::ffff:10.0.0.1')],
    ['fe80::1%eth0', v6('fe80::1', 3260, 'eth0')],
    ['fe80::1%25', v6('fe80::1', 3260, '25')],
    ['[fe80::1%eth0]:3260', v6('fe80::1', 3260, 'eth0')],
    ['[fe80::1%25eth0]:3261', v6('fe80::1', 3261, 'eth0')],
    ['[FE80::A%enp0s3.100]', v6('fe80::a', 3260, 'enp0s3.100')],
    ['[fe80::1%7]', v6('fe80::1', 3260, '7')],
    // Two or more colons without brackets: an IPv6 literal, never a port.
    ['fe80::1:3260', v6('fe80::1:3260')],
  ])('accepts %j', (text, expected) => {
    const portal = parsePortal(text);
    expect(portal).toEqual(expected);
    expect(Object.isFrozen(portal)).toBe(true);
  });

  it.each<[string, RegExp]>([
    ['', /empty/],
    [':3260', /host is empty/],
    ['host:', /port after ":" is empty/],
    ['host:0', /outside 1\.\.65535/],
    ['host:65536', /outside 1\.\.65535/],
    ['host:123456', /decimal number/],
    ['host:abc', /decimal number/],
    ['host:+1', /decimal number/],
    ['host:-1', /decimal number/],
    ['host: 1', /decimal number/],
    ['1.2.3', /dotted-decimal/],
    ['1.2.3.4.5', /dotted-decimal/],
    ['256.1.1.1', /dotted-decimal/],
    ['01.2.3.4', /dotted-decimal/],
    ['1.2.3.4.', /dotted-decimal/],
    ['1234', /dotted-decimal/],
    ['0x7f.1', /numeric label/],
    ['host.123', /numeric label/],
    ['host.0x10', /numeric label/],
    ['a..b', /host name/],
    ['.a', /host name/],
    ['-a.example', /host name/],
    ['a-.example', /host name/],
    ['under_score', /host name/],
    ['sp ace', /host name/],
    ['ex%61mple', /host name/],
    ['exämple.com', /host name/],
    [`${'a'.repeat(64)}.example`, /host name/],
    [`${'abcdefghi.'.repeat(25)}abcd`, /at most 253/],
    ['a'.repeat(513), /longer than 512/],
    ['[::1', /missing '\]'/],
    ['::1]', /outside an IPv6 literal/],
    ['host]', /outside an IPv6 literal/],
    ['[]', /empty host/],
    ['[]:3260', /empty host/],
    ['[1.2.3.4]:3260', /only for IPv6/],
    ['[::1]:', /port after ":" is empty/],
    ['[::1]:0', /outside/],
    ['[::1]3260', /expected ':port'/],
    ['[::1]:3260x', /decimal number/],
    ['[::g]', /not a valid IPv6/],
    ['[1::2::3]', /not a valid IPv6/],
    ['[2001:db8::1/64]', /not a valid IPv6/],
    ['[fe80::1%]', /zone id/],
    ['[fe80::1%eth 0]', /zone id/],
    ['[fe80::1%a/b]', /zone id/],
    [`[fe80::1%${'z'.repeat(65)}]`, /zone id/],
    ['fe80::1%', /zone id/],
    ['1:2:3:4:5:6:7:8:9', /not a valid IPv6.*\[address\]:port/],
    ['1.2.3.4%eth0', /host name/],
  ])('rejects %j', (text, reason) => {
    const error = addressErrorOf(() => parsePortal(text));
    expect(error.message).toMatch(reason);
    expect(error.message).toMatch(/^invalid portal /);
  });

  it('uses the given default port', () => {
    expect(parsePortal('host', 3261)).toEqual(name('host', 3261));
    expect(parsePortal('[::1]', 860)).toEqual(v6('::1', 860));
    expect(parsePortal('host:3262', 3261).port).toBe(3262);
    expect(DEFAULT_ISCSI_PORT).toBe(3260);
  });

  it.each([0, 65536, 1.5, Number.NaN])('rejects default port %s as an invalid argument', (port) => {
    expect(() => parsePortal('host', port)).toThrow(InvalidArgumentError);
  });
});

describe('formatPortal', () => {
  it.each<[Portal, string]>([
    [v4('1.2.3.4'), '1.2.3.4:3260'],
    [v6('::1'), '[::1]:3260'],
    [v6('fe80::1', 3260, 'eth0'), '[fe80::1%eth0]:3260'],
    [v6('fe80::1', 3260, '25'), '[fe80::1%2525]:3260'],
    [v6('fe80::1', 3260, '2512'), '[fe80::1%252512]:3260'],
    [name('target.example', 3261), 'target.example:3261'],
  ])('formats %j as %s', (portal, text) => {
    expect(formatPortal(portal)).toBe(text);
  });

  it.each<[string, unknown]>([
    ['port 0', { host: 'h', port: 0, family: 'name' }],
    ['fractional port', { host: 'h', port: 1.5, family: 'name' }],
    ['empty host', { host: '', port: 1, family: 'name' }],
    ['zone on IPv4', { host: '1.2.3.4', port: 1, family: 4, zone: 'eth0' }],
    ['bad family', { host: 'h', port: 1, family: 5 }],
    ['bad zone', { host: 'fe80::1', port: 1, family: 6, zone: 'a b' }],
  ])('rejects a malformed portal object (%s)', (_, portal) => {
    expect(() => formatPortal(portal as Portal)).toThrow(InvalidArgumentError);
  });
});

describe('parseTargetAddress (RFC 7143 §13.8)', () => {
  it.each<[string, Portal, number | undefined]>([
    ['127.0.0.1:3261,1', v4('127.0.0.1', 3261), 1],
    ['[::1]:3261,1', v6('::1', 3261), 1],
    ['[2001:db8::1]:3260,1', v6('2001:db8::1'), 1],
    ['[2001:db8::1],2', v6('2001:db8::1'), 2],
    ['10.0.0.1', v4('10.0.0.1'), undefined],
    ['10.0.0.1:3262', v4('10.0.0.1', 3262), undefined],
    ['Target.Example:3260,0', name('target.example'), 0],
    ['target.example,65535', name('target.example'), 65535],
    ['target.example,0xFFFF', name('target.example'), 65535],
    ['target.example,0x1', name('target.example'), 1],
    ['[fe80::1%eth0]:3260,1', v6('fe80::1', 3260, 'eth0'), 1],
  ])('accepts %j', (value, portal, tpgt) => {
    const parsed = parseTargetAddress(value);
    expect(parsed.portal).toEqual(portal);
    expect(parsed.tpgt).toBe(tpgt);
  });

  it.each<[string, RegExp]>([
    ['', /empty/],
    [',1', /empty/],
    ['host,', /portal group tag/],
    ['host,65536', /portal group tag/],
    ['host,0x10000', /portal group tag/],
    ['host,-1', /portal group tag/],
    ['host,01', /portal group tag/],
    ['host,1.0', /portal group tag/],
    ['host,one', /portal group tag/],
    ['host, 1', /portal group tag/],
    ['host,1,2', /more than one/],
    ['::1', /must be in brackets/],
    ['2001:db8::1,1', /must be in brackets/],
    ['host:70000,1', /outside 1\.\.65535/],
    ['[::1]:3260x,1', /decimal number/],
    ['bad_host:3260,1', /host name/],
  ])('rejects %j', (value, reason) => {
    const error = addressErrorOf(() => parseTargetAddress(value));
    expect(error.message).toMatch(reason);
    expect(error.message).toMatch(/TargetAddress/);
  });
});

describe('connectOptions', () => {
  it('passes IP literals with their family', () => {
    expect(connectOptions(parsePortal('1.2.3.4:3261'))).toEqual({ host: '1.2.3.4', port: 3261, family: 4 });
    expect(connectOptions(parsePortal('[::1]:3261'))).toEqual({ host: '::1', port: 3261, family: 6 });
  });

  it('appends the IPv6 zone id for link-local addresses', () => {
    expect(connectOptions(parsePortal('[fe80::1%25eth0]:3260'))).toEqual({
      host: 'fe80::1%eth0',
      port: 3260,
      family: 6,
    });
  });

  it('leaves the family open for host names', () => {
    expect(connectOptions(parsePortal('target.example'))).toEqual({ host: 'target.example', port: 3260, family: 0 });
  });

  it('binds to a local address of the same family, normalised', () => {
    expect(connectOptions(parsePortal('1.2.3.4'), '10.0.0.2')).toEqual({
      host: '1.2.3.4',
      port: 3260,
      family: 4,
      localAddress: '10.0.0.2',
    });
    expect(connectOptions(parsePortal('[2001:db8::1]'), '2001:DB8:0::2').localAddress).toBe('2001:db8::2');
    expect(connectOptions(parsePortal('fe80::1%eth0'), 'fe80::2%eth0').localAddress).toBe('fe80::2%eth0');
  });

  it("takes a host name's family from the local address", () => {
    expect(connectOptions(parsePortal('target.example'), '::1')).toEqual({
      host: 'target.example',
      port: 3260,
      family: 6,
      localAddress: '::1',
    });
    expect(connectOptions(parsePortal('target.example'), '127.0.0.1').family).toBe(4);
  });

  it.each<[string, string, RegExp]>([
    ['1.2.3.4', '::1', /is IPv6 but the portal is IPv4/],
    ['[::1]', '127.0.0.1', /is IPv4 but the portal is IPv6/],
    ['1.2.3.4', 'eth0', /not an IPv4 or IPv6 address/],
    ['1.2.3.4', 'localhost', /not an IPv4 or IPv6 address/],
    ['1.2.3.4', '', /not an IPv4 or IPv6 address/],
    ['1.2.3.4', '10.0.0.1/24', /not an IPv4 or IPv6 address/],
    ['[::1]', '[::1]', /not an IPv4 or IPv6 address/],
    ['[::1]', 'fe80::1%', /not an IPv4 or IPv6 address/],
    ['1.2.3.4', '010.0.0.1', /not an IPv4 or IPv6 address/],
  ])('rejects portal %s with local address %j', (portal, local, reason) => {
    expect(addressErrorOf(() => connectOptions(parsePortal(portal), local)).message).toMatch(reason);
  });

  it('rejects a malformed portal object', () => {
    expect(() => connectOptions({ host: 'h', port: 70000, family: 'name' })).toThrow(InvalidArgumentError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

const port = fc.integer({ min: 1, max: 65535 });
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
const hostName = fc
  .array(label, { minLength: 1, maxLength: 5 })
  .filter((labels) => !/^(?:[0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!))
  .map((labels) => labels.join('.'));
const zone = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,15}$/),
  fc.stringMatching(/^[A-Za-z0-9._~-]{0,13}$/).map((z) => `25${z}`),
);
/** The address Node itself prints (inet_ntop), except for deprecated IPv4-compatible ::a.b.c.d forms. */
function nodeIpv6Form(address: string): string | undefined {
  const printed = new SocketAddress({ address, family: 'ipv6' }).address;
  return /^::(?!ffff:)[0-9.]+$/.test(printed) && printed.includes('.') ? undefined : printed;
}

describe('properties', () => {
  it('IPv4 portals round trip through formatPortal', () => {
    fc.assert(
      fc.property(fc.ipV4(), port, (ip, p) => {
        const portal = parsePortal(`${ip}:${p}`);
        expect(portal).toEqual(v4(ip, p));
        expect(formatPortal(portal)).toBe(`${ip}:${p}`);
      }),
      { numRuns: 500 },
    );
  });

  it('IPv6 portals normalise as Node prints them and round trip', () => {
    fc.assert(
      fc.property(fc.ipV6(), port, fc.option(zone, { nil: undefined }), (ip, p, z) => {
        // A zone id starting with "25" must itself be written %25-encoded (RFC 6874) to be read as given.
        const written = z === undefined ? '' : z.startsWith('25') ? `%25${z}` : `%${z}`;
        const portal = parsePortal(`[${ip}${written}]:${p}`);
        expect(portal.family).toBe(6);
        expect(portal.zone).toBe(z);
        const expected = nodeIpv6Form(ip);
        if (expected !== undefined) expect(portal.host).toBe(expected);
        const text = formatPortal(portal);
        expect(parsePortal(text)).toEqual(portal);
        expect(formatPortal(parsePortal(text))).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('host-name portals round trip, lower-cased', () => {
    fc.assert(
      fc.property(hostName, port, fc.boolean(), (host, p, upper) => {
        const portal = parsePortal(`${upper ? host.toUpperCase() : host}:${p}`);
        expect(portal).toEqual(name(host, p));
        expect(formatPortal(portal)).toBe(`${host}:${p}`);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with node:net on which strings are IPv6 addresses', () => {
    const ipv6ish = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 }),
      fc.ipV6(),
      fc.ipV6().chain((s) => fc.nat(s.length).map((i) => s.slice(0, i) + s.slice(i + 1))),
      fc.ipV6().chain((s) => fc.nat(s.length).map((i) => `${s.slice(0, i)}0${s.slice(i)}`)),
    );
    fc.assert(
      fc.property(ipv6ish, (s) => {
        let ok = true;
        try {
          parsePortal(`[${s}]`);
        } catch {
          ok = false;
        }
        expect(ok).toBe(isIPv6(s));
      }),
      { numRuns: 5000 },
    );
  });

  const noisy = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...'[]:%.,0123456789abcdefxAF-_/ 25eth'), maxLength: 40 }),
  );

  it('arbitrary strings give a portal or ERR_ISCSI_ADDRESS, and parsed portals are stable', () => {
    fc.assert(
      fc.property(noisy, (text) => {
        let portal: Portal;
        try {
          portal = parsePortal(text);
        } catch (error) {
          expect(error).toBeInstanceOf(IscsiError);
          expect((error as IscsiError).code).toBe(ErrorCode.Address);
          return;
        }
        expect(parsePortal(formatPortal(portal))).toEqual(portal);
      }),
      { numRuns: 3000 },
    );
  });

  it('arbitrary strings give a TargetAddress or ERR_ISCSI_ADDRESS', () => {
    fc.assert(
      fc.property(noisy, (text) => {
        let parsed: ReturnType<typeof parseTargetAddress>;
        try {
          parsed = parseTargetAddress(text);
        } catch (error) {
          expect(error).toBeInstanceOf(IscsiError);
          expect((error as IscsiError).code).toBe(ErrorCode.Address);
          return;
        }
        const { portal, tpgt } = parsed;
        expect(tpgt === undefined || (Number.isInteger(tpgt) && tpgt >= 0 && tpgt <= 0xffff)).toBe(true);
        expect(parsePortal(formatPortal(portal))).toEqual(portal);
      }),
      { numRuns: 3000 },
    );
  });

  it('TargetAddress values built from parts parse back to those parts', () => {
    const portalText = fc.oneof(
      fc.tuple(fc.ipV4(), port).map(([ip, p]) => ({ text: `${ip}:${p}`, portal: v4(ip, p) })),
      fc.tuple(hostName, port).map(([h, p]) => ({ text: `${h}:${p}`, portal: name(h, p) })),
      fc.tuple(fc.ipV6(), port).map(([ip, p]) => ({ text: `[${ip}]:${p}`, portal: parsePortal(`[${ip}]:${p}`) })),
    );
    fc.assert(
      fc.property(portalText, fc.integer({ min: 0, max: 0xffff }), ({ text, portal }, tpgt) => {
        expect(parseTargetAddress(`${text},${tpgt}`)).toEqual({ portal, tpgt });
      }),
      { numRuns: 500 },
    );
  });
});
