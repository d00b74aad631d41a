import { describe, expect, it } from 'vitest';
import { ADDITIONAL_SENSE_NAMES } from '../../src/scsi/asc-names.js';
import {
  additionalSenseName,
  isScsiStatusSuccess,
  peripheralDeviceTypeName,
  ScsiStatus,
  scsiCommandName,
  scsiStatusName,
  senseKeyName,
} from '../../src/scsi/index.js';
import { libiscsiCdb } from './fixtures.js';

describe('SCSI names', () => {
  it('status names (SAM-5)', () => {
    expect([0x00, 0x02, 0x04, 0x08, 0x18, 0x28, 0x30, 0x40].map(scsiStatusName)).toEqual([
      'GOOD',
      'CHECK CONDITION',
      'CONDITION MET',
      'BUSY',
      'RESERVATION CONFLICT',
      'TASK SET FULL',
      'ACA ACTIVE',
      'TASK ABORTED',
    ]);
    expect(scsiStatusName(0x7e)).toBe('STATUS 0x7e');
    expect(isScsiStatusSuccess(ScsiStatus.Good)).toBe(true);
    expect(isScsiStatusSuccess(ScsiStatus.ConditionMet)).toBe(true);
    expect(isScsiStatusSuccess(ScsiStatus.CheckCondition)).toBe(false);
  });

  it('sense key names (SPC-4)', () => {
    expect([0, 2, 5, 6, 7, 0xb, 0xe].map(senseKeyName)).toEqual([
      'NO SENSE',
      'NOT READY',
      'ILLEGAL REQUEST',
      'UNIT ATTENTION',
      'DATA PROTECT',
      'ABORTED COMMAND',
      'MISCOMPARE',
    ]);
    expect(senseKeyName(16)).toBe('SENSE KEY 0x10');
  });

  it('additional sense names for the codes a block initiator meets', () => {
    const cases: [number, number, string][] = [
      [0x29, 0x00, 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED'],
      [0x20, 0x00, 'INVALID COMMAND OPERATION CODE'],
      [0x24, 0x00, 'INVALID FIELD IN CDB'],
      [0x21, 0x00, 'LOGICAL BLOCK ADDRESS OUT OF RANGE'],
      [0x3a, 0x00, 'MEDIUM NOT PRESENT'],
      [0x04, 0x01, 'LOGICAL UNIT IS IN PROCESS OF BECOMING READY'],
      [0x2a, 0x01, 'MODE PARAMETERS CHANGED'],
      [0x2a, 0x09, 'CAPACITY DATA HAS CHANGED'],
      [0x3f, 0x0e, 'REPORTED LUNS DATA HAS CHANGED'],
      [0x11, 0x00, 'UNRECOVERED READ ERROR'],
      [0x27, 0x00, 'WRITE PROTECTED'],
      [0x25, 0x00, 'LOGICAL UNIT NOT SUPPORTED'],
      [0x47, 0x7f, 'SOME COMMANDS CLEARED BY ISCSI PROTOCOL EVENT'],
      [0x0c, 0x0d, 'WRITE ERROR - NOT ENOUGH UNSOLICITED DATA'],
    ];
    for (const [asc, ascq, name] of cases) expect(additionalSenseName(asc, ascq)).toBe(name);
    expect(Object.keys(ADDITIONAL_SENSE_NAMES).length).toBeGreaterThanOrEqual(120);
  });

  it('ranges and unknown codes still name both bytes', () => {
    expect(additionalSenseName(0x40, 0x85)).toBe('DIAGNOSTIC FAILURE ON COMPONENT 85');
    expect(additionalSenseName(0x4d, 0x1f)).toBe('TAGGED OVERLAPPED COMMANDS (TASK TAG 1F)');
    expect(additionalSenseName(0x80, 0x01)).toBe('VENDOR SPECIFIC (ASC 0x80, ASCQ 0x01)');
    expect(additionalSenseName(0x24, 0x90)).toBe('VENDOR SPECIFIC QUALIFIER (ASC 0x24, ASCQ 0x90)');
    expect(additionalSenseName(0x24, 0x55)).toBe('ASC 0x24, ASCQ 0x55');
  });

  it('device types and command names', () => {
    expect(peripheralDeviceTypeName(0)).toBe('direct access block device');
    expect(peripheralDeviceTypeName(0x0c)).toBe('storage array controller');
    expect(peripheralDeviceTypeName(0x1b)).toBe('device type 0x1b');
    expect(scsiCommandName(libiscsiCdb('read-capacity16-32'))).toBe('READ CAPACITY(16)');
    expect(scsiCommandName(libiscsiCdb('unmap-24'))).toBe('UNMAP');
    expect(scsiCommandName(0x9e)).toBe('SERVICE ACTION IN(16)');
    expect(scsiCommandName(0xc1)).toBe('OPCODE 0xc1');
    expect(scsiCommandName(new Uint8Array(0))).toBe('EMPTY CDB');
  });
});
