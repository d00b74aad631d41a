import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, IscsiError, ProtocolError } from '../../src/errors.js';
import {
  encodeSense,
  ScsiError,
  ScsiStatus,
  SenseKey,
  scsiErrorFromResponse,
  senseSegment,
} from '../../src/scsi/index.js';
import { fixture, libiscsiCdb } from './fixtures.js';

describe('ScsiError', () => {
  it("from tgtd's answer to READ(16) beyond the end: names everything", () => {
    const err = scsiErrorFromResponse(
      ScsiStatus.CheckCondition,
      fixture('sense-fixed-lba-out-of-range'),
      libiscsiCdb('read16-lba-0x20000-1'),
    );
    expect(err).toBeInstanceOf(ScsiError);
    expect(err).toBeInstanceOf(IscsiError);
    expect(err).toMatchObject({
      name: 'ScsiError',
      code: ErrorCode.Scsi,
      status: 2,
      statusName: 'CHECK CONDITION',
      senseKey: SenseKey.IllegalRequest,
      asc: 0x21,
      ascq: 0,
      senseKeyName: 'ILLEGAL REQUEST',
      additionalSenseName: 'LOGICAL BLOCK ADDRESS OUT OF RANGE',
      opcode: 0x88,
    });
    expect(err.sense?.format).toBe('fixed');
    expect(err.message).toBe(
      'READ(16): CHECK CONDITION, ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)',
    );
  });

  it('descriptor-format UNIT ATTENTION from the sense_format=1 LUN reads the same way', () => {
    const err = scsiErrorFromResponse(2, fixture('sense-descriptor-unit-attention'));
    expect(err.message).toBe(
      'SCSI command: CHECK CONDITION, UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (0x29/0x00)',
    );
    expect(err.sense?.format).toBe('descriptor');
  });

  it('statuses without sense leave the sense fields undefined', () => {
    for (const status of [
      ScsiStatus.Busy,
      ScsiStatus.ReservationConflict,
      ScsiStatus.TaskSetFull,
      ScsiStatus.AcaActive,
      ScsiStatus.TaskAborted,
    ]) {
      const err = scsiErrorFromResponse(status, new Uint8Array(0));
      expect(err.sense).toBeUndefined();
      expect(err.senseKey).toBeUndefined();
      expect(err.additionalSenseName).toBeUndefined();
      expect(err.message).toBe(`SCSI command: ${err.statusName}`);
    }
    expect(new ScsiError(0x18).message).toBe('SCSI command: RESERVATION CONFLICT');
  });

  it('sense that does not parse is kept as the cause, and the error is still made', () => {
    const err = scsiErrorFromResponse(2, Uint8Array.of(0, 8, 0x7f, 0, 0, 0, 0, 0, 0, 0), libiscsiCdb('unmap-24'));
    expect(err.sense).toBeUndefined();
    expect(err.cause).toBeInstanceOf(ProtocolError);
    expect((err.cause as ProtocolError).code).toBe(ErrorCode.ScsiData);
    expect(err.message).toBe('UNMAP: CHECK CONDITION');
    expect(scsiErrorFromResponse(2, Uint8Array.of(0, 30, 0x70)).cause).toBeInstanceOf(ProtocolError);
  });

  it('deferred errors say so', () => {
    const seg = senseSegment(encodeSense({ current: false, senseKey: 3, asc: 0x0c, ascq: 0 }));
    expect(scsiErrorFromResponse(2, seg).message).toBe(
      'SCSI command: CHECK CONDITION, MEDIUM ERROR, WRITE ERROR (0x0c/0x00), deferred error',
    );
  });

  it('both codes are in docs/errors.md with their classes', () => {
    const table = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(table).toMatch(/^\| `ERR_ISCSI_SCSI` \| `ScsiError` \|/m);
    expect(table).toMatch(/^\| `ERR_ISCSI_SCSI_DATA` \| `ProtocolError` \|/m);
  });
});
