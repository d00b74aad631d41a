/**
 * Field extraction for each opcode (RFC 7143 §11.3-§11.19), and the per-PDU rules that relate fields.
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import type { Ahs } from './ahs.js';
import { RESERVED_TAG, u16, u32, u48, u64 } from './bhs.js';
import { Opcode, type OpcodeValue } from './opcodes.js';
import type { Report } from './report.js';
import type { Pdu } from './types.js';

/** Builds the typed PDU for `opcode` from a header whose reserved bits were already checked. */
export function decodeFields(
  opcode: OpcodeValue,
  h: Uint8Array,
  ahs: readonly Ahs[],
  data: Uint8Array,
  report: Report,
): Pdu {
  const b1 = h[1]!;
  const itt = u32(h, 16);
  switch (opcode) {
    case Opcode.NopOut:
      return {
        kind: 'nop-out',
        immediate: (h[0]! & 0x40) !== 0,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        cmdSN: u32(h, 24),
        expStatSN: u32(h, 28),
        ahs,
        data,
      };
    case Opcode.ScsiCommand:
      // §11.3.1: only a write carries immediate data or announces unsolicited Data-Out (F=0).
      if (!(b1 & 0x20)) {
        if (data.length > 0) field(report, opcode, 'immediate data without the W bit', 5, data.length);
        if (!(b1 & 0x80)) field(report, opcode, 'F bit clear (unsolicited data follows) without the W bit', 1, b1);
      }
      return {
        kind: 'scsi-command',
        immediate: (h[0]! & 0x40) !== 0,
        final: (b1 & 0x80) !== 0,
        read: (b1 & 0x40) !== 0,
        write: (b1 & 0x20) !== 0,
        attributes: b1 & 0x07,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        expectedDataTransferLength: u32(h, 20),
        cmdSN: u32(h, 24),
        expStatSN: u32(h, 28),
        cdb: h.subarray(32, 48),
        ahs,
        data,
      };
    case Opcode.TaskManagementRequest:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'task-management-request',
        immediate: (h[0]! & 0x40) !== 0,
        function: b1 & 0x7f,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        referencedTaskTag: u32(h, 20),
        cmdSN: u32(h, 24),
        expStatSN: u32(h, 28),
        refCmdSN: u32(h, 32),
        expDataSN: u32(h, 36),
        ahs,
        data,
      };
    case Opcode.LoginRequest:
    case Opcode.LoginResponse: {
      const transit = (b1 & 0x80) !== 0;
      const cont = (b1 & 0x40) !== 0;
      const currentStage = (b1 >> 2) & 3;
      const nextStage = b1 & 3;
      // §11.12.2-§11.12.3: T and C are exclusive; stage 2 is reserved.
      if (transit && cont) field(report, opcode, 'T and C bits both set', 1, b1);
      if (currentStage === 2 || (transit && nextStage === 2)) field(report, opcode, 'reserved login stage 2', 1, b1);
      if (opcode === Opcode.LoginRequest) {
        return {
          kind: 'login-request',
          transit,
          continue: cont,
          currentStage,
          nextStage,
          versionMax: h[2]!,
          versionMin: h[3]!,
          isid: u48(h, 8),
          tsih: u16(h, 14),
          initiatorTaskTag: itt,
          cid: u16(h, 20),
          cmdSN: u32(h, 24),
          expStatSN: u32(h, 28),
          ahs,
          data,
        };
      }
      return {
        kind: 'login-response',
        transit,
        continue: cont,
        currentStage,
        nextStage,
        versionMax: h[2]!,
        versionActive: h[3]!,
        isid: u48(h, 8),
        tsih: u16(h, 14),
        initiatorTaskTag: itt,
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        statusClass: h[36]!,
        statusDetail: h[37]!,
        ahs,
        data,
      };
    }
    case Opcode.TextRequest:
    case Opcode.TextResponse: {
      const final = (b1 & 0x80) !== 0;
      const cont = (b1 & 0x40) !== 0;
      // §11.10.2: a PDU with C set cannot be final.
      if (final && cont) field(report, opcode, 'F and C bits both set', 1, b1);
      if (opcode === Opcode.TextRequest) {
        return {
          kind: 'text-request',
          immediate: (h[0]! & 0x40) !== 0,
          final,
          continue: cont,
          lun: u64(h, 8),
          initiatorTaskTag: itt,
          targetTransferTag: u32(h, 20),
          cmdSN: u32(h, 24),
          expStatSN: u32(h, 28),
          ahs,
          data,
        };
      }
      return {
        kind: 'text-response',
        final,
        continue: cont,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        ahs,
        data,
      };
    }
    case Opcode.DataOut:
      return {
        kind: 'data-out',
        final: (b1 & 0x80) !== 0,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        expStatSN: u32(h, 28),
        dataSN: u32(h, 36),
        bufferOffset: u32(h, 40),
        ahs,
        data,
      };
    case Opcode.LogoutRequest:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'logout-request',
        immediate: (h[0]! & 0x40) !== 0,
        reasonCode: b1 & 0x7f,
        initiatorTaskTag: itt,
        cid: u16(h, 20),
        cmdSN: u32(h, 24),
        expStatSN: u32(h, 28),
        ahs,
        data,
      };
    case Opcode.Snack:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'snack',
        type: b1 & 0x0f,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        expStatSN: u32(h, 28),
        begRun: u32(h, 40),
        runLength: u32(h, 44),
        ahs,
        data,
      };
    case Opcode.NopIn:
      return {
        kind: 'nop-in',
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        ahs,
        data,
      };
    case Opcode.ScsiResponse: {
      const o = (b1 & 0x10) !== 0;
      const u = (b1 & 0x08) !== 0;
      const O = (b1 & 0x04) !== 0;
      const U = (b1 & 0x02) !== 0;
      // §11.4.5.1: each overflow/underflow pair is exclusive.
      if (o && u) field(report, opcode, 'o and u bits both set', 1, b1);
      if (O && U) field(report, opcode, 'O and U bits both set', 1, b1);
      return {
        kind: 'scsi-response',
        bidiReadResidualOverflow: o,
        bidiReadResidualUnderflow: u,
        residualOverflow: O,
        residualUnderflow: U,
        response: h[2]!,
        status: h[3]!,
        initiatorTaskTag: itt,
        snackTag: u32(h, 20),
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        expDataSN: u32(h, 36),
        bidiReadResidualCount: u32(h, 40),
        residualCount: u32(h, 44),
        ahs,
        data,
      };
    }
    case Opcode.TaskManagementResponse:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'task-management-response',
        response: h[2]!,
        initiatorTaskTag: itt,
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        ahs,
        data,
      };
    case Opcode.DataIn: {
      const final = (b1 & 0x80) !== 0;
      const statusPresent = (b1 & 0x01) !== 0;
      const O = (b1 & 0x04) !== 0;
      const U = (b1 & 0x02) !== 0;
      // §11.7.4-§11.7.5: S only with F; O/U and Status only with S; O and U exclusive.
      if (statusPresent && !final) field(report, opcode, 'S bit without F bit', 1, b1);
      if (!statusPresent && (O || U)) field(report, opcode, 'O/U bit without S bit', 1, b1);
      if (O && U) field(report, opcode, 'O and U bits both set', 1, b1);
      if (!statusPresent && h[3] !== 0) field(report, opcode, 'Status without S bit', 3, h[3]);
      return {
        kind: 'data-in',
        final,
        acknowledge: (b1 & 0x40) !== 0,
        residualOverflow: O,
        residualUnderflow: U,
        statusPresent,
        status: h[3]!,
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        dataSN: u32(h, 36),
        bufferOffset: u32(h, 40),
        residualCount: u32(h, 44),
        ahs,
        data,
      };
    }
    case Opcode.LogoutResponse:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'logout-response',
        response: h[2]!,
        initiatorTaskTag: itt,
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        time2Wait: u16(h, 40),
        time2Retain: u16(h, 42),
        ahs,
        data,
      };
    case Opcode.R2t:
      if (data.length !== 0) noData(opcode, data, report);
      return {
        kind: 'r2t',
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        targetTransferTag: u32(h, 20),
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        r2tSN: u32(h, 36),
        bufferOffset: u32(h, 40),
        desiredDataTransferLength: u32(h, 44),
        ahs,
        data,
      };
    case Opcode.AsyncMessage:
      if (itt !== RESERVED_TAG) field(report, opcode, 'Asynchronous Message ITT must be 0xffffffff', 16, itt);
      return {
        kind: 'async-message',
        lun: u64(h, 8),
        initiatorTaskTag: itt,
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        asyncEvent: h[36]!,
        asyncVCode: h[37]!,
        parameter1: u16(h, 38),
        parameter2: u16(h, 40),
        parameter3: u16(h, 42),
        ahs,
        data,
      };
    case Opcode.Reject:
      if (itt !== RESERVED_TAG) field(report, opcode, 'Reject ITT must be 0xffffffff', 16, itt);
      return {
        kind: 'reject',
        reason: h[2]!,
        initiatorTaskTag: itt,
        statSN: u32(h, 24),
        expCmdSN: u32(h, 28),
        maxCmdSN: u32(h, 32),
        dataSN: u32(h, 36),
        ahs,
        data,
      };
  }
}

// Out of line, so the decoder allocates nothing for the rules a valid PDU never breaks.
function field(report: Report, opcode: number, message: string, offset: number, got?: number): void {
  report(new ProtocolError(ErrorCode.PduField, message, { opcode, offset, got }));
}

function noData(opcode: number, data: Uint8Array, report: Report): void {
  field(report, opcode, 'DataSegmentLength must be 0', 5, data.length);
}
