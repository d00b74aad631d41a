import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DigestError, ErrorCode, InvalidArgumentError, IscsiError, ProtocolError } from '../src/errors.js';

const table = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const documented = [...table.matchAll(/^\| `(ERR_ISCSI_[A-Z_]+)` \| `(\w+)` \|/gm)].map((m) => [m[1], m[2]] as const);

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes of src/errors.ts', () => {
    expect(documented.map(([code]) => code).sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it('every error class is an IscsiError with its code and name', () => {
    const cases: [IscsiError, string, string][] = [
      [new ProtocolError(ErrorCode.PduOpcode, 'x', { opcode: 0x1c }), 'ProtocolError', ErrorCode.PduOpcode],
      [new DigestError('data', 1, 2, 3, 0x25), 'DigestError', ErrorCode.Digest],
      [new InvalidArgumentError('x'), 'InvalidArgumentError', ErrorCode.InvalidArgument],
    ];
    for (const [err, name, code] of cases) {
      expect(err).toBeInstanceOf(IscsiError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(err.code).toBe(code);
      const row = documented.find(([c]) => c === code);
      expect(row?.[1]).toBe(name);
    }
  });

  it('a digest error names the digest and the task, and nothing else', () => {
    const err = new DigestError('data', 0xdeadbeef, 0x01020304, 0x42, 0x25);
    expect(err.message).toBe('data digest mismatch: computed 0xdeadbeef, received 0x01020304 (ITT 0x00000042)');
    expect(err).toMatchObject({ which: 'data', expected: 0xdeadbeef, actual: 0x01020304, itt: 0x42, opcode: 0x25 });
  });
});
