import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { revealSecret, Secret } from '../../src/chap/secret.js';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../../src/errors.js';
import type { Portal } from '../../src/session/address.js';
import { formatIscsiUrl, type IscsiUrl, MAX_URL_LUN, parseIscsiUrl } from '../../src/session/url.js';

const IQN = 'iqn.2024-01.test.example:tgt.noauth';
const text = new TextDecoder();
const secretText = (s: Secret | undefined): string | undefined =>
  s === undefined ? undefined : text.decode(revealSecret(s));

function urlErrorOf(url: string): IscsiError {
  try {
    parseIscsiUrl(url);
  } catch (error) {
    expect(error).toBeInstanceOf(IscsiError);
    expect((error as IscsiError).code).toBe(ErrorCode.Address);
    expect((error as IscsiError).message).toMatch(/^invalid iscsi:\/\/ URL: /);
    return error as IscsiError;
  }
  throw new Error(`expected ${url} to be rejected`);
}

/** A parsed URL as plain data, with secrets revealed as text, for comparisons. */
function plain(u: IscsiUrl): Record<string, unknown> {
  const creds = (c: IscsiUrl['credentials']) =>
    c === undefined ? undefined : { user: c.user, secret: secretText(c.secret) };
  return {
    portal: u.portal,
    targetName: u.targetName,
    lun: u.lun,
    credentials: creds(u.credentials),
    targetCredentials: creds(u.targetCredentials),
    headerDigest: u.headerDigest,
    secretInUrl: u.secretInUrl,
  };
}

const v4 = (host: string, port = 3260): Portal => ({ host, port, family: 4 });

describe('parseIscsiUrl: libiscsi examples (peers-tgtd §3.1)', () => {
  it('reads a target URL without credentials', () => {
    expect(plain(parseIscsiUrl(`iscsi://127.0.0.1:3261/${IQN}/1`))).toEqual({
      portal: v4('127.0.0.1', 3261),
      targetName: IQN,
      lun: 1,
      secretInUrl: false,
    });
  });

  it('reads one-way CHAP credentials', () => {
    const u = parseIscsiUrl('iscsi://tgtchapuser%tgtchapsecret1@127.0.0.1:3261/iqn.2024-01.test.example:tgt.chap/1');
    expect(u.credentials?.user).toBe('tgtchapuser');
    expect(secretText(u.credentials?.secret)).toBe('tgtchapsecret1');
    expect(u.credentials?.secret).toBeInstanceOf(Secret);
    expect(u.targetCredentials).toBeUndefined();
    expect(u.secretInUrl).toBe(true);
  });

  it('reads mutual CHAP credentials from the query', () => {
    const u = parseIscsiUrl(
      'iscsi://tgtmutuser%tgtmutsecret12@127.0.0.1:3261/iqn.2024-01.test.example:tgt.mutual/1' +
        '?target_user=tgtmuttarget&target_password=tgtmuttgtsecr1',
    );
    expect(plain(u)).toEqual({
      portal: v4('127.0.0.1', 3261),
      targetName: 'iqn.2024-01.test.example:tgt.mutual',
      lun: 1,
      credentials: { user: 'tgtmutuser', secret: 'tgtmutsecret12' },
      targetCredentials: { user: 'tgtmuttarget', secret: 'tgtmuttgtsecr1' },
      secretInUrl: true,
    });
  });

  it('reads a bracketed IPv6 portal', () => {
    expect(parseIscsiUrl(`iscsi://[::1]:3261/${IQN}/1`).portal).toEqual({ host: '::1', port: 3261, family: 6 });
  });

  it.each(['iscsi://127.0.0.1:3261', 'iscsi://127.0.0.1:3261/'])('reads the portal-only discovery URL %s', (url) => {
    expect(plain(parseIscsiUrl(url))).toEqual({ portal: v4('127.0.0.1', 3261), secretInUrl: false });
  });
});

describe('parseIscsiUrl: accepted forms', () => {
  it.each<[string, Record<string, unknown>]>([
    ['iscsi://target.example', { portal: { host: 'target.example', port: 3260, family: 'name' } }],
    ['ISCSI://Target.Example/', { portal: { host: 'target.example', port: 3260, family: 'name' } }],
    [`iscsi://10.0.0.1/${IQN}`, { targetName: IQN, lun: undefined }],
    [`iscsi://10.0.0.1/${IQN}/0`, { targetName: IQN, lun: 0 }],
    [`iscsi://10.0.0.1/${IQN}/007`, { lun: 7 }],
    [`iscsi://10.0.0.1/${IQN}/${MAX_URL_LUN}`, { lun: MAX_URL_LUN }],
    ['iscsi://10.0.0.1/IQN.2024-01.Test.Example:TGT/1', { targetName: 'iqn.2024-01.test.example:tgt' }],
    ['iscsi://10.0.0.1/iqn.2024-01.test.example%3Atgt/1', { targetName: 'iqn.2024-01.test.example:tgt' }],
    ['iscsi://10.0.0.1/eui.02004567A425678D/2', { targetName: 'eui.02004567a425678d', lun: 2 }],
    ['iscsi://10.0.0.1/naa.52004567ba64678d/2', { targetName: 'naa.52004567ba64678d' }],
    ['iscsi://10.0.0.1/iqn.2024-01.example.b%C3%BCcher/1', { targetName: 'iqn.2024-01.example.bücher' }],
    [`iscsi://[fe80::1%25eth0]:3261/${IQN}/1`, { portal: { host: 'fe80::1', port: 3261, family: 6, zone: 'eth0' } }],
    [`iscsi://[fe80::1%eth0]/${IQN}/1`, { portal: { host: 'fe80::1', port: 3260, family: 6, zone: 'eth0' } }],
    [`iscsi://[2001:DB8::0:1]/${IQN}/1`, { portal: { host: '2001:db8::1', port: 3260, family: 6 } }],
    ['iscsi://user@h/', { credentials: { user: 'user', secret: undefined }, secretInUrl: false }],
    ['iscsi://user%@h/', { credentials: { user: 'user', secret: undefined }, secretInUrl: false }],
    ['iscsi://user:@h/', { credentials: { user: 'user', secret: undefined } }],
    // libiscsi: the first '%' splits, so a user name may contain ':' (an IQN as CHAP name).
    [
      'iscsi://iqn.2024-01.a:host%s3cret@h/',
      { credentials: { user: 'iqn.2024-01.a:host', secret: 's3cret' }, secretInUrl: true },
    ],
    ['iscsi://iqn.2024-01.a:host%@h/', { credentials: { user: 'iqn.2024-01.a:host', secret: undefined } }],
    // Without '%', the first ':' splits (userinfo as in RFC 3986).
    ['iscsi://user:pass:word@h/', { credentials: { user: 'user', secret: 'pass:word' } }],
    // ...but a '%' anywhere wins, as in libiscsi: this user is "u:p" and the secret "40ss".
    ['iscsi://u:p%40ss@h/', { credentials: { user: 'u:p', secret: '40ss' } }],
    // The secret is percent-decoded; raw '@', '/' and ':' survive because the last '@' ends the user information.
    ['iscsi://u%p%40ss%2F%25%3f@h/', { credentials: { user: 'u', secret: 'p@ss/%?' } }],
    [`iscsi://u%p@s/s:x@h/${IQN}/1`, { credentials: { user: 'u', secret: 'p@s/s:x' }, lun: 1 }],
    ['iscsi://us@er%pw@h/', { credentials: { user: 'us@er', secret: 'pw' } }],
    ['iscsi://u%pässwörd@h/', { credentials: { user: 'u', secret: 'pässwörd' } }],
    [
      `iscsi://h/${IQN}/1?target_user=tgt%20user&target_password=p%26w%3D`,
      { targetCredentials: { user: 'tgt user', secret: 'p&w=' }, secretInUrl: true },
    ],
    [`iscsi://h/${IQN}/1?target_user=tgt`, { targetCredentials: { user: 'tgt', secret: undefined } }],
    [`iscsi://h/${IQN}/1?target_password=x=y&target_user=t`, { targetCredentials: { user: 't', secret: 'x=y' } }],
    [`iscsi://h/${IQN}/1?header_digest=crc32c`, { headerDigest: 'CRC32C' }],
    [`iscsi://h/${IQN}/1?header_digest=NONE`, { headerDigest: 'None' }],
    [`iscsi://h/${IQN}/1?`, { headerDigest: undefined, targetCredentials: undefined }],
    [`iscsi://h/${IQN}/1?&header_digest=none&`, { headerDigest: 'None' }],
    ['iscsi://h?header_digest=none', { headerDigest: 'None', targetName: undefined }],
  ])('accepts %s', (url, expected) => {
    expect(plain(parseIscsiUrl(url))).toMatchObject(expected);
  });

  it('decodes percent-escapes in a secret to raw bytes', () => {
    const u = parseIscsiUrl('iscsi://u%%FF%00abc@h/');
    expect([...revealSecret(u.credentials!.secret!)]).toEqual([0xff, 0x00, 0x61, 0x62, 0x63]);
  });

  it('returns frozen objects', () => {
    const u = parseIscsiUrl('iscsi://u%secretsecret@h/?target_user=t');
    expect(Object.isFrozen(u)).toBe(true);
    expect(Object.isFrozen(u.portal)).toBe(true);
    expect(Object.isFrozen(u.credentials)).toBe(true);
    expect(Object.isFrozen(u.targetCredentials)).toBe(true);
  });
});

describe('parseIscsiUrl: rejected forms', () => {
  it.each<[string, RegExp]>([
    ['', /expected iscsi:\/\//],
    ['10.0.0.1:3260', /expected iscsi:\/\//],
    ['iscsi:/10.0.0.1/', /expected iscsi:\/\//],
    ['iscsi:10.0.0.1', /expected iscsi:\/\//],
    ['http://10.0.0.1/', /scheme must be iscsi/],
    ['iscsis://10.0.0.1/', /scheme must be iscsi/],
    [`iser://10.0.0.1/${IQN}/1`, /iSER/],
    ['iscsi://', /host is missing/],
    [`iscsi:///${IQN}/1`, /host is missing/],
    ['iscsi://u%p@/', /host is missing/],
    [`iscsi://::1/${IQN}/1`, /must be in brackets/],
    ['iscsi://fe80::1%25eth0/', /must be in brackets/],
    ['iscsi://[::1/', /missing '\]'/],
    ['iscsi://[1.2.3.4]/', /only for IPv6/],
    ['iscsi://[fe80::1%25]/', /zone id/],
    ['iscsi://h:0/', /outside 1\.\.65535/],
    ['iscsi://h:65536/', /outside 1\.\.65535/],
    ['iscsi://h:port/', /decimal number/],
    ['iscsi://h:/', /port after ":" is empty/],
    ['iscsi://bad_host/', /host name/],
    ['iscsi://1.2.3/', /dotted-decimal/],
    ['iscsi://@h/', /user name before "@" is empty/],
    ['iscsi://%secret@h/', /user name before "@" is empty/],
    ['iscsi://:secret@h/', /user name before "@" is empty/],
    ['iscsi://u%sec%zzret@h/', /"%" not followed by two hex digits/],
    ['iscsi://u%secret%@h/', /"%" not followed by two hex digits/],
    ['iscsi://h//1', /target name is empty/],
    [`iscsi://h/${IQN}/`, /LUN after the target name is empty/],
    [`iscsi://h/${IQN}/1/`, /more path segments/],
    [`iscsi://h/${IQN}/1/2`, /more path segments/],
    [`iscsi://h/${IQN}/-1`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/+1`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/1.0`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/0x1`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/lun1`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/%31`, /LUN must be a decimal number/],
    [`iscsi://h/${IQN}/16777216`, /LUN must be a decimal number in 0\.\.16777215/],
    [`iscsi://h/${IQN}/123456789`, /LUN must be a decimal number/],
    ['iscsi://h/foo/1', /starts with iqn\., eui\. or naa\./],
    ['iscsi://h/iqn.2024-13.test.example/1', /iqn\.yyyy-mm/],
    ['iscsi://h/eui.123/1', /16 hex digits/],
    ['iscsi://h/iqn.2024-01.a%zz/1', /"%" not followed by two hex digits/],
    ['iscsi://h/iqn.2024-01.a%ff/1', /not valid UTF-8/],
    ['iscsi://h/iqn.2024-01.a:b%2Fc/1', /RFC 3722/],
    [`iscsi://h/${IQN}/1?x=1`, /unknown query argument/],
    [`iscsi://h/${IQN}/1?Target_User=t`, /unknown query argument/],
    [`iscsi://h/${IQN}/1?iser=1`, /iSER is not supported/],
    [`iscsi://h/${IQN}/1?target_user`, /no "="/],
    [`iscsi://h/${IQN}/1?target_user=a&target_user=b`, /given twice/],
    [`iscsi://h/${IQN}/1?target_password=p`, /target_password needs target_user/],
    [`iscsi://h/${IQN}/1?target_user=`, /target_user is empty/],
    [`iscsi://h/${IQN}/1?target_user=t&target_password=`, /target_password is empty/],
    [`iscsi://h/${IQN}/1?target_user=t&target_password=%g0`, /"%" not followed by two hex digits/],
    [`iscsi://h/${IQN}/1?target_user=%ff`, /not valid UTF-8/],
    [`iscsi://h/${IQN}/1?header_digest=md5`, /header_digest must be crc32c or none/],
    [`iscsi://h/${IQN}/1\n`, /control characters/],
    [`iscsi://h/${'x'.repeat(4100)}`, /longer than 4096/],
  ])('rejects %j', (url, reason) => {
    expect(urlErrorOf(url).message).toMatch(reason);
  });
});

describe('formatIscsiUrl', () => {
  it('redacts secrets by default', () => {
    const url =
      'iscsi://tgtmutuser%tgtmutsecret12@127.0.0.1:3261/iqn.2024-01.test.example:tgt.mutual/1' +
      '?target_user=tgtmuttarget&target_password=tgtmuttgtsecr1';
    const u = parseIscsiUrl(url);
    const shown =
      'iscsi://tgtmutuser%<redacted>@127.0.0.1:3261/iqn.2024-01.test.example:tgt.mutual/1' +
      '?target_user=tgtmuttarget&target_password=<redacted>';
    expect(formatIscsiUrl(u)).toBe(shown);
    expect(formatIscsiUrl(u, { includeSecrets: false })).toBe(shown);
    expect(formatIscsiUrl(u, { includeSecrets: true })).toBe(url);
  });

  it.each<[string, string]>([
    ['iscsi://127.0.0.1', 'iscsi://127.0.0.1:3260'],
    ['iscsi://[::1]:3261/', 'iscsi://[::1]:3261'],
    [`iscsi://[fe80::1%eth0]/${IQN}/1`, `iscsi://[fe80::1%25eth0]:3260/${IQN}/1`],
    [`iscsi://H.Example/${IQN.toUpperCase()}`, `iscsi://h.example:3260/${IQN}`],
    ['iscsi://user@h', 'iscsi://user@h:3260'],
    ['iscsi://iqn.2024-01.a:b%@h', 'iscsi://iqn.2024-01.a:b%@h:3260'],
    ['iscsi://u%p%2Fq@h', 'iscsi://u%p%2Fq@h:3260'],
    ['iscsi://h/iqn.2024-01.example.b%c3%bccher/1', 'iscsi://h:3260/iqn.2024-01.example.b%C3%BCcher/1'],
    [`iscsi://h/${IQN}/1?header_digest=CRC32C`, `iscsi://h:3260/${IQN}/1?header_digest=crc32c`],
    [`iscsi://h?target_user=a%20b`, 'iscsi://h:3260?target_user=a%20b'],
  ])('formats %s as %s (with secrets)', (url, expected) => {
    expect(formatIscsiUrl(parseIscsiUrl(url), { includeSecrets: true })).toBe(expected);
  });

  const portal = v4('10.0.0.1');
  it.each<[string, IscsiUrl]>([
    ['a user with "%"', { portal, credentials: { user: 'a%b' }, secretInUrl: false }],
    ['a user with "?"', { portal, credentials: { user: 'a?b' }, secretInUrl: false }],
    ['an empty user', { portal, credentials: { user: '' }, secretInUrl: false }],
    ['an empty target user', { portal, targetCredentials: { user: '' }, secretInUrl: false }],
    ['a LUN without a target', { portal, lun: 1, secretInUrl: false }],
    ['a LUN out of range', { portal, targetName: IQN, lun: MAX_URL_LUN + 1, secretInUrl: false }],
    ['a negative LUN', { portal, targetName: IQN, lun: -1, secretInUrl: false }],
    ['a malformed portal', { portal: { host: 'h', port: 0, family: 'name' }, secretInUrl: false }],
  ])('rejects %s', (_, u) => {
    expect(() => formatIscsiUrl(u)).toThrow(InvalidArgumentError);
  });

  it('rejects an invalid target name', () => {
    expect(() => formatIscsiUrl({ portal, targetName: 'nope', secretInUrl: false })).toThrow(InvalidArgumentError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Secrecy

describe('secrets stay hidden', () => {
  const S1 = 'Xq7!pa55-w0rd#1';
  const S2 = 'Zt9?t4rget/secr3t';
  const url = `iscsi://alice%${encodeURIComponent(S1)}@10.0.0.1/${IQN}/1?target_user=bob&target_password=${encodeURIComponent(S2)}`;

  it('JSON.stringify, util.inspect and String() never show a parsed secret', () => {
    const u = parseIscsiUrl(url);
    expect(secretText(u.credentials?.secret)).toBe(S1);
    expect(secretText(u.targetCredentials?.secret)).toBe(S2);
    const views = [
      JSON.stringify(u),
      inspect(u, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      String(u.credentials?.secret),
      `${u.targetCredentials?.secret}`,
      formatIscsiUrl(u),
    ];
    for (const view of views) {
      for (const secret of [S1, S2, encodeURIComponent(S1), encodeURIComponent(S2)]) expect(view).not.toContain(secret);
    }
    expect(JSON.stringify(u)).toContain('"user":"alice"');
  });

  /** Every 6-character window of the secret, raw and percent-encoded. */
  const windows = (secret: string): string[] => {
    const out = new Set<string>();
    for (const s of [secret, encodeURIComponent(secret)]) {
      for (let i = 0; i + 6 <= s.length; i++) out.add(s.slice(i, i + 6));
    }
    return [...out];
  };

  // Secrets drawn from characters that do not occur in the library's fixed message texts, including URL
  // delimiters, so raw secrets also break the URL apart in every possible way.
  const secretChar = fc.constantFrom(...'QZXJKW0123456789@/:%?&=#[]!$'.split(''));
  // Also runs of plain characters between delimiters, so that pieces of a raw secret can pass for a host, a target
  // name or a LUN once the URL falls apart.
  const chunk = fc.stringMatching(/^[QZXJKW0-9]{2,9}$/);
  const delimiter = fc.constantFrom('@', '/', '?', ':', '%', '&', '=');
  const secretArb = fc.oneof(
    fc.array(secretChar, { minLength: 12, maxLength: 24 }).map((cs) => cs.join('')),
    fc
      .array(fc.oneof(chunk, delimiter), { minLength: 3, maxLength: 8 })
      .map((parts) => parts.join(''))
      .filter((s) => s.length >= 12),
  );
  const component = <T>(...xs: T[]) => fc.constantFrom(...xs);

  it.each([
    // A raw '?' in the secret: "0123456789" would be read as the target name and "77" as the LUN.
    `iscsi://alice%QZX@h/0123456789?ZZ@10.0.0.1/${IQN}/1`,
    `iscsi://alice%QZX@h/${IQN}/0123456789?ZZ@10.0.0.1/${IQN}/1`,
    // ...or as the host.
    `iscsi://alice%QZXJKW0123456789?ZZ@10.0.0.1/${IQN}/1`,
    `iscsi://alice:QZXJKW0123456789:x?ZZ@10.0.0.1/${IQN}/1`,
    // ...or as a query argument.
    `iscsi://alice%QZX?JKW0123456789=1&@10.0.0.1/${IQN}/1`,
    `iscsi://alice%QZX?header_digest=JKW0123456789@10.0.0.1/${IQN}/1`,
  ])('does not quote secret pieces of a broken URL: %s', (url) => {
    const message = urlErrorOf(url).message;
    expect(message).not.toMatch(/JKW0123456789|0123456789|QZX/i);
  });

  it('no error message carries any piece of a secret, whatever else is wrong with the URL', () => {
    fc.assert(
      fc.property(
        secretArb,
        secretArb,
        fc.boolean(),
        fc.boolean(),
        component('iscsi://', 'iscsi:/', 'http://', 'iser://', ''),
        component('alice', '', 'iqn.2024-01.a:b', 'al@ice'),
        component('10.0.0.1', '[::1]:3261', 'h:0', 'bad_host', '::1', '', '[fe80::1%25eth0]', 'h:x'),
        component(`/${IQN}/1`, `/${IQN}/-1`, '/foo/1', '//1', `/${IQN}/1/2`, '', '/', `/${IQN}/`),
        component(
          '',
          '?target_user=bob&target_password=',
          '?x=',
          '?header_digest=md5&target_password=',
          '?target_password=',
        ),
        (s1, s2, encode1, encode2, scheme, user, host, path, query) => {
          const w1 = encode1 ? encodeURIComponent(s1) : s1;
          const w2 = encode2 ? encodeURIComponent(s2) : s2;
          const withQuery = query.endsWith('=') ? `${query}${w2}` : query;
          const url = `${scheme}${user}%${w1}@${host}${path}${withQuery}`;
          let message: string;
          try {
            const u = parseIscsiUrl(url);
            message = `${JSON.stringify(u)} ${inspect(u, { depth: 9 })} ${formatIscsiUrl(u)}`;
          } catch (error) {
            expect(error).toBeInstanceOf(IscsiError);
            message = `${(error as Error).message} ${inspect(error)}`;
          }
          for (const w of [...windows(s1), ...windows(s2)]) expect(message).not.toContain(w);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Round trips

describe('round trips', () => {
  const port = fc.integer({ min: 1, max: 65535 });
  const portalArb: fc.Arbitrary<Portal> = fc.oneof(
    fc.tuple(fc.ipV4(), port).map(([host, p]): Portal => ({ host, port: p, family: 4 })),
    fc.tuple(fc.ipV6(), port).map(([ip, p]) => parseIscsiUrl(`iscsi://[${ip}]:${p}`).portal),
    fc
      .tuple(fc.ipV6(), port, fc.stringMatching(/^[A-Za-z0-9._~-]{1,15}$/))
      .map(([ip, p, z]) => parseIscsiUrl(`iscsi://[${ip}%25${z}]:${p}`).portal),
    fc
      .tuple(fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{1,8}){0,3}$/), port)
      .map(([host, p]): Portal => ({ host, port: p, family: 'name' })),
  );
  const targetArb = fc
    .tuple(
      fc.integer({ min: 1990, max: 2099 }),
      fc.integer({ min: 1, max: 12 }),
      fc.stringMatching(/^[a-z0-9.:-]{0,30}[a-z0-9]$/),
    )
    .map(([y, m, rest]) => `iqn.${y}-${String(m).padStart(2, '0')}.example:${rest}`);
  // Users cannot hold '%' (it separates the secret) or '?' (it starts the query), as in libiscsi.
  const userArb = fc.string({ minLength: 1, maxLength: 20 }).filter((u) => !/[%?\p{Cc}]/u.test(u));
  const secretArb = fc.uint8Array({ minLength: 1, maxLength: 32 }).map((b) => Secret.from(b));
  const credsArb = fc.record({ user: userArb, secret: secretArb }, { requiredKeys: ['user'] });

  const urlArb = fc
    .record(
      {
        portal: portalArb,
        target: fc.option(
          fc.tuple(targetArb, fc.option(fc.integer({ min: 0, max: MAX_URL_LUN }), { nil: undefined })),
          {
            nil: undefined,
          },
        ),
        credentials: fc.option(credsArb, { nil: undefined }),
        targetCredentials: fc.option(
          fc.record(
            { user: fc.string({ minLength: 1, maxLength: 20 }), secret: secretArb },
            { requiredKeys: ['user'] },
          ),
          { nil: undefined },
        ),
        headerDigest: fc.option(fc.constantFrom('None' as const, 'CRC32C' as const), { nil: undefined }),
      },
      { requiredKeys: ['portal'] },
    )
    .filter((r) => !(r.targetCredentials?.user ?? '').match(/\p{Cs}/u) && !(r.credentials?.user ?? '').match(/\p{Cs}/u))
    .map(
      (r): IscsiUrl => ({
        portal: r.portal,
        ...(r.target === undefined ? {} : { targetName: r.target[0] }),
        ...(r.target?.[1] === undefined ? {} : { lun: r.target[1] }),
        ...(r.credentials === undefined ? {} : { credentials: r.credentials }),
        ...(r.targetCredentials === undefined ? {} : { targetCredentials: r.targetCredentials }),
        ...(r.headerDigest === undefined ? {} : { headerDigest: r.headerDigest }),
        secretInUrl: r.credentials?.secret !== undefined || r.targetCredentials?.secret !== undefined,
      }),
    );

  const bytes = (s: Secret | undefined) => (s === undefined ? undefined : [...revealSecret(s)]);
  const comparable = (u: IscsiUrl) => ({
    ...u,
    credentials: u.credentials && { user: u.credentials.user, secret: bytes(u.credentials.secret) },
    targetCredentials: u.targetCredentials && {
      user: u.targetCredentials.user,
      secret: bytes(u.targetCredentials.secret),
    },
  });

  it('parseIscsiUrl(formatIscsiUrl(u, { includeSecrets: true })) gives u back', () => {
    fc.assert(
      fc.property(urlArb, (u) => {
        const text = formatIscsiUrl(u, { includeSecrets: true });
        expect(comparable(parseIscsiUrl(text))).toEqual(comparable(u));
        expect(formatIscsiUrl(parseIscsiUrl(text), { includeSecrets: true })).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('the redacted form never shows secret bytes', () => {
    fc.assert(
      fc.property(urlArb, (u) => {
        const shown = formatIscsiUrl(u);
        for (const c of [u.credentials, u.targetCredentials]) {
          if (c?.secret === undefined) continue;
          expect(shown).toContain('<redacted>');
          const raw = formatIscsiUrl(
            { portal: u.portal, credentials: { user: 'x', secret: c.secret }, secretInUrl: true },
            {
              includeSecrets: true,
            },
          );
          const encoded = raw.slice(raw.indexOf('%') + 1, raw.lastIndexOf('@'));
          if (encoded.length >= 4) expect(shown).not.toContain(encoded);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary strings give a URL or ERR_ISCSI_ADDRESS', () => {
    const noisy = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.string({ maxLength: 60 }).map((s) => `iscsi://${s}`),
      fc
        .string({ unit: fc.constantFrom(...'iscsi:/[]@%?&=.:0123456789abcdefqn-_'.split('')), maxLength: 60 })
        .map((s) => `iscsi://${s}`),
    );
    fc.assert(
      fc.property(noisy, (s) => {
        let u: IscsiUrl;
        try {
          u = parseIscsiUrl(s);
        } catch (error) {
          expect(error).toBeInstanceOf(IscsiError);
          expect((error as IscsiError).code).toBe(ErrorCode.Address);
          return;
        }
        expect(u.portal.port).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 3000 },
    );
  });
});
