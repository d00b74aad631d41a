import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findIbftInMemory, readIbftFromMemoryFile, readIbftFromSysfsAcpi } from '../../src/ibft/find.js';
import { parseIbft } from '../../src/ibft/parse-acpi.js';

const bin = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/ibft/${name}`, import.meta.url)));
const B = bin('sample-b.bin');
const C = bin('sample-c.bin');
const scratch = mkdtempSync(join(tmpdir(), 'ibft-find-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A 1 MiB "physical memory" image (offset = address) with tables placed at the given addresses. */
function memory(placements: [number, Uint8Array][]): Uint8Array {
  const image = new Uint8Array(0x100000);
  for (const [addr, table] of placements) image.set(table, addr);
  return image;
}

describe('findIbftInMemory', () => {
  it('finds a table on a 16-byte boundary in 0x80000-0x9FFFF and in 0xC0000-0xFFFFF', () => {
    for (const addr of [0x80000, 0x9fc00, 0xc0010, 0xfe000]) {
      const found = findIbftInMemory(memory([[addr, B]]));
      expect(found).toEqual(B);
    }
  });

  it('returns a copy of exactly the header length', () => {
    const image = memory([[0x9f000, B]]);
    const found = findIbftInMemory(image)!;
    image[0x9f000 + 20] = 0;
    expect(found.length).toBe(448);
    expect(parseIbft(found).oemTableId).toBe('IBFTTEST');
  });

  it('skips the VGA hole, unaligned copies, addresses below 0x80000 and IBFT in memory', () => {
    expect(findIbftInMemory(memory([[0xa0000, B]]))).toBeUndefined();
    expect(findIbftInMemory(memory([[0xb8000, B]]))).toBeUndefined();
    expect(findIbftInMemory(memory([[0x9f008, B]]))).toBeUndefined();
    expect(findIbftInMemory(memory([[0x7ff00, B]]))).toBeUndefined();
    const ibft = Uint8Array.from(B);
    ibft.set(Buffer.from('IBFT'), 0);
    expect(findIbftInMemory(memory([[0x90000, ibft]]))).toBeUndefined();
  });

  it('takes the first match in address order, and BIFT', () => {
    const bift = Uint8Array.from(C);
    bift.set(Buffer.from('BIFT'), 0);
    expect(
      findIbftInMemory(
        memory([
          [0xe0000, B],
          [0x90000, bift],
        ]),
      ),
    ).toEqual(bift);
  });

  it('skips a signature whose length runs past 1 MiB (or below a header) and keeps scanning', () => {
    const runaway = Uint8Array.from(B);
    new DataView(runaway.buffer).setUint32(4, 0x80000, true);
    const tiny = Uint8Array.from(B);
    new DataView(tiny.buffer).setUint32(4, 8, true);
    expect(
      findIbftInMemory(
        memory([
          [0x90000, runaway],
          [0x90400, tiny],
          [0xd0000, C],
        ]),
      ),
    ).toEqual(C);
    expect(findIbftInMemory(memory([[0xfff00, B.subarray(0, 16)]]))).toBeUndefined(); // 0xfff00 + 448 > 0xfffff
  });

  it('maps image offsets through the base address', () => {
    const window = new Uint8Array(0x80000);
    window.set(B, 0x1fc00); // physical 0x9fc00
    expect(findIbftInMemory(window, 0x80000)).toEqual(B);
    expect(findIbftInMemory(window, 0)).toBeUndefined(); // 0x1fc00 is below the scanned range
    expect(findIbftInMemory(new Uint8Array(16), 0x9fff0)).toBeUndefined();
  });
});

describe('readIbftFromMemoryFile', () => {
  it('reads only the scan window of a dump', () => {
    const path = join(scratch, 'mem.img');
    writeFileSync(path, memory([[0x9fc00, C]]));
    expect(readIbftFromMemoryFile(path)).toEqual(C);
    const from = join(scratch, 'from-512k.img');
    writeFileSync(from, memory([[0x9fc00, C]]).subarray(0x80000));
    expect(readIbftFromMemoryFile(from, 0x80000)).toEqual(C);
    expect(readIbftFromMemoryFile(from, 0x100000)).toBeUndefined();
    expect(() => readIbftFromMemoryFile(join(scratch, 'nope'))).toThrow(/memory image/);
  });
});

describe('readIbftFromSysfsAcpi', () => {
  it('reads IBFT before iBFT, and returns undefined when neither exists', () => {
    const root = join(scratch, 'tables');
    mkdirSync(root);
    expect(readIbftFromSysfsAcpi(root)).toBeUndefined();
    writeFileSync(join(root, 'iBFT'), B);
    expect(readIbftFromSysfsAcpi(root)).toEqual(B);
    writeFileSync(join(root, 'IBFT'), C);
    expect(readIbftFromSysfsAcpi(root)).toEqual(C);
    expect(readIbftFromSysfsAcpi(join(scratch, 'no-such-dir'))).toBeUndefined();
  });

  it('refuses files larger than any table can be', () => {
    const root = join(scratch, 'huge');
    mkdirSync(root);
    writeFileSync(join(root, 'iBFT'), new Uint8Array((1 << 20) + 1));
    expect(() => readIbftFromSysfsAcpi(root)).toThrow(/larger than/);
  });
});
