/**
 * The target's Full Feature Phase for one session on one connection (RFC 7143 §3.2, §4.2, §11): the mirror of the
 * initiator's `Session`. It owns no socket: the connection hands it PDUs and gives it a `send` and a `close`, so
 * tests drive it PDU by PDU.
 *
 * - Ordering (§3.2.2.1, §4.2.2.1): non-immediate requests are delivered in CmdSN order; those ahead of ExpCmdSN wait
 *   (bounded by the window), those outside [ExpCmdSN, MaxCmdSN] are ignored. MaxCmdSN shrinks as tasks pile up,
 *   which bounds the memory a session holds to `commandWindow` commands.
 * - SCSI commands: Data-Out collected by a {@link DataOutCollector} (immediate, unsolicited, R2T), then the device
 *   server, then Data-In and status ({@link buildResponse}). Ordered and head-of-queue task attributes are honoured.
 * - NOP-Out answered; NOP-In pings on an idle timer with a timeout that drops the connection (§11.18, §11.19).
 * - Task management (§11.5): ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET WARM/COLD RESET.
 * - Text (SendTargets), Logout (§11.14), SNACK refused at ErrorRecoveryLevel 0, Reject for PDUs that break rules.
 * @module
 */
import { ErrorCode, type IscsiError, ProtocolError } from '../errors.js';
import { BHS_LENGTH } from '../pdu/bhs.js';
import { lunToNumber } from '../pdu/lun.js';
import { serialAdd, serialInWindow, serialLt } from '../pdu/serial.js';
import type { TextPair } from '../pdu/text.js';
import type {
  AsyncMessagePdu,
  DataOutPdu,
  LogoutRequestPdu,
  NopOutPdu,
  Pdu,
  RejectPdu,
  ScsiCommandPdu,
  TaskManagementRequestPdu,
  TextRequestPdu,
} from '../pdu/types.js';
import { ScsiStatus, SenseKey } from '../scsi/names.js';
import type { Logger } from '../session/events.js';
import { DataOutCollector, DataOutError, RESERVED_TAG } from './data-out-collector.js';
import { emitTarget } from './events.js';
import type { TargetLoginResult } from './login-types.js';
import { buildResponse, type ResponseContext } from './response.js';
import { Asc, checkCondition, invalidFieldInCdb } from './scsi/result.js';
import type { Nexus, ScsiRequest, ScsiResult, TaskAttribute } from './scsi/types.js';
import { refuseKey, TextResponder } from './text-responder.js';

const EMPTY = new Uint8Array(0);

/** What a session needs from the SCSI device server of its target. */
export interface SessionDeviceServer {
  execute(request: ScsiRequest): Promise<ScsiResult>;
  hasLun(lun: number): boolean;
  /**
   * LOGICAL UNIT RESET (SAM-5 §7.7): the device server's side (reservations, unit attentions). No nexus is
   * excepted: SAM-5 §6.3.3 establishes the unit attention on every I_T nexus, the requester's included.
   */
  resetLun(lun: number): void;
  /** TARGET WARM/COLD RESET: a logical unit reset of every LU. */
  resetTarget(): void;
  /** The I_T nexus is gone (the session ended). */
  nexusLost(nexus: Nexus): void;
}

/** A reset that reaches beyond this session: the target aborts the tasks of every session it touches. */
export interface ResetRequest {
  /** The LUN of a LOGICAL UNIT RESET; undefined for a target reset. */
  readonly lun: number | undefined;
  /** TARGET COLD RESET: every connection is dropped after the response (§11.5.1). */
  readonly cold: boolean;
}

/** Options of a {@link TargetSession}. */
export interface TargetSessionOptions {
  readonly login: TargetLoginResult;
  /** The device server of the target; undefined for a discovery session. */
  readonly server: SessionDeviceServer | undefined;
  readonly nexus: Nexus | undefined;
  /** Sends PDUs on the connection, in order, in one write. */
  readonly send: (pdus: readonly Pdu[]) => void;
  /** Drops the connection (after what was sent is flushed). */
  readonly close: (reason: string) => void;
  /** The SendTargets answer (§12.3) for a value (`All`, a target name, or empty). */
  readonly sendTargets: (value: string) => TextPair[];
  /** Commands a session may have outstanding; MaxCmdSN follows it. */
  readonly commandWindow: number;
  /** Largest Expected Data Transfer Length accepted: bounds the buffer of one command. */
  readonly maxTransferLength: number;
  /** Idle time before a NOP-In ping, in ms; 0 turns pings off. */
  readonly nopIntervalMs: number;
  /** Time the initiator has to answer a ping before the connection is dropped, in ms. */
  readonly nopTimeoutMs: number;
  /** Reset of other sessions' tasks (LUN and target resets); called before the response is sent. */
  readonly onReset: (reset: ResetRequest, from: TargetSession) => void;
  /** Called once when the session has ended. */
  readonly onClose?: () => void;
  readonly logger: Logger;
  /** The initiator's address, for logs. */
  readonly remote: string;
}

/** One SCSI task of the session. */
interface Task {
  readonly pdu: ScsiCommandPdu;
  readonly lun: number | undefined;
  readonly cdb: Uint8Array;
  readonly ctx: ResponseContext;
  readonly attribute: TaskAttribute;
  readonly started: number;
  collector: DataOutCollector | undefined;
  /** Set when the command is delivered in CmdSN order (or immediate). */
  delivered: boolean;
  running: boolean;
  aborted: boolean;
  /** The command was answered without running (it was refused before its data arrived). */
  answered: boolean;
}

const ATTRIBUTES: readonly TaskAttribute[] = ['untagged', 'simple', 'ordered', 'head-of-queue', 'aca'];

/** TMF function codes (§11.5.1) and response codes (§11.6.1). */
const Tmf = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const;
const TmfResponse = {
  Complete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  ReassignNotSupported: 4,
  NotSupported: 5,
} as const;

/** Reject reasons (§11.17.1). */
const RejectReason = {
  DataDigest: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  NotSupported: 0x05,
  TaskInProgress: 0x07,
  InvalidField: 0x09,
} as const;

/** A non-immediate request that arrived ahead of ExpCmdSN, with the header a Reject would carry back. */
interface Held {
  readonly pdu: NopOutPdu | ScsiCommandPdu | TaskManagementRequestPdu | TextRequestPdu | LogoutRequestPdu;
  readonly header: Uint8Array;
  /** A SCSI command whose task was registered on arrival (or refused then): delivery must not register it again. */
  readonly registered: boolean;
}

/** The Full Feature Phase of one session; see the module documentation. */
export class TargetSession {
  readonly login: TargetLoginResult;
  readonly #o: TargetSessionOptions;
  readonly #tasks = new Map<number, Task>();
  readonly #byTag = new Map<number, Task>();
  readonly #held = new Map<number, Held>();
  readonly #text: TextResponder;
  #statSN: number;
  #expCmdSN: number;
  /** The highest MaxCmdSN advertised: the initiator never lowers its copy (§4.2.2.1), so it stays valid. */
  #maxCmdSN: number;
  #nextTag = 1;
  #closed = false;
  /** Tasks started in order; an ordered task waits for all before it, later ones wait for it (SAM-5 §8.6). */
  #barrier: Promise<unknown> = Promise.resolve();
  readonly #running = new Set<Promise<unknown>>();
  #idleTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;

  constructor(options: TargetSessionOptions) {
    this.#o = options;
    this.login = options.login;
    this.#statSN = options.login.statSN;
    this.#expCmdSN = options.login.expCmdSN;
    this.#maxCmdSN = options.login.maxCmdSN;
    const params = options.login.params;
    this.#text = new TextResponder(
      (keys) => this.#answerText(keys),
      params.maxXmitDataSegmentLength,
      () => this.#tag(),
    );
    this.#armIdle();
  }

  /** The session's TSIH. */
  get tsih(): number {
    return this.login.tsih;
  }

  /** SCSI tasks not finished yet. */
  get activeTasks(): number {
    return this.#tasks.size;
  }

  /** Whether the session has ended (logout, drop, reset). */
  get closed(): boolean {
    return this.#closed;
  }

  /** ExpCmdSN and MaxCmdSN as advertised now: the window closes as tasks accumulate (§4.2.2.1). */
  #window(): { expCmdSN: number; maxCmdSN: number } {
    // A held SCSI command already counts as a task.
    let heldOther = 0;
    for (const h of this.#held.values()) if (!h.registered) heldOther++;
    const room = Math.max(0, this.#o.commandWindow - this.#tasks.size - heldOther);
    const maxCmdSN = serialAdd(this.#expCmdSN, room - 1);
    // §4.2.2.1: an initiator ignores a MaxCmdSN lower than the one it holds, so commands up to the highest one we
    // advertised stay valid; advertising less (e.g. after an immediate command took a slot) would only make us
    // ignore commands the initiator was allowed to send. The window still closes: ExpCmdSN catches up with it.
    if (serialLt(this.#maxCmdSN, maxCmdSN)) this.#maxCmdSN = maxCmdSN;
    return { expCmdSN: this.#expCmdSN, maxCmdSN: this.#maxCmdSN };
  }

  /** Sequence fields of a response that consumes a StatSN. */
  #status(): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = this.#statSN;
    this.#statSN = serialAdd(statSN, 1);
    return { statSN, ...this.#window() };
  }

  /** Sequence fields of a PDU that carries StatSN without consuming it (R2T, NOP-In ping, Reject, Async). */
  #current(): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    return { statSN: this.#statSN, ...this.#window() };
  }

  #tag(): number {
    const tag = this.#nextTag;
    // Never the reserved value 0xffffffff; skip tags still in use after a wrap.
    this.#nextTag = this.#nextTag >= 0x7fffffff ? 1 : this.#nextTag + 1;
    return tag;
  }

  #send(pdus: readonly Pdu[]): void {
    if (!this.#closed && pdus.length > 0) this.#o.send(pdus);
  }

  /**
   * Handles one PDU from the initiator. `header` is its 48-byte BHS as received (a Reject carries it back).
   */
  receive(pdu: Pdu, header: Uint8Array): void {
    if (this.#closed) return;
    this.#armIdle();
    this.#guarded(header, () => this.#receive(pdu, header));
  }

  /** Runs `step`; a PDU that breaks a rule is rejected with `header` (its own BHS) and the session goes on. */
  #guarded(header: Uint8Array, step: () => void): void {
    try {
      step();
    } catch (err) {
      if (err instanceof DataOutError) {
        this.#reject(err.reason, header, err.message);
        return;
      }
      if (err instanceof ProtocolError) {
        this.#reject(RejectReason.ProtocolError, header, err.message);
        return;
      }
      throw err;
    }
  }

  #receive(pdu: Pdu, header: Uint8Array): void {
    switch (pdu.kind) {
      case 'data-out':
        this.#dataOut(pdu);
        return;
      case 'snack':
        // §11.16: SNACK needs ErrorRecoveryLevel > 0; this target runs at 0.
        this.#reject(RejectReason.SnackReject, header, 'SNACK at ErrorRecoveryLevel 0');
        return;
      case 'nop-out':
      case 'scsi-command':
      case 'task-management-request':
      case 'text-request':
      case 'logout-request':
        this.#sequenced(pdu, header);
        return;
      default:
        // Target opcodes are refused by the framer; login during FFP is a protocol error (§11.12).
        this.#reject(RejectReason.ProtocolError, header, `a ${pdu.kind} PDU in the Full Feature Phase`);
        return;
    }
  }

  /** CmdSN ordering of requests (§3.2.2.1). */
  #sequenced(
    pdu: NopOutPdu | ScsiCommandPdu | TaskManagementRequestPdu | TextRequestPdu | LogoutRequestPdu,
    header: Uint8Array,
  ): void {
    if (pdu.immediate) {
      this.#deliver(pdu, header, false);
      return;
    }
    const { expCmdSN, maxCmdSN } = this.#window();
    // §4.2.2.1: a non-immediate command outside [ExpCmdSN, MaxCmdSN] is silently ignored.
    if (!serialInWindow(pdu.cmdSN, expCmdSN, maxCmdSN) && pdu.cmdSN !== expCmdSN) {
      emitTarget(
        this.#o.logger,
        'warn',
        this.#protocol('ignore', `CmdSN ${pdu.cmdSN} outside ${expCmdSN}..${maxCmdSN}`),
        'command ignored',
      );
      return;
    }
    if (pdu.cmdSN !== this.#expCmdSN) {
      // §4.2.2.1: a non-immediate duplicate within the window is ignored too.
      if (this.#held.has(pdu.cmdSN)) return;
      const registered = pdu.kind === 'scsi-command';
      // Held before registering: its CmdSN is consumed in order even when the command is refused now.
      this.#held.set(pdu.cmdSN, { pdu, header, registered });
      if (pdu.kind === 'scsi-command') {
        if (this.#tasks.has(pdu.initiatorTaskTag)) {
          this.#reject(RejectReason.TaskInProgress, header, `ITT 0x${pdu.initiatorTaskTag.toString(16)} is in use`);
          return;
        }
        this.#register(pdu, false);
      }
      return;
    }
    this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
    this.#guarded(header, () => this.#deliver(pdu, header, false));
    this.#drainHeld();
  }

  /** Delivers the requests that were waiting for ExpCmdSN, each rejected on its own header if it breaks a rule. */
  #drainHeld(): void {
    for (let next = this.#held.get(this.#expCmdSN); next; next = this.#held.get(this.#expCmdSN)) {
      this.#held.delete(this.#expCmdSN);
      this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
      const held = next;
      this.#guarded(held.header, () => this.#deliver(held.pdu, held.header, held.registered));
    }
  }

  /** `registered`: a SCSI command already registered (or refused) when it was held. */
  #deliver(
    pdu: NopOutPdu | ScsiCommandPdu | TaskManagementRequestPdu | TextRequestPdu | LogoutRequestPdu,
    header: Uint8Array,
    registered: boolean,
  ): void {
    switch (pdu.kind) {
      case 'scsi-command': {
        const task = this.#tasks.get(pdu.initiatorTaskTag);
        if (task && task.pdu === pdu) {
          task.delivered = true;
          this.#maybeRun(task);
          return;
        }
        // Refused, answered early or aborted while it was held: it must neither run nor answer twice.
        if (registered) return;
        if (task) {
          this.#reject(RejectReason.TaskInProgress, header, `ITT 0x${pdu.initiatorTaskTag.toString(16)} is in use`);
          return;
        }
        this.#register(pdu, true);
        return;
      }
      case 'nop-out':
        this.#nopOut(pdu);
        return;
      case 'task-management-request':
        this.#tmf(pdu);
        return;
      case 'text-request':
        this.#send([{ ...this.#text.respond(pdu), ...this.#status() }]);
        return;
      case 'logout-request':
        this.#logout(pdu);
        return;
    }
  }

  /** A new SCSI task: checks, then Data-Out collection and R2Ts. */
  #register(pdu: ScsiCommandPdu, delivered: boolean): void {
    const cdb = fullCdb(pdu);
    const bidi = pdu.ahs.find((a) => a.type === 'bidi-read-length');
    const edtl = pdu.expectedDataTransferLength;
    const params = this.login.params;
    const ctx: ResponseContext = {
      lun: pdu.lun,
      initiatorTaskTag: pdu.initiatorTaskTag,
      read: pdu.read,
      readLength: pdu.read ? (pdu.write ? (bidi?.expectedReadDataLength ?? 0) : edtl) : 0,
      write: pdu.write,
      writeLength: pdu.write ? edtl : 0,
      maxSegment: params.maxXmitDataSegmentLength,
      maxBurst: params.maxBurstLength,
    };
    const task: Task = {
      pdu,
      lun: lunToNumber(pdu.lun),
      cdb,
      ctx,
      attribute: ATTRIBUTES[pdu.attributes] ?? 'simple',
      started: performance.now(),
      collector: undefined,
      delivered,
      running: false,
      aborted: false,
      answered: false,
    };
    if (this.#o.server === undefined) {
      // §12.3: a discovery session carries only Text, NOP and Logout.
      throw new ProtocolError(ErrorCode.PduField, 'SCSI command in a discovery session');
    }
    if (!pdu.write && pdu.data.length > 0) {
      throw new DataOutError('data segment on a SCSI command without the W bit', RejectReason.ProtocolError);
    }
    // Checked before the task is registered: a refused command must not keep its ITT or a window slot.
    const collector =
      pdu.write && edtl <= this.#o.maxTransferLength
        ? new DataOutCollector(edtl, pdu.data, pdu.final, params, () => this.#tag())
        : undefined;
    this.#tasks.set(pdu.initiatorTaskTag, task);
    if (pdu.immediate && this.#tasks.size > this.#o.commandWindow) {
      // Immediate commands are outside the CmdSN window (§3.2.2.1): bound them with TASK SET FULL (SAM-5 §5.3.1).
      this.#answerEarly(task, { status: ScsiStatus.TaskSetFull });
      return;
    }
    if (pdu.write && edtl > this.#o.maxTransferLength) {
      // Refused before any data is buffered; unsolicited Data-Out that follows is discarded (§4.2.? as for any
      // finished task). INVALID FIELD IN CDB: the transfer length is beyond the Block Limits maximum.
      this.#answerEarly(task, invalidFieldInCdb(0));
      return;
    }
    if (collector) {
      task.collector = collector;
      this.#solicit(task);
    }
    this.#maybeRun(task);
  }

  /** Sends the R2Ts the task's collector asks for. */
  #solicit(task: Task): void {
    const collector = task.collector!;
    const r2ts = collector.solicit();
    if (r2ts.length === 0) return;
    const pdus: Pdu[] = [];
    for (const r of r2ts) {
      this.#byTag.set(r.targetTransferTag, task);
      pdus.push({
        kind: 'r2t',
        lun: task.pdu.lun,
        initiatorTaskTag: task.pdu.initiatorTaskTag,
        ...r,
        ...this.#current(),
        ahs: [],
        data: EMPTY,
      });
    }
    this.#send(pdus);
  }

  #dataOut(pdu: DataOutPdu): void {
    const task =
      pdu.targetTransferTag === RESERVED_TAG
        ? this.#tasks.get(pdu.initiatorTaskTag)
        : this.#byTag.get(pdu.targetTransferTag);
    if (!task || task.answered || task.aborted || !task.collector) {
      // Data for a task that is over (answered early, aborted): discarded, as §4.2.? allows. Solicited data for a
      // tag we never issued is an error.
      if (pdu.targetTransferTag !== RESERVED_TAG && !task) {
        throw new DataOutError(
          `Data-Out for unknown Target Transfer Tag 0x${pdu.targetTransferTag.toString(16)}`,
          RejectReason.InvalidField,
        );
      }
      return;
    }
    if (task.pdu.initiatorTaskTag !== pdu.initiatorTaskTag) {
      throw new DataOutError('Data-Out ITT does not match its Target Transfer Tag', RejectReason.InvalidField);
    }
    let burstDone: boolean;
    try {
      burstDone = task.collector.receive(pdu);
    } catch (err) {
      // At ErrorRecoveryLevel 0 a broken Data-Out sequence cannot be repaired: the task ends with CHECK CONDITION
      // after the Reject (§7.1.4.? sequence errors are recovered by the initiator's session recovery).
      for (const tag of task.collector.tags()) this.#byTag.delete(tag);
      this.#answerEarly(task, checkCondition(SenseKey.AbortedCommand, Asc.InvalidFieldInParameterList));
      throw err;
    }
    if (burstDone) {
      if (pdu.targetTransferTag !== RESERVED_TAG) this.#byTag.delete(pdu.targetTransferTag);
      this.#solicit(task);
    }
    this.#maybeRun(task);
  }

  /** Runs the task once it is delivered and its data is complete. */
  #maybeRun(task: Task): void {
    if (!task.delivered || task.running || task.answered || task.aborted) return;
    if (task.collector && !task.collector.complete) return;
    task.running = true;
    const server = this.#o.server!;
    const request: ScsiRequest = {
      lun: task.lun ?? 0xffff,
      cdb: task.cdb,
      nexus: this.#o.nexus!,
      dataInLength: task.ctx.readLength,
      dataOut: task.collector?.buffer ?? EMPTY,
      attribute: task.attribute,
    };
    const execute = () => (task.lun === undefined ? Promise.resolve(unsupportedLun()) : server.execute(request));
    let run: Promise<ScsiResult>;
    if (task.attribute === 'ordered') {
      // SAM-5 §8.6: an ORDERED task starts after every earlier task ended; later tasks start after it.
      const earlier = Promise.allSettled([...this.#running]);
      run = earlier.then(execute);
      this.#barrier = run.catch(() => undefined);
    } else if (task.attribute === 'head-of-queue') {
      run = execute();
    } else {
      run = this.#barrier.then(execute);
    }
    const tracked = run.then(
      (result) => this.#finish(task, result),
      () => this.#finish(task, checkCondition(SenseKey.HardwareError, Asc.InternalTargetFailure)),
    );
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
  }

  #finish(task: Task, result: ScsiResult): void {
    // The ITT may name a newer task already (this one was aborted and the tag reused).
    if (this.#tasks.get(task.pdu.initiatorTaskTag) === task) this.#tasks.delete(task.pdu.initiatorTaskTag);
    if (task.aborted || this.#closed) return;
    const pdus = buildResponse(task.ctx, result, this.#status());
    this.#send(pdus);
    emitTarget(
      this.#o.logger,
      'debug',
      {
        event: 'command',
        tsih: this.tsih,
        op: task.cdb[0] ?? 0,
        lun: task.lun ?? -1,
        status: result.status,
        bytesIn: Math.min(result.data?.length ?? 0, task.ctx.readLength),
        bytesOut: task.ctx.writeLength,
        ms: performance.now() - task.started,
      },
      'command',
    );
  }

  /** Answers a task without running it; data still arriving for it is dropped. */
  #answerEarly(task: Task, result: ScsiResult): void {
    task.answered = true;
    this.#finish(task, result);
  }

  #nopOut(pdu: NopOutPdu): void {
    if (pdu.initiatorTaskTag === RESERVED_TAG) {
      // The answer to our ping (§11.18: ITT 0xffffffff, our TTT echoed), or a NOP-Out that wants no answer.
      if (pdu.targetTransferTag !== RESERVED_TAG) clearTimeout(this.#pingTimer);
      return;
    }
    // §11.19: a NOP-In with the ITT, TTT 0xffffffff and the ping data echoed.
    this.#send([
      {
        kind: 'nop-in',
        lun: pdu.lun,
        initiatorTaskTag: pdu.initiatorTaskTag,
        targetTransferTag: RESERVED_TAG,
        ...this.#status(),
        ahs: [],
        // §11.18: the reflected ping data is limited to the initiator's MaxRecvDataSegmentLength.
        data: pdu.data.slice(0, this.login.params.maxXmitDataSegmentLength),
      },
    ]);
  }

  /** Restarts the idle timer that sends NOP-In pings (§11.19: ITT 0xffffffff, StatSN not advanced). */
  #armIdle(): void {
    const interval = this.#o.nopIntervalMs;
    if (interval <= 0 || this.#closed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#closed) return;
      this.#send([
        {
          kind: 'nop-in',
          lun: 0n,
          initiatorTaskTag: RESERVED_TAG,
          targetTransferTag: this.#tag(),
          ...this.#current(),
          ahs: [],
          data: EMPTY,
        },
      ]);
      clearTimeout(this.#pingTimer);
      this.#pingTimer = setTimeout(
        () => this.#drop(`no NOP-Out answer within ${this.#o.nopTimeoutMs} ms`),
        this.#o.nopTimeoutMs,
      );
      this.#pingTimer.unref();
    }, interval);
    this.#idleTimer.unref();
  }

  #tmf(pdu: TaskManagementRequestPdu): void {
    const fn = pdu.function;
    const lun = lunToNumber(pdu.lun);
    const server = this.#o.server;
    let response: number = TmfResponse.Complete;
    let aborted = 0;
    const needsLun =
      fn === Tmf.AbortTask ||
      fn === Tmf.AbortTaskSet ||
      fn === Tmf.ClearTaskSet ||
      fn === Tmf.LogicalUnitReset ||
      fn === Tmf.ClearAca;
    if (server === undefined) response = TmfResponse.NotSupported;
    else if (needsLun && (lun === undefined || !server.hasLun(lun))) response = TmfResponse.LunDoesNotExist;
    else {
      switch (fn) {
        case Tmf.AbortTask: {
          const task = this.#tasks.get(pdu.referencedTaskTag);
          if (task && task.pdu.lun === pdu.lun) aborted = this.#abort([task]);
          // §11.5.1/§4.2.3.?: a task not seen (RefCmdSN not yet received) also answers "complete"; one that ended
          // answers "task does not exist".
          else if (!serialInWindow(pdu.refCmdSN, this.#expCmdSN, serialAdd(this.#expCmdSN, this.#o.commandWindow))) {
            response = TmfResponse.TaskDoesNotExist;
          }
          break;
        }
        case Tmf.AbortTaskSet:
        case Tmf.ClearTaskSet:
          aborted = this.abortTasks(lun);
          break;
        case Tmf.LogicalUnitReset:
          aborted = this.abortTasks(lun);
          this.#o.onReset({ lun, cold: false }, this);
          server.resetLun(lun!);
          break;
        case Tmf.TargetWarmReset:
        case Tmf.TargetColdReset:
          aborted = this.abortTasks(undefined);
          this.#o.onReset({ lun: undefined, cold: fn === Tmf.TargetColdReset }, this);
          server.resetTarget();
          break;
        case Tmf.TaskReassign:
          // §11.5.1: reassignment needs ErrorRecoveryLevel 2.
          response = TmfResponse.ReassignNotSupported;
          break;
        default:
          response = TmfResponse.NotSupported;
      }
    }
    emitTarget(
      this.#o.logger,
      'info',
      { event: 'tmf', tsih: this.tsih, function: fn, response, aborted },
      'task management',
    );
    this.#send([
      {
        kind: 'task-management-response',
        response,
        initiatorTaskTag: pdu.initiatorTaskTag,
        ...this.#status(),
        ahs: [],
        data: EMPTY,
      },
    ]);
    // §11.5.1: after TARGET COLD RESET the target drops every connection.
    if (fn === Tmf.TargetColdReset && response === TmfResponse.Complete) this.#drop('target cold reset');
  }

  /** Aborts the tasks on `lun` (every task when undefined), without responses (SAM-5 §7.2). Returns the count. */
  abortTasks(lun: number | undefined): number {
    return this.#abort([...this.#tasks.values()].filter((t) => lun === undefined || t.lun === lun));
  }

  #abort(tasks: readonly Task[]): number {
    for (const task of tasks) {
      task.aborted = true;
      this.#tasks.delete(task.pdu.initiatorTaskTag);
      for (const tag of task.collector?.tags() ?? []) this.#byTag.delete(tag);
    }
    return tasks.length;
  }

  #logout(pdu: LogoutRequestPdu): void {
    const reason = pdu.reasonCode;
    // §11.15.1: 0 closed, 1 CID not found, 2 connection recovery not supported.
    let response = 0;
    if (reason === 1 && pdu.cid !== this.login.cid) response = 1;
    else if (reason === 2) response = 2;
    emitTarget(this.#o.logger, 'info', { event: 'logout', tsih: this.tsih, reason }, 'logout');
    this.#send([
      {
        kind: 'logout-response',
        response,
        // §11.15.2/3: ErrorRecoveryLevel 0 keeps no connection state to wait for or retain.
        time2Wait: 0,
        time2Retain: 0,
        initiatorTaskTag: pdu.initiatorTaskTag,
        ...this.#status(),
        ahs: [],
        data: EMPTY,
      },
    ]);
    if (response === 0) this.#drop('logout');
  }

  #answerText(keys: readonly TextPair[]): TextPair[] {
    const out: TextPair[] = [];
    for (const [key, value] of keys) {
      if (key === 'SendTargets') {
        // §12.3: in a Normal session SendTargets reports only the session's target.
        const wanted = this.login.sessionType === 'Discovery' ? value : (this.login.targetName ?? '');
        out.push(...this.#o.sendTargets(wanted));
      } else out.push(refuseKey(key));
    }
    return out;
  }

  /**
   * Asks the initiator to log out (§11.9.1 AsyncEvent 1) within `seconds` (Parameter3), as a target does before
   * shutting down.
   */
  requestLogout(seconds: number): void {
    const pdu: AsyncMessagePdu = {
      kind: 'async-message',
      lun: 0n,
      asyncEvent: 1,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: seconds,
      initiatorTaskTag: RESERVED_TAG,
      ...this.#status(),
      ahs: [],
      data: EMPTY,
    };
    this.#send([pdu]);
  }

  /**
   * A PDU whose data digest failed (§7.8): it is discarded and rejected with reason 0x02. A command's CmdSN still
   * counts (its header was sound); a Data-Out ends its task with ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR,
   * since ErrorRecoveryLevel 0 has no recovery R2T.
   */
  dataDigestError(pdu: Pdu | undefined, header: Uint8Array): void {
    if (this.#closed) return;
    this.#reject(RejectReason.DataDigest, header, 'data digest error');
    if (pdu?.kind === 'data-out') {
      const task = this.#tasks.get(pdu.initiatorTaskTag);
      if (task && !task.answered && !task.running) {
        for (const tag of task.collector?.tags() ?? []) this.#byTag.delete(tag);
        this.#answerEarly(task, checkCondition(SenseKey.AbortedCommand, Asc.ProtocolServiceCrcError));
      }
    } else this.#consumeCmdSN(pdu);
  }

  /**
   * A rejected request whose header was sound still used its CmdSN (§11.17: the initiator does not retry it at
   * ErrorRecoveryLevel 0), so the commands held behind it go on.
   */
  #consumeCmdSN(pdu: Pdu | undefined): void {
    if (!pdu || !('cmdSN' in pdu) || pdu.kind === 'login-request' || pdu.immediate) return;
    if (pdu.cmdSN !== this.#expCmdSN) return;
    this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
    this.#drainHeld();
  }

  /**
   * A PDU that does not decode or breaks a field rule: Reject 0x05 for an unknown opcode, else 0x09 (§11.17.1).
   * `pdu` is what a lenient decode made of it, when anything.
   */
  rejectInvalid(header: Uint8Array, error: IscsiError, pdu?: Pdu): void {
    if (this.#closed) return;
    const reason = error.code === ErrorCode.PduOpcode ? RejectReason.NotSupported : RejectReason.InvalidField;
    this.#reject(reason, header, error.message);
    this.#consumeCmdSN(pdu);
  }

  #reject(reason: number, header: Uint8Array, message: string): void {
    emitTarget(this.#o.logger, 'warn', this.#protocol('reject', message), 'PDU rejected');
    const pdu: RejectPdu = {
      kind: 'reject',
      reason,
      dataSN: 0,
      initiatorTaskTag: RESERVED_TAG,
      // §11.17: a Reject consumes a StatSN.
      ...this.#status(),
      ahs: [],
      data: header.slice(0, BHS_LENGTH),
    };
    this.#send([pdu]);
  }

  #protocol(action: 'reject' | 'drop' | 'ignore', message: string) {
    return { event: 'protocol-error' as const, remote: this.#o.remote, action, code: 'ERR_ISCSI_PDU_FIELD', message };
  }

  /** Ends the session from our side: the connection is closed after what was sent. */
  #drop(reason: string): void {
    if (this.#closed) return;
    this.#o.close(reason);
    this.close();
  }

  /** The connection is gone: tasks are dropped, timers stopped, the nexus released. Idempotent. */
  close(_error?: IscsiError): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#pingTimer);
    this.abortTasks(undefined);
    this.#held.clear();
    if (this.#o.nexus && this.#o.server) this.#o.server.nexusLost(this.#o.nexus);
    this.#o.onClose?.();
  }
}

/** The whole CDB: the 16 BHS bytes and an Extended CDB AHS (§11.3.5), cut to the opcode's length when shorter. */
function fullCdb(pdu: ScsiCommandPdu): Uint8Array {
  const ext = pdu.ahs.find((a) => a.type === 'extended-cdb');
  if (!ext) return pdu.cdb;
  const out = new Uint8Array(16 + ext.cdb.length);
  out.set(pdu.cdb);
  out.set(ext.cdb, 16);
  return out;
}

/** A LUN in an address method the device server does not use (not single-level flat or peripheral). */
function unsupportedLun(): ScsiResult {
  return checkCondition(SenseKey.IllegalRequest, Asc.LogicalUnitNotSupported);
}
