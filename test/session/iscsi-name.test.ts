import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, IscsiError } from '../../src/errors.js';
import { ISCSI_NAME_MAX_BYTES, iscsiNameType, isIscsiName, validateIscsiName } from '../../src/session/iscsi-name.js';

describe('validateIscsiName (RFC 7143 §4.2.7)', () => {
  it.each<[string, string]>([
    ['iqn.2024-01.test.example:tgt.noauth', 'iqn.2024-01.test.example:tgt.noauth'],
    ['iqn.2001-04.com.example', 'iqn.2001-04.com.example'],
    [
      'iqn.2001-04.com.example:storage:diskarrays-sn-a8675309',
      'iqn.2001-04.com.example:storage:diskarrays-sn-a8675309',
    ],
    ['IQN.2001-04.COM.Example:Storage.Tape1', 'iqn.2001-04.com.example:storage.tape1'],
    ['iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq', 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-inq'],
    ['iqn.1991-05.com.microsoft:host-01.ad.example', 'iqn.1991-05.com.microsoft:host-01.ad.example'],
    ['iqn.2024-12.a', 'iqn.2024-12.a'],
    ['iqn.2024-01.xn--bcher-kva.example:x', 'iqn.2024-01.xn--bcher-kva.example:x'],
    ['iqn.2024-01.example.bücher:Ü', 'iqn.2024-01.example.bücher:ü'],
    ['eui.02004567A425678D', 'eui.02004567a425678d'],
    ['naa.52004567BA64678D', 'naa.52004567ba64678d'],
    ['naa.62004567BA64678D0123456789ABCDEF', 'naa.62004567ba64678d0123456789abcdef'],
  ])('accepts %j as %j', (name, normal) => {
    expect(validateIscsiName(name)).toBe(normal);
    expect(isIscsiName(name)).toBe(true);
  });

  it.each<[string, RegExp]>([
    ['', /empty/],
    ['foo', /starts with iqn\., eui\. or naa\./],
    ['iqn', /starts with/],
    ['iqn.', /iqn\.yyyy-mm/],
    ['iqn.2024.com.example', /iqn\.yyyy-mm/],
    ['iqn.24-01.com.example', /iqn\.yyyy-mm/],
    ['iqn.2024-13.com.example', /iqn\.yyyy-mm/],
    ['iqn.2024-00.com.example', /iqn\.yyyy-mm/],
    ['iqn.2024-1.com.example', /iqn\.yyyy-mm/],
    ['iqn.2024-01', /iqn\.yyyy-mm/],
    ['iqn.2024-01.', /iqn\.yyyy-mm/],
    ['iqn.2024-01..example', /iqn\.yyyy-mm/],
    ['iqn.2024-01.com.example:', /iqn\.yyyy-mm/],
    ['iqn.2024-01.:x', /iqn\.yyyy-mm/],
    ['iqn.2024-01.com_example', /RFC 3722/],
    ['iqn.2024-01.com.example:a b', /RFC 3722/],
    ['iqn.2024-01.com.example:a/b', /RFC 3722/],
    ['iqn.2024-01.com.example:a@b', /RFC 3722/],
    ['iqn.2024-01.com.example:a\u0000b', /RFC 3722/],
    ['iqn.2024-01.com.example:a\u00a0b', /RFC 3722/],
    ['iqn.2024-01.com.example:a\u200bb', /RFC 3722/],
    ['iqn.2024-01.com.example:\ud800', /RFC 3722/],
    ['eui.0123456789abcde', /16 hex digits/],
    ['eui.0123456789abcdef0', /16 hex digits/],
    ['eui.0123456789abcdeg', /16 hex digits/],
    ['naa.0123456789abcdef01', /16 or 32 hex digits/],
    ['naa.', /16 or 32 hex digits/],
    [`iqn.2024-01.com.example:${'x'.repeat(200)}`, /longer than 223 bytes/],
    [`iqn.2024-01.com.example:${'é'.repeat(100)}`, /longer than 223 bytes/],
  ])('rejects %j', (name, reason) => {
    let error: unknown;
    try {
      validateIscsiName(name);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IscsiError);
    expect((error as IscsiError).code).toBe(ErrorCode.Address);
    expect((error as IscsiError).message).toMatch(reason);
    expect(isIscsiName(name)).toBe(false);
  });

  it('accepts exactly 223 bytes', () => {
    const base = 'iqn.2024-01.com.example:';
    const name = base + 'x'.repeat(ISCSI_NAME_MAX_BYTES - base.length);
    expect(validateIscsiName(name)).toBe(name);
    expect(isIscsiName(`${name}x`)).toBe(false);
  });

  it('reports the format by prefix', () => {
    expect(iscsiNameType('IQN.2024-01.a')).toBe('iqn');
    expect(iscsiNameType('eui.x')).toBe('eui');
    expect(iscsiNameType('NAA.1')).toBe('naa');
    expect(iscsiNameType('iqn')).toBeUndefined();
  });
});

describe('iSCSI name properties', () => {
  const part = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
  const iqn = fc
    .record({
      year: fc.integer({ min: 1000, max: 9999 }),
      month: fc.integer({ min: 1, max: 12 }),
      domain: fc.array(part, { minLength: 1, maxLength: 4 }),
      suffix: fc.option(fc.stringMatching(/^[a-z0-9.:-]{1,40}$/), { nil: undefined }),
    })
    .map(
      ({ year, month, domain, suffix }) =>
        `iqn.${year}-${String(month).padStart(2, '0')}.${domain.join('.')}${suffix === undefined ? '' : `:${suffix}`}`,
    );
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
  const valid = fc.oneof(
    iqn,
    hex(16).map((h) => `eui.${h}`),
    fc.oneof(hex(16), hex(32)).map((h) => `naa.${h}`),
  );

  it('valid names in any letter case normalise to their lower-case form, idempotently', () => {
    fc.assert(
      fc.property(valid, fc.boolean(), (name, upper) => {
        const normal = validateIscsiName(upper ? name.toUpperCase() : name);
        expect(normal).toBe(name);
        expect(validateIscsiName(normal)).toBe(normal);
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary strings are valid names or ERR_ISCSI_ADDRESS, never anything else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 60 }),
          valid.map((v) => `${v}\u0001`),
        ),
        (name) => {
          try {
            const normal = validateIscsiName(name);
            expect(new TextEncoder().encode(normal).length).toBeLessThanOrEqual(ISCSI_NAME_MAX_BYTES);
            expect(isIscsiName(normal)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(IscsiError);
            expect((error as IscsiError).code).toBe(ErrorCode.Address);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
