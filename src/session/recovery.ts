/**
 * ErrorRecoveryLevel 0 session recovery (RFC 7143 §7.1.4.4, §7.1.5, §6.3.5): a {@link RecoverableSession} wraps one
 * {@link Session} at a time. When its connection fails (socket error or close, keepalive death, an Asynchronous
 * Message dropping the connection), it logs in again with backoff, bounded in attempts, with the same
 * InitiatorName and ISID and TSIH 0, which reinstates the session: the target logs the old one out implicitly and
 * its tasks end with it (§6.3.5). Commands whose SCSI Response had not arrived are then issued again on the new session,
 * in their original order, with new ITTs and CmdSNs. A command, a write included, is reported done only when its
 * own SCSI Response (or final Data-In with status) arrived; nothing is ever completed from a dead connection.
 *
 * ```ts
 * const session = await openSession({ portal, targetName }, { reconnect: { maxAttempts: 5 } });
 * const r = await session.execute({ lun: 1, cdb: read16Cdb, read: { length: 4096 } });
 * await session.logout();
 * ```
 *
 * Per-command timeouts and AbortSignals keep running while the session reconnects. After the last failed attempt
 * every pending command rejects with a ConnectionError saying recovery failed, and the session is closed.
 *
 * Re-issuing a command the target may already have carried out is what ERL 0 implies (§7.1.4.4: session recovery
 * restarts the tasks on a new session); READ and WRITE are idempotent, but a caller with non-idempotent commands
 * (e.g. COMPARE AND WRITE, reservations) must be ready for them to run twice.
 *
 * DefaultTime2Wait (§13.15) is the least time before an implicit logout after a connection failure; reinstatement
 * is one, but waiting the negotiated value (2 s by default) before the first attempt is opt-in
 * (`reconnect.respectTime2Wait`), so that by default recovery starts after `initialDelayMs`.
 * @module
 */
import { ConnectionError, InvalidArgumentError, IscsiError, TimeoutError } from '../errors.js';
import type { Portal } from './address.js';
import { abortError } from './connection.js';
import { emit, type Logger, type SessionEvent, silentLogger } from './events.js';
import { type LoggedIn, type LoginOptions, login, randomIsid } from './initiator.js';
import type { NegotiatedParameters } from './params.js';
import { type LogoutOptions, Session, type SessionOptions } from './session.js';
import type { ScsiRequest, ScsiResult } from './task.js';

/** How a {@link RecoverableSession} reconnects. */
export interface ReconnectOptions {
  /** Login attempts after a connection failure before giving up (default 5; 0 = never reconnect). */
  readonly maxAttempts?: number;
  /** Backoff before the first attempt in ms (default 100); doubled for each further attempt. */
  readonly initialDelayMs?: number;
  /** Largest backoff in ms (default 5000). */
  readonly maxDelayMs?: number;
  /** Wait at least the negotiated DefaultTime2Wait before the first attempt (§13.15; default false). */
  readonly respectTime2Wait?: boolean;
}

/** Options of {@link openSession}: those of each {@link Session}, plus the reconnection policy. */
export interface RecoverableSessionOptions extends SessionOptions {
  readonly reconnect?: ReconnectOptions;
  /**
   * The login function (default {@link login}); each attempt is bounded by the login options' `connectTimeoutMs`
   * and `stepTimeoutMs`. Replaceable for tests and proxies.
   */
  readonly login?: (options: LoginOptions) => Promise<LoggedIn>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** One command of the caller's, across however many sessions it takes. */
interface Job {
  readonly request: ScsiRequest;
  readonly resolve: (r: ScsiResult) => void;
  readonly reject: (e: IscsiError) => void;
  /** The session it was last handed to, and the controller that withdraws it from there. */
  owner: Session | undefined;
  withdraw: AbortController | undefined;
  disarm: () => void;
}

/**
 * Logs in, then returns a session that recovers from connection failures; see the module documentation. The ISID
 * is fixed here (`loginOptions.isid`, or a random one) so that every later login reinstates the same session.
 * @throws the login's error (as a rejection) when the first login fails: there is nothing to recover yet.
 */
export async function openSession(
  loginOptions: LoginOptions,
  options: RecoverableSessionOptions = {},
): Promise<RecoverableSession> {
  const fixed: LoginOptions = { ...loginOptions, isid: loginOptions.isid ?? randomIsid() };
  const doLogin = options.login ?? login;
  const first = await doLogin(fixed);
  return new RecoverableSession(fixed, first, options);
}

/** A session with ERL 0 recovery; build it with {@link openSession}. */
export class RecoverableSession {
  /** The ISID, the same for every login of this session. */
  readonly isid: number;
  readonly #loginOptions: LoginOptions;
  readonly #sessionOptions: SessionOptions;
  readonly #login: (options: LoginOptions) => Promise<LoggedIn>;
  readonly #logger: Logger;
  readonly #maxAttempts: number;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #respectTime2Wait: boolean;
  readonly #timeoutMs: number;
  /** Commands not settled yet, in the order `execute` was called (a Set iterates in insertion order). */
  readonly #jobs = new Set<Job>();
  /** Aborts a reconnection in progress (backoff or login) when the session is closed. */
  readonly #closer = new AbortController();
  #session: Session;
  #recovering = false;
  #state: 'open' | 'draining' | 'closed' = 'open';
  #failure: ConnectionError | undefined;
  #reconnects = 0;
  /** Login attempts since a command last completed: the bound on reconnecting, see #reconnect. */
  #spent = 0;
  #idle: (() => void)[] = [];
  #logoutDone: Promise<void> | undefined;

  /**
   * Takes over a logged-in connection (see the {@link Session} constructor); `loginOptions` are those of that
   * login, with its ISID, and are reused for every reconnection. Prefer {@link openSession}.
   * @throws {InvalidArgumentError} for a Discovery session or an out-of-range option.
   */
  constructor(loginOptions: LoginOptions, loggedIn: LoggedIn, options: RecoverableSessionOptions = {}) {
    const { reconnect = {}, login: loginFn, ...sessionOptions } = options;
    this.#maxAttempts = checkCount(reconnect.maxAttempts ?? 5, 'maxAttempts');
    this.#initialDelayMs = checkMs(reconnect.initialDelayMs ?? 100, 'initialDelayMs');
    this.#maxDelayMs = checkMs(reconnect.maxDelayMs ?? 5000, 'maxDelayMs');
    this.#respectTime2Wait = reconnect.respectTime2Wait ?? false;
    this.#timeoutMs = checkMs(sessionOptions.commandTimeoutMs ?? 30_000, 'commandTimeoutMs');
    this.#logger = sessionOptions.logger ?? silentLogger;
    this.#sessionOptions = sessionOptions;
    this.#login = loginFn ?? login;
    this.isid = loggedIn.isid;
    // The signal of the first login must not cut later ones short; closing this session aborts those.
    const { signal: _firstSignal, ...rest } = loginOptions;
    this.#loginOptions = { ...rest, isid: loggedIn.isid };
    this.#session = new Session(loggedIn, sessionOptions);
  }

  /** The session in use now (replaced by each successful reconnection). */
  get session(): Session {
    return this.#session;
  }

  /** The TSIH of the current session (a reinstated session gets a new one). */
  get tsih(): number {
    return this.#session.tsih;
  }

  /** The negotiated parameters of the current session. */
  get params(): NegotiatedParameters {
    return this.#session.params;
  }

  /** The portal of the current connection (after redirects). */
  get portal(): Portal {
    return this.#session.portal;
  }

  /** Successful reconnections so far. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** True while a reconnection is under way. */
  get recovering(): boolean {
    return this.#recovering;
  }

  /** Commands not settled yet: queued, in flight, or waiting for a reconnection. */
  get pending(): number {
    return this.#jobs.size;
  }

  /** True once closed: by {@link RecoverableSession.close}, logout, or recovery giving up. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /**
   * Executes one SCSI command as {@link Session.execute} does, surviving connection failures: a command whose
   * SCSI Response had not arrived when the connection failed is issued again after the reconnection. Its timeout
   * (the request's `timeoutMs`, else the `commandTimeoutMs` option) counts from this call, reconnection included:
   * past it the command rejects with TimeoutError; on abort, with ERR_ISCSI_ABORTED. When recovery gives up, it
   * rejects with ConnectionError.
   */
  execute(request: ScsiRequest): Promise<ScsiResult> {
    if (this.#state !== 'open') {
      return Promise.reject(this.#failure ?? new ConnectionError('the session is closed or logging out'));
    }
    let timeoutMs: number;
    try {
      timeoutMs = checkMs(request.timeoutMs ?? this.#timeoutMs, 'timeoutMs');
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<ScsiResult>((resolve, reject) => {
      const job: Job = { request, resolve, reject, owner: undefined, withdraw: undefined, disarm: () => {} };
      const cancel = (err: IscsiError) => this.#settle(job, err);
      const timer =
        timeoutMs > 0
          ? setTimeout(
              () => cancel(new TimeoutError(`SCSI command did not complete within ${timeoutMs} ms`)),
              timeoutMs,
            )
          : undefined;
      const onAbort = () => cancel(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      job.disarm = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.#jobs.add(job);
      this.#dispatch(job);
    });
  }

  /** ABORT TASK SET on the current session (see {@link Session.abortTaskSet}). */
  abortTaskSet(lun: bigint | number): Promise<number> {
    return this.#session.abortTaskSet(lun);
  }

  /** LOGICAL UNIT RESET on the current session (see {@link Session.lunReset}). */
  lunReset(lun: bigint | number): Promise<number> {
    return this.#session.lunReset(lun);
  }

  /** A NOP-Out ping on the current session (see {@link Session.ping}). */
  ping(timeoutMs?: number): Promise<number> {
    return this.#session.ping(timeoutMs);
  }

  /**
   * Logs out: new commands are refused, pending ones are waited for (reconnections included, each bounded by its
   * timeout), then the current session logs out. Calling it again returns the same promise.
   */
  logout(options: LogoutOptions = {}): Promise<void> {
    this.#logoutDone ??= this.#runLogout(options);
    return this.#logoutDone;
  }

  /** Closes without logging out: a reconnection stops, pending commands reject with ConnectionError. */
  close(): void {
    this.#shutDown(new ConnectionError('the session is closed'));
  }

  async #runLogout(options: LogoutOptions): Promise<void> {
    if (this.#state === 'closed') throw this.#failure ?? new ConnectionError('the session is closed');
    this.#state = 'draining';
    await new Promise<void>((resolve) => {
      this.#idle.push(resolve);
      this.#checkIdle();
    });
    if (this.#failure) throw this.#failure;
    try {
      await this.#session.logout(options);
    } finally {
      this.#shutDown(new ConnectionError('the session is logged out'));
    }
  }

  /** Hands a job to the current session, or leaves it for the reconnection to re-issue. */
  #dispatch(job: Job): void {
    if (this.#recovering || this.#state === 'closed') return;
    const session = this.#session;
    if (session.closed) {
      // The connection failed while nothing was pending: reconnect now that something is.
      this.#recover(session);
      return;
    }
    const withdraw = new AbortController();
    job.owner = session;
    job.withdraw = withdraw;
    // The session's own timeout stays off: this job's timer covers queueing, reconnections and retries.
    session.execute({ ...job.request, signal: withdraw.signal, timeoutMs: 0 }).then(
      (result) => {
        if (job.owner === session) this.#settle(job, result);
      },
      (err: IscsiError) => {
        if (job.owner !== session) return; // withdrawn, or already moved to a newer session
        job.owner = undefined;
        // Every connection failure reaches commands as a ConnectionError (Session #onClose); anything else (SCSI
        // protocol error, Reject, task management) is the command's own outcome.
        if (err instanceof ConnectionError && this.#state !== 'closed') {
          if (this.#session === session) this.#recover(session);
          else this.#dispatch(job);
          return;
        }
        this.#settle(job, err);
      },
    );
  }

  #settle(job: Job, outcome: ScsiResult | IscsiError): void {
    if (!this.#jobs.delete(job)) return;
    job.disarm();
    // Withdraw it from its session, which then forgets it (and sends ABORT TASK when `abortOnCancel` says so).
    if (outcome instanceof Error) job.withdraw?.abort();
    job.owner = undefined;
    if (outcome instanceof Error) job.reject(outcome);
    else {
      this.#spent = 0; // the session works: a later failure gets the full number of attempts again
      job.resolve(outcome);
    }
    this.#checkIdle();
  }

  /** Reconnects after `failed` lost its connection, then re-issues every pending job in order. */
  #recover(failed: Session): void {
    if (this.#recovering || this.#state === 'closed') return;
    this.#recovering = true;
    failed.close(); // when only draining (target-requested logout), stop it: the session is reinstated instead
    this.#reconnect(failed.params.defaultTime2Wait).then(
      (next) => {
        this.#recovering = false;
        if (!next) return;
        this.#session = next;
        this.#reconnects++;
        for (const job of [...this.#jobs]) {
          if (job.owner === next) continue;
          job.withdraw?.abort();
          job.owner = undefined;
          this.#dispatch(job);
        }
      },
      (err: unknown) => {
        this.#recovering = false;
        this.#shutDown(
          err instanceof ConnectionError ? err : new ConnectionError('session recovery failed', { cause: err }),
        );
      },
    );
  }

  /**
   * The login attempts with exponential backoff. Resolves with the new session, or undefined when closed
   * meanwhile; rejects with the ConnectionError that ends the session when every attempt failed.
   */
  async #reconnect(time2WaitS: number): Promise<Session | undefined> {
    const started = performance.now();
    const since = () => round(performance.now() - started);
    const signal = this.#closer.signal;
    let last: unknown;
    // The attempts are counted since a command last completed, not per failure: a target that accepts the login
    // and then drops every connection before answering anything also ends in the typed error.
    while (this.#spent < this.#maxAttempts) {
      const attempt = ++this.#spent;
      let delayMs = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** (attempt - 1));
      if (attempt === 1 && this.#respectTime2Wait) delayMs = Math.max(delayMs, time2WaitS * 1000);
      await abortableSleep(delayMs, signal);
      if (signal.aborted) return undefined;
      this.#emit('info', { event: 'reconnect', phase: 'attempt', attempt, delayMs, ms: since() }, 'reconnecting');
      try {
        // RFC 7143 §6.3.5: the same ISID with TSIH 0 is a session reinstatement; the target closes the old
        // session and its tasks, which is why every pending command is issued again.
        const loggedIn = await this.#login({ ...this.#loginOptions, tsih: 0, signal });
        if (signal.aborted) {
          loggedIn.connection.close();
          return undefined;
        }
        let next: Session;
        try {
          next = new Session(loggedIn, this.#sessionOptions);
        } catch (err) {
          loggedIn.connection.close();
          throw err;
        }
        this.#emit(
          'info',
          { event: 'reconnect', phase: 'success', attempt, ms: since(), tsih: next.tsih, retried: this.#jobs.size },
          'session reinstated',
        );
        return next;
      } catch (err) {
        if (signal.aborted) return undefined;
        last = err;
        const code = err instanceof IscsiError ? err.code : 'ERR_UNKNOWN';
        const message = err instanceof Error ? err.message : String(err);
        this.#emit(
          'warn',
          { event: 'reconnect', phase: 'failure', attempt, ms: since(), code, message },
          'reconnect failed',
        );
      }
    }
    const attempts = this.#maxAttempts;
    this.#emit('error', { event: 'reconnect', phase: 'gave-up', attempt: attempts, ms: since() }, 'recovery failed');
    const reason = last instanceof Error ? `: ${last.message}` : '';
    throw new ConnectionError(
      `session recovery failed after ${attempts} attempt${attempts === 1 ? '' : 's'}${reason}`,
      {
        cause: last,
      },
    );
  }

  #shutDown(err: ConnectionError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#failure ??= err;
    this.#closer.abort();
    this.#session.close();
    for (const job of [...this.#jobs]) this.#settle(job, err);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#idle.length === 0 || (this.#jobs.size > 0 && this.#state !== 'closed')) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const wake of waiting) wake();
  }

  #emit(level: keyof Logger, event: SessionEvent, msg: string): void {
    emit(this.#logger, level, event, msg);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; no timer or listener is left either way. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function checkMs(ms: number, name: string): number {
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) throw new InvalidArgumentError(`${name} ${ms} out of range`);
  return ms;
}

function checkCount(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new InvalidArgumentError(`${name} ${n} out of range`);
  return n;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
