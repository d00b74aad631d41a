/**
 * The kernel-session supervisor: what iscsid does for a session after the hand-off, for sessions this process handed
 * to the kernel (handoff.ts). It listens to the kernel's events on the NETLINK_ISCSI group and, when a connection
 * of a session it owns fails (KEVENT_CONN_ERROR), brings the same kernel session back on a new TCP connection:
 *
 * STOP_CONN(RECOVER) → wait DefaultTime2Wait → GET_STATS (the kernel's CmdSN = initial_cmdsn + scsicmd_pdus) → a new
 * TCP connection and the userspace login (same ISID, TSIH 0, that CmdSN, the CHAP credentials held in memory) →
 * BIND_CONN(same sid and cid, the new fd) → SET_PARAM of every negotiated value (EXP_STATSN of the new login) →
 * START_CONN. The same /dev/sdX comes back, with no rescan (kernel-handoff-proven.md §7). Failed attempts are
 * repeated with a bounded backoff until the session's recovery timeout (SESS_RECOVERY_TMO) runs out, after which the
 * kernel has failed the held I/O and the supervisor gives the session up.
 *
 * Events of sessions it does not own are ignored (iscsid may share the group). KEVENT_UNBIND_SESSION or
 * KEVENT_DESTROY_SESSION of an owned session means someone logged it out: it is no longer supervised.
 *
 * The supervisor does no I/O of its own: the kernel requests go through a {@link SupervisorKernel} (an
 * {@link IscsiNetlink} in production), the new connection comes from a {@link Reconnect} function
 * ({@link userspaceReconnect} by default), and time from a {@link SupervisorClock}; tests replace all three.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';
import type { Logger } from '../session/events.js';
import type { LoggedIn, LoginOptions } from '../session/initiator.js';
import { abortableSleep } from '../session/recovery.js';
import { KernelError } from './errors.js';
import {
  bindAndStart,
  type HandOffResult,
  type KernelConnectionIds,
  type KernelLogin,
  type KernelParamOptions,
  type KernelRequester,
  loginWithSocket,
} from './handoff.js';
import type { IscsiStats, KernelEvent } from './netlink-codec.js';
import { stopReading } from './tcp-socket.js';
import { IscsiErr, iscsiErrName, KeventType, StopConnFlag, UeventType } from './uevent-types.js';

/** The kernel side the supervisor needs: requests, the event stream and GET_STATS. {@link IscsiNetlink} has them. */
export interface SupervisorKernel extends KernelRequester {
  /** Calls `listener` for every kernel event until the returned function is called. */
  onEvent(listener: (event: KernelEvent) => void): () => void;
  /** GET_STATS of one connection. */
  getStats(transportHandle: bigint, sid: number, cid: number): Promise<IscsiStats>;
}

/** A new connection, logged in, that Node no longer reads: ready for BIND_CONN. */
export interface Reconnected {
  /** The login's outcome: negotiated values and the StatSN that EXP_STATSN continues from. */
  readonly loggedIn: KernelLogin & Pick<LoggedIn, 'tsih' | 'expCmdSN'>;
  /** The socket's fd, in this process. */
  readonly fd: number;
  /** Closes our side: after BIND_CONN the kernel holds its own reference, before it this ends the connection. */
  close(): void;
}

/** What a {@link Reconnect} is asked for. */
export interface ReconnectRequest {
  /** The session's ISID: the same as at the first login. */
  readonly isid: number;
  /** CmdSN of the login, which the kernel's next command will carry. */
  readonly cmdSN: number;
  /** Milliseconds left before the recovery timeout: a bound for the connect and each login step. */
  readonly timeoutMs: number;
  /** Aborted when the supervisor stops or the session goes away. */
  readonly signal: AbortSignal;
}

/** Opens a new connection and logs in (TSIH 0) for a reconnection; rejects with the login's typed errors. */
export type Reconnect = (request: ReconnectRequest) => Promise<Reconnected>;

/**
 * The {@link Reconnect} of a login-first session: a new TCP connection and the same userspace {@link login} (with
 * the same options, so the same portal, target, names, CHAP credentials and offer), with the session's ISID, TSIH 0
 * and the kernel's CmdSN; reading stops right after the final Login Response.
 */
export function userspaceReconnect(loginOptions: LoginOptions): Reconnect {
  return async (request) => {
    const ms = (given: number | undefined) => Math.max(1, Math.min(given ?? 10_000, request.timeoutMs));
    const { tsih: _tsih, ...base } = loginOptions;
    const { loggedIn, socket } = await loginWithSocket({
      ...base,
      isid: request.isid,
      cmdSN: request.cmdSN,
      connectTimeoutMs: ms(loginOptions.connectTimeoutMs),
      stepTimeoutMs: ms(loginOptions.stepTimeoutMs),
      signal: loginOptions.signal ? AbortSignal.any([loginOptions.signal, request.signal]) : request.signal,
    });
    let fd: number;
    try {
      if (loggedIn.connection.framer.bufferedBytes > 0) {
        throw new KernelError('handoff', 'bytes after the final Login Response were already read: cannot rebind');
      }
      fd = stopReading(socket);
    } catch (error) {
      loggedIn.connection.close();
      throw error;
    }
    const { connection, ...rest } = loggedIn;
    return { loggedIn: rest, fd, close: () => connection.close() };
  };
}

/** A session for {@link KernelSupervisor.supervise}: where it is in the kernel and how to log it in again. */
export interface SupervisedSession extends KernelConnectionIds {
  /** The session's ISID (kept for re-login: the kernel cannot hold it). */
  readonly isid: number;
  /** CREATE_SESSION's `initial_cmdsn`, kept for the whole session: the kernel's CmdSN is this + scsicmd_pdus. */
  readonly initialCmdSn: number;
  /** Negotiated DefaultTime2Wait, seconds: the wait after a failure before logging in again (RFC 7143 §13.15). */
  readonly defaultTime2Wait: number;
  /** The SESS_RECOVERY_TMO set on the session, seconds: how long the kernel holds I/O, and so how long to retry. */
  readonly recoveryTimeout: number;
  /** How to get a new logged-in connection ({@link userspaceReconnect}). */
  readonly reconnect: Reconnect;
  /** The tunables and names the hand-off used: the same SET_PARAM values are sent again. */
  readonly params?: KernelParamOptions;
}

/**
 * A {@link SupervisedSession} for what {@link loginAndHandOff} returned, reconnecting with {@link userspaceReconnect}
 * of the same login options. `params` must be the tunables and names given to the hand-off (for the recovery timeout
 * and the SET_PARAM values).
 */
export function supervisedSession(
  handedOff: HandOffResult & { readonly loggedIn: Pick<LoggedIn, 'isid' | 'params'> },
  loginOptions: LoginOptions,
  params: KernelParamOptions = {},
): SupervisedSession {
  return {
    transportHandle: handedOff.transportHandle,
    sid: handedOff.sid,
    cid: handedOff.cid,
    hostNo: handedOff.hostNo,
    isid: handedOff.loggedIn.isid,
    initialCmdSn: handedOff.initialCmdSn,
    defaultTime2Wait: handedOff.loggedIn.params.defaultTime2Wait,
    recoveryTimeout: params.recoveryTimeout ?? 120,
    reconnect: userspaceReconnect({
      ...loginOptions,
      ...(params.initiatorName !== undefined && loginOptions.initiatorName === undefined
        ? { initiatorName: params.initiatorName }
        : {}),
    }),
    params: {
      ...params,
      ...(params.chapUsername === undefined && loginOptions.chap
        ? { chapUsername: loginOptions.chap.credentials.user }
        : {}),
      ...(params.chapUsernameIn === undefined && loginOptions.chap?.targetCredentials
        ? { chapUsernameIn: loginOptions.chap.targetCredentials.user }
        : {}),
    },
  };
}

/** Time for the supervisor: injectable so tests run without real timers. */
export interface SupervisorClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` is aborted (never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock: `performance.now()` and `setTimeout`, the timer cleared when the wait is aborted. */
export const realClock: SupervisorClock = Object.freeze({
  now: () => performance.now(),
  sleep: abortableSleep,
});

/**
 * What the supervisor reports, to the logger (the `event` field names it) and to `onEvent`. Messages are those of
 * typed errors: never secrets. `ms` is the time since the connection error.
 */
export type SupervisorEvent =
  /** A session is now supervised. */
  | { readonly event: 'kernel-supervise'; readonly sid: number; readonly cid: number; readonly hostNo: number }
  /** KEVENT_CONN_ERROR of an owned connection: `error` is an {@link IscsiErr} code, `name` its name. */
  | {
      readonly event: 'kernel-conn-error';
      readonly sid: number;
      readonly cid: number;
      readonly error: number;
      readonly name: string | undefined;
    }
  /**
   * One reconnection: an `attempt` (with the CmdSN it logs in with), its `failure` (error code and message, and the
   * backoff before the next), its `success` (the new TSIH), or `gave-up` when the recovery timeout ran out or the
   * error cannot be recovered from (the kernel keeps the session, its I/O failed).
   */
  | {
      readonly event: 'kernel-recovery';
      readonly phase: 'attempt' | 'failure' | 'success' | 'gave-up';
      readonly sid: number;
      readonly attempt: number;
      readonly ms: number;
      readonly cmdSN?: number;
      readonly tsih?: number;
      readonly delayMs?: number;
      readonly code?: string;
      readonly message?: string;
    }
  /** The session is no longer supervised: someone logged it out (`unbind`, `destroy`) or it was `released`. */
  | { readonly event: 'kernel-session-gone'; readonly sid: number; readonly why: 'unbind' | 'destroy' | 'released' };

/** Options of {@link KernelSupervisor}. */
export interface SupervisorOptions {
  /** The netlink socket ({@link IscsiNetlink}); the supervisor listens to its events from construction on. */
  readonly kernel: SupervisorKernel;
  readonly logger?: Logger;
  /** Called with every {@link SupervisorEvent} (the CLI prints them). */
  readonly onEvent?: (event: SupervisorEvent) => void;
  readonly clock?: SupervisorClock;
  /** Backoff after a failed attempt: first delay and its cap, milliseconds (default 1 000 and 8 000, doubling). */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
}

/** How a supervised session is doing. */
export interface SupervisedState {
  readonly sid: number;
  readonly cid: number;
  readonly state: 'up' | 'recovering';
  /** Completed recoveries. */
  readonly recoveries: number;
}

interface Owned {
  readonly session: SupervisedSession;
  state: 'up' | 'recovering';
  recoveries: number;
  /** Aborted when the session is no longer supervised. */
  readonly abort: AbortController;
  /** The recovery under way. */
  running: Promise<void> | undefined;
  /** A connection error arrived for the connection the current attempt bound: recover once more. */
  errorAfterBind: boolean;
  /** Whether the current attempt has bound its socket. */
  bound: boolean;
  /** The last connection error code, for a recovery that starts again. */
  lastError: number;
}

/** An attempt found the recovery timeout passed before it could log in. */
class DeadlinePassed extends Error {}

/** Connection errors of sessions not (yet) owned, kept for a session adopted just after its error. */
const UNOWNED_ERRORS_KEPT = 64;

/**
 * Owns handed-off kernel sessions and recovers their connections the way iscsid does (see the module
 * documentation). Construct it before the hand-off (it listens from then on), {@link KernelSupervisor.supervise}
 * each session, {@link KernelSupervisor.stop} it at the end: the kernel sessions stay.
 */
export class KernelSupervisor {
  readonly #kernel: SupervisorKernel;
  readonly #logger: Logger | undefined;
  readonly #onEvent: ((event: SupervisorEvent) => void) | undefined;
  readonly #clock: SupervisorClock;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #owned = new Map<number, Owned>();
  readonly #unownedErrors = new Map<number, { cid: number; error: number }>();
  readonly #emptyWaiters = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: SupervisorOptions) {
    this.#kernel = options.kernel;
    this.#logger = options.logger;
    this.#onEvent = options.onEvent;
    this.#clock = options.clock ?? realClock;
    this.#retryDelayMs = Math.max(1, options.retryDelayMs ?? 1000);
    this.#maxRetryDelayMs = Math.max(this.#retryDelayMs, options.maxRetryDelayMs ?? 8000);
    this.#unsubscribe = this.#kernel.onEvent((event) => this.#handle(event));
  }

  /** The sessions supervised now. */
  get sessions(): readonly SupervisedState[] {
    return [...this.#owned.values()].map((o) => ({
      sid: o.session.sid,
      cid: o.session.cid,
      state: o.state,
      recoveries: o.recoveries,
    }));
  }

  /**
   * Starts supervising a session. A connection error the supervisor saw for it before this call (during the scan
   * after the hand-off) starts a recovery at once. Throws {@link KernelError} (`argument`) for a sid already owned
   * or after {@link KernelSupervisor.stop}.
   */
  supervise(session: SupervisedSession): void {
    if (this.#unsubscribe === undefined) throw new KernelError('argument', 'the supervisor is stopped');
    if (this.#owned.has(session.sid)) throw new KernelError('argument', `session ${session.sid} is supervised already`);
    const owned: Owned = {
      session,
      state: 'up',
      recoveries: 0,
      abort: new AbortController(),
      running: undefined,
      errorAfterBind: false,
      bound: false,
      lastError: 0,
    };
    this.#owned.set(session.sid, owned);
    this.#report('info', { event: 'kernel-supervise', sid: session.sid, cid: session.cid, hostNo: session.hostNo });
    const early = this.#unownedErrors.get(session.sid);
    this.#unownedErrors.delete(session.sid);
    if (early !== undefined && early.cid === session.cid) this.#connError(owned, early.error);
  }

  /** Stops supervising `sid` without touching the kernel session (before logging it out, say). */
  async release(sid: number): Promise<boolean> {
    const owned = this.#owned.get(sid);
    if (owned === undefined) return false;
    this.#drop(owned, 'released');
    await owned.running;
    return true;
  }

  /** Resolves when no session is supervised any more (each was logged out, given up or released). */
  whenEmpty(): Promise<void> {
    if (this.#owned.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.add(resolve));
  }

  /** Resolves when no recovery is running. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#owned.values()].map((o) => o.running).filter((r) => r !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * Stops listening and ends every recovery under way (its login is aborted; a socket it had bound stays with the
   * kernel session). The kernel sessions stay as they are. Idempotent.
   */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const all = [...this.#owned.values()];
    for (const owned of all) this.#drop(owned, 'released');
    this.#unownedErrors.clear();
    await Promise.all(all.map((o) => o.running));
  }

  #handle(event: KernelEvent): void {
    if (event.type === KeventType.ConnError) {
      const owned = this.#owned.get(event.sid);
      if (owned === undefined) {
        // Not ours (iscsid's, another process's), or ours before supervise(): remembered, bounded.
        this.#unownedErrors.delete(event.sid);
        this.#unownedErrors.set(event.sid, { cid: event.cid, error: event.error });
        if (this.#unownedErrors.size > UNOWNED_ERRORS_KEPT) {
          this.#unownedErrors.delete(this.#unownedErrors.keys().next().value!);
        }
        return;
      }
      if (event.cid !== owned.session.cid) return;
      this.#connError(owned, event.error);
      return;
    }
    if (event.type === KeventType.UnbindSession || event.type === KeventType.DestroySession) {
      this.#unownedErrors.delete(event.sid);
      const owned = this.#owned.get(event.sid);
      if (owned !== undefined) this.#drop(owned, event.type === KeventType.UnbindSession ? 'unbind' : 'destroy');
    }
  }

  #connError(owned: Owned, error: number): void {
    const { sid, cid } = owned.session;
    this.#report('warn', { event: 'kernel-conn-error', sid, cid, error, name: iscsiErrName(error) });
    owned.lastError = error;
    if (owned.state === 'recovering') {
      // An error of the connection the running attempt bound: that one failed too. Earlier ones are the same failure.
      if (owned.bound) owned.errorAfterBind = true;
      return;
    }
    owned.state = 'recovering';
    const running = this.#recover(owned)
      .catch((failure: unknown) => {
        // Only a throwing logger or onEvent callback gets here: the session cannot be looked after any more.
        this.#drop(owned, undefined);
        this.#logger?.error(
          {
            event: 'kernel-supervisor-failed',
            sid,
            message: failure instanceof Error ? failure.message : String(failure),
          },
          'the supervisor failed',
        );
      })
      .finally(() => {
        if (owned.running === running) owned.running = undefined;
      });
    owned.running = running;
  }

  /** Recovery rounds until the connection is up with no newer error, the timeout runs out, or the session goes. */
  async #recover(owned: Owned): Promise<void> {
    const signal = owned.abort.signal;
    for (;;) {
      const outcome = await this.#round(owned);
      if (signal.aborted) return;
      if (outcome === 'gave-up') {
        this.#drop(owned, undefined);
        return;
      }
      owned.recoveries++;
      owned.bound = false;
      if (!owned.errorAfterBind) {
        owned.state = 'up';
        return;
      }
    }
  }

  /** One recovery: STOP_CONN(RECOVER), DefaultTime2Wait, then attempts with backoff until one works or time is up. */
  async #round(owned: Owned): Promise<'up' | 'gave-up'> {
    const s = owned.session;
    const signal = owned.abort.signal;
    const started = this.#clock.now();
    const deadline = started + s.recoveryTimeout * 1000;
    const ms = () => Math.round(this.#clock.now() - started);
    owned.errorAfterBind = false;
    owned.bound = false;
    let attempt = 0;
    const giveUp = (code: string, message: string): 'gave-up' => {
      this.#report('error', {
        event: 'kernel-recovery',
        phase: 'gave-up',
        sid: s.sid,
        attempt,
        ms: ms(),
        code,
        message,
      });
      return 'gave-up';
    };
    if (owned.lastError === IscsiErr.InvalidHost) {
      return giveUp(ErrorCode.Kernel, 'the SCSI host is being removed (ISCSI_ERR_INVALID_HOST)');
    }
    // Since Linux ≈5.8 the kernel stops a failed connection itself (kernel-netlink.md §8.2); this then only flushes
    // its clean-up work, and an error ("already cleaned up") is expected.
    await this.#stopForRecovery(s);
    // RFC 7143 §13.15: DefaultTime2Wait is the minimum wait before a new connection after an unexpected termination.
    if (s.defaultTime2Wait > 0)
      await this.#clock.sleep(Math.min(s.defaultTime2Wait * 1000, deadline - started), signal);
    let delay = this.#retryDelayMs;
    for (;;) {
      if (signal.aborted) return 'gave-up';
      if (this.#clock.now() >= deadline) {
        return giveUp(ErrorCode.Timeout, `not reconnected within the recovery timeout of ${s.recoveryTimeout} s`);
      }
      attempt++;
      try {
        const tsih = await this.#attempt(owned, attempt, deadline, ms);
        this.#report('info', { event: 'kernel-recovery', phase: 'success', sid: s.sid, attempt, ms: ms(), tsih });
        return 'up';
      } catch (error) {
        if (owned.bound) {
          // The new socket is bound but the connection did not start: unbind it before the next BIND_CONN.
          owned.bound = false;
          await this.#stopForRecovery(s);
        }
        if (signal.aborted) return 'gave-up';
        if (error instanceof DeadlinePassed) {
          attempt--; // it never logged in: the loop's check gives up
          continue;
        }
        const code = error instanceof IscsiError ? error.code : 'ERR_UNKNOWN';
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof KernelError && error.reason === 'privilege') return giveUp(code, message);
        const wait = Math.max(0, Math.min(delay, deadline - this.#clock.now()));
        this.#report('warn', {
          event: 'kernel-recovery',
          phase: 'failure',
          sid: s.sid,
          attempt,
          ms: ms(),
          delayMs: Math.round(wait),
          code,
          message,
        });
        await this.#clock.sleep(wait, signal);
        delay = Math.min(delay * 2, this.#maxRetryDelayMs);
      }
    }
  }

  /** GET_STATS → login on a new connection → BIND_CONN + SET_PARAM + START_CONN. Returns the new TSIH. */
  async #attempt(owned: Owned, attempt: number, deadline: number, ms: () => number): Promise<number> {
    const s = owned.session;
    const stats = await this.#kernel.getStats(s.transportHandle, s.sid, s.cid);
    // kernel-handoff-proven.md §7: libiscsi advances session->cmdsn and conn->scsicmd_pdus_cnt together, and the
    // connection object (with its counter) survives recovery; so this is the CmdSN its next command will carry.
    const cmdSN = (s.initialCmdSn + stats.scsicmdPdus) >>> 0;
    if (owned.abort.signal.aborted) throw new KernelError('handoff', 'the supervisor stopped');
    if (this.#clock.now() >= deadline) throw new DeadlinePassed();
    this.#report('info', { event: 'kernel-recovery', phase: 'attempt', sid: s.sid, attempt, ms: ms(), cmdSN });
    const conn = await s.reconnect({
      isid: s.isid,
      cmdSN,
      timeoutMs: Math.max(1, deadline - this.#clock.now()),
      signal: owned.abort.signal,
    });
    try {
      if (owned.abort.signal.aborted) throw new KernelError('handoff', 'the supervisor stopped');
      await bindAndStart(this.#kernel, s, conn.fd, conn.loggedIn, { ...s.params }, () => {
        owned.bound = true;
        conn.close();
      });
    } finally {
      if (!owned.bound) conn.close();
    }
    return conn.loggedIn.tsih;
  }

  async #stopForRecovery(s: SupervisedSession): Promise<void> {
    try {
      await this.#kernel.request({
        type: UeventType.StopConn,
        transportHandle: s.transportHandle,
        sid: s.sid,
        cid: s.cid,
        connHandle: 0n,
        flag: StopConnFlag.Recover,
      });
    } catch (error) {
      this.#logger?.debug(
        { event: 'kernel-stop-conn', sid: s.sid, error: (error as Error).message },
        'STOP_CONN(RECOVER) refused (the kernel had cleaned up already)',
      );
    }
  }

  /** No longer supervised: aborts its recovery; `why` undefined when the recovery gave up (already reported). */
  #drop(owned: Owned, why: 'unbind' | 'destroy' | 'released' | undefined): void {
    if (this.#owned.get(owned.session.sid) !== owned) return;
    this.#owned.delete(owned.session.sid);
    owned.abort.abort();
    if (why !== undefined) this.#report('info', { event: 'kernel-session-gone', sid: owned.session.sid, why });
    if (this.#owned.size === 0) {
      for (const resolve of this.#emptyWaiters) resolve();
      this.#emptyWaiters.clear();
    }
  }

  #report(level: keyof Logger, event: SupervisorEvent): void {
    const message =
      event.event === 'kernel-recovery'
        ? `kernel session ${event.sid}: recovery ${event.phase}`
        : event.event === 'kernel-conn-error'
          ? `kernel session ${event.sid}: connection error`
          : event.event === 'kernel-supervise'
            ? `kernel session ${event.sid}: supervised`
            : `kernel session ${event.sid}: no longer supervised`;
    this.#logger?.[level](event, message);
    this.#onEvent?.(event);
  }
}
