import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../../src/errors.js';
import {
  decodeText,
  decodeTextLenient,
  encodeText,
  isSecretKey,
  isValidKeyName,
  redactTextPair,
  splitText,
  TEXT_REASSEMBLY_MAX_BYTES,
  type TextPair,
  TextReassembler,
} from '../../src/pdu/text.js';
import {
  binaryByteLength,
  formatBinary,
  formatBoolean,
  formatList,
  formatNumber,
  isReservedValue,
  parseBigNumber,
  parseBinary,
  parseBoolean,
  parseList,
  parseNumber,
  parseNumericRange,
} from '../../src/pdu/text-values.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Runs `fn`, expects a ProtocolError with `code`, and returns it. */
function expectProtocolError(fn: () => unknown, code: string): ProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(code);
    return error as ProtocolError;
  }
  throw new Error(`expected a ProtocolError ${code}`);
}

describe('RFC 7143 §6.1 text format: encodeText / decodeText', () => {
  it('encodes pairs in order as key=value followed by one NUL each', () => {
    const bytes = encodeText([
      ['HeaderDigest', 'CRC32C,None'],
      ['DataDigest', 'None'],
    ]);
    expect(text(bytes)).toBe('HeaderDigest=CRC32C,None\0DataDigest=None\0');
  });

  it('decodes pairs and keeps their wire order', () => {
    const pairs = decodeText(utf8('MaxRecvDataSegmentLength=8192\0HeaderDigest=CRC32C,None\0AuthMethod=None\0'));
    expect(pairs).toEqual([
      ['MaxRecvDataSegmentLength', '8192'],
      ['HeaderDigest', 'CRC32C,None'],
      ['AuthMethod', 'None'],
    ]);
  });

  it('decodes an empty segment as no pairs', () => {
    expect(decodeText(new Uint8Array(0))).toEqual([]);
    expect(encodeText([])).toHaveLength(0);
  });

  it('splits at the first "=": the value may contain "=" (TargetAddress with IPv6 and TPGT)', () => {
    expect(decodeText(utf8('TargetAddress=[::1]:3260,1\0X-com.example.opt=a=b\0'))).toEqual([
      ['TargetAddress', '[::1]:3260,1'],
      ['X-com.example.opt', 'a=b'],
    ]);
  });

  it('accepts an empty value (SendTargets= in a Normal session, Appendix C)', () => {
    expect(decodeText(utf8('SendTargets=\0'))).toEqual([['SendTargets', '']]);
    expect(text(encodeText([['SendTargets', '']]))).toBe('SendTargets=\0');
  });

  it('keeps UTF-8 values (iSCSI-local-name-value for aliases), including a leading BOM', () => {
    const pairs: TextPair[] = [
      ['TargetAlias', 'Disque de données ☃'],
      ['InitiatorAlias', '\uFEFFhost'],
    ];
    expect(decodeText(encodeText(pairs))).toEqual(pairs);
  });

  it('decodes the reserved answer NotUnderstood like any value (§6.2)', () => {
    const [pair] = decodeText(utf8('X-com.example.unknown=NotUnderstood\0'));
    expect(pair).toEqual(['X-com.example.unknown', 'NotUnderstood']);
    expect(isReservedValue(pair![1])).toBe(true);
  });

  it('rejects a last pair without its NUL (every pair, including the last, ends with NUL)', () => {
    const error = expectProtocolError(
      () => decodeText(utf8('HeaderDigest=None\0DataDigest=None')),
      ErrorCode.TextSyntax,
    );
    expect(error.offset).toBe(18);
    const lenient = decodeTextLenient(utf8('HeaderDigest=None\0DataDigest=None'));
    expect(lenient.pairs).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
    ]);
    expect(lenient.violations.map((v) => v.code)).toEqual([ErrorCode.TextSyntax]);
  });

  it('rejects an empty pair (one NUL per pair, not two)', () => {
    expectProtocolError(() => decodeText(utf8('A=1\0\0B=2\0')), ErrorCode.TextSyntax);
    const lenient = decodeTextLenient(utf8('A=1\0\0B=2\0'));
    expect(lenient.pairs).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
    expect(lenient.violations).toHaveLength(1);
    expect(lenient.violations[0]!.offset).toBe(4);
  });

  it('rejects a pair without "="', () => {
    expectProtocolError(() => decodeText(utf8('HeaderDigest\0')), ErrorCode.TextSyntax);
    const lenient = decodeTextLenient(utf8('Junk\0A=1\0'));
    expect(lenient.pairs).toEqual([['A', '1']]);
    expect(lenient.violations[0]!.code).toBe(ErrorCode.TextSyntax);
  });

  it('rejects a value that is not UTF-8; the lenient decoder substitutes U+FFFD', () => {
    const data = new Uint8Array([...utf8('TargetAlias='), 0xff, 0xfe, 0]);
    expectProtocolError(() => decodeText(data), ErrorCode.TextSyntax);
    const lenient = decodeTextLenient(data);
    expect(lenient.pairs).toEqual([['TargetAlias', '\uFFFD\uFFFD']]);
    expect(lenient.violations).toHaveLength(1);
  });
});

describe('RFC 7143 §6.1 key names (standard-label, at most 63 characters)', () => {
  it('accepts standard labels, private X- keys and public X# extension keys', () => {
    for (const key of ['HeaderDigest', 'CHAP_A', 'X-com.example.do-it+1@a_b', 'X#NodeArchitecture', 'A']) {
      expect(isValidKeyName(key)).toBe(true);
      expect(decodeText(encodeText([[key, 'v']]))).toEqual([[key, 'v']]);
    }
  });

  it('rejects keys that do not begin with a capital letter or hold other characters', () => {
    for (const key of ['', 'headerDigest', '1Key', 'Key Name', 'Key#', 'Ключ', 'X#', 'Key,x']) {
      expect(isValidKeyName(key)).toBe(false);
      expectProtocolError(() => encodeText([[key, 'v']]), ErrorCode.TextSyntax);
    }
    expectProtocolError(() => decodeText(utf8('=value\0')), ErrorCode.TextSyntax);
    expectProtocolError(() => decodeText(utf8('lower=1\0')), ErrorCode.TextSyntax);
  });

  it('keys are case sensitive: Headerdigest and HeaderDigest are different keys', () => {
    expect(decodeText(utf8('HeaderDigest=None\0Headerdigest=None\0'))).toHaveLength(2);
  });

  it('accepts a 63-byte key and rejects a 64-byte key with TextLimit', () => {
    const k63 = `K${'a'.repeat(62)}`;
    const k64 = `K${'a'.repeat(63)}`;
    expect(decodeText(utf8(`${k63}=1\0`))).toEqual([[k63, '1']]);
    const error = expectProtocolError(() => decodeText(utf8(`${k64}=1\0`)), ErrorCode.TextLimit);
    expect(error.got).toBe(64);
    expect(error.limit).toBe(63);
    expectProtocolError(() => encodeText([[k64, '1']]), ErrorCode.TextLimit);
  });
});

describe('RFC 7143 §6.1 value limit: 255 bytes per simple-value, not counting the comma or NUL', () => {
  it('accepts a 255-byte value and rejects a 256-byte value', () => {
    expect(decodeText(utf8(`TargetAlias=${'v'.repeat(255)}\0`))[0]![1]).toHaveLength(255);
    const error = expectProtocolError(() => decodeText(utf8(`TargetAlias=${'v'.repeat(256)}\0`)), ErrorCode.TextLimit);
    expect(error).toMatchObject({ got: 256, limit: 255, offset: 0 });
    expectProtocolError(() => encodeText([['TargetAlias', 'v'.repeat(256)]]), ErrorCode.TextLimit);
  });

  it('counts bytes, not characters', () => {
    // 128 two-byte characters are 256 bytes.
    expectProtocolError(() => encodeText([['TargetAlias', 'é'.repeat(128)]]), ErrorCode.TextLimit);
    expect(encodeText([['TargetAlias', 'é'.repeat(127)]])).toHaveLength('TargetAlias='.length + 254 + 1);
  });

  it('applies the limit to each element of a list-of-values', () => {
    const list = ['a'.repeat(200), 'b'.repeat(200), 'c'.repeat(200)].join(',');
    expect(decodeText(encodeText([['X-com.example.list', list]]))[0]![1]).toBe(list);
    expectProtocolError(
      () => encodeText([['X-com.example.list', `${'a'.repeat(10)},${'b'.repeat(256)}`]]),
      ErrorCode.TextLimit,
    );
  });

  it('measures binary constants by their decoded length ("not its encoded representation")', () => {
    const ok = formatBinary(new Uint8Array(255).fill(7)); // 512 characters
    expect(decodeText(encodeText([['X-com.example.bin', ok]]))[0]![1]).toBe(ok);
    const tooLong = formatBinary(new Uint8Array(256), 'base64');
    expectProtocolError(() => encodeText([['X-com.example.bin', tooLong]]), ErrorCode.TextLimit);
  });

  it('lets CHAP_C and CHAP_R carry up to 1024 decoded bytes (§12.1.3)', () => {
    const c1024 = formatBinary(new Uint8Array(1024).fill(0xab));
    expect(decodeText(encodeText([['CHAP_C', c1024]]))).toEqual([['CHAP_C', c1024]]);
    const r1025 = formatBinary(new Uint8Array(1025).fill(0xcd));
    const error = expectProtocolError(() => decodeText(utf8(`CHAP_R=${r1025}\0`)), ErrorCode.TextLimit);
    expect(error.limit).toBe(1024);
    // A non-binary value of a CHAP key still has the ordinary limit.
    expectProtocolError(() => encodeText([['CHAP_C', 'z'.repeat(256)]]), ErrorCode.TextLimit);
  });

  it('never copies a value into an error message', () => {
    const secret = formatBinary(new Uint8Array(1500).fill(0x5a));
    const error = expectProtocolError(() => decodeText(utf8(`CHAP_R=${secret}\0`)), ErrorCode.TextLimit);
    expect(JSON.stringify({ message: error.message, got: error.got })).not.toContain('5a5a');
  });

  it('honours maxValueBytes', () => {
    expect(decodeText(utf8(`TargetAlias=${'v'.repeat(300)}\0`), { maxValueBytes: 300 })).toHaveLength(1);
    expectProtocolError(() => decodeText(utf8('TargetAlias=abcd\0'), { maxValueBytes: 3 }), ErrorCode.TextLimit);
  });
});

describe('RFC 7143 §6.3 duplicate keys', () => {
  it('rejects a key sent twice in one segment', () => {
    const error = expectProtocolError(
      () => decodeText(utf8('MaxConnections=1\0HeaderDigest=None\0MaxConnections=2\0')),
      ErrorCode.TextDuplicate,
    );
    expect(error.offset).toBe(35);
    expectProtocolError(
      () =>
        encodeText([
          ['InitialR2T', 'Yes'],
          ['InitialR2T', 'No'],
        ]),
      ErrorCode.TextDuplicate,
    );
  });

  it('lets TargetName and TargetAddress repeat, as in a SendTargets response (Appendix C)', () => {
    const response = encodeText([
      ['TargetName', 'iqn.2001-04.com.example:disk1'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetAddress', '[2001:db8::1]:3260,1'],
      ['TargetName', 'iqn.2001-04.com.example:disk2'],
      ['TargetAddress', '10.0.0.1:3260,1'],
    ]);
    expect(decodeText(response)).toHaveLength(5);
    expectProtocolError(() => decodeText(response, { repeatableKeys: [] }), ErrorCode.TextDuplicate);
  });

  it('allowDuplicates accepts any repeat; the lenient decoder reports and keeps both', () => {
    const data = utf8('A=1\0A=2\0');
    expect(decodeText(data, { allowDuplicates: true })).toEqual([
      ['A', '1'],
      ['A', '2'],
    ]);
    const lenient = decodeTextLenient(data);
    expect(lenient.pairs).toHaveLength(2);
    expect(lenient.violations.map((v) => v.code)).toEqual([ErrorCode.TextDuplicate]);
  });
});

describe('encodeText value checks', () => {
  it('rejects NUL and unpaired surrogates in values', () => {
    expectProtocolError(() => encodeText([['TargetAlias', 'a\0b']]), ErrorCode.TextSyntax);
    expectProtocolError(() => encodeText([['TargetAlias', 'a\uD800b']]), ErrorCode.TextSyntax);
    expectProtocolError(() => encodeText([['TargetAlias', '\uDC00']]), ErrorCode.TextSyntax);
    expect(text(encodeText([['TargetAlias', '😀']]))).toBe('TargetAlias=😀\0');
  });

  it('collects every violation in one lenient pass', () => {
    const data = utf8(`bad=1\0A=1\0A=2\0K${'k'.repeat(70)}=2\0NoEquals\0Last=x`);
    const { pairs, violations } = decodeTextLenient(data);
    expect(pairs.map((p) => p[0])).toEqual(['bad', 'A', 'A', `K${'k'.repeat(70)}`, 'Last']);
    expect(violations.map((v) => v.code)).toEqual([
      ErrorCode.TextSyntax,
      ErrorCode.TextDuplicate,
      ErrorCode.TextLimit,
      ErrorCode.TextSyntax,
      ErrorCode.TextSyntax,
    ]);
  });
});

describe('secret redaction', () => {
  it('redacts CHAP_C and CHAP_R but shows CHAP_N, CHAP_A and CHAP_I', () => {
    expect(isSecretKey('CHAP_R')).toBe(true);
    expect(isSecretKey('CHAP_C')).toBe(true);
    expect(isSecretKey('CHAP_N')).toBe(false);
    expect(redactTextPair(['CHAP_R', '0x0123456789abcdef'])).toEqual(['CHAP_R', '<redacted 18 bytes>']);
    expect(redactTextPair(['CHAP_C', '0bAAEC'])).toEqual(['CHAP_C', '<redacted 6 bytes>']);
    for (const pair of [
      ['CHAP_N', 'alice'],
      ['CHAP_A', '5'],
      ['CHAP_I', '17'],
      ['HeaderDigest', 'None'],
    ] as const) {
      expect(redactTextPair(pair)).toEqual(pair);
    }
  });

  it('keeps reserved answers visible', () => {
    expect(redactTextPair(['CHAP_R', 'Reject'])).toEqual(['CHAP_R', 'Reject']);
  });
});

describe('RFC 7143 §6.1 continuation: splitText', () => {
  it('splits into pieces of at most maxSegment bytes that are views of the input', () => {
    const data = encodeText([
      ['InitiatorName', 'iqn.1994-05.com.example:host'],
      ['SessionType', 'Normal'],
    ]);
    const pieces = splitText(data, 16);
    expect(data.length).toBe(62);
    expect(pieces.map((p) => p.length)).toEqual([16, 16, 16, 14]);
    expect(pieces[1]!.buffer).toBe(data.buffer);
    expect(Buffer.concat(pieces).equals(Buffer.from(data))).toBe(true);
    expect(splitText(data, data.length)).toHaveLength(1);
  });

  it('gives one empty piece for an empty segment and rejects a bad maxSegment', () => {
    expect(splitText(new Uint8Array(0), 512)).toEqual([new Uint8Array(0)]);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => splitText(new Uint8Array(4), bad)).toThrow(InvalidArgumentError);
    }
  });
});

describe('RFC 7143 §6.1 continuation: TextReassembler', () => {
  const encoded = encodeText([
    ['CHAP_A', '5'],
    ['CHAP_I', '1'],
    ['CHAP_C', formatBinary(new Uint8Array(16).fill(0x11))],
  ]);
  const expected = decodeText(encoded);

  it('joins pieces split inside a key, inside a value and right after a NUL', () => {
    for (const cuts of [[3], [8], [9], [encoded.length - 5], [2, 9, 20]]) {
      const r = new TextReassembler();
      const bounds = [0, ...cuts, encoded.length];
      let result: TextPair[] | undefined;
      for (let i = 0; i + 1 < bounds.length; i++) {
        const last = i + 2 === bounds.length;
        result = r.push(encoded.subarray(bounds[i], bounds[i + 1]), !last);
        if (!last) expect(result).toBeUndefined();
      }
      expect(result).toEqual(expected);
      expect(r.pendingBytes).toBe(0);
    }
  });

  it('copies continued pieces, so the caller may reuse its buffer', () => {
    const r = new TextReassembler();
    const scratch = encoded.slice(0, 10);
    r.push(scratch, true);
    scratch.fill(0x41);
    expect(r.push(encoded.subarray(10), false)).toEqual(expected);
  });

  it('a single PDU (C=0) needs no copy', () => {
    const r = new TextReassembler();
    expect(r.pushBytes(encoded, false)).toBe(encoded);
  });

  it('throws TextOverflow before buffering past maxBytes, then starts afresh', () => {
    const r = new TextReassembler({ maxBytes: 20 });
    expect(r.push(encoded.subarray(0, 12), true)).toBeUndefined();
    const error = expectProtocolError(() => r.push(encoded.subarray(12, 21), true), ErrorCode.TextOverflow);
    expect(error).toMatchObject({ got: 21, limit: 20 });
    expect(r.pendingBytes).toBe(0);
    expect(r.push(utf8('A=1\0'), false)).toEqual([['A', '1']]);
  });

  it('accepts exactly maxBytes', () => {
    const r = new TextReassembler({ maxBytes: encoded.length });
    r.push(encoded.subarray(0, 5), true);
    expect(r.push(encoded.subarray(5), false)).toEqual(expected);
  });

  it('defaults to a 64 KiB bound', () => {
    const r = new TextReassembler();
    r.push(new Uint8Array(TEXT_REASSEMBLY_MAX_BYTES), true);
    expectProtocolError(() => r.push(new Uint8Array(1), false), ErrorCode.TextOverflow);
  });

  it('resets after a segment that fails to decode, and passes decode options through', () => {
    const r = new TextReassembler({ allowDuplicates: true });
    r.push(utf8('A=1\0A='), true);
    expect(r.push(utf8('2\0'), false)).toEqual([
      ['A', '1'],
      ['A', '2'],
    ]);
    r.push(utf8('bad'), true);
    expectProtocolError(() => r.push(utf8('=1\0'), false), ErrorCode.TextSyntax);
    expect(r.pendingBytes).toBe(0);
    expect(r.push(utf8('B=2\0'), false)).toEqual([['B', '2']]);
  });

  it('rejects a bad maxBytes', () => {
    expect(() => new TextReassembler({ maxBytes: -1 })).toThrow(InvalidArgumentError);
  });
});

describe('RFC 7143 §6.1 value types', () => {
  it('boolean-value is Yes or No, case sensitive', () => {
    expect(parseBoolean('Yes')).toBe(true);
    expect(parseBoolean('No')).toBe(false);
    expect(formatBoolean(true)).toBe('Yes');
    for (const bad of ['yes', 'NO', '', 'True']) expectProtocolError(() => parseBoolean(bad), ErrorCode.TextValue);
  });

  it('numerical-value is a decimal-constant or a hex-constant', () => {
    expect(parseNumber('0')).toBe(0);
    expect(parseNumber('8192')).toBe(8192);
    expect(parseNumber('0x2000')).toBe(8192);
    expect(parseNumber('0X00ff')).toBe(255);
    expect(parseNumber('65535', { min: 1, max: 65535 })).toBe(65535);
    for (const bad of ['', '-1', '+1', '007', '1.5', '1e3', '0x', ' 1', '0b AA==', '12a']) {
      expectProtocolError(() => parseNumber(bad), ErrorCode.TextValue);
    }
    expectProtocolError(() => parseNumber('65536', { max: 65535 }), ErrorCode.TextValue);
    expectProtocolError(() => parseNumber('511', { min: 512 }), ErrorCode.TextValue);
    expectProtocolError(() => parseNumber('9007199254740992'), ErrorCode.TextValue);
  });

  it('numerical-values go up to 2^64-1 as bigint', () => {
    expect(parseBigNumber('18446744073709551615')).toBe(2n ** 64n - 1n);
    expect(parseBigNumber('0xffffffffffffffff')).toBe(2n ** 64n - 1n);
    expect(parseBigNumber(`0x${'0'.repeat(100)}1`)).toBe(1n);
    expectProtocolError(() => parseBigNumber('18446744073709551616'), ErrorCode.TextValue);
    expectProtocolError(() => parseBigNumber('0x10000000000000000'), ErrorCode.TextValue);
    expectProtocolError(() => parseBigNumber('9'.repeat(5000)), ErrorCode.TextValue);
    expect(formatNumber(2n ** 64n - 1n)).toBe('18446744073709551615');
    expect(formatNumber(42)).toBe('42');
    expect(() => formatNumber(-1)).toThrow(InvalidArgumentError);
    expect(() => formatNumber(2n ** 64n)).toThrow(InvalidArgumentError);
  });

  it('numeric-range is low~high with high not below low', () => {
    expect(parseNumericRange('1~65535')).toEqual({ low: 1, high: 65535 });
    expect(parseNumericRange('0x10~0x10')).toEqual({ low: 16, high: 16 });
    for (const bad of ['5~4', '1', '1~', '~1', '1~2~3', '1-2']) {
      expectProtocolError(() => parseNumericRange(bad), ErrorCode.TextValue);
    }
  });

  it('list-of-values is comma separated, with no empty element', () => {
    expect(parseList('CRC32C,None')).toEqual(['CRC32C', 'None']);
    expect(parseList('None')).toEqual(['None']);
    for (const bad of ['', ',', 'CRC32C,', ',None', 'a,,b'])
      expectProtocolError(() => parseList(bad), ErrorCode.TextValue);
    expect(formatList(['CHAP', 'None'])).toBe('CHAP,None');
    expect(() => formatList([])).toThrow(InvalidArgumentError);
    expect(() => formatList(['a,b'])).toThrow(InvalidArgumentError);
  });

  it('hex-constant: any case, implicit byte-length floor((n+1)/2), odd digit counts allowed', () => {
    expect(parseBinary('0x0102ff')).toEqual(new Uint8Array([1, 2, 255]));
    expect(parseBinary('0XABcd')).toEqual(new Uint8Array([0xab, 0xcd]));
    expect(parseBinary('0xabc')).toEqual(new Uint8Array([0x0a, 0xbc]));
    expect(binaryByteLength('0xabc')).toBe(2);
    expect(formatBinary(new Uint8Array([0xde, 0xad, 0x0b]))).toBe('0xdead0b');
  });

  it('base64-constant: RFC 4648 alphabet, padding optional but complete when present', () => {
    expect(parseBinary('0bAAEC')).toEqual(new Uint8Array([0, 1, 2]));
    expect(parseBinary('0BAAE=')).toEqual(new Uint8Array([0, 1]));
    expect(parseBinary('0bAAE')).toEqual(new Uint8Array([0, 1]));
    expect(parseBinary('0b+/8=')).toEqual(new Uint8Array([0xfb, 0xff]));
    expect(binaryByteLength('0bAAE=')).toBe(2);
    expect(formatBinary(new Uint8Array([0, 1]), 'base64')).toBe('0bAAE=');
    for (const bad of ['0bA', '0bAAAAA', '0bAA=', '0bA=A', '0bAA===', '0b', '0b-_', '0bAA AA']) {
      expectProtocolError(() => parseBinary(bad), ErrorCode.TextValue);
    }
  });

  it('binary-value errors never show the value, and maxBytes is checked before decoding', () => {
    for (const bad of ['0xzz', '0bA', 'secret-response', '1234']) {
      const error = expectProtocolError(() => parseBinary(bad), ErrorCode.TextValue);
      expect(error.message).not.toContain(bad);
    }
    expectProtocolError(() => parseBinary(`0x${'ab'.repeat(17)}`, 16), ErrorCode.TextValue);
    expect(parseBinary(`0x${'ab'.repeat(16)}`, 16)).toHaveLength(16);
    expect(() => formatBinary(new Uint8Array(0))).toThrow(InvalidArgumentError);
  });

  it('other value errors show at most a short preview', () => {
    const error = expectProtocolError(() => parseBoolean('x'.repeat(200)), ErrorCode.TextValue);
    expect(error.message.length).toBeLessThan(100);
  });

  it('NotUnderstood, Irrelevant and Reject are the reserved answers (§6.2)', () => {
    for (const v of ['NotUnderstood', 'Irrelevant', 'Reject']) expect(isReservedValue(v)).toBe(true);
    for (const v of ['None', 'notunderstood', 'Yes', '']) expect(isReservedValue(v)).toBe(false);
  });
});

describe('RFC 7144 iSCSIProtocolLevel', () => {
  it('is the one key name allowed to start with a lower-case letter', () => {
    expect(decodeText(encodeText([['iSCSIProtocolLevel', '1']]))).toEqual([['iSCSIProtocolLevel', '1']]);
    expect(() => encodeText([['iSCSIprotocolLevel', '1']])).toThrowError();
  });
});
