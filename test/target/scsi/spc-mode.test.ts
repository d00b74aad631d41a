import { describe, expect, it } from 'vitest';
import { SenseKey } from '../../../src/scsi/names.js';
import {
  findCachingPage,
  findControlPage,
  parseModeSense6,
  parseModeSense10,
} from '../../../src/scsi/parse/mode-sense.js';
import { Asc } from '../../../src/target/scsi/result.js';
import { A, B, clearUa, expectCheck, expectGood, makeLu, run, thickBackend } from './spc-fixture.js';

const sense6 = (page: number, pc = 0, dbd = false, subpage = 0) => [
  0x1a,
  dbd ? 0x08 : 0,
  (pc << 6) | page,
  subpage,
  255,
];
const sense10 = (page: number, pc = 0, llbaa = false, dbd = false) => [
  0x5a,
  (llbaa ? 0x10 : 0) | (dbd ? 0x08 : 0),
  (pc << 6) | page,
  0,
  0,
  0,
  0,
  0x10,
  0,
];

async function ready() {
  const lu = makeLu();
  await clearUa(lu, A);
  await clearUa(lu, B);
  return lu;
}

/** MODE SELECT(6) parameter list with one block descriptor (block length `blockLength`) and `pages`. */
function select6Data(pages: Uint8Array[], blockLength = 512): Uint8Array {
  const n = pages.reduce((x, p) => x + p.length, 0);
  const d = new Uint8Array(4 + 8 + n);
  d[3] = 8;
  d[9] = blockLength >> 16;
  d[10] = (blockLength >> 8) & 0xff;
  d[11] = blockLength & 0xff;
  let o = 12;
  for (const p of pages) {
    d.set(p, o);
    o += p.length;
  }
  return d;
}

function cachingPage(wce: boolean): Uint8Array {
  const p = new Uint8Array(20);
  p[0] = 0x08;
  p[1] = 0x12;
  p[2] = wce ? 0x04 : 0;
  return p;
}

describe('MODE SENSE', () => {
  it('(6) returns all pages with a block descriptor, DPOFUA set', async () => {
    const lu = await ready();
    const m = parseModeSense6(expectGood(await run(lu, sense6(0x3f))));
    expect(m.truncated).toBe(false);
    expect(m.dpofua).toBe(true);
    expect(m.writeProtect).toBe(false);
    expect(m.blockDescriptors).toEqual([{ blocks: 2048n, blockLength: 512 }]);
    expect(m.pages.map((p) => p.pageCode)).toEqual([0x08, 0x0a, 0x1c]);
    expect(findCachingPage(m)).toEqual({ writeCacheEnabled: true, readCacheDisabled: false });
    expect(findControlPage(m)).toMatchObject({ descriptorSense: false });
  });

  it('(6) with DBD leaves out the descriptor; a read-only LU sets WP', async () => {
    const lu = makeLu({ backend: thickBackend(1 << 20, true) });
    await clearUa(lu, A);
    const m = parseModeSense6(expectGood(await run(lu, sense6(0x08, 0, true))));
    expect(m.blockDescriptors).toEqual([]);
    expect(m.writeProtect).toBe(true);
    expect(m.pages.map((p) => p.pageCode)).toEqual([0x08]);
  });

  it('(10) with LLBAA returns a 16-byte descriptor', async () => {
    const lu = await ready();
    const m = parseModeSense10(expectGood(await run(lu, sense10(0x0a, 0, true))));
    expect(m.longLba).toBe(true);
    expect(m.blockDescriptors).toEqual([{ blocks: 2048n, blockLength: 512 }]);
    expect(m.pages.map((p) => p.pageCode)).toEqual([0x0a]);
  });

  it('changeable values mark only WCE; saved values are not supported', async () => {
    const lu = await ready();
    const m = parseModeSense10(expectGood(await run(lu, sense10(0x3f, 1))));
    expect(findCachingPage(m)).toEqual({ writeCacheEnabled: true, readCacheDisabled: false });
    for (const p of m.pages) {
      const bits = p.data.reduce((x, b) => x + (b === 0 ? 0 : 1), 0);
      expect(bits).toBe(p.pageCode === 0x08 ? 1 : 0);
    }
    expectCheck(await run(lu, sense6(0x08, 3)), SenseKey.IllegalRequest, Asc.SavingParametersNotSupported);
  });

  it('rejects unknown pages and subpages', async () => {
    const lu = await ready();
    expectCheck(await run(lu, sense6(0x19)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectCheck(await run(lu, sense6(0x08, 0, false, 1)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectGood(await run(lu, sense6(0x3f, 0, false, 0xff)));
  });
});

describe('MODE SELECT', () => {
  it('turns WCE off and tells the other nexuses MODE PARAMETERS CHANGED', async () => {
    const lu = await ready();
    expect(lu.writeCacheEnabled).toBe(true);
    const data = select6Data([cachingPage(false)]);
    expectGood(await run(lu, [0x15, 0x10, 0, 0, data.length], A, data));
    expect(lu.writeCacheEnabled).toBe(false);
    expect(await clearUa(lu, A)).toEqual([]);
    expect(await clearUa(lu, B)).toEqual([Asc.ModeParametersChanged]);
    const m = parseModeSense6(expectGood(await run(lu, sense6(0x08), B)));
    expect(findCachingPage(m)?.writeCacheEnabled).toBe(false);
    // Setting the same value again changes nothing and announces nothing.
    expectGood(await run(lu, [0x15, 0x10, 0, 0, data.length], A, data));
    expect(await clearUa(lu, B)).toEqual([]);
    // A logical unit reset brings back the default.
    lu.reset(A);
    expect(lu.writeCacheEnabled).toBe(true);
  });

  it('(10) works the same way', async () => {
    const lu = await ready();
    const page = cachingPage(false);
    const d = new Uint8Array(8 + page.length);
    d.set(page, 8);
    expectGood(await run(lu, [0x55, 0x10, 0, 0, 0, 0, 0, 0, d.length], A, d));
    expect(lu.writeCacheEnabled).toBe(false);
  });

  it('needs PF=1 and SP=0', async () => {
    const lu = await ready();
    const data = select6Data([cachingPage(false)]);
    expectCheck(
      await run(lu, [0x15, 0x00, 0, 0, data.length], A, data),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInCdb,
    );
    expectCheck(
      await run(lu, [0x15, 0x11, 0, 0, data.length], A, data),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInCdb,
    );
    expect(lu.writeCacheEnabled).toBe(true);
  });

  it('refuses changes to bits that are not changeable, a wrong block length and unknown pages', async () => {
    const lu = await ready();
    const rcd = cachingPage(true);
    rcd[2] = 0x05;
    const s = expectCheck(
      await run(lu, [0x15, 0x10, 0, 0, 32], A, select6Data([rcd])),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInParameterList,
    );
    expect(s.senseKeySpecific).toMatchObject({ inCdb: false, fieldPointer: 14, bitPointer: 0 });
    const bl = select6Data([cachingPage(false)], 4096);
    expectCheck(
      await run(lu, [0x15, 0x10, 0, 0, bl.length], A, bl),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInParameterList,
    );
    const unknown = select6Data([Uint8Array.of(0x19, 0x02, 0, 0)]);
    expectCheck(
      await run(lu, [0x15, 0x10, 0, 0, unknown.length], A, unknown),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInParameterList,
    );
    const short = select6Data([cachingPage(false)]).subarray(0, 20);
    expectCheck(
      await run(lu, [0x15, 0x10, 0, 0, short.length], A, short),
      SenseKey.IllegalRequest,
      Asc.ParameterListLengthError,
    );
    expect(lu.writeCacheEnabled).toBe(true);
  });
});
