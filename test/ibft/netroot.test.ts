import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import {
  type BootChap,
  type BootTarget,
  formatNetroot,
  type NetrootStyle,
  parseNetroot,
} from '../../src/ibft/netroot.js';
import { hostFamily } from '../../src/ibft/values.js';
import { bootErrorOf, onlyBootErrors, plain } from './boot-helpers.js';

const chap = (user: string, secret: string): BootChap => ({ user, secret: Secret.from(secret) });

const disk1: BootTarget = {
  portal: { host: '10.0.0.10', port: 3260, family: 4 },
  targetName: 'iqn.2003-01.org.example:disk1',
  lun: 0,
};
const mutual: BootTarget = {
  ...disk1,
  chap: chap('inituser', 'initsecret1234'),
  reverseChap: chap('tgtuser', 'tgtsecret5678'),
};
const v6disk: BootTarget = {
  portal: { host: 'fd00:10::10', port: 3260, family: 6 },
  targetName: 'iqn.2003-01.org.example:v6disk',
  lun: 1,
  chap: chap('user6', 'secret6secret6'),
};

describe('formatNetroot', () => {
  // The blivet strings are the examples of the reference sheet (ibft-dracut-udev.md §5, §8.2, §8.3).
  it.each<[string, BootTarget, NetrootStyle, string]>([
    ['blivet, no auth', disk1, 'anaconda', 'netroot=iscsi:@10.0.0.10::3260::iqn.2003-01.org.example:disk1'],
    [
      'blivet, mutual CHAP',
      mutual,
      'anaconda',
      'netroot=iscsi:inituser:initsecret1234:tgtuser:tgtsecret5678@10.0.0.10::3260::iqn.2003-01.org.example:disk1',
    ],
    [
      'blivet, IPv6 with CHAP (LUN 1 left out)',
      v6disk,
      'anaconda',
      'netroot=iscsi:user6:secret6secret6@[fd00:10::10]::3260::iqn.2003-01.org.example:v6disk',
    ],
    [
      'blivet, iface binding',
      { ...disk1, iface: 'iface0', netdev: 'ens3' },
      'anaconda',
      'netroot=iscsi:@10.0.0.10::3260:iface0:ens3::iqn.2003-01.org.example:disk1',
    ],
    [
      'blivet, default iface left out',
      { ...disk1, iface: 'default' },
      'anaconda',
      'netroot=iscsi:@10.0.0.10::3260::iqn.2003-01.org.example:disk1',
    ],
    [
      'full, LUN written',
      { ...disk1, lun: 1 },
      'full',
      'netroot=iscsi:@10.0.0.10::3260:1:iqn.2003-01.org.example:disk1',
    ],
    [
      'full, netdev only',
      { ...disk1, netdev: 'ens3', lun: 2 },
      'full',
      'netroot=iscsi:@10.0.0.10::3260:ens3:2:iqn.2003-01.org.example:disk1',
    ],
    [
      'full, iface without netdev',
      { ...disk1, iface: 'iface0' },
      'full',
      'netroot=iscsi:@10.0.0.10::3260:iface0::0:iqn.2003-01.org.example:disk1',
    ],
    [
      'full, 64-bit LUN',
      { ...disk1, lun: 2n ** 64n - 1n },
      'full',
      'netroot=iscsi:@10.0.0.10::3260:18446744073709551615:iqn.2003-01.org.example:disk1',
    ],
    [
      'dracut, defaults left out (dracut.cmdline example)',
      { portal: { host: '192.168.50.1', family: 4 }, targetName: 'iqn.2009-06.dracut:target0', lun: 0 },
      'dracut',
      'netroot=iscsi:192.168.50.1::::iqn.2009-06.dracut:target0',
    ],
    [
      'dracut, IPv6 as in dracut.cmdline',
      { portal: { host: '2001:DB8::1', family: 6 }, targetName: 'iqn.2009-06.dracut:target0', lun: 0 },
      'dracut',
      'netroot=iscsi:[2001:DB8::1]::::iqn.2009-06.dracut:target0',
    ],
    [
      'dracut, "@" in the target name forces the empty auth part',
      { ...disk1, targetName: 'iqn.2009-01.com.example:testdi@sk', portal: { host: 'h', port: 3261, family: 'name' } },
      'dracut',
      'netroot=iscsi:@h::3261::iqn.2009-01.com.example:testdi@sk',
    ],
    [
      'dracut, eui name',
      { ...disk1, targetName: 'eui.02004567A425678D', lun: 7 },
      'dracut',
      'netroot=iscsi:10.0.0.10:::7:eui.02004567A425678D',
    ],
  ])('%s', (_, target, style, expected) => {
    expect(formatNetroot(target, { style, includeSecrets: true })).toBe(expected);
  });

  it('redacts secrets unless includeSecrets is set, and can write root=', () => {
    const text = formatNetroot(mutual, { key: 'root' });
    expect(text).toBe(
      'root=iscsi:inituser:<redacted>:tgtuser:<redacted>@10.0.0.10::3260:0:iqn.2003-01.org.example:disk1',
    );
    expect(text).not.toContain('secret');
  });

  it.each<[string, BootTarget, string]>([
    [
      'a ":" in the user name (dracut splits the auth part on every ":")',
      { ...disk1, chap: chap('dom:user', 'abcdefghijkl') },
      'netroot.user',
    ],
    [
      'an "@" in the secret (the auth part ends at the first "@")',
      { ...disk1, chap: chap('u', 'abc@defghijkl') },
      'netroot.userSecret',
    ],
    ['white space in the secret', { ...disk1, chap: chap('u', 'abc defghijkl') }, 'netroot.userSecret'],
    [
      'a glob character in the reverse user',
      { ...mutual, reverseChap: chap('t*', 'tgtsecret5678') },
      'netroot.reverse',
    ],
    [
      'a secret that is not UTF-8',
      { ...disk1, chap: { user: 'u', secret: Secret.from(Uint8Array.of(0xff, 0xfe)) } },
      'netroot.userSecret',
    ],
    ['reverse CHAP alone', { ...disk1, reverseChap: chap('t', 'tgtsecret5678') }, 'netroot.auth'],
    [
      "a target name holding ':iqn.'",
      { ...disk1, targetName: 'iqn.2001-04.com.example:iqn.disk' },
      'netroot.targetName',
    ],
    ['an upper-case IQN prefix', { ...disk1, targetName: 'IQN.2001-04.com.example:disk' }, 'netroot.targetName'],
    ['a short eui name', { ...disk1, targetName: 'eui.0200' }, 'netroot.targetName'],
    ['a target name with a space', { ...disk1, targetName: 'iqn.2001-04.com.example:a b' }, 'netroot.targetName'],
    [
      'a 224-byte target name',
      { ...disk1, targetName: `iqn.2001-04.com.example:${'a'.repeat(200)}` },
      'netroot.targetName',
    ],
    ['port 0', { ...disk1, portal: { ...disk1.portal, port: 0 } }, 'netroot.port'],
    ['port 65536', { ...disk1, portal: { ...disk1.portal, port: 65536 } }, 'netroot.port'],
    ['a family that does not match the host', { ...disk1, portal: { host: '10.0.0.10', family: 6 } }, 'netroot.server'],
    ['a bad host', { ...disk1, portal: { host: 'a_b', family: 'name' } }, 'netroot.server'],
    ['a negative LUN', { ...disk1, lun: -1 }, 'netroot.lun'],
    ['a LUN of 2^64', { ...disk1, lun: 2n ** 64n }, 'netroot.lun'],
    ['a fractional LUN', { ...disk1, lun: 1.5 }, 'netroot.lun'],
    ['a netdev with ":"', { ...disk1, netdev: 'eth0:1' }, 'netroot.netdev'],
    ['an iface name with ":" (offload iface records)', { ...disk1, iface: 'bnx2i.00:10:18:aa:bb:cc' }, 'netroot.iface'],
    ['a netdev longer than 15 characters', { ...disk1, netdev: 'a'.repeat(16) }, 'netroot.netdev'],
  ])('rejects %s', (_, target, field) => {
    const error = bootErrorOf(() => formatNetroot(target, { includeSecrets: true }), field);
    expect(error.message).not.toMatch(/abcdefghijkl|defghijkl|tgtsecret/);
  });
});

describe('parseNetroot', () => {
  it.each<[string, string, BootTarget]>([
    ['blivet form', 'netroot=iscsi:@10.0.0.10::3260::iqn.2003-01.org.example:disk1', disk1],
    [
      'mutual CHAP',
      'iscsi:inituser:initsecret1234:tgtuser:tgtsecret5678@10.0.0.10::3260::iqn.2003-01.org.example:disk1',
      mutual,
    ],
    ['IPv6 + CHAP + LUN', 'iscsi:user6:secret6secret6@[fd00:10::10]::3260:1:iqn.2003-01.org.example:v6disk', v6disk],
    [
      'RFC 4173 form (dracut and iPXE agree)',
      'iscsi:10.0.0.1::::iqn.2010-04.org.ipxe:rabbit',
      { portal: { host: '10.0.0.1', port: 3260, family: 4 }, targetName: 'iqn.2010-04.org.ipxe:rabbit', lun: 0 },
    ],
    [
      "dracut's '@' in a target name example",
      'netroot=iscsi:@192.168.1.100::3260::iqn.2009-01.com.example:testdi@sk',
      {
        portal: { host: '192.168.1.100', port: 3260, family: 4 },
        targetName: 'iqn.2009-01.com.example:testdi@sk',
        lun: 0,
      },
    ],
    [
      'root= with protocol 6 and a host name',
      'root=iscsi:Storage.example:6:3261:5:iqn.2003-01.org.example:disk1',
      {
        portal: { host: 'Storage.example', port: 3261, family: 'name' },
        targetName: 'iqn.2003-01.org.example:disk1',
        lun: 5,
      },
    ],
    [
      'netdev only (two fields before the LUN)',
      'iscsi:@10.0.0.10::3260:ens3:2:iqn.2003-01.org.example:disk1',
      { ...disk1, netdev: 'ens3', lun: 2 },
    ],
    [
      'iface and netdev',
      'iscsi:@10.0.0.10::3260:iface0:ens3::iqn.2003-01.org.example:disk1',
      { ...disk1, iface: 'iface0', netdev: 'ens3' },
    ],
    ['no LUN field (dracut tolerates it)', 'iscsi:10.0.0.10::3260:iqn.2003-01.org.example:disk1', disk1],
    [
      'a 64-bit LUN as a bigint',
      'iscsi:10.0.0.10::3260:9007199254740993:iqn.2003-01.org.example:disk1',
      { ...disk1, lun: 9007199254740993n },
    ],
    [
      'naa name',
      'iscsi:10.0.0.10::::naa.52004567BA64678D',
      { portal: { host: '10.0.0.10', port: 3260, family: 4 }, targetName: 'naa.52004567BA64678D', lun: 0 },
    ],
    [
      'a target name with "-lun-" and many colons',
      'iscsi:@[::1]::3260:3:iqn.2003-01.org.example:a:b-lun-1:c',
      { portal: { host: '::1', port: 3260, family: 6 }, targetName: 'iqn.2003-01.org.example:a:b-lun-1:c', lun: 3 },
    ],
  ])('%s', (_, text, expected) => {
    expect(plain(parseNetroot(text))).toEqual(plain(expected));
  });

  it.each<[string, string, string]>([
    ['no iscsi: prefix', 'netroot=nfs:10.0.0.1:/root', 'netroot'],
    ['an empty server', 'iscsi:::3260::iqn.2003-01.org.example:disk1', 'netroot.server'],
    ['an IPv6 server without brackets', 'iscsi:2001:db8::1::3260::iqn.2003-01.org.example:disk1', 'netroot.server'],
    ['an unclosed bracket', 'iscsi:[fd00::1::3260::iqn.2003-01.org.example:disk1', 'netroot.server'],
    ['brackets around IPv4', 'iscsi:[10.0.0.1]::3260::iqn.2003-01.org.example:disk1', 'netroot.server'],
    ['a protocol other than 6', 'iscsi:10.0.0.1:17:3260::iqn.2003-01.org.example:disk1', 'netroot.protocol'],
    ['a port that is not a number', 'iscsi:10.0.0.1::http::iqn.2003-01.org.example:disk1', 'netroot.port'],
    [
      "an RFC 4173 hex LUN (dracut's is decimal)",
      'iscsi:10.0.0.5:::1-7:iqn.2010-11.private:winsrvr2008',
      'netroot.lun',
    ],
    ['five auth fields', 'iscsi:a:b:c:d:e@10.0.0.1::3260::iqn.2003-01.org.example:disk1', 'netroot.auth'],
    ['a user without a secret', 'iscsi:a@10.0.0.1::3260::iqn.2003-01.org.example:disk1', 'netroot.auth'],
    ['a redacted secret', 'iscsi:u:<redacted>@10.0.0.1::3260::iqn.2003-01.org.example:disk1', 'netroot.userSecret'],
    ['no target name', 'iscsi:10.0.0.1::3260::disk1', 'netroot.targetName'],
    ['too many fields', 'iscsi:10.0.0.1::3260:a:b:c:1:iqn.2003-01.org.example:disk1', 'netroot'],
    ['a target name too short', 'iscsi:10.0.0.1::3260::iqn.', 'netroot.targetName'],
    // dracut takes the target name from the LAST ':iqn.', so this name is cut and the rest lands in the LUN field.
    ["a target name holding ':iqn.'", 'iscsi:@h::3260:0:iqn.2001-04.com.example:iqn.disk', 'netroot.lun'],
  ])('rejects %s', (_, text, field) => {
    bootErrorOf(() => parseNetroot(text), field);
  });

  it('reads an unbracketed IPv6 server the way dracut does: host up to the first ":"', () => {
    // dracut takes "fd00" as the server and splits ':1::3260:' into protocol '', port '1', iface '', netdev '3260'
    // and LUN '': a valid but wrong reading. formatNetroot always brackets IPv6.
    const t = parseNetroot('iscsi:fd00::1::3260::iqn.2003-01.org.example:disk1');
    expect(plain(t)).toEqual(
      plain({
        portal: { host: 'fd00', port: 1, family: 'name' },
        targetName: 'iqn.2003-01.org.example:disk1',
        lun: 0,
        netdev: '3260',
      }),
    );
  });

  it('never echoes the auth part in its messages', () => {
    const error = bootErrorOf(() =>
      parseNetroot('iscsi:user:s3cr3t-value:x@10.0.0.1::3260::iqn.2003-01.org.example:d'),
    );
    expect(error.message).not.toContain('s3cr3t');
  });

  it('throws only BootConfigError for arbitrary input', () => {
    const piece = fc.constantFrom(
      'iscsi:',
      '@',
      ':',
      '::',
      '[',
      ']',
      'fd00::1',
      '10.0.0.1',
      'iqn.',
      ':iqn.',
      'eui.',
      '3260',
      'a',
      '-',
      '',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(piece, { maxLength: 12 }).map((p) => `iscsi:${p.join('')}`),
        ),
        (text) => {
          onlyBootErrors(() => parseNetroot(text));
        },
      ),
      { numRuns: 500 },
    );
  });
});

// --- round trips ---

const fieldChars = fc.constantFrom(...'abcxyzABC0189._-~!$%&+,;=<>'.split(''), 'é', 'ß');
const field = (max: number) => fc.string({ unit: fieldChars, minLength: 1, maxLength: max });
const secretText = fc.string({ unit: fieldChars, minLength: 12, maxLength: 24 });
const hostArb: fc.Arbitrary<{ host: string; family: 4 | 6 | 'name' }> = fc.oneof(
  fc.ipV4().map((host) => ({ host, family: 4 as const })),
  fc
    .ipV6()
    .filter((h) => hostFamily(h) === 6)
    .map((host) => ({ host, family: 6 as const })),
  fc
    .domain()
    .filter((h) => hostFamily(h) === 'name')
    .map((host) => ({ host, family: 'name' as const })),
  fc.constantFrom('ip-10-0-0-1.ec2.internal', 'my-iscsi-server').map((host) => ({ host, family: 'name' as const })),
);
const suffixChars = fc.constantFrom(...'abz09.-:@'.split(''));
const targetArb = fc.oneof(
  fc
    .tuple(fc.integer({ min: 1990, max: 2030 }), fc.domain(), fc.string({ unit: suffixChars, maxLength: 30 }))
    .map(([y, d, s]) => `iqn.${y}-01.${d.split('.').reverse().join('.')}${s === '' ? '' : `:${s}`}`)
    .filter((n) => !n.includes(':iqn.') && new TextEncoder().encode(n).length <= 223),
  fc.stringMatching(/^[0-9A-F]{16}$/).map((h) => `eui.${h}`),
  fc.stringMatching(/^[0-9a-f]{32}$/).map((h) => `naa.${h}`),
);
const lunArb = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }));
const chapArb = fc.tuple(field(16), secretText).map(([user, secret]) => chap(user, secret));
const targetRecord: fc.Arbitrary<BootTarget> = fc
  .record(
    {
      host: hostArb,
      port: fc.integer({ min: 1, max: 65535 }),
      targetName: targetArb,
      lun: lunArb,
      auth: fc.option(fc.tuple(chapArb, fc.option(chapArb, { nil: undefined })), { nil: undefined }),
      iface: fc.option(field(10), { nil: undefined }),
      netdev: fc.option(fc.stringMatching(/^[a-z][a-z0-9.]{0,14}$/), { nil: undefined }),
    },
    { requiredKeys: ['host', 'port', 'targetName', 'lun'] },
  )
  .map(({ host, port, targetName, lun, auth, iface, netdev }) => ({
    portal: { ...host, port },
    targetName,
    lun,
    ...(auth === undefined ? {} : { chap: auth[0] }),
    ...(auth?.[1] === undefined ? {} : { reverseChap: auth[1] }),
    ...(iface === undefined ? {} : { iface }),
    ...(netdev === undefined ? {} : { netdev }),
  }));

describe('netroot round trip', () => {
  it('parse(format(x)) = x in the full and dracut styles', () => {
    fc.assert(
      fc.property(targetRecord, fc.constantFrom<NetrootStyle>('full', 'dracut'), (t, style) => {
        expect(plain(parseNetroot(formatNetroot(t, { includeSecrets: true, style })))).toEqual(plain(t));
      }),
      { numRuns: 400 },
    );
  });

  it('the anaconda style keeps everything but the LUN (and the default iface)', () => {
    fc.assert(
      fc.property(targetRecord, (t) => {
        const back = parseNetroot(formatNetroot(t, { includeSecrets: true, style: 'anaconda' }));
        expect(plain(back)).toEqual(plain({ ...t, lun: 0 }));
      }),
      { numRuns: 200 },
    );
  });
});
