/**
 * The Full Feature Phase of a logged-in session on one connection (RFC 7143 §3.2, §4.2): SCSI commands with ITT
 * allocation, the CmdSN window with queueing, a queue depth limit, reads and writes (task.ts), StatSN
 * acknowledgement, answers to target NOP-Ins, NOP-Out pings and the idle keepalive (keepalive.ts), Task Management
 * (tmf.ts), the actions of Asynchronous Messages (async-event.ts), Reject handling, per-command timeouts and aborts,
 * and Logout.
 *
 * ```ts
 * const session = new Session(await login({ portal, targetName }));
 * const r = await session.execute({ lun: 1, cdb: read16Cdb, read: { length: 4096 } });
 * await session.logout();
 * ```
 *
 * ERL 0 reconnection is a layer above (`RecoverableSession` in recovery.ts). Not handled yet: SNACK, the Text
 * renegotiation an Asynchronous Message may ask for.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ConnectionError, ErrorCode, InvalidArgumentError, IscsiError, ProtocolError } from '../errors.js';
import { u32 } from '../pdu/bhs.js';
import { formatLun, lunFromNumber, lunToNumber } from '../pdu/lun.js';
import { Opcode } from '../pdu/opcodes.js';
import { serialAdd, serialGt } from '../pdu/serial.js';
import type {
  DataInPdu,
  LogoutResponsePdu,
  NopInPdu,
  Pdu,
  R2tPdu,
  ScsiResponsePdu,
  TaskManagementResponsePdu,
} from '../pdu/types.js';
import type { Portal } from './address.js';
import { type AsyncAction, readAsyncMessage } from './async-event.js';
import { CmdWindow, type CmdWindowState } from './cmd-window.js';
import { abortError, type Connection } from './connection.js';
import { RESERVED_TAG } from './data-out.js';
import { emit, type Logger, type SessionEvent, silentLogger } from './events.js';
import type { LoggedIn } from './initiator.js';
import { Keepalive } from './keepalive.js';
import { nopOutAnswer } from './nop.js';
import type { NegotiatedParameters } from './params.js';
import { PendingReply } from './pending.js';
import { readReject } from './reject.js';
import { type ScsiRequest, type ScsiResult, Task } from './task.js';
import { TaskTable } from './task-table.js';
import {
  TaskAbortedError,
  TMF_RESPONSE_NAMES,
  TmfFunction,
  type TmfFunctionCode,
  tmfCleared,
  tmfRequest,
} from './tmf.js';

/** Options of a {@link Session}. */
export interface SessionOptions {
  /** Commands in flight at most (default 32); more wait in order. The target's CmdSN window may allow fewer. */
  readonly queueDepth?: number;
  readonly logger?: Logger;
  /** Default per-command timeout in ms, queueing included (default 30 000; 0 = none). */
  readonly commandTimeoutMs?: number;
  /** Milliseconds without any PDU from the target before a NOP-Out ping (default 15 000; 0 = no keepalive). */
  readonly keepaliveMs?: number;
  /**
   * Milliseconds a keepalive ping may wait for its NOP-In before the connection is declared dead (default 10 000);
   * also the default timeout of {@link Session.ping}.
   */
  readonly keepaliveTimeoutMs?: number;
  /** Milliseconds to wait for a Task Management Function Response (default 30 000; 0 = none). */
  readonly tmfTimeoutMs?: number;
  /**
   * When a command already sent times out or its signal aborts, also send ABORT TASK for it (best effort; default
   * false: the command is only forgotten locally, and the target may still carry it out).
   */
  readonly abortOnCancel?: boolean;
}

/** Options of {@link Session.logout}. */
export interface LogoutOptions {
  /** Milliseconds to wait for the Logout Response once the request is sent (default 10 000). */
  readonly timeoutMs?: number;
}

const EMPTY = new Uint8Array(0);
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A session in the Full Feature Phase; see the module documentation. */
export class Session {
  /** The negotiated operational parameters. */
  readonly params: NegotiatedParameters;
  /** The session identity: ISID (ours) and TSIH (the target's). */
  readonly isid: number;
  readonly tsih: number;
  /** The portal the connection goes to (after redirects) and the target's name. */
  readonly portal: Portal;
  readonly targetName: string | undefined;
  readonly #connection: Connection;
  readonly #window: CmdWindow;
  readonly #tasks: TaskTable;
  /** Non-SCSI exchanges awaiting their reply, by ITT. */
  readonly #replies = new Map<number, PendingReply<Pdu>>();
  readonly #logger: Logger;
  readonly #verbose: boolean;
  readonly #queueDepth: number;
  readonly #timeoutMs: number;
  readonly #tmfTimeoutMs: number;
  readonly #pingTimeoutMs: number;
  readonly #abortOnCancel: boolean;
  readonly #keepalive: Keepalive;
  #expStatSN: number;
  #state: 'open' | 'draining' | 'closed' = 'open';
  #closing = false;
  #failure: ConnectionError | undefined;
  #idle: (() => void)[] = [];
  #logoutDone: Promise<void> | undefined;
  /** The command whose Data-In the framer is writing into its read buffer (see #placement). */
  #placing: Task | undefined;
  /**
   * One timer for every command's deadline rather than one per command: armed for the earliest deadline known when
   * it was set (#timerAt), it fails the commands whose deadline passed and re-arms for the next (#onTimer).
   * Commands that completed are simply gone from the task table by then.
   */
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /**
   * Takes over the connection of a login: from now on every PDU from the target goes to this session, so the
   * `LoggedIn` object is not to be used with `textExchange` or `logout` any more. Only ErrorRecoveryLevel 0
   * behaviour is implemented, whatever was negotiated.
   * @throws {InvalidArgumentError} for a Discovery session or an out-of-range option.
   */
  constructor(loggedIn: LoggedIn, options: SessionOptions = {}) {
    if (loggedIn.params.sessionType !== 'Normal') throw new InvalidArgumentError('a Discovery session has no LUNs');
    const depth = options.queueDepth ?? 32;
    if (!Number.isInteger(depth) || depth < 1) throw new InvalidArgumentError(`queue depth ${depth} out of range`);
    this.#queueDepth = depth;
    this.#timeoutMs = checkTimeout(options.commandTimeoutMs ?? 30_000);
    this.#tmfTimeoutMs = checkTimeout(options.tmfTimeoutMs ?? 30_000);
    const keepaliveMs = checkTimeout(options.keepaliveMs ?? 15_000);
    this.#pingTimeoutMs = checkTimeout(options.keepaliveTimeoutMs ?? 10_000);
    this.#abortOnCancel = options.abortOnCancel ?? false;
    this.#logger = options.logger ?? silentLogger;
    this.#verbose = this.#logger !== silentLogger;
    this.params = loggedIn.params;
    this.isid = loggedIn.isid;
    this.tsih = loggedIn.tsih;
    this.portal = loggedIn.portal;
    this.targetName = loggedIn.targetName;
    this.#window = new CmdWindow(loggedIn);
    this.#expStatSN = loggedIn.expStatSN;
    this.#tasks = new TaskTable(randomBytes(4).readUInt32BE(0));
    this.#connection = loggedIn.connection;
    this.#keepalive = new Keepalive(keepaliveMs, this.#pingTimeoutMs, {
      ping: (ms) => this.ping(ms),
      dead: (err) => this.#connection.close(err), // #onClose fails everything and logs session-closed
    });
    this.#connection.setHandler({ onPdu: (pdu) => this.#onPdu(pdu), onClose: (err) => this.#onClose(err) });
    this.#connection.framer.setPlacement((header) => this.#placement(header));
  }

  /** Commands sent and not completed. */
  get inFlight(): number {
    return this.#tasks.inFlight;
  }

  /** Commands waiting for a queue slot or for the CmdSN window to open. */
  get queued(): number {
    return this.#tasks.waiting;
  }

  /** The next CmdSN, and the target's ExpCmdSN and MaxCmdSN as last announced. */
  get window(): CmdWindowState {
    return { cmdSN: this.#window.cmdSN, expCmdSN: this.#window.expCmdSN, maxCmdSN: this.#window.maxCmdSN };
  }

  /** The ExpStatSN sent in every PDU: the last StatSN received + 1 (§4.2.2.2). */
  get expStatSN(): number {
    return this.#expStatSN;
  }

  /** True once the connection is closed (logout, {@link Session.close} or failure). */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /**
   * Executes one SCSI command. It waits (in order) while `queueDepth` commands are in flight or the target's CmdSN
   * window is closed; immediate commands skip the window. Resolves with the target's result whatever the SCSI
   * status: CHECK CONDITION comes back as `status` 2 with `sense`, for the caller to turn into an error.
   *
   * On timeout or abort the promise rejects (TimeoutError, or ERR_ISCSI_ABORTED) and the command is forgotten
   * locally: later PDUs for it are dropped and its ITT is not reused; unless the `abortOnCancel` option is set
   * (then ABORT TASK goes out), nothing tells the target, so an aborted write may still be carried out. A task
   * management function ({@link Session.abortTask} …) rejects the commands it aborted with TaskAbortedError
   * (ERR_ISCSI_ABORTED). A connection failure rejects every
   * queued and outstanding command with ConnectionError; a Reject of the command, or a target that breaks the
   * protocol for it (DataSN gap, data beyond the buffer), with ProtocolError.
   * @throws {InvalidArgumentError} (as a rejection) for a malformed command.
   */
  execute(command: ScsiRequest): Promise<ScsiResult> {
    let task: Task;
    let timeoutMs: number;
    try {
      task = new Task(command);
      timeoutMs = checkTimeout(command.timeoutMs ?? this.#timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#state !== 'open') {
      return Promise.reject(this.#failure ?? new ConnectionError('the session is logging out'));
    }
    if (command.signal?.aborted) return Promise.reject(abortError(command.signal));
    task.arm(timeoutMs, command.signal, (err) => this.#cancel(task, err));
    if (task.deadline < this.#timerAt) this.#armTimer(task.deadline);
    this.#tasks.enqueue(task);
    this.#pump();
    return task.promise;
  }

  /**
   * Logs out (close the session, §11.14): new commands are refused, queued and outstanding ones are waited for
   * (each bounded by its own timeout), then a Logout Request goes out, and the connection is closed after the
   * Logout Response or on error. Calling it again returns the same promise.
   */
  logout(options: LogoutOptions = {}): Promise<void> {
    this.#logoutDone ??= this.#runLogout(checkTimeout(options.timeoutMs ?? 10_000));
    return this.#logoutDone;
  }

  /** Closes the connection without logging out; queued and outstanding commands reject with ConnectionError. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#closing = true;
    this.#connection.close(); // calls #onClose
  }

  /**
   * Sends a NOP-Out ping (§11.18: a fresh ITT, TTT 0xffffffff, immediate) and resolves with the round trip in ms
   * once its NOP-In arrives.
   * @param timeoutMs - default: the `keepaliveTimeoutMs` option
   * @throws {TimeoutError} (as a rejection) when no NOP-In comes in time; ConnectionError when the session is closed
   */
  ping(timeoutMs: number = this.#pingTimeoutMs): Promise<number> {
    if (this.#state === 'closed') return Promise.reject(this.#failure ?? new ConnectionError('the session is closed'));
    try {
      checkTimeout(timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const itt = this.#tasks.allocateItt(this.#replies);
    const reply = new PendingReply<NopInPdu>('NOP-In', timeoutMs, () => this.#replies.delete(itt));
    this.#replies.set(itt, reply as PendingReply<Pdu>);
    const started = performance.now();
    try {
      this.#connection.send({
        kind: 'nop-out',
        immediate: true,
        lun: 0n,
        initiatorTaskTag: itt,
        targetTransferTag: RESERVED_TAG,
        cmdSN: this.#window.cmdSN, // immediate: carried, not taken (§3.2.2.1)
        expStatSN: this.#expStatSN,
        ahs: [],
        data: EMPTY,
      });
    } catch (err) {
      reply.settle(asIscsiError(err));
    }
    return reply.promise.then(() => {
      const ms = round(performance.now() - started);
      this.#emit('debug', { event: 'ping', ms }, 'NOP-In');
      return ms;
    });
  }

  /**
   * ABORT TASK (§11.5.1) for a command of this session, given by the promise {@link Session.execute} returned or by
   * its ITT. A command still waiting to be sent is removed and rejected at once (response 0, nothing sent); one that
   * is unknown or already settled gives 1 (task does not exist) without asking the target. Otherwise the request
   * carries the command's ITT as Referenced Task Tag, its LUN and its CmdSN as RefCmdSN, and once the target
   * answers 0 or 1 the command rejects with TaskAbortedError, unless its response came first (§10.6: responses
   * that arrive before the TMF response are valid).
   * @returns the TMF response code (see TmfResponse)
   */
  abortTask(command: Promise<ScsiResult> | number): Promise<number> {
    const task =
      typeof command === 'number' ? this.#tasks.get(command) : this.#tasks.find((t) => t.promise === command);
    if (!task || task.state === 'done') return Promise.resolve(1);
    if (task.state === 'queued') {
      this.#failTask(task, new TaskAbortedError(TmfFunction.AbortTask), false);
      return Promise.resolve(0);
    }
    // §11.5.5: RefCmdSN is the task's CmdSN, or the TMF's own for a task created by an immediate command.
    const refCmdSN = task.immediate ? this.#window.cmdSN : task.cmdSN;
    return this.#tmf(TmfFunction.AbortTask, task.lun, [task], { itt: task.itt, cmdSN: refCmdSN });
  }

  /** ABORT TASK SET for `lun`: every command of ours in flight on it when the request goes out is aborted. */
  abortTaskSet(lun: bigint | number): Promise<number> {
    return this.#tmfOnLun(TmfFunction.AbortTaskSet, lun);
  }

  /** LOGICAL UNIT RESET of `lun`: every command of ours in flight on it when the request goes out is aborted. */
  lunReset(lun: bigint | number): Promise<number> {
    return this.#tmfOnLun(TmfFunction.LogicalUnitReset, lun);
  }

  /** TARGET WARM RESET: every command of ours in flight is aborted when it succeeds. */
  targetWarmReset(): Promise<number> {
    return this.#tmf(TmfFunction.TargetWarmReset, 0n, this.#tasks.activeTasks());
  }

  /** TARGET COLD RESET: like a warm reset, and the target then closes every connection (§11.5.1). */
  targetColdReset(): Promise<number> {
    return this.#tmf(TmfFunction.TargetColdReset, 0n, this.#tasks.activeTasks());
  }

  #tmfOnLun(fn: TmfFunctionCode, lun: bigint | number): Promise<number> {
    let lun64: bigint;
    try {
      lun64 = typeof lun === 'bigint' ? lun : lunFromNumber(lun);
      if (lun64 < 0n || lun64 > 0xffffffffffffffffn) throw new InvalidArgumentError('LUN out of range');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#tmf(
      fn,
      lun64,
      this.#tasks.activeTasks().filter((t) => t.lun === lun64),
    );
  }

  /**
   * One TMF exchange: an immediate request carrying the next CmdSN without taking it (§11.5), then, when the
   * response says the affected tasks are gone, those still unsettled reject with TaskAbortedError and their ITTs
   * are free again: no PDU for them follows a TMF response on this connection (§10.6).
   */
  async #tmf(
    fn: TmfFunctionCode,
    lun: bigint,
    affected: readonly Task[],
    ref: { itt: number; cmdSN: number } = { itt: RESERVED_TAG, cmdSN: 0 },
  ): Promise<number> {
    if (this.#state === 'closed') throw this.#failure ?? new ConnectionError('the session is closed');
    const itt = this.#tasks.allocateItt(this.#replies);
    const reply = new PendingReply<TaskManagementResponsePdu>('Task Management Response', this.#tmfTimeoutMs, () =>
      this.#replies.delete(itt),
    );
    this.#replies.set(itt, reply as PendingReply<Pdu>);
    const started = performance.now();
    const request = tmfRequest({
      fn,
      lun,
      itt,
      referencedTaskTag: ref.itt,
      refCmdSN: ref.cmdSN,
      cmdSN: this.#window.cmdSN,
      expStatSN: this.#expStatSN,
    });
    const base = { event: 'tmf', function: fn, lun: String(lunToNumber(lun) ?? formatLun(lun)) } as const;
    const event = { ...base, referencedTaskTag: ref.itt };
    try {
      this.#connection.send(request);
    } catch (err) {
      reply.settle(asIscsiError(err));
    }
    let response: number;
    try {
      response = (await reply.promise).response;
    } catch (err) {
      const code = err instanceof IscsiError ? err.code : ErrorCode.Connection;
      const ms = round(performance.now() - started);
      this.#emit('warn', { ...event, response: undefined, aborted: 0, ms, code }, 'task management failed');
      throw err;
    }
    let aborted = 0;
    if (tmfCleared(fn, response)) {
      for (const task of affected) {
        if (task.state !== 'active') continue;
        aborted++;
        this.#failTask(task, new TaskAbortedError(fn), false);
      }
    }
    const ms = round(performance.now() - started);
    this.#emit('info', { ...event, response, aborted, ms }, TMF_RESPONSE_NAMES[response] ?? 'reserved TMF response');
    return response;
  }

  #armTimer(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // Node's timers run on a millisecond clock: one may fire a little before `at`, and then re-arms (#onTimer).
    this.#timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(at - performance.now())));
    // An outstanding command keeps the socket, and so the process, alive anyway.
    this.#timer.unref();
  }

  /** Fails the commands whose deadline passed, then re-arms for the earliest one left. */
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#state === 'closed') return;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: Task[] = [];
    for (const task of this.#tasks.allTasks()) {
      if (task.deadline <= now) expired.push(task);
      else if (task.deadline < next) next = task.deadline;
    }
    for (const task of expired) this.#cancel(task, task.timeoutError());
    if (next < this.#timerAt && !this.closed) this.#armTimer(next); // a cancel may have closed it
  };

  /** A command's timeout or signal fired: forget it locally, and send ABORT TASK when so configured. */
  #cancel(task: Task, err: IscsiError): void {
    const sent = task.state === 'active';
    this.#failTask(task, err, true);
    if (!sent || !this.#abortOnCancel || this.#state === 'closed') return;
    const itt = task.itt;
    const refCmdSN = task.immediate ? this.#window.cmdSN : task.cmdSN;
    this.#tmf(TmfFunction.AbortTask, task.lun, [], { itt, cmdSN: refCmdSN }).then(
      // Once the target says the task is gone, nothing more comes for its ITT: it may be reused.
      (response) => {
        if (tmfCleared(TmfFunction.AbortTask, response)) this.#tasks.dropStale(itt, true);
      },
      () => {}, // best effort: logged by #tmf; the ITT stays reserved
    );
  }

  /** Carries out what an Asynchronous Message asks (§11.9.1). */
  #onAsync(action: AsyncAction): void {
    if (action.kind === 'logout') {
      // Log out once the outstanding commands are done; a failure is the logout promise's, logged there.
      this.logout().catch(() => {});
    } else if (action.kind === 'drop') {
      this.#connection.close(new ConnectionError(action.reason));
    }
  }

  async #runLogout(timeoutMs: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    this.#state = 'draining';
    await new Promise<void>((resolve) => {
      this.#idle.push(resolve);
      this.#checkIdle();
    });
    if (this.#failure) throw this.#failure;
    const started = performance.now();
    const itt = this.#tasks.allocateItt(this.#replies);
    const reply = new PendingReply<LogoutResponsePdu>('Logout Response', timeoutMs, () => this.#replies.delete(itt));
    this.#replies.set(itt, reply as PendingReply<Pdu>);
    let response: LogoutResponsePdu;
    try {
      // §11.14: immediate, so it carries the next CmdSN without taking it; CID 0 is the login's connection.
      this.#connection.send({
        kind: 'logout-request',
        immediate: true,
        reasonCode: 0,
        initiatorTaskTag: itt,
        cid: 0,
        cmdSN: this.#window.cmdSN,
        expStatSN: this.#expStatSN,
        ahs: [],
        data: EMPTY,
      });
      response = await reply.promise;
    } finally {
      this.close();
    }
    if (response.response !== 0) {
      throw new IscsiError(ErrorCode.Login, `logout refused by the target (response ${response.response})`);
    }
    const { time2Wait, time2Retain } = response;
    this.#emit('info', { event: 'logout', ms: round(performance.now() - started), time2Wait, time2Retain }, 'logout');
  }

  /** Sends commands while the queue depth and the CmdSN window allow; immediate commands first. */
  #pump(): void {
    while (this.#state !== 'closed') {
      const task = this.#tasks.next(this.#window.open, this.#queueDepth);
      if (!task) break;
      const itt = this.#tasks.allocateItt(this.#replies);
      const cmdSN = task.immediate ? this.#window.cmdSN : this.#window.take();
      try {
        const pdus = task.start(itt, cmdSN, this.#expStatSN, this.params);
        this.#tasks.activate(task);
        this.#connection.sendAll(pdus);
      } catch (err) {
        if (this.#connection.failure) return; // #onClose has failed every task, this one included
        if (!task.immediate) this.#window.untake(); // a CmdSN never sent would stall all later ones (§3.2.2.1)
        this.#failTask(task, asIscsiError(err), false);
      }
    }
    this.#checkIdle();
  }

  #onPdu(pdu: Pdu): void {
    this.#keepalive.received();
    // §4.2.2.1: every target PDU that carries ExpCmdSN and MaxCmdSN updates the window.
    const grew = 'maxCmdSN' in pdu && this.#window.update(pdu.expCmdSN, pdu.maxCmdSN);
    switch (pdu.kind) {
      case 'data-in':
        this.#placing = undefined;
        if (pdu.statusPresent) this.#acknowledge(pdu.statSN); // StatSN is valid only with S (§11.7.4)
        this.#toTask(pdu, pdu.statusPresent);
        break;
      case 'r2t':
        // The R2T's StatSN is the next one, not a status to acknowledge (§11.8).
        this.#toTask(pdu, false);
        break;
      case 'scsi-response':
        this.#acknowledge(pdu.statSN);
        this.#toTask(pdu, true);
        break;
      case 'nop-in': {
        if (pdu.initiatorTaskTag !== RESERVED_TAG) {
          // The answer to a NOP-Out ping: its StatSN advances (§11.19.2).
          this.#acknowledge(pdu.statSN);
          this.#toReply(pdu);
          break;
        }
        // An unsolicited NOP-In's StatSN is the next one, not a status to acknowledge (§11.19).
        const answer = nopOutAnswer(pdu, this.#window.cmdSN, this.#expStatSN);
        if (answer) this.#connection.send(answer);
        this.#emit('debug', { event: 'nop-in', ttt: pdu.targetTransferTag, answered: answer !== undefined }, 'NOP-In');
        break;
      }
      case 'reject': {
        // Like open-iscsi, the StatSN of a Reject is not taken as a status to acknowledge.
        const { opcode, initiatorTaskTag: itt, error } = readReject(pdu);
        this.#emit('warn', { event: 'reject', reason: pdu.reason, opcode, itt }, error.message);
        const task = opcode === Opcode.ScsiCommand || opcode === Opcode.DataOut ? this.#tasks.get(itt) : undefined;
        // A rejected command never reached the task set; after a rejected Data-Out the target still holds the task.
        if (task) this.#failTask(task, error, opcode === Opcode.DataOut);
        else this.#replies.get(itt)?.settle(error);
        break;
      }
      case 'logout-response':
      case 'task-management-response':
        this.#acknowledge(pdu.statSN);
        this.#toReply(pdu);
        break;
      case 'async-message': {
        this.#acknowledge(pdu.statSN);
        const { event, action } = readAsyncMessage(pdu);
        this.#emit(action.kind === 'drop' ? 'warn' : 'info', event, 'asynchronous message');
        this.#onAsync(action);
        break;
      }
      default:
        this.#unexpected(pdu);
    }
    if (grew) this.#pump();
  }

  /** ExpStatSN = StatSN + 1, moving forward only (§4.2.2.2). */
  #acknowledge(statSN: number): void {
    const next = serialAdd(statSN, 1);
    if (serialGt(next, this.#expStatSN)) this.#expStatSN = next;
  }

  /**
   * The framer's placement hook: the header of a Data-In that spans socket chunks, whose data segment may go
   * straight into its command's read buffer if the command would accept it (Task.placement). The session remembers
   * the command so that giving it up stops the writes into its buffer (#failTask, #onClose).
   */
  #placement(header: Uint8Array): Uint8Array | undefined {
    const task = this.#tasks.get(u32(header, 16)); // ITT
    const data = task?.placement(header);
    if (data) this.#placing = task;
    return data;
  }

  /** Hands a PDU to its command; one without closures, as it runs for every Data-In. */
  #toTask(pdu: DataInPdu | R2tPdu | ScsiResponsePdu, final: boolean) {
    const itt = pdu.initiatorTaskTag;
    const task = this.#tasks.get(itt);
    if (!task) {
      if (!this.#tasks.dropStale(itt, final)) this.#unexpected(pdu);
      return;
    }
    let result: ScsiResult | undefined;
    try {
      if (pdu.kind === 'data-in') result = task.onDataIn(pdu);
      else if (pdu.kind === 'scsi-response') result = task.onResponse(pdu);
      else this.#connection.sendAll(task.onR2t(pdu, this.#expStatSN, this.params));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err; // a failed send fails the connection, and so every task
      this.#failTask(task, err, !final);
      return;
    }
    if (!result) return;
    this.#tasks.remove(task, false);
    task.finish(result);
    if (this.#verbose) this.#emit('debug', task.event(result), 'SCSI command done');
    this.#pump();
  }

  #toReply(pdu: Pdu): void {
    const reply = this.#replies.get(pdu.initiatorTaskTag);
    if (reply) reply.settle(pdu);
    else this.#unexpected(pdu);
  }

  /** Ends a task with an error; `targetMayAnswer` keeps its ITT reserved so late PDUs are recognised and dropped. */
  #failTask(task: Task, err: IscsiError, targetMayAnswer: boolean): void {
    if (task.state === 'done') return;
    // The caller may reuse its buffer as soon as the command fails: no more bytes go there.
    if (this.#placing === task) this.#stopPlacing();
    this.#tasks.remove(task, targetMayAnswer);
    task.fail(err);
    if (this.#verbose) this.#emit('debug', task.failureEvent(err), 'SCSI command failed');
    this.#pump();
  }

  #onClose(err: IscsiError): void {
    if (this.#failure) return;
    const failure =
      err instanceof ConnectionError ? err : new ConnectionError(`connection failed: ${err.message}`, { cause: err });
    this.#failure = failure;
    this.#state = 'closed';
    this.#stopPlacing();
    this.#keepalive.stop();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const task of this.#tasks.clear()) {
      if (task.fail(failure) && this.#verbose) this.#emit('debug', task.failureEvent(failure), 'SCSI command failed');
    }
    for (const reply of [...this.#replies.values()]) reply.settle(failure);
    this.#checkIdle();
    if (!this.#closing) {
      this.#emit('warn', { event: 'session-closed', code: err.code, message: err.message }, 'session closed');
    }
  }

  #stopPlacing(): void {
    this.#placing = undefined;
    this.#connection.framer.abandonPlacement();
  }

  /** Wakes {@link Session.logout} once nothing is queued or in flight (or the session closed). */
  #checkIdle(): void {
    if (this.#idle.length === 0) return;
    if (this.#state !== 'closed' && (this.#tasks.inFlight > 0 || this.#tasks.waiting > 0)) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const wake of waiting) wake();
  }

  #unexpected(pdu: Pdu): void {
    this.#emit('warn', { event: 'unexpected-pdu', kind: pdu.kind, itt: pdu.initiatorTaskTag }, 'PDU dropped');
  }

  #emit(level: keyof Logger, event: SessionEvent, msg: string): void {
    emit(this.#logger, level, event, msg);
  }
}

function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) throw new InvalidArgumentError(`timeout ${ms} out of range`);
  return ms;
}

/** Anything but a typed error here is a command that could not be started (e.g. no memory for its buffer). */
function asIscsiError(err: unknown): IscsiError {
  return err instanceof IscsiError
    ? err
    : new IscsiError(ErrorCode.InvalidArgument, 'the command could not be started', { cause: err });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
