import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { decodePdu, decodePduLenient } from '../../src/pdu/decode.js';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { buildBhs, hex, withData } from '../helpers/pdu-builder.js';

// Each case builds a BHS word by word from the RFC 7143 §11 figures and checks every decoded field.
describe('field offsets of each opcode (RFC 7143 §11)', () => {
  const cases: [string, Uint8Array, Record<string, unknown>][] = [
    [
      'NOP-Out §11.18',
      buildBhs({
        opcode: 0x00,
        immediate: true,
        byte1: 0x80,
        b8: 0x1n << 48n,
        w16: 7,
        w20: 0xffffffff,
        w24: 9,
        w28: 10,
      }),
      {
        kind: 'nop-out',
        immediate: true,
        lun: 0x1n << 48n,
        initiatorTaskTag: 7,
        targetTransferTag: 0xffffffff,
        cmdSN: 9,
        expStatSN: 10,
      },
    ],
    [
      'SCSI Command §11.3',
      buildBhs({ opcode: 0x01, byte1: 0xc1, b8: 0x2n << 48n, w16: 0x11, w20: 4096, w24: 5, w28: 6, w32: 0x28000000 }),
      {
        kind: 'scsi-command',
        immediate: false,
        final: true,
        read: true,
        write: false,
        attributes: 1,
        lun: 0x2n << 48n,
        initiatorTaskTag: 0x11,
        expectedDataTransferLength: 4096,
        cmdSN: 5,
        expStatSN: 6,
      },
    ],
    [
      'Task Management Function Request §11.5',
      buildBhs({
        opcode: 0x02,
        immediate: true,
        byte1: 0x81,
        b8: 0x1n << 48n,
        w16: 1,
        w20: 2,
        w24: 3,
        w28: 4,
        w32: 5,
        w36: 6,
      }),
      {
        kind: 'task-management-request',
        function: 1,
        referencedTaskTag: 2,
        cmdSN: 3,
        expStatSN: 4,
        refCmdSN: 5,
        expDataSN: 6,
      },
    ],
    [
      'Login Request §11.12',
      buildBhs({
        opcode: 0x03,
        immediate: true,
        byte1: 0x87,
        byte2: 0,
        byte3: 0,
        b8: 0x00023d000001_0000n,
        w16: 0,
        w20: 0x00010000,
        w24: 5,
        w28: 0,
      }),
      {
        kind: 'login-request',
        transit: true,
        continue: false,
        currentStage: 1,
        nextStage: 3,
        isid: 0x00023d000001,
        tsih: 0,
        cid: 1,
        cmdSN: 5,
      },
    ],
    [
      'Text Request §11.10',
      buildBhs({ opcode: 0x04, immediate: true, byte1: 0x80, w16: 3, w20: 0xffffffff, w24: 8, w28: 9 }),
      {
        kind: 'text-request',
        immediate: true,
        final: true,
        continue: false,
        targetTransferTag: 0xffffffff,
        cmdSN: 8,
        expStatSN: 9,
      },
    ],
    [
      'SCSI Data-Out §11.7',
      buildBhs({ opcode: 0x05, byte1: 0x80, b8: 0x1n << 48n, w16: 1, w20: 2, w28: 3, w36: 4, w40: 8192 }),
      { kind: 'data-out', final: true, targetTransferTag: 2, expStatSN: 3, dataSN: 4, bufferOffset: 8192 },
    ],
    [
      'Logout Request §11.14',
      buildBhs({ opcode: 0x06, immediate: true, byte1: 0x80, w16: 1, w20: 0x00020000, w24: 3, w28: 4 }),
      { kind: 'logout-request', reasonCode: 0, cid: 2, cmdSN: 3, expStatSN: 4 },
    ],
    [
      'SNACK Request §11.16',
      buildBhs({ opcode: 0x10, byte1: 0x82, w16: 1, w20: 2, w28: 3, w40: 4, w44: 5 }),
      { kind: 'snack', type: 2, targetTransferTag: 2, expStatSN: 3, begRun: 4, runLength: 5 },
    ],
    [
      'NOP-In §11.19',
      buildBhs({ opcode: 0x20, byte1: 0x80, w16: 0xffffffff, w20: 1, w24: 2, w28: 3, w32: 4 }),
      { kind: 'nop-in', targetTransferTag: 1, statSN: 2, expCmdSN: 3, maxCmdSN: 4 },
    ],
    [
      'SCSI Response §11.4',
      buildBhs({
        opcode: 0x21,
        byte1: 0x82,
        byte2: 0,
        byte3: 2,
        w16: 1,
        w20: 2,
        w24: 3,
        w28: 4,
        w32: 5,
        w36: 6,
        w40: 7,
        w44: 8,
      }),
      {
        kind: 'scsi-response',
        residualUnderflow: true,
        residualOverflow: false,
        response: 0,
        status: 2,
        snackTag: 2,
        statSN: 3,
        expCmdSN: 4,
        maxCmdSN: 5,
        expDataSN: 6,
        bidiReadResidualCount: 7,
        residualCount: 8,
      },
    ],
    [
      'Task Management Function Response §11.6',
      buildBhs({ opcode: 0x22, byte1: 0x80, byte2: 5, w16: 1, w24: 2, w28: 3, w32: 4 }),
      { kind: 'task-management-response', response: 5, statSN: 2, expCmdSN: 3, maxCmdSN: 4 },
    ],
    [
      'Login Response §11.13',
      buildBhs({ opcode: 0x23, byte1: 0x87, b8: 0x00023d000001_0100n, w24: 0, w28: 5, w32: 6, w36: 0x02010000 }),
      {
        kind: 'login-response',
        transit: true,
        currentStage: 1,
        nextStage: 3,
        tsih: 0x100,
        expCmdSN: 5,
        maxCmdSN: 6,
        statusClass: 2,
        statusDetail: 1,
      },
    ],
    [
      'Text Response §11.11',
      buildBhs({ opcode: 0x24, byte1: 0x40, w16: 1, w20: 2, w24: 3, w28: 4, w32: 5 }),
      { kind: 'text-response', final: false, continue: true, targetTransferTag: 2, statSN: 3 },
    ],
    [
      'SCSI Data-In §11.7',
      buildBhs({
        opcode: 0x25,
        byte1: 0x83,
        byte3: 0,
        w16: 1,
        w20: 0xffffffff,
        w24: 2,
        w28: 3,
        w32: 4,
        w36: 5,
        w40: 6,
        w44: 7,
      }),
      {
        kind: 'data-in',
        final: true,
        statusPresent: true,
        residualUnderflow: true,
        acknowledge: false,
        status: 0,
        statSN: 2,
        dataSN: 5,
        bufferOffset: 6,
        residualCount: 7,
      },
    ],
    [
      'Logout Response §11.15',
      buildBhs({ opcode: 0x26, byte1: 0x80, byte2: 1, w16: 1, w24: 2, w28: 3, w32: 4, w40: 0x00020014 }),
      { kind: 'logout-response', response: 1, time2Wait: 2, time2Retain: 20 },
    ],
    [
      'R2T §11.8',
      buildBhs({
        opcode: 0x31,
        byte1: 0x80,
        b8: 0x1n << 48n,
        w16: 1,
        w20: 2,
        w24: 3,
        w28: 4,
        w32: 5,
        w36: 6,
        w40: 8192,
        w44: 24576,
      }),
      { kind: 'r2t', targetTransferTag: 2, r2tSN: 6, bufferOffset: 8192, desiredDataTransferLength: 24576 },
    ],
    [
      'Asynchronous Message §11.9',
      buildBhs({
        opcode: 0x32,
        byte1: 0x80,
        w16: 0xffffffff,
        w24: 2,
        w28: 3,
        w32: 4,
        w36: 0x01000005,
        w40: 0x00060007,
      }),
      { kind: 'async-message', asyncEvent: 1, asyncVCode: 0, parameter1: 5, parameter2: 6, parameter3: 7 },
    ],
    [
      'Reject §11.17',
      buildBhs({ opcode: 0x3f, byte1: 0x80, byte2: 0x04, w16: 0xffffffff, w24: 2, w28: 3, w32: 4, w36: 9 }),
      { kind: 'reject', reason: 4, dataSN: 9 },
    ],
  ];

  for (const [name, bytes, fields] of cases) {
    it(name, () => {
      const pdu = decodePdu(bytes);
      expect(pdu).toMatchObject(fields);
      expect(encodePduBytes(pdu)).toEqual(bytes);
    });
  }
});

describe('strict and lenient rules', () => {
  it('the Login Request of the tshark check decodes (wire byte 0x43: I bit fixed to 1, §11.12)', () => {
    const bytes = buildBhs({ opcode: 0x03, immediate: true, byte1: 0x87, b8: 0x00023d000001_0000n, w24: 5 });
    expect(bytes[0]).toBe(0x43);
    expect(decodePdu(bytes)).toMatchObject({ kind: 'login-request', isid: 0x00023d000001, cmdSN: 5 });
    bytes[0] = 0x03;
    expect(() => decodePdu(bytes)).toThrowError(expect.objectContaining({ code: ErrorCode.PduReserved, offset: 0 }));
    const lenient = decodePduLenient(bytes);
    expect(lenient.pdu?.kind).toBe('login-request');
    expect(encodePduBytes(lenient.pdu!)).toEqual(bytes);
  });

  it('Data-In S without F, O/U without S, O with U are violations (§11.7)', () => {
    const sWithoutF = buildBhs({ opcode: 0x25, byte1: 0x01 });
    expect(() => decodePdu(sWithoutF)).toThrowError(/S bit without F/);
    const uWithoutS = buildBhs({ opcode: 0x25, byte1: 0x82 });
    expect(() => decodePdu(uWithoutS)).toThrowError(/O\/U bit without S/);
    const both = buildBhs({ opcode: 0x25, byte1: 0x87 });
    expect(decodePduLenient(both).violations.map((v) => v.message)).toContain('O and U bits both set');
  });

  it('Login T and C both set is a violation (§11.12.2)', () => {
    expect(() => decodePdu(buildBhs({ opcode: 0x03, immediate: true, byte1: 0xc7 }))).toThrowError(/T and C/);
  });

  it('Text F and C both set is a violation (§11.10.2)', () => {
    expect(() => decodePdu(buildBhs({ opcode: 0x24, byte1: 0xc0 }))).toThrowError(/F and C/);
  });

  it('TMF, Logout, SNACK and R2T must not carry data (their figures have no data segment)', () => {
    const bytes = withData(buildBhs({ opcode: 0x31, byte1: 0x80, dataSegmentLength: 4 }), new Uint8Array(4));
    expect(() => decodePdu(bytes)).toThrowError(/DataSegmentLength must be 0/);
  });

  it('Reject and Asynchronous Message carry the reserved ITT 0xffffffff', () => {
    expect(() => decodePdu(buildBhs({ opcode: 0x3f, byte1: 0x80, w16: 1 }))).toThrowError(/ITT must be 0xffffffff/);
    expect(() => decodePdu(buildBhs({ opcode: 0x32, byte1: 0x80, w16: 1 }))).toThrowError(/ITT must be 0xffffffff/);
  });

  it('non-zero padding is a violation (§11.1: SHOULD be 0)', () => {
    const bytes = withData(buildBhs({ opcode: 0x20, byte1: 0x80, dataSegmentLength: 1 }), new Uint8Array([1]));
    bytes[49] = 1;
    expect(() => decodePdu(bytes)).toThrowError(/non-zero padding/);
    expect(decodePduLenient(bytes).pdu?.data).toEqual(new Uint8Array([1]));
  });

  it('direction is checked when the sender is known', () => {
    expect(() => decodePdu(buildBhs({ opcode: 0x20, byte1: 0x80 }), { sender: 'initiator' })).toThrowError(
      expect.objectContaining({ code: ErrorCode.PduDirection }),
    );
  });

  it('unknown opcodes are typed errors', () => {
    expect(() => decodePdu(buildBhs({ opcode: 0x1c }))).toThrowError(
      expect.objectContaining({ code: ErrorCode.PduOpcode }),
    );
  });

  it('AHS: Extended CDB and Bidirectional Read-Data Length (§11.2.2)', () => {
    // 32-byte CDB: 16 in the BHS, 16 in an Extended CDB AHS of AHSLength 17 (CDBLength - 15).
    const bhs = buildBhs({ opcode: 0x01, byte1: 0xe0, ahsWords: 7 });
    const ahs = hex('0011 01 00' + '10'.repeat(16) + '0005 02 00 00001000');
    const bytes = new Uint8Array(48 + 28);
    bytes.set(bhs);
    bytes.set(ahs, 48);
    const pdu = decodePdu(bytes);
    expect(pdu.ahs).toEqual([
      { type: 'extended-cdb', cdb: new Uint8Array(16).fill(0x10) },
      { type: 'bidi-read-length', expectedReadDataLength: 4096 },
    ]);
    expect(encodePduBytes(pdu)).toEqual(bytes);
    bytes[50] = 0x41; // reserved AHSType bits
    expect(() => decodePdu(bytes)).toThrowError(expect.objectContaining({ code: ErrorCode.PduAhs }));
    const lenient = decodePduLenient(bytes);
    expect(lenient.pdu?.ahs[0]).toMatchObject({ type: 'raw', ahsType: 0x41 });
    expect(encodePduBytes(lenient.pdu!)).toEqual(bytes);
  });

  it('AHS lengths past TotalAHSLength are fatal, even leniently', () => {
    const bytes = new Uint8Array(52);
    bytes.set(buildBhs({ opcode: 0x01, ahsWords: 1 }));
    bytes.set(hex('00ff0100'), 48);
    const result = decodePduLenient(bytes);
    expect(result.pdu).toBeUndefined();
    expect(result.violations.at(-1)?.code).toBe(ErrorCode.PduAhs);
  });
});

describe('SCSI Command flags (§11.3.1)', () => {
  it('immediate data and F=0 need the W bit', () => {
    const data = withData(buildBhs({ opcode: 0x01, byte1: 0xc0, dataSegmentLength: 4 }), new Uint8Array(4));
    expect(() => decodePdu(data)).toThrowError(/immediate data without the W bit/);
    expect(() => decodePdu(buildBhs({ opcode: 0x01, byte1: 0x40 }))).toThrowError(/F bit clear/);
    const write = withData(buildBhs({ opcode: 0x01, byte1: 0x20, dataSegmentLength: 4 }), new Uint8Array(4));
    expect(decodePdu(write)).toMatchObject({ final: false, write: true });
  });
});
