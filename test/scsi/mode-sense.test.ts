import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { findCachingPage, findControlPage, parseModeSense6, parseModeSense10 } from '../../src/scsi/index.js';
import { fixture, toHex } from './fixtures.js';

describe('MODE SENSE(6) data from tgtd', () => {
  it('all pages: header, one block descriptor of 512-byte blocks, six pages', () => {
    const p = parseModeSense6(fixture('mode-sense6-all-pages'));
    expect(p).toMatchObject({
      format: 'mode-sense-6',
      mediumType: 0,
      deviceSpecificParameter: 0x10,
      writeProtect: false,
      dpofua: true,
      longLba: false,
      availableLength: 106,
      truncated: false,
      blockDescriptors: [{ blocks: 0n, blockLength: 512 }],
    });
    // tgtd starts with an empty page 0 (vendor specific, SPC-4 §7.5.7: no page format required).
    expect(p.pages.map((x) => [x.pageCode, x.subpageCode, x.spf, x.data.length])).toEqual([
      [0x00, 0, false, 0],
      [0x02, 0, false, 14],
      [0x08, 0, false, 18],
      [0x0a, 0, false, 10],
      [0x0a, 1, true, 28],
      [0x1c, 0, false, 10],
    ]);
    // The peers guide: tgtd LUNs report write cache enabled.
    expect(findCachingPage(p)).toEqual({ writeCacheEnabled: true, readCacheDisabled: false });
    expect(findControlPage(p)).toEqual({
      descriptorSense: false,
      queueAlgorithmModifier: 1,
      softwareWriteProtect: false,
    });
  });

  it('the 4096-byte-block LUN reports that in its block descriptor', () => {
    expect(parseModeSense6(fixture('mode-sense6-all-pages-4k')).blockDescriptors).toEqual([
      { blocks: 0n, blockLength: 4096 },
    ]);
  });

  it('the Control page alone', () => {
    const p = parseModeSense6(fixture('mode-sense6-control'));
    expect(p.availableLength).toBe(24);
    expect(p.pages).toHaveLength(1);
    expect(toHex(p.pages[0]!.data)).toBe('02100000000000000200');
  });

  it('data cut by the allocation length keeps the complete pages', () => {
    const p = parseModeSense6(fixture('mode-sense6-all-pages').subarray(0, 50));
    expect(p.truncated).toBe(true);
    expect(p.pages.map((x) => x.pageCode)).toEqual([0x00, 0x02, 0x08]);
  });
});

describe('MODE SENSE(10) data', () => {
  it('long LBA block descriptors and sub-page format pages', () => {
    const d = new Uint8Array(8 + 16 + 4 + 4);
    d.set([0, d.length - 2, 0, 0x80, 0x01, 0, 0, 16]);
    d.set([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00], 8);
    d.set([0xc8, 0x05, 0, 4, 1, 2, 3, 4], 24);
    expect(parseModeSense10(d)).toMatchObject({
      format: 'mode-sense-10',
      writeProtect: true,
      longLba: true,
      blockDescriptors: [{ blocks: 0x100000000n, blockLength: 512 }],
      pages: [{ pageCode: 0x08, subpageCode: 5, spf: true, ps: true, data: Uint8Array.of(1, 2, 3, 4) }],
    });
    expect(findCachingPage(parseModeSense10(d))).toBeUndefined();
  });

  it('inconsistent lengths are ERR_ISCSI_SCSI_DATA', () => {
    const bad = [
      () => parseModeSense6(Uint8Array.of(2, 0, 0, 0)), // MODE DATA LENGTH shorter than the header
      () => parseModeSense6(Uint8Array.of(10, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0)), // 4-byte block descriptors
      () => parseModeSense6(Uint8Array.of(5, 0, 0, 0, 0x08, 10)), // page past MODE DATA LENGTH
      () => parseModeSense10(new Uint8Array(7)),
    ];
    for (const fn of bad) expect(fn).toThrowError(expect.objectContaining({ code: ErrorCode.ScsiData }));
  });
});
