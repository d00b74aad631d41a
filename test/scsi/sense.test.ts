import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import type { SenseInput, SenseKeySpecific } from '../../src/scsi/index.js';
import { encodeSense, parseSense, SenseKey, senseFromSegment, senseSegment } from '../../src/scsi/index.js';
import { fixture, toHex } from './fixtures.js';

const sense = (name: string) => parseSense(senseFromSegment(fixture(name))!);

describe('sense data tgtd sent', () => {
  it('fixed format UNIT ATTENTION 0x29/0x00 (first command of a session)', () => {
    expect(sense('sense-fixed-unit-attention')).toEqual({
      format: 'fixed',
      responseCode: 0x70,
      current: true,
      senseKey: SenseKey.UnitAttention,
      asc: 0x29,
      ascq: 0x00,
      information: undefined,
      commandSpecificInformation: undefined,
      senseKeySpecific: undefined,
      fieldReplaceableUnitCode: undefined,
      filemark: false,
      eom: false,
      ili: false,
      senseDataOverflow: false,
      descriptors: [],
      truncated: false,
    });
  });

  it.each([
    ['sense-fixed-lba-out-of-range', SenseKey.IllegalRequest, 0x21, 0x00],
    ['sense-fixed-medium-not-present', SenseKey.NotReady, 0x3a, 0x00],
    ['sense-fixed-write-protected', SenseKey.DataProtect, 0x27, 0x00],
    ['sense-fixed-invalid-opcode', SenseKey.IllegalRequest, 0x20, 0x00],
    ['sense-fixed-invalid-field-in-cdb', SenseKey.IllegalRequest, 0x24, 0x00],
    ['sense-good-status-unmap', SenseKey.IllegalRequest, 0x25, 0x00],
  ])('%s: key %d, ASC/ASCQ %d/%d', (name, key, asc, ascq) => {
    expect(sense(name)).toMatchObject({ format: 'fixed', senseKey: key, asc, ascq, truncated: false });
  });

  it('descriptor format (sense_format=1): UNIT ATTENTION and LBA OUT OF RANGE, no descriptors', () => {
    expect(sense('sense-descriptor-unit-attention')).toMatchObject({
      format: 'descriptor',
      responseCode: 0x72,
      current: true,
      senseKey: SenseKey.UnitAttention,
      asc: 0x29,
      ascq: 0,
      descriptors: [],
      truncated: false,
    });
    expect(sense('sense-descriptor-lba-out-of-range')).toMatchObject({ senseKey: 5, asc: 0x21, ascq: 0 });
  });
});

describe('sense data fields', () => {
  it('fixed: VALID information, command-specific information, field pointer, FRU, ILI, deferred', () => {
    const d = Uint8Array.from(Buffer.from('f100a5000012340a0000abcd2401' + '07' + 'c80011', 'hex'));
    expect(parseSense(d)).toMatchObject({
      responseCode: 0x71,
      current: false,
      senseKey: SenseKey.IllegalRequest,
      ili: true,
      eom: false,
      filemark: true,
      information: 0x1234n,
      commandSpecificInformation: 0xabcdn,
      asc: 0x24,
      ascq: 0x01,
      fieldReplaceableUnitCode: 7,
      senseKeySpecific: { kind: 'field-pointer', inCdb: true, bitPointer: 0, fieldPointer: 0x11 },
    });
  });

  it('fixed sense shorter than its ADDITIONAL SENSE LENGTH says is truncated, not an error', () => {
    const full = senseFromSegment(fixture('sense-fixed-lba-out-of-range'))!;
    expect(parseSense(full.subarray(0, 14))).toMatchObject({ asc: 0x21, truncated: true });
    expect(parseSense(full.subarray(0, 12))).toMatchObject({ senseKey: 5, asc: 0, ascq: 0, truncated: true });
  });

  it('descriptor: every decoded descriptor type plus an unknown one', () => {
    const desc = [
      '000a80000000000000000102', // information, VALID
      '010a00000000000000000304', // command-specific
      '02060000' + '800123' + '00', // sense-key specific: progress 0x0123 under NOT READY
      '03020009', // FRU 9
      '040200e0', // stream: filemark, eom, ili
      '05020020', // block: ili
      '0a0400010203', // another progress indication: kept raw
    ].join('');
    const d = Uint8Array.from(
      Buffer.from(`72020401000000${(desc.length / 2).toString(16).padStart(2, '0')}${desc}`, 'hex'),
    );
    const s = parseSense(d);
    expect(s).toMatchObject({
      senseKey: SenseKey.NotReady,
      asc: 4,
      ascq: 1,
      information: 0x102n,
      commandSpecificInformation: 0x304n,
      senseKeySpecific: { kind: 'progress', progress: 0x123 },
      fieldReplaceableUnitCode: 9,
      filemark: true,
      eom: true,
      ili: true,
      truncated: false,
    });
    expect(s.descriptors.map((x) => x.kind)).toEqual([
      'information',
      'command-specific',
      'sense-key-specific',
      'field-replaceable-unit',
      'stream-commands',
      'block-commands',
      'other',
    ]);
    const other = s.descriptors[6]!;
    expect(other.kind === 'other' && toHex(other.data)).toBe('00010203');
    // Cut inside the last descriptor: it is dropped and truncated set.
    expect(parseSense(d.subarray(0, d.length - 2))).toMatchObject({ truncated: true });
    expect(parseSense(d.subarray(0, d.length - 2)).descriptors).toHaveLength(6);
  });

  it('malformed sense is ERR_ISCSI_SCSI_DATA', () => {
    const bad = [
      new Uint8Array(7), // no header
      Uint8Array.of(0x7f, 0, 0, 0, 0, 0, 0, 0), // vendor specific format
      Uint8Array.of(0x00, 0, 0, 0, 0, 0, 0, 0), // not sense data
      Uint8Array.of(0x72, 5, 0x24, 0, 0, 0, 0, 4, 0x00, 0x0a, 0, 0), // descriptor longer than the sense data
      Uint8Array.of(0x72, 5, 0x24, 0, 0, 0, 0, 4, 0x00, 0x02, 0, 0), // information descriptor too short
      Uint8Array.of(0x72, 5, 0x24, 0, 0, 0, 0, 1, 0x00), // one byte of a descriptor header
    ];
    for (const d of bad) {
      expect(() => parseSense(d)).toThrowError(expect.objectContaining({ code: ErrorCode.ScsiData }));
    }
  });

  it('senseFromSegment reads the RFC 7143 SenseLength prefix', () => {
    expect(senseFromSegment(new Uint8Array(0))).toBeUndefined();
    expect(senseFromSegment(Uint8Array.of(0, 0))).toBeUndefined();
    expect(senseFromSegment(fixture('sense-fixed-unit-attention'))).toHaveLength(18);
    expect(() => senseFromSegment(Uint8Array.of(0, 4, 0x70))).toThrow(ProtocolError);
    expect(() => senseFromSegment(Uint8Array.of(0))).toThrow(ProtocolError);
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const sks = (key: number): fc.Arbitrary<SenseKeySpecific | undefined> => {
  const bit = fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined });
  switch (key) {
    case 5:
      return fc.record({
        kind: fc.constant('field-pointer' as const),
        inCdb: fc.boolean(),
        bitPointer: bit,
        fieldPointer: u16,
      });
    case 1:
    case 3:
    case 4:
      return fc.record({ kind: fc.constant('actual-retry-count' as const), count: u16 });
    case 0:
    case 2:
      return fc.record({ kind: fc.constant('progress' as const), progress: u16 });
    case 0xa:
      return fc.record({
        kind: fc.constant('segment-pointer' as const),
        segmentDescriptor: fc.boolean(),
        bitPointer: bit,
        fieldPointer: u16,
      });
    case 6:
      return fc.record({ kind: fc.constant('unit-attention-queue' as const), overflow: fc.boolean() });
    default:
      return fc.constant(undefined);
  }
};

describe('encodeSense / parseSense round trip', () => {
  it('both formats, every field', () => {
    const input = fc
      .record({
        format: fc.constantFrom('fixed' as const, 'descriptor' as const),
        current: fc.boolean(),
        senseKey: fc.integer({ min: 0, max: 15 }),
        asc: fc.integer({ min: 0, max: 255 }),
        ascq: fc.integer({ min: 0, max: 255 }),
        information: fc.option(fc.bigInt({ min: 0n, max: 0xffffffffn }), { nil: undefined }),
        commandSpecificInformation: fc.option(fc.bigInt({ min: 1n, max: 0xffffffffn }), { nil: undefined }),
        fieldReplaceableUnitCode: fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }),
        ili: fc.boolean(),
      })
      .chain((r) => sks(r.senseKey).map((senseKeySpecific): SenseInput => ({ ...r, senseKeySpecific })));
    fc.assert(
      fc.property(input, (i) => {
        const s = parseSense(senseFromSegment(senseSegment(encodeSense(i)))!);
        expect(s).toMatchObject({
          format: i.format,
          current: i.current,
          senseKey: i.senseKey,
          asc: i.asc,
          ascq: i.ascq,
          information: i.information,
          commandSpecificInformation: i.commandSpecificInformation,
          fieldReplaceableUnitCode: i.fieldReplaceableUnitCode,
          senseKeySpecific: i.senseKeySpecific,
          ili: i.ili,
          truncated: false,
        });
      }),
      { numRuns: 300 },
    );
  });
});
