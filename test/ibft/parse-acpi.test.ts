import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { IbftError } from '../../src/ibft/errors.js';
import { parseIbft } from '../../src/ibft/parse-acpi.js';
import { writeIbft } from '../../src/ibft/write-acpi.js';
import { fixChecksum, ibftTable } from './ibft-arbitraries.js';

const bin = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/ibft/${name}`, import.meta.url)));
const B = bin('sample-b.bin');
const C = bin('sample-c.bin');

/** A copy of `base` changed by `edit`, with the checksum fixed unless `keepChecksum`. */
function mutate(base: Uint8Array, edit: (v: DataView, b: Uint8Array) => void, keepChecksum = false): Uint8Array {
  const b = Uint8Array.from(base);
  edit(new DataView(b.buffer), b);
  return keepChecksum ? b : fixChecksum(b);
}

function failure(bytes: Uint8Array): IbftError {
  try {
    parseIbft(bytes);
  } catch (err) {
    if (err instanceof IbftError) return err;
    throw err;
  }
  throw new Error('parseIbft accepted the table');
}

/** parseIbft either returns or throws IbftError; anything else fails the property. */
function parsesOrIbftError(bytes: Uint8Array): boolean {
  try {
    parseIbft(bytes);
    return true;
  } catch (err) {
    if (err instanceof IbftError && err.code === ErrorCode.Ibft) return true;
    throw err;
  }
}

describe('parseIbft: malformed tables give a typed error naming the field', () => {
  const cases: [string, Uint8Array, string, number | undefined][] = [
    ['too short for a header', B.subarray(0, 40), 'header', 0],
    ['unknown signature', mutate(B, (_, b) => b.set([0x41, 0x43, 0x50, 0x49], 0)), 'header.signature', 0],
    ['truncated', B.subarray(0, 300), 'header.length', 4],
    ['length below header + control', mutate(B, (v) => v.setUint32(4, 60, true)), 'header.length', 4],
    ['revision 2', mutate(B, (_, b) => (b[8] = 2)), 'header.revision', 8],
    ['bad checksum', mutate(B, (_, b) => (b[9]! ^= 1), true), 'header.checksum', 9],
    ['control id 2', mutate(B, (_, b) => (b[48] = 2)), 'control.id', 48],
    ['control index 1', mutate(B, (_, b) => (b[52] = 1)), 'control.index', 52],
    ['control length 16', mutate(B, (v) => v.setUint16(50, 16, true)), 'control.length', 50],
    ['NIC length 100', mutate(B, (v) => v.setUint16(0xa0 + 2, 100, true)), 'nic0.length', 0xa2],
    ['initiator length 72', mutate(B, (v) => v.setUint16(0x50 + 2, 72, true)), 'initiator.length', 0x52],
    ['target slot points at the NIC', mutate(B, (v) => v.setUint16(60, 0xa0, true)), 'target0.id', 0xa0],
    ['NIC slot points at the target', mutate(B, (v) => v.setUint16(58, 0x110, true)), 'nic0.id', 0x110],
    ['structure past the end', mutate(B, (v) => v.setUint16(60, 0x1a0, true)), 'control.target0Offset', 60],
    ['structure inside the header', mutate(B, (v) => v.setUint16(56, 0x10, true)), 'initiator.id', 0x10],
    ['string past the end', mutate(B, (v) => v.setUint16(0x110 + 34, 0x1ff, true)), 'target0.name', 0x110 + 34],
    ['string offset past the end', mutate(B, (v) => v.setUint16(0x110 + 36, 0x1c0, true)), 'target0.name', 0x110 + 34],
    [
      'CHAP name inside the target name',
      mutate(B, (v) => v.setUint16(0x110 + 40, 0x176, true)),
      'target0.chapName',
      0x176,
    ],
    ['string inside a structure', mutate(B, (v) => v.setUint16(0xa0 + 100, 0xa0 + 8, true)), 'nic0.hostname', 0xa8],
    ['NUL inside a string', mutate(B, (_, b) => (b[0x174 + 3] = 0)), 'target0.name', 0x110 + 34],
    ['invalid UTF-8', mutate(B, (_, b) => (b[0x16e] = 0xff)), 'nic0.hostname', 0xa0 + 98],
    // Reference §8.5: sample C with NIC1's index set to 0 makes Linux drop the whole tree.
    ['duplicate NIC index', mutate(C, (_, b) => (b[0x110 + 4] = 0)), 'nic1.index', 0x114],
    ['duplicate target index', mutate(C, (_, b) => (b[0x1c0 + 4] = 0)), 'target1.index', 0x1c4],
  ];
  for (const [what, bytes, field, offset] of cases) {
    it(what, () => {
      const err = failure(bytes);
      expect(err.code).toBe(ErrorCode.Ibft);
      expect(err.field).toBe(field);
      expect(err.offset).toBe(offset);
      expect(err.message).toContain(field);
    });
  }

  it('never puts string or secret contents in messages', () => {
    for (const edit of [0x199, 0x1b2]) {
      const err = failure(mutate(B, (v) => v.setUint16(0x110 + 44, edit, true)));
      expect(err.field).toBe('target0.chapSecret');
      expect(err.message).not.toMatch(/secret1234|inituser/);
      expect(err.message).toMatch(/^[ -~]+$/);
    }
  });
});

describe('parseIbft: accepted variations', () => {
  it('accepts the IBFT and BIFT signatures', () => {
    for (const sig of ['IBFT', 'BIFT']) {
      const t = parseIbft(mutate(B, (_, b) => b.set(Buffer.from(sig), 0)));
      expect(t.signature).toBe(sig);
    }
  });

  it('ignores bytes after the header length, and the extensions offset', () => {
    const longer = new Uint8Array(B.length + 32);
    longer.set(mutate(B, (v) => v.setUint16(54, 0x140, true)));
    expect(parseIbft(longer).targets[0]?.name).toBe('iqn.2003-01.org.example:disk1');
  });

  it('reads absent slots as absent, whatever the slot order', () => {
    const t = parseIbft(mutate(C, (v) => v.setUint16(58, 0, true)));
    expect(t.nics.map((n) => n.index)).toEqual([1]);
    const noInit = parseIbft(mutate(B, (v) => v.setUint16(56, 0, true)));
    expect(noInit.initiator).toBeUndefined();
  });

  it("treats EDK2's ::ffff:0.0.0.0 as an absent address and strips a counted trailing NUL", () => {
    const t = parseIbft(
      mutate(B, (v, b) => {
        b.set([0xff, 0xff], 0xa0 + 56 + 10); // secondary DNS = ::ffff:0.0.0.0
        v.setUint16(0xa0 + 98, 6, true); // hostname length counts its NUL
      }),
    );
    expect(t.nics[0]?.secondaryDns).toBeUndefined();
    expect(t.nics[0]?.hostname).toBe('host1');
  });

  it('reads a 22-byte control structure with a third NIC/target pair', () => {
    const t = parseIbft(bin('sample-d.bin'));
    expect(t.nics).toHaveLength(3);
    expect(t.targets.map((x) => x.name)).toEqual(['a', 'b', 'c'].map((c) => `iqn.2003-01.org.example:${c}`));
  });
});

describe('parseIbft: hostile input only ever gives IbftError', () => {
  const valid = [B, C, bin('sample-a.bin'), bin('sample-d.bin')];

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), parsesOrIbftError), { numRuns: 300 });
  });

  it('arbitrary bytes behind a plausible header with a correct checksum', () => {
    const arb = fc.uint8Array({ minLength: 66, maxLength: 700 }).map((b) => {
      b.set(Buffer.from('iBFT'), 0);
      new DataView(b.buffer).setUint32(4, b.length, true);
      b[8] = 1;
      b.set([1, 1, 18, 0, 0], 48);
      return fixChecksum(b);
    });
    fc.assert(fc.property(arb, parsesOrIbftError), { numRuns: 400 });
  });

  it('truncations of valid tables fail as truncated; with the length patched they parse or fail typed', () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), (table, n) => {
        const cut = n % table.length;
        expect(failure(table.subarray(0, cut)).field).toMatch(/^header/);
        const patched = mutate(table.subarray(0, cut), (v) => cut >= 8 && v.setUint32(4, cut, true));
        return parsesOrIbftError(patched);
      }),
      { numRuns: 300 },
    );
  });

  it('bit flips of valid and written tables, with and without a fixed checksum', () => {
    const table = fc.oneof(
      fc.constantFrom(...valid),
      ibftTable(2).map((m) => writeIbft(m)),
    );
    const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(table, flips, fc.boolean(), (t, bits, fix) => {
        const b = Uint8Array.from(t);
        for (const [pos, bit] of bits) b[pos % b.length]! ^= 1 << bit;
        if (fix && b.length >= 8) fixChecksum(b);
        return parsesOrIbftError(b);
      }),
      { numRuns: 400 },
    );
  });

  it('a single bit flip without a checksum fix is always caught', () => {
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 7 }), (t, pos, bit) => {
        const b = Uint8Array.from(t);
        const at = 10 + (pos % (b.length - 10)); // past length/revision/checksum
        b[at]! ^= 1 << bit;
        expect(failure(b).field).toBe('header.checksum');
      }),
      { numRuns: 200 },
    );
  });
});
