/**
 * One SCSI command on its way through a session: the checked request, the SCSI Command PDU with its immediate and
 * unsolicited data, the answers to R2Ts, Data-In placed into the read buffer, and the result taken from the final
 * Data-In (S bit) or the SCSI Response. The task knows nothing of sockets or other tasks: the session routes PDUs
 * to it by ITT and sends what it returns.
 * @module
 */
import { ErrorCode, InvalidArgumentError, type IscsiError, ProtocolError, TimeoutError } from '../errors.js';
import type { Ahs } from '../pdu/ahs.js';
import { dataSegmentLength, PERIPHERAL_LUNS, u32 } from '../pdu/bhs.js';
import { formatLun, lunFromNumber, lunToNumber } from '../pdu/lun.js';
import { Opcode } from '../pdu/opcodes.js';
import { serialAdd } from '../pdu/serial.js';
import {
  type DataInPdu,
  type DataOutPdu,
  type Pdu,
  type R2tPdu,
  type ScsiCommandPdu,
  type ScsiResponsePdu,
  TaskAttribute,
} from '../pdu/types.js';
import { abortError } from './connection.js';
import { DataInBuffer, parseResponseData } from './data-in.js';
import {
  checkR2t,
  dataOutSequence,
  planUnsolicited,
  RESERVED_TAG,
  type UnsolicitedPlan,
  type WriteParameters,
} from './data-out.js';
import type { SessionEvent } from './events.js';
import type { NegotiatedParameters } from './params.js';

/** A SCSI command to execute (see `Session.execute`). */
export interface ScsiRequest {
  /** LUN number (single-level, as `lunFromNumber` encodes it) or the 8-byte LUN structure as a bigint. */
  readonly lun: bigint | number;
  /** The CDB, 1-260 bytes; beyond 16 bytes the rest goes in an Extended CDB AHS (§11.2.2.3.1). */
  readonly cdb: Uint8Array;
  /** Data from the target: a length to allocate, or the caller's buffer to fill (its length is the expected one). */
  readonly read?: { readonly length: number } | { readonly into: Uint8Array };
  /** Data to the target. With `read` too, the command is bidirectional (§11.2.2.3.2). Not copied: keep it unchanged. */
  readonly write?: Uint8Array;
  /** Task attribute (§11.3.1 ATTR, `TaskAttribute`); default Simple. */
  readonly attributes?: number;
  /** Immediate delivery (I bit, §3.2.2.1): sent outside the CmdSN window, carrying CmdSN without advancing it. */
  readonly immediate?: boolean;
  /** Aborts the command locally (see `Session.execute` about what the target still does). */
  readonly signal?: AbortSignal;
  /** Milliseconds from `execute` to the result, queueing included; 0 = none. Default: the session's. */
  readonly timeoutMs?: number;
}

/** The outcome of a command that the target completed (any SCSI status). */
export interface ScsiResult {
  /** iSCSI service response (§11.4.3): 0 command completed at target; otherwise `status` is not valid. */
  readonly response: number;
  /** SCSI status (SAM): 0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY, 0x18 RESERVATION CONFLICT, 0x28 TASK SET FULL. */
  readonly status: number;
  /** Sense data from the SCSI Response (a copy, without the 2-byte SenseLength), when the target sent any. */
  readonly sense?: Uint8Array;
  /** Read data: the buffer (or its prefix, after an underflow); a view of `read.into` when that was given. */
  readonly data?: Uint8Array;
  /** Bytes the target did not transfer (U bit: residual underflow, §11.4.5). */
  readonly residualUnderflow?: number;
  /** Bytes beyond the expected length that the target could not transfer (O bit: residual overflow). */
  readonly residualOverflow?: number;
  /** Read data not transferred by a bidirectional command (u bit, §11.4.5). */
  readonly bidiReadResidualUnderflow?: number;
  /** Read data beyond the expected read length of a bidirectional command (o bit, §11.4.5). */
  readonly bidiReadResidualOverflow?: number;
  /** Data bytes received (Data-In) and sent (immediate data and Data-Out). */
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** The negotiated values a task uses. */
export type TaskParameters = WriteParameters & Pick<NegotiatedParameters, 'dataPDUInOrder'>;

/** A task's life: waiting for a queue slot or the window, sent and in progress, then settled. */
export type TaskState = 'queued' | 'active' | 'done';

/** Largest CDB accepted: 16 bytes in the BHS plus an Extended CDB AHS (SPC's variable-length CDBs stay below). */
export const MAX_CDB_LENGTH = 260;
const EMPTY = new Uint8Array(0);
/** Shared by the commands that need them (most): nothing in them is ever modified. */
const NO_AHS: readonly Ahs[] = Object.freeze([]);
const NO_DATA_OUT: UnsolicitedPlan = Object.freeze({ immediate: 0, unsolicitedEnd: 0 });
const GOOD = 0x00;
const CONDITION_MET = 0x04;

const protocol = (message: string, opcode: number, got: number, limit: number) =>
  new ProtocolError(ErrorCode.PduField, message, { opcode, got, limit });

/** One command; see the module documentation. */
export class Task {
  readonly lun: bigint;
  readonly cdb: Uint8Array;
  readonly immediate: boolean;
  readonly attributes: number;
  /** Expected read length (0 when nothing is read). */
  readonly readLength: number;
  readonly write: Uint8Array | undefined;
  /** Resolves with the result, or rejects with a typed error. */
  readonly promise: Promise<ScsiResult>;
  /** `performance.now()` at creation and when sent. */
  readonly createdAt = performance.now();
  sentAt = 0;
  /** The timeout set by {@link Task.arm} (0 = none), and the `performance.now()` it ends at (Infinity for none). */
  timeoutMs = 0;
  deadline = Number.POSITIVE_INFINITY;
  /** The ITT and CmdSN, set when sent (an immediate command carries the CmdSN without taking it). */
  itt = RESERVED_TAG;
  cmdSN = 0;
  #state: TaskState = 'queued';
  readonly #into: Uint8Array | undefined;
  #data: DataInBuffer | undefined;
  /** Next DataSN (Data-In) or R2TSN expected: for bidirectional commands they share one numbering (§11.7.5). */
  #inSN = 0;
  #bytesOut = 0;
  #resolve!: (result: ScsiResult) => void;
  #reject!: (err: IscsiError) => void;
  #disarm: (() => void) | undefined;

  /** @throws {InvalidArgumentError} when the command is malformed. */
  constructor(command: ScsiRequest) {
    const { cdb, read, write } = command;
    if (!(cdb instanceof Uint8Array) || cdb.length === 0 || cdb.length > MAX_CDB_LENGTH) {
      throw new InvalidArgumentError(`a CDB has 1 to ${MAX_CDB_LENGTH} bytes`);
    }
    const attributes = command.attributes ?? TaskAttribute.Simple;
    if (!Number.isInteger(attributes) || attributes < 0 || attributes > 7) {
      throw new InvalidArgumentError(`task attribute ${attributes} out of range`);
    }
    const lun = command.lun;
    this.lun =
      typeof lun === 'bigint' ? lun : lun >>> 0 === lun && lun < 256 ? PERIPHERAL_LUNS[lun]! : lunFromNumber(lun);
    if (this.lun < 0n || this.lun > 0xffffffffffffffffn) throw new InvalidArgumentError('LUN out of range');
    if (read && 'into' in read) {
      if (!(read.into instanceof Uint8Array)) throw new InvalidArgumentError('read.into must be a Uint8Array');
      this.#into = read.into;
    }
    this.readLength = read ? ('into' in read ? read.into.length : read.length) : 0;
    if (!Number.isInteger(this.readLength) || this.readLength < 0 || this.readLength > 0xffffffff) {
      throw new InvalidArgumentError(`read length ${this.readLength} out of range`);
    }
    if (write !== undefined && !(write instanceof Uint8Array)) throw new InvalidArgumentError('write must be bytes');
    if (write && write.length > 0xffffffff) throw new InvalidArgumentError('write data over 4 GiB');
    this.write = write && write.length > 0 ? write : undefined;
    this.cdb = cdb;
    this.attributes = attributes;
    this.immediate = command.immediate ?? false;
    this.promise = new Promise<ScsiResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Where the task is in its life. */
  get state(): TaskState {
    return this.#state;
  }

  /**
   * Sets the deadline (`timeoutMs` from creation; 0 = none) and starts the abort watch: `cancel` is called once with
   * the error if the signal fires first. The session checks deadlines (see {@link Task.deadline}) with one timer
   * for all its commands, so nothing is scheduled per command here.
   */
  arm(timeoutMs: number, signal: AbortSignal | undefined, cancel: (err: IscsiError) => void): void {
    this.timeoutMs = timeoutMs;
    this.deadline = timeoutMs > 0 ? this.createdAt + timeoutMs : Number.POSITIVE_INFINITY;
    if (!signal) return;
    const onAbort = () => cancel(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    this.#disarm = () => signal.removeEventListener('abort', onAbort);
  }

  /** The error of a command whose deadline passed. */
  timeoutError(): TimeoutError {
    return new TimeoutError(`SCSI command did not complete within ${this.timeoutMs} ms`);
  }

  /**
   * Builds the PDUs that send the command: the SCSI Command with its immediate data, then any unsolicited Data-Out
   * (TTT 0xffffffff), all to be written in one go. Marks the task active under `itt` and `cmdSN`.
   */
  start(itt: number, cmdSN: number, expStatSN: number, params: TaskParameters): Pdu[] {
    this.itt = itt;
    this.cmdSN = cmdSN;
    this.#state = 'active';
    this.sentAt = performance.now();
    if (this.readLength > 0) {
      this.#data = new DataInBuffer(this.#into ?? Buffer.allocUnsafe(this.readLength), params.dataPDUInOrder);
    }
    const write = this.write;
    const plan = write ? planUnsolicited(params, write.length) : NO_DATA_OUT;
    let ahs: readonly Ahs[] = NO_AHS;
    if (this.cdb.length > 16 || (write && this.readLength > 0)) {
      const list: Ahs[] = [];
      if (this.cdb.length > 16) list.push({ type: 'extended-cdb', cdb: this.cdb.subarray(16) });
      // §11.3: for a bidirectional command the EDTL is the write length; the read length goes in this AHS.
      if (write && this.readLength > 0)
        list.push({ type: 'bidi-read-length', expectedReadDataLength: this.readLength });
      ahs = list;
    }
    const command: ScsiCommandPdu = {
      kind: 'scsi-command',
      immediate: this.immediate,
      final: plan.unsolicitedEnd === plan.immediate,
      read: this.readLength > 0,
      write: write !== undefined,
      attributes: this.attributes,
      lun: this.lun,
      initiatorTaskTag: itt,
      expectedDataTransferLength: write ? write.length : this.readLength,
      cmdSN,
      expStatSN,
      cdb: this.cdb.length > 16 ? this.cdb.subarray(0, 16) : this.cdb,
      ahs,
      data: write ? write.subarray(0, plan.immediate) : EMPTY,
    };
    this.#bytesOut = plan.unsolicitedEnd;
    if (!write || plan.unsolicitedEnd === plan.immediate) return [command];
    const unsolicited = dataOutSequence({
      initiatorTaskTag: itt,
      lun: this.lun,
      targetTransferTag: RESERVED_TAG,
      expStatSN,
      data: write,
      offset: plan.immediate,
      length: plan.unsolicitedEnd - plan.immediate,
      maxSegment: params.maxXmitDataSegmentLength,
    });
    return [command, ...unsolicited];
  }

  /**
   * Places a Data-In PDU; returns the result when it carries the status (S bit, §11.7.4).
   * @throws {ProtocolError} on a DataSN out of sequence or data outside the read.
   */
  onDataIn(pdu: DataInPdu): ScsiResult | undefined {
    if (!this.#data) throw protocol('Data-In for a command that reads nothing', Opcode.DataIn, pdu.data.length, 0);
    // §11.7.5: DataSN counts the Data-In PDUs of the command from 0; at ERL 0 a gap cannot be recovered.
    this.#next(pdu.dataSN, 'DataSN', Opcode.DataIn);
    // The A bit asks for a DataACK SNACK, which exists only at ErrorRecoveryLevel > 0 (§11.7.2); not sent yet.
    this.#data.place(pdu.bufferOffset, pdu.data);
    if (!pdu.statusPresent) return undefined;
    if (this.write) throw protocol('status in a Data-In of a bidirectional command', Opcode.DataIn, 1, 0);
    const residual = pdu.residualCount;
    return this.#result(
      0,
      pdu.status,
      undefined,
      pdu.residualOverflow ? residual : undefined,
      pdu.residualUnderflow ? residual : undefined,
      undefined,
      undefined,
    );
  }

  /**
   * Where the data segment of a Data-In for this command may be written before the PDU is complete (the framer's
   * placement hook): the part of the read buffer it covers, when {@link Task.onDataIn} would accept a Data-In
   * with this header's DataSN, BufferOffset and DataSegmentLength. Undefined otherwise: the PDU then takes the
   * ordinary path, where `onDataIn` reports the problem.
   */
  placement(header: Uint8Array): Uint8Array | undefined {
    // §11.7.5, §11.7.4: DataSN at byte 36, BufferOffset at byte 40.
    if (!this.#data || u32(header, 36) !== this.#inSN) return undefined;
    return this.#data.slot(u32(header, 40), dataSegmentLength(header));
  }

  /**
   * Answers an R2T with one Data-Out sequence: its TTT, DataSN from 0, segments of the target's
   * MaxRecvDataSegmentLength, F on the last (§11.8, §11.7). Every R2T is answered in full at once, so this side
   * never holds more than the target's MaxOutstandingR2T.
   * @throws {ProtocolError} on an R2TSN out of sequence or a range the command does not have.
   */
  onR2t(pdu: R2tPdu, expStatSN: number, params: TaskParameters): DataOutPdu[] {
    const write = this.write;
    if (!write) throw protocol('R2T for a command that writes nothing', Opcode.R2t, pdu.desiredDataTransferLength, 0);
    this.#next(pdu.r2tSN, 'R2TSN', Opcode.R2t);
    const err = checkR2t(pdu, write.length, params.maxBurstLength);
    if (err) throw err;
    this.#bytesOut += pdu.desiredDataTransferLength;
    return dataOutSequence({
      initiatorTaskTag: this.itt,
      lun: this.lun,
      targetTransferTag: pdu.targetTransferTag,
      expStatSN,
      data: write,
      offset: pdu.bufferOffset,
      length: pdu.desiredDataTransferLength,
      maxSegment: params.maxXmitDataSegmentLength,
    });
  }

  /**
   * The result carried by a SCSI Response (§11.4).
   * @throws {ProtocolError} on a malformed sense segment or read data missing from a successful command.
   */
  onResponse(pdu: ScsiResponsePdu): ScsiResult {
    const { sense } = parseResponseData(pdu.data);
    const residual = pdu.residualCount;
    const bidi = pdu.bidiReadResidualCount;
    return this.#result(
      pdu.response,
      pdu.status,
      sense,
      pdu.residualOverflow ? residual : undefined,
      pdu.residualUnderflow ? residual : undefined,
      pdu.bidiReadResidualOverflow ? bidi : undefined,
      pdu.bidiReadResidualUnderflow ? bidi : undefined,
    );
  }

  /** Settles with a result; false when already settled. */
  finish(result: ScsiResult): boolean {
    if (this.#state === 'done') return false;
    this.#settle();
    this.#resolve(result);
    return true;
  }

  /** Settles with an error; false when already settled. */
  fail(err: IscsiError): boolean {
    if (this.#state === 'done') return false;
    this.#settle();
    this.#reject(err);
    return true;
  }

  /** The debug event of a completed command (latency from creation and from sending, data bytes). */
  event(result: ScsiResult): Extract<SessionEvent, { event: 'command' }> {
    const now = performance.now();
    return {
      event: 'command',
      itt: this.itt,
      cmdSN: this.cmdSN,
      op: this.cdb[0]!,
      lun: String(lunToNumber(this.lun) ?? formatLun(this.lun)),
      response: result.response,
      status: result.status,
      bytesIn: result.bytesIn,
      bytesOut: result.bytesOut,
      ms: round(now - this.createdAt),
      wireMs: round(now - this.sentAt),
    };
  }

  /** The debug event of a command that failed. */
  failureEvent(err: IscsiError): Extract<SessionEvent, { event: 'command-failed' }> {
    const itt = this.itt === RESERVED_TAG ? undefined : this.itt;
    const ms = round(performance.now() - this.createdAt);
    return { event: 'command-failed', itt, op: this.cdb[0]!, code: err.code, message: err.message, ms };
  }

  #settle(): void {
    this.#state = 'done';
    this.#disarm?.();
  }

  #next(sn: number, name: string, opcode: number): void {
    if (sn !== this.#inSN) throw protocol(`${name} ${sn}, expected ${this.#inSN}`, opcode, sn, this.#inSN);
    this.#inSN = serialAdd(sn, 1);
  }

  /**
   * Builds the result; a field that does not apply is left out (not set to undefined). Built by assignment rather
   * than spreads: this runs once per command, and conditional spreads allocate and copy several objects.
   */
  #result(
    response: number,
    status: number,
    sense: Uint8Array | undefined,
    overflow: number | undefined,
    underflow: number | undefined,
    bidiOverflow: number | undefined,
    bidiUnderflow: number | undefined,
  ): ScsiResult {
    const result: Mutable<ScsiResult> = { response, status };
    if (sense) result.sense = sense;
    if (overflow !== undefined) result.residualOverflow = overflow;
    if (underflow !== undefined) result.residualUnderflow = underflow;
    if (bidiOverflow !== undefined) result.bidiReadResidualOverflow = bidiOverflow;
    if (bidiUnderflow !== undefined) result.bidiReadResidualUnderflow = bidiUnderflow;
    result.bytesOut = this.#bytesOut;
    const data = this.#data;
    if (!data) {
      result.bytesIn = 0;
      return result as ScsiResult;
    }
    // The read residual is in o/u for a bidirectional command, in O/U otherwise (§11.4.5).
    const under = (this.write ? bidiUnderflow : underflow) ?? 0;
    const opcode = Opcode.ScsiResponse;
    if (under > this.readLength) throw protocol(`residual ${under} exceeds the read`, opcode, under, this.readLength);
    const expected = this.readLength - under;
    const have = data.contiguous;
    if (response === 0 && (status === GOOD || status === CONDITION_MET) && have < expected) {
      throw protocol(`the target completed the read with ${have} of ${expected} bytes`, opcode, have, expected);
    }
    const length = Math.min(have, expected);
    result.data = length === data.buffer.length ? data.buffer : data.buffer.subarray(0, length);
    result.bytesIn = data.bytes;
    return result as ScsiResult;
  }
}

/** A result under construction. */
type Mutable<T> = { -readonly [K in keyof T]?: T[K] };

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
