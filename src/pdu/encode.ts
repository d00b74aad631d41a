/**
 * PDU encoding: typed {@link Pdu} → a list of buffers to write in order (header with AHS and header digest, the
 * data segment itself, then padding and data digest). The data segment is never copied.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { ahsSize, pad4, writeAhs } from './ahs.js';
import { BHS_LENGTH, bhsShapes, kindOpcode, MAX_DATA_SEGMENT_LENGTH } from './bhs.js';
import { crc32c, writeDigest } from './crc32c.js';
import type { Pdu } from './types.js';

/** Options for encoding a PDU. */
export interface EncodeOptions {
  /** Append a CRC32C header digest. */
  readonly headerDigest?: boolean;
  /** Append a CRC32C data digest after a non-empty data segment. */
  readonly dataDigest?: boolean;
}

const ZEROS = new Uint8Array(4);

/**
 * Encodes a PDU as the buffers to send, in order. The data segment is passed through by reference.
 * @throws {InvalidArgumentError} when a field is out of range for its width.
 */
export function encodePdu(pdu: Pdu, options: EncodeOptions = {}): Uint8Array[] {
  const data = pdu.data;
  if (data.length > MAX_DATA_SEGMENT_LENGTH) {
    throw new InvalidArgumentError(`data segment of ${data.length} bytes exceeds the 24-bit DataSegmentLength`);
  }
  let ahsLength = 0;
  for (const a of pdu.ahs) ahsLength += ahsSize(a);
  if (ahsLength > 255 * 4) throw new InvalidArgumentError(`AHS of ${ahsLength} bytes exceeds TotalAHSLength`);
  const headerLength = BHS_LENGTH + ahsLength;
  const header = new Uint8Array(headerLength + (options.headerDigest ? 4 : 0));
  const opcode = kindOpcode[pdu.kind];
  const { mask, template } = bhsShapes[opcode]!;
  header.set(template);
  header[0]! |= opcode;
  header[4] = ahsLength >> 2;
  header[5] = data.length >> 16;
  header[6] = data.length >> 8;
  header[7] = data.length;
  writeFields(pdu, header);
  if (pdu.deviations) {
    for (let i = 0; i < BHS_LENGTH; i++) header[i]! ^= (pdu.deviations[i] ?? 0) & mask[i]!;
  }
  if (ahsLength > 0) writeAhs(pdu.ahs, header, BHS_LENGTH);
  if (options.headerDigest) writeDigest(header, headerLength, crc32c(header.subarray(0, headerLength)));
  if (data.length === 0) return [header];
  const padding = pad4(data.length) - data.length;
  if (!options.dataDigest) return padding === 0 ? [header, data] : [header, data, ZEROS.subarray(0, padding)];
  const tail = new Uint8Array(padding + 4);
  writeDigest(tail, padding, crc32c(tail.subarray(0, padding), crc32c(data)));
  return [header, data, tail];
}

/** Encodes a PDU into one contiguous buffer (a copy; {@link encodePdu} avoids it). */
export function encodePduBytes(pdu: Pdu, options: EncodeOptions = {}): Uint8Array {
  const parts = encodePdu(pdu, options);
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function bad(name: string, value: unknown): never {
  throw new InvalidArgumentError(`${name} out of range: ${String(value)}`);
}

function w32(h: Uint8Array, at: number, v: number, name: string): void {
  if (v >>> 0 !== v) bad(name, v);
  h[at] = v >>> 24;
  h[at + 1] = v >>> 16;
  h[at + 2] = v >>> 8;
  h[at + 3] = v;
}

function w16(h: Uint8Array, at: number, v: number, name: string): void {
  if (v >>> 0 !== v || v > 0xffff) bad(name, v);
  h[at] = v >>> 8;
  h[at + 1] = v;
}

function w8(h: Uint8Array, at: number, v: number, name: string, max = 0xff): void {
  if (v >>> 0 !== v || v > max) bad(name, v);
  h[at]! |= v;
}

function w64(h: Uint8Array, at: number, v: bigint, name: string): void {
  if (v < 0n || v > 0xffffffffffffffffn) bad(name, v);
  w32(h, at, Number(v >> 32n), name);
  w32(h, at + 4, Number(v & 0xffffffffn), name);
}

function w48(h: Uint8Array, at: number, v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffffffff) bad(name, v);
  w16(h, at, Math.floor(v / 0x100000000), name);
  w32(h, at + 2, v % 0x100000000, name);
}

function flag(h: Uint8Array, at: number, bit: number, on: boolean): void {
  if (on) h[at]! |= bit;
}

function writeFields(p: Pdu, h: Uint8Array): void {
  w32(h, 16, p.initiatorTaskTag, 'initiatorTaskTag');
  switch (p.kind) {
    case 'nop-out':
      flag(h, 0, 0x40, p.immediate);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      w32(h, 24, p.cmdSN, 'cmdSN');
      w32(h, 28, p.expStatSN, 'expStatSN');
      return;
    case 'scsi-command':
      flag(h, 0, 0x40, p.immediate);
      flag(h, 1, 0x80, p.final);
      flag(h, 1, 0x40, p.read);
      flag(h, 1, 0x20, p.write);
      w8(h, 1, p.attributes, 'attributes', 7);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.expectedDataTransferLength, 'expectedDataTransferLength');
      w32(h, 24, p.cmdSN, 'cmdSN');
      w32(h, 28, p.expStatSN, 'expStatSN');
      if (p.cdb.length > 16) bad('cdb length (use an Extended CDB AHS beyond 16 bytes)', p.cdb.length);
      h.set(p.cdb, 32);
      return;
    case 'task-management-request':
      flag(h, 0, 0x40, p.immediate);
      w8(h, 1, p.function, 'function', 0x7f);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.referencedTaskTag, 'referencedTaskTag');
      w32(h, 24, p.cmdSN, 'cmdSN');
      w32(h, 28, p.expStatSN, 'expStatSN');
      w32(h, 32, p.refCmdSN, 'refCmdSN');
      w32(h, 36, p.expDataSN, 'expDataSN');
      return;
    case 'login-request':
    case 'login-response':
      flag(h, 1, 0x80, p.transit);
      flag(h, 1, 0x40, p.continue);
      w8(h, 1, p.currentStage << 2, 'currentStage', 0x0c);
      w8(h, 1, p.nextStage, 'nextStage', 3);
      w8(h, 2, p.versionMax, 'versionMax');
      w48(h, 8, p.isid, 'isid');
      w16(h, 14, p.tsih, 'tsih');
      if (p.kind === 'login-request') {
        w8(h, 3, p.versionMin, 'versionMin');
        w16(h, 20, p.cid, 'cid');
        w32(h, 24, p.cmdSN, 'cmdSN');
        w32(h, 28, p.expStatSN, 'expStatSN');
      } else {
        w8(h, 3, p.versionActive, 'versionActive');
        writeTargetSequence(h, p);
        w8(h, 36, p.statusClass, 'statusClass');
        w8(h, 37, p.statusDetail, 'statusDetail');
      }
      return;
    case 'text-request':
    case 'text-response':
      flag(h, 1, 0x80, p.final);
      flag(h, 1, 0x40, p.continue);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      if (p.kind === 'text-request') {
        flag(h, 0, 0x40, p.immediate);
        w32(h, 24, p.cmdSN, 'cmdSN');
        w32(h, 28, p.expStatSN, 'expStatSN');
      } else {
        writeTargetSequence(h, p);
      }
      return;
    case 'data-out':
      flag(h, 1, 0x80, p.final);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      w32(h, 28, p.expStatSN, 'expStatSN');
      w32(h, 36, p.dataSN, 'dataSN');
      w32(h, 40, p.bufferOffset, 'bufferOffset');
      return;
    case 'logout-request':
      flag(h, 0, 0x40, p.immediate);
      w8(h, 1, p.reasonCode, 'reasonCode', 0x7f);
      w16(h, 20, p.cid, 'cid');
      w32(h, 24, p.cmdSN, 'cmdSN');
      w32(h, 28, p.expStatSN, 'expStatSN');
      return;
    case 'snack':
      w8(h, 1, p.type, 'type', 0x0f);
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      w32(h, 28, p.expStatSN, 'expStatSN');
      w32(h, 40, p.begRun, 'begRun');
      w32(h, 44, p.runLength, 'runLength');
      return;
    case 'nop-in':
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      writeTargetSequence(h, p);
      return;
    case 'scsi-response':
      flag(h, 1, 0x10, p.bidiReadResidualOverflow);
      flag(h, 1, 0x08, p.bidiReadResidualUnderflow);
      flag(h, 1, 0x04, p.residualOverflow);
      flag(h, 1, 0x02, p.residualUnderflow);
      w8(h, 2, p.response, 'response');
      w8(h, 3, p.status, 'status');
      w32(h, 20, p.snackTag, 'snackTag');
      writeTargetSequence(h, p);
      w32(h, 36, p.expDataSN, 'expDataSN');
      w32(h, 40, p.bidiReadResidualCount, 'bidiReadResidualCount');
      w32(h, 44, p.residualCount, 'residualCount');
      return;
    case 'task-management-response':
      w8(h, 2, p.response, 'response');
      writeTargetSequence(h, p);
      return;
    case 'data-in':
      flag(h, 1, 0x80, p.final);
      flag(h, 1, 0x40, p.acknowledge);
      flag(h, 1, 0x04, p.residualOverflow);
      flag(h, 1, 0x02, p.residualUnderflow);
      flag(h, 1, 0x01, p.statusPresent);
      w8(h, 3, p.status, 'status');
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      writeTargetSequence(h, p);
      w32(h, 36, p.dataSN, 'dataSN');
      w32(h, 40, p.bufferOffset, 'bufferOffset');
      w32(h, 44, p.residualCount, 'residualCount');
      return;
    case 'logout-response':
      w8(h, 2, p.response, 'response');
      writeTargetSequence(h, p);
      w16(h, 40, p.time2Wait, 'time2Wait');
      w16(h, 42, p.time2Retain, 'time2Retain');
      return;
    case 'r2t':
      w64(h, 8, p.lun, 'lun');
      w32(h, 20, p.targetTransferTag, 'targetTransferTag');
      writeTargetSequence(h, p);
      w32(h, 36, p.r2tSN, 'r2tSN');
      w32(h, 40, p.bufferOffset, 'bufferOffset');
      w32(h, 44, p.desiredDataTransferLength, 'desiredDataTransferLength');
      return;
    case 'async-message':
      w64(h, 8, p.lun, 'lun');
      writeTargetSequence(h, p);
      w8(h, 36, p.asyncEvent, 'asyncEvent');
      w8(h, 37, p.asyncVCode, 'asyncVCode');
      w16(h, 38, p.parameter1, 'parameter1');
      w16(h, 40, p.parameter2, 'parameter2');
      w16(h, 42, p.parameter3, 'parameter3');
      return;
    case 'reject':
      w8(h, 2, p.reason, 'reason');
      writeTargetSequence(h, p);
      w32(h, 36, p.dataSN, 'dataSN');
      return;
  }
}

function writeTargetSequence(h: Uint8Array, p: { statSN: number; expCmdSN: number; maxCmdSN: number }): void {
  w32(h, 24, p.statSN, 'statSN');
  w32(h, 28, p.expCmdSN, 'expCmdSN');
  w32(h, 32, p.maxCmdSN, 'maxCmdSN');
}
