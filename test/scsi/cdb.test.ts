import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../../src/errors.js';
import {
  buildInquiryCdb,
  buildModeSense6Cdb,
  buildModeSense10Cdb,
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  buildReadCdb,
  buildReportLunsCdb,
  buildRequestSenseCdb,
  buildSynchronizeCache10Cdb,
  buildSynchronizeCache16Cdb,
  buildTestUnitReadyCdb,
  buildUnmapCdb,
  buildUnmapParameterList,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteCdb,
  buildWriteSame16Cdb,
  cdbLength,
  decodeCdb,
  MAX_UNMAP_DESCRIPTORS,
  parseUnmapParameterList,
  type ScsiCommand,
} from '../../src/scsi/index.js';
import { fixture, libiscsiCdb, padCdb, toHex } from './fixtures.js';

const same = (cmd: ScsiCommand, label: string) => expect(toHex(padCdb(cmd.cdb))).toBe(toHex(libiscsiCdb(label)));

describe('CDB builders match what libiscsi sent to tgtd', () => {
  it('INQUIRY, READ CAPACITY, REPORT LUNS, MODE SENSE(6)', () => {
    same(buildInquiryCdb({ allocationLength: 66 }), 'inquiry-std-66');
    same(buildInquiryCdb({ evpd: true, pageCode: 0x83, allocationLength: 76 }), 'inquiry-vpd83-76');
    same(buildReadCapacity10Cdb(), 'read-capacity10');
    same(buildReadCapacity16Cdb(), 'read-capacity16-32');
    same(buildReportLunsCdb({ allocationLength: 16 }), 'report-luns-16');
    same(buildModeSense6Cdb(), 'mode-sense6-all-255');
    same(buildModeSense6Cdb({ pageCode: 0x0a }), 'mode-sense6-control-255');
  });

  it('READ/WRITE 10/16, WRITE SAME(16) with UNMAP, UNMAP and its parameter list', () => {
    same(buildRead16Cdb({ lba: 0x20000, blocks: 1, blockSize: 512 }), 'read16-lba-0x20000-1');
    same(buildRead10Cdb({ lba: 0, blocks: 1, blockSize: 512 }), 'read10-lba0-1');
    same(buildWrite10Cdb({ lba: 0, blocks: 256, blockSize: 512 }), 'write10-lba0-256');
    same(buildWrite10Cdb({ lba: 0, blocks: 1, blockSize: 512 }), 'write10-lba0-1');
    same(buildWrite16Cdb({ lba: 0, blocks: 1, blockSize: 512 }), 'write16-lba0-1');
    same(buildWriteSame16Cdb({ lba: 0, blocks: 1, blockSize: 512, unmap: true }), 'write-same16-unmap-1');
    const unmap = buildUnmapCdb({ ranges: [{ lba: 0, blocks: 1 }] });
    same(unmap, 'unmap-24');
    expect(toHex(unmap.data!)).toBe(toHex(fixture('unmap-parameter-list-libiscsi')));
    expect(unmap).toMatchObject({ direction: 'write', transferLength: 24 });
  });
});

describe('directions and transfer lengths', () => {
  it('are what a session must put in the SCSI Command PDU', () => {
    expect(buildTestUnitReadyCdb()).toMatchObject({ direction: 'none', transferLength: 0 });
    expect(buildTestUnitReadyCdb().cdb).toHaveLength(6);
    expect(buildInquiryCdb()).toMatchObject({ direction: 'read', transferLength: 255 });
    expect(buildReadCapacity10Cdb()).toMatchObject({ direction: 'read', transferLength: 8 });
    expect(buildReadCapacity16Cdb().cdb).toHaveLength(16);
    expect(buildReportLunsCdb().cdb).toHaveLength(12);
    expect(buildRequestSenseCdb()).toMatchObject({ direction: 'read', transferLength: 252 });
    expect(buildModeSense10Cdb()).toMatchObject({ direction: 'read', transferLength: 0xffff });
    expect(buildRead16Cdb({ lba: 5, blocks: 8, blockSize: 4096 })).toMatchObject({
      direction: 'read',
      transferLength: 32768,
    });
    expect(buildWrite10Cdb({ lba: 5, blocks: 0, blockSize: 512 })).toMatchObject({ direction: 'none' });
    expect(buildSynchronizeCache10Cdb()).toMatchObject({ direction: 'none', transferLength: 0 });
    const ws = buildWriteSame16Cdb({ lba: 1, blocks: 100, blockSize: 512 });
    expect(ws).toMatchObject({ direction: 'write', transferLength: 512 });
    expect(ws.data).toEqual(new Uint8Array(512));
    expect(buildWriteSame16Cdb({ lba: 1, blocks: 100, blockSize: 512, ndob: true })).toMatchObject({
      direction: 'none',
      transferLength: 0,
    });
  });

  it('buildReadCdb / buildWriteCdb pick the 10-byte form only when the request fits it', () => {
    expect(buildReadCdb({ lba: 0xffffffff, blocks: 0xffff, blockSize: 512 }).cdb[0]).toBe(0x28);
    expect(buildReadCdb({ lba: 0x100000000, blocks: 1, blockSize: 512 }).cdb[0]).toBe(0x88);
    expect(buildWriteCdb({ lba: 0n, blocks: 0x10000, blockSize: 512 }).cdb[0]).toBe(0x8a);
    expect(buildWriteCdb({ lba: 7n, blocks: 1, blockSize: 512 }).cdb[0]).toBe(0x2a);
  });
});

describe('argument checks throw InvalidArgumentError before anything is built', () => {
  const bad: [string, () => unknown][] = [
    ['READ(10) LBA above 2**32-1', () => buildRead10Cdb({ lba: 0x100000000, blocks: 1, blockSize: 512 })],
    ['READ(10) more than 65535 blocks', () => buildRead10Cdb({ lba: 0, blocks: 0x10000, blockSize: 512 })],
    ['READ(16) LBA above 2**64-1', () => buildRead16Cdb({ lba: 1n << 64n, blocks: 1, blockSize: 512 })],
    ['negative LBA', () => buildWrite16Cdb({ lba: -1, blocks: 1, blockSize: 512 })],
    ['unsafe number LBA', () => buildWrite16Cdb({ lba: 2 ** 60, blocks: 1, blockSize: 512 })],
    ['NaN LBA through the auto picker', () => buildReadCdb({ lba: Number.NaN, blocks: 1, blockSize: 512 })],
    ['fractional blocks', () => buildRead16Cdb({ lba: 0, blocks: 1.5, blockSize: 512 })],
    ['zero block size', () => buildRead16Cdb({ lba: 0, blocks: 1, blockSize: 0 })],
    ['transfer above 2**32-1', () => buildRead16Cdb({ lba: 0, blocks: 0x800000, blockSize: 1024 })],
    ['protect 8', () => buildWrite16Cdb({ lba: 0, blocks: 1, blockSize: 512, protect: 8 })],
    ['group 32', () => buildRead10Cdb({ lba: 0, blocks: 1, blockSize: 512, groupNumber: 32 })],
    ['page code without EVPD', () => buildInquiryCdb({ pageCode: 0x80 })],
    ['INQUIRY allocation above 65535', () => buildInquiryCdb({ allocationLength: 0x10000 })],
    ['MODE SENSE(6) allocation above 255', () => buildModeSense6Cdb({ allocationLength: 256 })],
    ['MODE SENSE page code 64', () => buildModeSense10Cdb({ pageCode: 64 })],
    ['MODE SENSE bad page control', () => buildModeSense6Cdb({ pageControl: 'bogus' as 'current' })],
    ['REPORT LUNS allocation below 16', () => buildReportLunsCdb({ allocationLength: 15 })],
    [
      'WRITE SAME data of the wrong size',
      () => buildWriteSame16Cdb({ lba: 0, blocks: 1, blockSize: 512, data: new Uint8Array(4) }),
    ],
    [
      'WRITE SAME data with NDOB',
      () => buildWriteSame16Cdb({ lba: 0, blocks: 1, blockSize: 4, data: new Uint8Array(4), ndob: true }),
    ],
    ['SYNCHRONIZE CACHE(10) blocks above 65535', () => buildSynchronizeCache10Cdb({ blocks: 0x10000 })],
    [
      'UNMAP with too many ranges',
      () => buildUnmapParameterList(new Array(MAX_UNMAP_DESCRIPTORS + 1).fill({ lba: 0, blocks: 1 })),
    ],
    ['UNMAP range of 2**32 blocks', () => buildUnmapCdb({ ranges: [{ lba: 0, blocks: 2 ** 32 }] })],
  ];
  it.each(bad)('%s', (_name, fn) => {
    expect(fn).toThrow(InvalidArgumentError);
  });
});

describe('decodeCdb', () => {
  it('reads the libiscsi CDBs (16-byte BHS field, zero padded)', () => {
    expect(decodeCdb(libiscsiCdb('read16-lba-0x20000-1'))).toEqual({
      kind: 'read-16',
      lba: 0x20000n,
      blocks: 1,
      fua: false,
      dpo: false,
      protect: 0,
      groupNumber: 0,
      control: 0,
    });
    expect(decodeCdb(libiscsiCdb('inquiry-vpd83-76'))).toEqual({
      kind: 'inquiry',
      evpd: true,
      pageCode: 0x83,
      allocationLength: 76,
      control: 0,
    });
    expect(decodeCdb(libiscsiCdb('write-same16-unmap-1'))).toMatchObject({ kind: 'write-same-16', unmap: true });
    expect(decodeCdb(libiscsiCdb('read-capacity16-32'))).toEqual({
      kind: 'read-capacity-16',
      allocationLength: 32,
      control: 0,
    });
    expect(decodeCdb(libiscsiCdb('mode-sense6-control-255'))).toMatchObject({
      kind: 'mode-sense-6',
      pageCode: 0x0a,
      pageControl: 'current',
    });
  });

  it('knows CDB lengths by group code and names other commands unknown', () => {
    expect([0x00, 0x28, 0x5a, 0x88, 0xa0, 0x7f, 0xc0].map(cdbLength)).toEqual([
      6,
      10,
      10,
      16,
      12,
      undefined,
      undefined,
    ]);
    expect(decodeCdb(Uint8Array.of(0x7f, 0, 0))).toEqual({ kind: 'unknown', opcode: 0x7f });
    expect(decodeCdb(padCdb(Uint8Array.of(0x9e, 0x12)))).toEqual({
      kind: 'unknown',
      opcode: 0x9e,
      serviceAction: 0x12,
    });
    expect(decodeCdb(new Uint8Array(10).fill(0x2f, 0, 1))).toEqual({ kind: 'unknown', opcode: 0x2f });
  });

  it('rejects a CDB shorter than its group code says', () => {
    const err = (() => {
      try {
        decodeCdb(new Uint8Array([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: ErrorCode.ScsiData, got: 10, limit: 16 });
    expect(() => decodeCdb(new Uint8Array(0))).toThrow(ProtocolError);
  });
});

const lba16 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const flags = {
  fua: fc.boolean(),
  dpo: fc.boolean(),
  protect: fc.integer({ min: 0, max: 7 }),
  groupNumber: fc.integer({ min: 0, max: 31 }),
};

describe('properties', () => {
  it('every READ/WRITE CDB decodes back to its options, in the 16-byte BHS field too', () => {
    const opts = fc.record({
      long: fc.boolean(),
      write: fc.boolean(),
      lba: lba16,
      blocks: fc.integer({ min: 0, max: 0xffff }),
      ...flags,
    });
    fc.assert(
      fc.property(opts, ({ long, write, lba, ...o }) => {
        const lbaFor = long ? lba : lba & 0xffffffffn;
        const build = long ? (write ? buildWrite16Cdb : buildRead16Cdb) : write ? buildWrite10Cdb : buildRead10Cdb;
        const cmd = build({ lba: lbaFor, blockSize: 512, ...o });
        expect(cmd.cdb).toHaveLength(long ? 16 : 10);
        expect(cmd.transferLength).toBe(o.blocks * 512);
        expect(decodeCdb(padCdb(cmd.cdb))).toEqual({
          kind: `${write ? 'write' : 'read'}-${long ? 16 : 10}`,
          lba: lbaFor,
          control: 0,
          ...o,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('WRITE SAME, SYNCHRONIZE CACHE, MODE SENSE, INQUIRY, REPORT LUNS and UNMAP round-trip', () => {
    fc.assert(
      fc.property(
        lba16,
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 31 }),
        (lba, blocks, a, b, group) => {
          const ws = { lba, blocks, unmap: a, anchor: b, ndob: a && b, protect: group & 7, groupNumber: group };
          expect(decodeCdb(buildWriteSame16Cdb({ ...ws, blockSize: 512 }).cdb)).toEqual({
            kind: 'write-same-16',
            control: 0,
            ...ws,
          });
          const sc = { lba, blocks, immed: a, groupNumber: group };
          expect(decodeCdb(buildSynchronizeCache16Cdb(sc).cdb)).toEqual({
            kind: 'synchronize-cache-16',
            control: 0,
            ...sc,
          });
          const ms = {
            pageCode: group & 0x3f,
            subpageCode: blocks & 0xff,
            pageControl: (['current', 'changeable', 'default', 'saved'] as const)[group & 3]!,
            disableBlockDescriptors: a,
            longLba: b,
            allocationLength: blocks & 0xffff,
          };
          expect(decodeCdb(buildModeSense10Cdb(ms).cdb)).toEqual({ kind: 'mode-sense-10', control: 0, ...ms });
          expect(
            decodeCdb(buildInquiryCdb({ evpd: true, pageCode: blocks & 0xff, allocationLength: blocks & 0xffff }).cdb),
          ).toEqual({
            kind: 'inquiry',
            evpd: true,
            pageCode: blocks & 0xff,
            allocationLength: blocks & 0xffff,
            control: 0,
          });
          const rl = { selectReport: group, allocationLength: Math.max(16, blocks) };
          expect(decodeCdb(buildReportLunsCdb(rl).cdb)).toEqual({ kind: 'report-luns', control: 0, ...rl });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('UNMAP parameter lists parse back to their ranges', () => {
    const range = fc.record({ lba: lba16, blocks: fc.integer({ min: 0, max: 0xffffffff }) });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 40 }), fc.boolean(), (ranges, anchor) => {
        const cmd = buildUnmapCdb({ ranges, anchor });
        expect(parseUnmapParameterList(cmd.data!)).toEqual(ranges);
        expect(decodeCdb(cmd.cdb)).toEqual({
          kind: 'unmap',
          anchor,
          groupNumber: 0,
          parameterListLength: cmd.data!.length,
          control: 0,
        });
      }),
      { numRuns: 100 },
    );
    expect(parseUnmapParameterList(new Uint8Array(0))).toEqual([]);
  });

  it('decodeCdb and parseUnmapParameterList on arbitrary bytes give a value or ERR_ISCSI_SCSI_DATA', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => {
        for (const parse of [decodeCdb, parseUnmapParameterList]) {
          try {
            parse(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
            expect((e as ProtocolError).code).toBe(ErrorCode.ScsiData);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
