/** Every SCSI parser on arbitrary bytes: a value or a ProtocolError with ERR_ISCSI_SCSI_DATA, nothing else. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import {
  parseBlockLimits,
  parseDeviceIdentification,
  parseLogicalBlockProvisioning,
  parseModeSense6,
  parseModeSense10,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReportLuns,
  parseSense,
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseVpdPage,
  ScsiError,
  scsiErrorFromResponse,
  senseFromSegment,
} from '../../src/scsi/index.js';
import { fixture } from './fixtures.js';

const parsers: [string, (d: Uint8Array) => unknown][] = [
  ['parseSense', parseSense],
  ['senseFromSegment', senseFromSegment],
  ['parseStandardInquiry', parseStandardInquiry],
  ['parseVpdPage', parseVpdPage],
  ['parseSupportedVpdPages', parseSupportedVpdPages],
  ['parseUnitSerialNumber', parseUnitSerialNumber],
  ['parseDeviceIdentification', parseDeviceIdentification],
  ['parseBlockLimits', parseBlockLimits],
  ['parseLogicalBlockProvisioning', parseLogicalBlockProvisioning],
  ['parseReadCapacity10', parseReadCapacity10],
  ['parseReadCapacity16', parseReadCapacity16],
  ['parseReportLuns', parseReportLuns],
  ['parseModeSense6', parseModeSense6],
  ['parseModeSense10', parseModeSense10],
];

function valueOrScsiDataError(parse: (d: Uint8Array) => unknown, data: Uint8Array): void {
  try {
    parse(data);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe(ErrorCode.ScsiData);
  }
}

// Arbitrary bytes rarely look like a page; also mutate real ones so the deep paths run.
const real = [
  'vpd-83-device-id',
  'vpd-b0-block-limits-thin',
  'vpd-b2-provisioning-thin',
  'mode-sense6-all-pages',
  'report-luns-5',
  'inquiry-standard-disk',
  'read-capacity16-disk',
].map(fixture);
const sense = ['sense-fixed-lba-out-of-range', 'sense-descriptor-unit-attention'].map((n) => fixture(n).subarray(2));

const mutated = fc
  .tuple(
    fc.constantFrom(...real, ...sense),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.nat(),
  )
  .map(([base, edits, cut]) => {
    const d = Uint8Array.from(base);
    for (const [at, v] of edits) d[at % d.length] = v;
    return d.subarray(0, cut % (d.length + 1));
  });

describe('SCSI parsers never crash', () => {
  it.each(parsers)('%s on arbitrary and mutated bytes', (_name, parse) => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 96 }), mutated), (d) => valueOrScsiDataError(parse, d)),
      { numRuns: 400 },
    );
  });

  it('scsiErrorFromResponse never throws', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated),
        (status, seg) => {
          expect(scsiErrorFromResponse(status, seg)).toBeInstanceOf(ScsiError);
        },
      ),
      { numRuns: 400 },
    );
  });
});
