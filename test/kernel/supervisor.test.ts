/**
 * The kernel-session supervisor against fakes: a fake kernel (requests recorded, events pushed by the test, GET_STATS
 * answered from a per-session command counter), a fake reconnect (a planned outcome per attempt) and a virtual
 * clock, so recoveries run in microseconds and deterministically. fast-check drives random sequences of kernel events
 * (connection errors of owned and foreign sessions, unbind/destroy, I/O that advances the kernel's CmdSN) and attempt
 * outcomes, and checks the invariants of iscsid-style recovery. IscsiNetlink.getStats and userspaceReconnect are
 * checked against a fake netlink channel and the embedded target.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import { ConnectionError } from '../../src/errors.js';
import { KernelError } from '../../src/kernel/errors.js';
import {
  encodeKernelMessage,
  type IscsiRequest,
  type IscsiStats,
  type KernelEvent,
  type ReplyMessage,
  requestFields,
} from '../../src/kernel/netlink-codec.js';
import { IscsiNetlink, type NetlinkChannel } from '../../src/kernel/netlink-socket.js';
import { IscsiParam } from '../../src/kernel/params.js';
import {
  KernelSupervisor,
  type Reconnect,
  type ReconnectRequest,
  realClock,
  type SupervisedSession,
  type SupervisorClock,
  type SupervisorEvent,
  type SupervisorKernel,
  supervisedSession,
  userspaceReconnect,
} from '../../src/kernel/supervisor.js';
import { IscsiErr, KeventType, StopConnFlag, UeventType } from '../../src/kernel/uevent-types.js';
import { DEFAULT_PARAMETERS } from '../../src/session/params.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const HANDLE = 0xffffffffc02d3060n;

function stats(scsicmdPdus: number): IscsiStats {
  return {
    txdataOctets: 0n,
    rxdataOctets: 0n,
    noptxPdus: 0,
    scsicmdPdus,
    tmfcmdPdus: 0,
    loginPdus: 0,
    textPdus: 0,
    dataoutPdus: 0,
    logoutPdus: 0,
    snackPdus: 0,
    noprxPdus: 0,
    scsirspPdus: 0,
    tmfrspPdus: 0,
    textrspPdus: 0,
    datainPdus: 0,
    logoutrspPdus: 0,
    r2tPdus: 0,
    asyncPdus: 0,
    rjtPdus: 0,
    digestErr: 0,
    timeoutErr: 0,
    custom: [],
  };
}

/** What the test plans for one reconnection attempt. */
type Outcome = 'ok' | 'login-fail' | 'bind-fail' | 'start-fail' | 'error-after-start';

/** One entry of the global log, in order: requests, GET_STATS, reconnects, events the test pushed. */
type Entry =
  | { readonly kind: 'request'; readonly request: IscsiRequest; readonly at: number }
  | { readonly kind: 'stats'; readonly sid: number; readonly scsicmdPdus: number }
  | { readonly kind: 'reconnect'; readonly sid: number; readonly request: ReconnectRequest; readonly at: number }
  | { readonly kind: 'reconnected'; readonly sid: number; readonly fd: number; readonly expStatSN: number }
  | { readonly kind: 'event'; readonly event: KernelEvent };

/** A fake NETLINK_ISCSI kernel behind the {@link SupervisorKernel} interface. */
class FakeKernel implements SupervisorKernel {
  readonly log: Entry[] = [];
  readonly listeners = new Set<(event: KernelEvent) => void>();
  readonly scsicmdPdus = new Map<number, number>();
  /** The planned outcome of the bind/start that follows each sid's latest reconnect. */
  readonly pending = new Map<number, Outcome>();
  stopFails = true;
  privilegeOn: number | undefined;

  constructor(readonly clock: FakeClock) {}

  async request(request: IscsiRequest): Promise<ReplyMessage> {
    this.log.push({ kind: 'request', request, at: this.clock.now() });
    const sid = 'sid' in request ? request.sid : -1;
    const fail = (message: string, errno: number) => {
      throw new KernelError(errno === 1 ? 'privilege' : 'request', message, { errno, messageType: request.type });
    };
    if (request.type === this.privilegeOn) fail('EPERM', 1);
    // Since 5.8 the kernel has cleaned up already: STOP_CONN(RECOVER) may be refused.
    if (request.type === UeventType.StopConn && this.stopFails) fail('already cleaned up', 107);
    const plan = this.pending.get(sid);
    if (request.type === UeventType.BindConn && plan === 'bind-fail') fail('BIND_CONN failed: EEXIST', 17);
    if (request.type === UeventType.StartConn && plan === 'start-fail') fail('START_CONN failed: ENOTCONN', 107);
    if (request.type === UeventType.StartConn && plan === 'error-after-start') {
      this.pending.set(sid, 'ok');
      this.emit({ type: KeventType.ConnError, sid, cid: 0, error: IscsiErr.TcpConnClose });
    }
    return {
      kind: 'reply',
      header: { length: 72, type: request.type, flags: 0, seq: 0, pid: 0 },
      transportHandle: request.transportHandle,
      request: requestFields(request),
      requestType: request.type,
      result: { kind: 'retcode', retcode: 0 },
    };
  }

  waitForEvent(): Promise<KernelEvent> {
    return Promise.reject(new KernelError('timeout', 'the supervisor waits for no event'));
  }

  onEvent(listener: (event: KernelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async getStats(transportHandle: bigint, sid: number, cid: number): Promise<IscsiStats> {
    expect(transportHandle).toBe(HANDLE);
    expect(cid).toBe(0);
    const n = this.scsicmdPdus.get(sid) ?? 0;
    this.log.push({ kind: 'stats', sid, scsicmdPdus: n });
    return stats(n);
  }

  emit(event: KernelEvent): void {
    this.log.push({ kind: 'event', event });
    for (const listener of [...this.listeners]) listener(event);
  }

  requests(sid?: number): IscsiRequest[] {
    return this.log.flatMap((e) =>
      e.kind === 'request' && (sid === undefined || ('sid' in e.request && e.request.sid === sid)) ? [e.request] : [],
    );
  }
}

/** Virtual time: sleeps wait until {@link FakeClock.fire} runs the earliest. */
class FakeClock implements SupervisorClock {
  t = 0;
  readonly sleeps = new Set<{ until: number; done: () => void }>();

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const entry = {
        until: this.t + ms,
        done: () => {
          this.sleeps.delete(entry);
          signal.removeEventListener('abort', entry.done);
          resolve();
        },
      };
      this.sleeps.add(entry);
      signal.addEventListener('abort', entry.done, { once: true });
    });
  }

  /** Ends the earliest sleep (time jumps to its end); false when nothing sleeps. */
  fire(): boolean {
    let first: { until: number; done: () => void } | undefined;
    for (const s of this.sleeps) if (first === undefined || s.until < first.until) first = s;
    if (first === undefined) return false;
    this.t = Math.max(this.t, first.until);
    first.done();
    return true;
  }
}

/** Lets every pending promise continuation run (the fakes never wait on real I/O). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Fires sleeps until none is left (bounded). */
async function runAll(clock: FakeClock): Promise<void> {
  await settle();
  for (let i = 0; i < 10_000 && clock.fire(); i++) await settle();
  expect(clock.sleeps.size).toBe(0);
}

const PARAMS = { ...DEFAULT_PARAMETERS, sessionType: 'Normal' as const, defaultTime2Wait: 2, targetPortalGroupTag: 1 };

/** A reconnect that follows `plan` (then 'ok'), takes `costMs` of virtual time, and records what it was asked. */
function fakeReconnect(
  kernel: FakeKernel,
  sid: number,
  plan: () => { outcome: Outcome; costMs: number },
  closed: Set<number>,
): Reconnect {
  let nextFd = sid * 1000;
  return async (request) => {
    kernel.log.push({ kind: 'reconnect', sid, request, at: kernel.clock.now() });
    const { outcome, costMs } = plan();
    kernel.clock.t += costMs;
    if (outcome === 'login-fail') throw new ConnectionError('connect ECONNREFUSED 127.0.0.1:3260');
    kernel.pending.set(sid, outcome);
    const fd = ++nextFd;
    const expStatSN = 5000 + fd;
    kernel.log.push({ kind: 'reconnected', sid, fd, expStatSN });
    return {
      loggedIn: {
        params: PARAMS,
        portal: { host: '127.0.0.1', port: 3260, family: 4 as const },
        targetName: 'iqn.2026-11.test:sup',
        expStatSN,
        expCmdSN: request.cmdSN,
        tsih: 0x100 + (fd % 0x100),
      },
      fd,
      close: () => closed.add(fd),
    };
  };
}

function session(sid: number, reconnect: Reconnect, overrides: Partial<SupervisedSession> = {}): SupervisedSession {
  return {
    transportHandle: HANDLE,
    sid,
    cid: 0,
    hostNo: sid + 10,
    isid: 0x80_0000_0000 + sid,
    initialCmdSn: 0xffff_fff0, // wraps after 16 commands
    defaultTime2Wait: 2,
    recoveryTimeout: 30,
    reconnect,
    params: { recoveryTimeout: 30, initiatorName: 'iqn.2026-11.test:init', chapUsername: 'sup-in' },
    ...overrides,
  };
}

function setup(options: { plan?: () => { outcome: Outcome; costMs: number }; retryDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const kernel = new FakeKernel(clock);
  const events: SupervisorEvent[] = [];
  const logged: { level: string; obj: object; msg?: string }[] = [];
  const logger = {
    debug: (obj: object, msg?: string) => logged.push({ level: 'debug', obj, ...(msg ? { msg } : {}) }),
    info: (obj: object, msg?: string) => logged.push({ level: 'info', obj, ...(msg ? { msg } : {}) }),
    warn: (obj: object, msg?: string) => logged.push({ level: 'warn', obj, ...(msg ? { msg } : {}) }),
    error: (obj: object, msg?: string) => logged.push({ level: 'error', obj, ...(msg ? { msg } : {}) }),
  };
  const supervisor = new KernelSupervisor({
    kernel,
    clock,
    logger,
    onEvent: (e) => events.push(e),
    retryDelayMs: options.retryDelayMs ?? 1000,
    maxRetryDelayMs: 8000,
  });
  const closed = new Set<number>();
  const plan = options.plan ?? (() => ({ outcome: 'ok' as const, costMs: 50 }));
  const reconnect = (sid: number) => fakeReconnect(kernel, sid, plan, closed);
  return { clock, kernel, supervisor, events, logged, closed, reconnect };
}

const connError = (sid: number, error: number = IscsiErr.TcpConnClose, cid = 0): KernelEvent => ({
  type: KeventType.ConnError,
  sid,
  cid,
  error,
});

function typeName(r: IscsiRequest): string {
  const name = Object.entries(UeventType).find(([, v]) => v === r.type)?.[0] ?? '?';
  if (r.type === UeventType.StopConn) return `${name}(${r.flag})`;
  if (r.type === UeventType.SetParam) return `SetParam(${r.param})`;
  return name;
}

describe('KernelSupervisor: one recovery', () => {
  it('rebinds the same sid/cid with the kernel CmdSN: STOP_CONN(RECOVER), Time2Wait, login, BIND, SET_PARAM, START', async () => {
    const { clock, kernel, supervisor, events, closed, reconnect } = setup();
    const s = session(3, reconnect(3));
    supervisor.supervise(s);
    kernel.scsicmdPdus.set(3, 132);
    clock.t = 10_000;
    kernel.emit(connError(3));
    await runAll(clock);

    const sent = kernel.requests();
    expect(sent[0]).toMatchObject({ type: UeventType.StopConn, sid: 3, cid: 0, flag: StopConnFlag.Recover });
    const names = sent.map(typeName);
    expect(names[1]).toBe('BindConn');
    expect(names.at(-2)).toBe('SetHostParam');
    expect(names.at(-1)).toBe('StartConn');
    expect(names.some((n) => n.startsWith('Create') || n.startsWith('Destroy'))).toBe(false);
    const bind = sent[1]!;
    if (bind.type !== UeventType.BindConn) throw new Error('not BIND_CONN');
    expect(bind).toMatchObject({ sid: 3, cid: 0, transportEph: 3001n, isLeading: true });
    // Time2Wait (2 s) passed between the error and the login.
    const login = kernel.log.find((e) => e.kind === 'reconnect')!;
    if (login.kind !== 'reconnect') throw new Error('no reconnect');
    expect(login.at).toBe(12_000);
    // CmdSN = initial_cmdsn + scsicmd_pdus, modulo 2^32; the same ISID.
    expect(login.request.cmdSN).toBe((0xffff_fff0 + 132) % 2 ** 32);
    expect(login.request.isid).toBe(s.isid);
    expect(login.request.timeoutMs).toBe(28_000);
    const params = new Map(sent.flatMap((r) => (r.type === UeventType.SetParam ? [[r.param, r.value] as const] : [])));
    expect(params.get(IscsiParam.ExpStatSn)).toBe(String(5000 + 3001));
    expect(params.get(IscsiParam.SessRecoveryTmo)).toBe('30');
    expect(params.get(IscsiParam.Username)).toBe('sup-in');
    expect(params.get(IscsiParam.MaxXmitDLength)).toBe(String(PARAMS.maxXmitDataSegmentLength));
    expect(closed.has(3001)).toBe(true); // our fd closed after the bind
    expect(events.map((e) => (e.event === 'kernel-recovery' ? `${e.event}:${e.phase}` : e.event))).toEqual([
      'kernel-supervise',
      'kernel-conn-error',
      'kernel-recovery:attempt',
      'kernel-recovery:success',
    ]);
    expect(events[1]).toMatchObject({ sid: 3, cid: 0, error: 1020, name: 'TcpConnClose' });
    expect(events[3]).toMatchObject({ sid: 3, attempt: 1, ms: 2050, tsih: 0x100 + (3001 % 0x100) });
    expect(supervisor.sessions).toEqual([{ sid: 3, cid: 0, state: 'up', recoveries: 1 }]);
    await supervisor.stop();
    expect(kernel.listeners.size).toBe(0);
  });

  it('retries with a doubling, capped backoff until the recovery timeout, then gives the session up', async () => {
    const { clock, kernel, supervisor, events, closed, reconnect } = setup({
      plan: () => ({ outcome: 'login-fail', costMs: 100 }),
    });
    supervisor.supervise(session(1, reconnect(1), { recoveryTimeout: 30 }));
    const empty = supervisor.whenEmpty();
    kernel.emit(connError(1));
    await runAll(clock);
    await empty;
    const failures = events.flatMap((e) => (e.event === 'kernel-recovery' && e.phase === 'failure' ? [e] : []));
    expect(failures.map((f) => f.delayMs).slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 8000]);
    for (const f of failures) expect(f).toMatchObject({ code: 'ERR_ISCSI_CONNECTION' });
    const gaveUp = events.at(-1)!;
    expect(gaveUp).toMatchObject({ event: 'kernel-recovery', phase: 'gave-up', sid: 1, code: 'ERR_ISCSI_TIMEOUT' });
    if (gaveUp.event !== 'kernel-recovery') throw new Error('not a recovery event');
    expect(gaveUp.ms).toBeGreaterThanOrEqual(30_000);
    expect(gaveUp.ms).toBeLessThan(30_000 + 200);
    // No attempt started after the deadline.
    for (const e of kernel.log) if (e.kind === 'reconnect') expect(e.at).toBeLessThan(30_000);
    expect(supervisor.sessions).toEqual([]);
    expect(closed.size).toBe(0); // no login ever succeeded: nothing to close
    expect(kernel.requests().filter((r) => r.type === UeventType.BindConn)).toHaveLength(0);
  });

  it('after a failed START_CONN unbinds the new socket (STOP_CONN RECOVER) before binding the next one', async () => {
    const outcomes: Outcome[] = ['start-fail', 'bind-fail', 'ok'];
    const { clock, kernel, supervisor, events, closed, reconnect } = setup({
      plan: () => ({ outcome: outcomes.shift() ?? 'ok', costMs: 10 }),
    });
    supervisor.supervise(session(2, reconnect(2)));
    kernel.emit(connError(2));
    await runAll(clock);
    const names = kernel.requests().map(typeName);
    const binds = names.flatMap((n, i) => (n === 'BindConn' ? [i] : []));
    expect(binds).toHaveLength(3);
    // START failed → STOP_CONN(3) before the second BIND; the failed BIND needs none.
    expect(names.slice(binds[0]!, binds[1]!)).toContain('StopConn(3)');
    expect(names.slice(binds[1]!, binds[2]!)).not.toContain('StopConn(3)');
    expect(events.filter((e) => e.event === 'kernel-recovery').map((e) => (e as { phase: string }).phase)).toEqual([
      'attempt',
      'failure',
      'attempt',
      'failure',
      'attempt',
      'success',
    ]);
    expect([...closed].sort()).toEqual([2001, 2002, 2003]);
    await supervisor.stop();
  });

  it('recovers again when the new connection fails right after START_CONN', async () => {
    const outcomes: Outcome[] = ['error-after-start', 'ok'];
    const { clock, kernel, supervisor, events, reconnect } = setup({
      plan: () => ({ outcome: outcomes.shift() ?? 'ok', costMs: 10 }),
    });
    supervisor.supervise(session(2, reconnect(2)));
    kernel.emit(connError(2));
    await runAll(clock);
    expect(kernel.requests().filter((r) => r.type === UeventType.StartConn)).toHaveLength(2);
    expect(events.filter((e) => e.event === 'kernel-conn-error')).toHaveLength(2);
    expect(supervisor.sessions).toEqual([{ sid: 2, cid: 0, state: 'up', recoveries: 2 }]);
    await supervisor.stop();
  });

  it('recovers a connection error that came before supervise() (during the scan after the hand-off)', async () => {
    const { clock, kernel, supervisor, events, reconnect } = setup();
    kernel.emit(connError(4));
    kernel.emit(connError(5)); // another session's: stays ignored
    supervisor.supervise(session(4, reconnect(4)));
    await runAll(clock);
    expect(events.some((e) => e.event === 'kernel-recovery' && e.phase === 'success' && e.sid === 4)).toBe(true);
    expect(kernel.requests(5)).toEqual([]);
    await supervisor.stop();
  });

  it('gives up at once on INVALID_HOST and on a privilege error', async () => {
    const { clock, kernel, supervisor, events, reconnect } = setup();
    supervisor.supervise(session(1, reconnect(1)));
    supervisor.supervise(session(2, reconnect(2)));
    kernel.emit(connError(1, IscsiErr.InvalidHost));
    await runAll(clock);
    expect(kernel.requests(1)).toEqual([]);
    kernel.privilegeOn = UeventType.BindConn;
    kernel.emit(connError(2));
    await runAll(clock);
    const gaveUp = events.filter((e) => e.event === 'kernel-recovery' && e.phase === 'gave-up');
    expect(gaveUp.map((e) => [e.sid, (e as { code: string }).code])).toEqual([
      [1, 'ERR_ISCSI_KERNEL'],
      [2, 'ERR_ISCSI_KERNEL'],
    ]);
    expect(kernel.requests(2).filter((r) => r.type === UeventType.BindConn)).toHaveLength(1);
    expect(supervisor.sessions).toEqual([]);
    await supervisor.whenEmpty();
  });

  it('stops supervising on UNBIND/DESTROY of its sessions, ignores other sessions and other cids', async () => {
    const { clock, kernel, supervisor, events, reconnect } = setup();
    supervisor.supervise(session(1, reconnect(1)));
    supervisor.supervise(session(2, reconnect(2)));
    expect(() => supervisor.supervise(session(2, reconnect(2)))).toThrow(KernelError);
    kernel.emit(connError(9));
    kernel.emit(connError(1, IscsiErr.TcpConnClose, 1));
    kernel.emit({ type: KeventType.UnbindSession, sid: 9, hostNo: 0 });
    await runAll(clock);
    expect(kernel.log.filter((e) => e.kind !== 'event')).toEqual([]);
    kernel.emit({ type: KeventType.UnbindSession, sid: 1, hostNo: 11 });
    kernel.emit(connError(1));
    await runAll(clock);
    expect(kernel.requests(1)).toEqual([]);
    const empty = supervisor.whenEmpty();
    kernel.emit({ type: KeventType.DestroySession, sid: 2, hostNo: 12 });
    await empty;
    expect(events.filter((e) => e.event === 'kernel-session-gone')).toEqual([
      { event: 'kernel-session-gone', sid: 1, why: 'unbind' },
      { event: 'kernel-session-gone', sid: 2, why: 'destroy' },
    ]);
    await supervisor.stop();
  });

  it('release() and stop() end a recovery under way, abort its login and leave no sleep or listener', async () => {
    const { clock, kernel, supervisor, events } = setup();
    let aborted = 0;
    const hanging: Reconnect = (request) =>
      new Promise((_, reject) =>
        request.signal.addEventListener('abort', () => {
          aborted++;
          reject(new ConnectionError('aborted'));
        }),
      );
    supervisor.supervise(session(1, hanging));
    supervisor.supervise(session(2, hanging));
    kernel.emit(connError(1));
    kernel.emit(connError(2));
    await settle();
    clock.fire();
    clock.fire(); // both past Time2Wait, logging in
    await settle();
    expect(await supervisor.release(1)).toBe(true);
    expect(await supervisor.release(1)).toBe(false);
    await supervisor.stop();
    await supervisor.stop();
    expect(aborted).toBe(2);
    expect(clock.sleeps.size).toBe(0);
    expect(kernel.listeners.size).toBe(0);
    expect(supervisor.sessions).toEqual([]);
    expect(events.filter((e) => e.event === 'kernel-recovery' && e.phase !== 'attempt')).toEqual([]);
    expect(() => supervisor.supervise(session(3, hanging))).toThrow(/stopped/);
    await supervisor.idle();
  });

  it('with the real clock, stop() during Time2Wait clears the timer', async () => {
    vi.useFakeTimers();
    try {
      const kernel = new FakeKernel(new FakeClock());
      const supervisor = new KernelSupervisor({ kernel });
      supervisor.supervise(session(1, () => Promise.reject(new ConnectionError('unused'))));
      kernel.emit(connError(1));
      await vi.advanceTimersByTimeAsync(10);
      expect(vi.getTimerCount()).toBe(1); // the Time2Wait sleep
      await supervisor.stop();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('realClock.sleep resolves after its time or at once when aborted', async () => {
    const controller = new AbortController();
    const started = performance.now();
    await realClock.sleep(20, controller.signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    controller.abort();
    await realClock.sleep(60_000, controller.signal);
  });

  it('logs structured events that never carry a secret', async () => {
    const secret = 'very-secret-chap-0123';
    const { clock, kernel, supervisor, logged, reconnect } = setup({
      plan: () => ({ outcome: 'login-fail', costMs: 5000 }),
    });
    supervisor.supervise(session(1, reconnect(1), { recoveryTimeout: 10 }));
    kernel.emit(connError(1));
    await runAll(clock);
    expect(logged.map((l) => (l.obj as { event: string }).event)).toContain('kernel-recovery');
    expect(JSON.stringify(logged)).not.toContain(secret);
    expect(logged.find((l) => (l.obj as { phase?: string }).phase === 'gave-up')?.level).toBe('error');
  });
});

describe('KernelSupervisor: random event sequences (fast-check)', () => {
  const command = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('conn-error' as const),
        sid: fc.constantFrom(1, 2, 1, 2, 9),
        cid: fc.constantFrom(0, 0, 0, 1),
        error: fc.constantFrom(IscsiErr.TcpConnClose, IscsiErr.NopTimedOut, IscsiErr.XmitFailed),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constantFrom('unbind' as const, 'destroy' as const),
        sid: fc.constantFrom(1, 2, 9),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('io' as const),
        sid: fc.constantFrom(1, 2),
        n: fc.integer({ min: 0, max: 40 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  );
  const outcome = fc.record({
    outcome: fc.constantFrom<Outcome>('ok', 'login-fail', 'login-fail', 'bind-fail', 'start-fail', 'error-after-start'),
    costMs: fc.integer({ min: 0, max: 6000 }),
  });

  it('keeps the invariants of iscsid-style recovery', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 25 }),
        fc.array(outcome, { maxLength: 30 }),
        fc.boolean(),
        async (commands, outcomes, stopFails) => {
          const queue = [...outcomes];
          const { clock, kernel, supervisor, events, closed, reconnect } = setup({
            plan: () => queue.shift() ?? { outcome: 'ok', costMs: 20 },
          });
          kernel.stopFails = stopFails;
          const sessions = new Map([1, 2].map((sid) => [sid, session(sid, reconnect(sid), { recoveryTimeout: 20 })]));
          for (const s of sessions.values()) supervisor.supervise(s);
          for (const c of commands) {
            switch (c.kind) {
              case 'conn-error':
                kernel.emit(connError(c.sid, c.error, c.cid));
                break;
              case 'unbind':
              case 'destroy':
                kernel.emit({
                  type: c.kind === 'unbind' ? KeventType.UnbindSession : KeventType.DestroySession,
                  sid: c.sid,
                  hostNo: 0,
                });
                break;
              case 'io':
                kernel.scsicmdPdus.set(c.sid, (kernel.scsicmdPdus.get(c.sid) ?? 0) + c.n);
                break;
              case 'tick':
                for (let i = 0; i < c.n; i++) clock.fire();
                break;
            }
            await settle();
          }
          await runAll(clock);
          await supervisor.idle();

          // Nothing is ever sent for a session we do not own; no session or connection is created or destroyed.
          for (const e of kernel.log) {
            if (e.kind === 'request') {
              const r = e.request;
              if (r.type === UeventType.SetHostParam) expect([11, 12]).toContain(r.hostNo);
              else expect('sid' in r && sessions.has(r.sid)).toBe(true);
              expect(['CreateSession', 'CreateConn', 'DestroyConn', 'DestroySession']).not.toContain(
                typeName(e.request),
              );
            }
            if (e.kind === 'reconnect' || e.kind === 'stats') expect(sessions.has(e.sid)).toBe(true);
          }
          for (const [sid, s] of sessions) {
            let lastStats: number | undefined;
            let lastFd: number | undefined;
            let lastStatSN: number | undefined;
            let bound = false;
            let startFailedSinceBind = false;
            let goneAt = Number.POSITIVE_INFINITY;
            kernel.log.forEach((e, i) => {
              if (
                e.kind === 'event' &&
                (e.event.type === KeventType.UnbindSession || e.event.type === KeventType.DestroySession) &&
                e.event.sid === sid
              ) {
                goneAt = Math.min(goneAt, i);
              }
              if (e.kind === 'stats' && e.sid === sid) lastStats = e.scsicmdPdus;
              if (e.kind === 'reconnect' && e.sid === sid) {
                // Same ISID; CmdSN = initial_cmdsn + scsicmd_pdus as GET_STATS just said; never after a logout.
                expect(e.request.isid).toBe(s.isid);
                expect(lastStats).toBeDefined();
                expect(e.request.cmdSN).toBe((s.initialCmdSn + lastStats!) >>> 0);
                expect(i).toBeLessThan(goneAt);
                expect(e.request.timeoutMs).toBeGreaterThan(0);
                expect(e.request.timeoutMs).toBeLessThanOrEqual(20_000);
              }
              if (e.kind === 'reconnected' && e.sid === sid) {
                lastFd = e.fd;
                lastStatSN = e.expStatSN;
              }
              if (e.kind !== 'request' || !('sid' in e.request) || e.request.sid !== sid) return;
              const r = e.request;
              if (r.type === UeventType.BindConn) {
                // The fd of the latest login, never bound twice without a STOP_CONN after a failed START.
                expect(Number(r.transportEph)).toBe(lastFd);
                expect(r.cid).toBe(0);
                expect(startFailedSinceBind).toBe(false);
                bound = true;
              }
              if (r.type === UeventType.SetParam) {
                expect(bound).toBe(true);
                if (r.param === IscsiParam.ExpStatSn) expect(r.value).toBe(String(lastStatSN));
              }
              if (r.type === UeventType.StartConn) expect(bound).toBe(true);
              if (r.type === UeventType.StopConn) {
                expect(r.flag).toBe(StopConnFlag.Recover);
                startFailedSinceBind = false;
                bound = false;
              }
            });
            // Every fd a login returned was closed (after BIND_CONN, or because the attempt failed).
            for (const e of kernel.log)
              if (e.kind === 'reconnected' && e.sid === sid) expect(closed.has(e.fd)).toBe(true);
          }
          for (const e of events) {
            if (e.event !== 'kernel-recovery') continue;
            if (e.phase === 'attempt') {
              expect(e.ms).toBeGreaterThanOrEqual(2000); // after DefaultTime2Wait
              expect(e.ms).toBeLessThan(20_000); // before the recovery timeout
            }
            if (e.phase === 'failure') expect(e.delayMs).toBeLessThanOrEqual(8000);
            if (e.phase === 'gave-up') expect(e.ms).toBeGreaterThanOrEqual(20_000);
          }
          // With every timer run, no recovery is left half-way: each session is up or no longer supervised.
          for (const st of supervisor.sessions) expect(st.state).toBe('up');
          const gone = new Set(
            events.flatMap((e) =>
              e.event === 'kernel-session-gone' || (e.event === 'kernel-recovery' && e.phase === 'gave-up')
                ? [e.sid]
                : [],
            ),
          );
          expect(new Set(supervisor.sessions.map((st) => st.sid))).toEqual(
            new Set([1, 2].filter((sid) => !gone.has(sid))),
          );
          await supervisor.stop();
          expect(kernel.listeners.size).toBe(0);
          expect(clock.sleeps.size).toBe(0);
          expect(supervisor.sessions).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('supervisedSession', () => {
  it('takes the ids, ISID, initial CmdSN and Time2Wait of the hand-off and the names of the login', () => {
    const s = supervisedSession(
      {
        transportHandle: HANDLE,
        sid: 5,
        cid: 0,
        hostNo: 6,
        initialCmdSn: 4096,
        disks: [],
        handOffMs: 250,
        loggedIn: { isid: 0x23d123456, params: { ...PARAMS, defaultTime2Wait: 3 } },
      },
      {
        portal: '127.0.0.1',
        targetName: 'iqn.x:y',
        chap: {
          credentials: { user: 'in', secret: Secret.from('secret-in-012345') },
          targetCredentials: { user: 'out', secret: Secret.from('secret-out-01234') },
        },
      },
      { recoveryTimeout: 30 },
    );
    expect(s).toMatchObject({
      transportHandle: HANDLE,
      sid: 5,
      cid: 0,
      hostNo: 6,
      isid: 0x23d123456,
      initialCmdSn: 4096,
      defaultTime2Wait: 3,
      recoveryTimeout: 30,
      params: { recoveryTimeout: 30, chapUsername: 'in', chapUsernameIn: 'out' },
    });
    expect(typeof s.reconnect).toBe('function');
  });
});

describe('IscsiNetlink.getStats', () => {
  /** A channel that answers GET_STATS by multicast stats, or with KEVENT_IF_ERROR for sid 99. */
  class StatsChannel implements NetlinkChannel {
    readonly portId = 1;
    #queue: Buffer[] = [];
    async send(datagram: Buffer): Promise<void> {
      const { decodeRequest } = await import('../../src/kernel/netlink-codec.js');
      const { request } = decodeRequest(datagram);
      if (request.type !== UeventType.GetStats) throw new Error('only GET_STATS here');
      if (request.sid === 99) {
        this.#queue.push(encodeKernelMessage({ kind: 'error', request: requestFields(request), errno: 17 }));
        // sendto() returns after the receive loop (kept running by an event listener) has read the answer.
        await new Promise((resolve) => setTimeout(resolve, 40));
        return;
      }
      // Another connection's statistics first (iscsid asking, say): not ours.
      this.#queue.push(
        encodeKernelMessage({ kind: 'stats', transportHandle: HANDLE, sid: request.sid + 1, cid: 0, stats: stats(1) }),
        encodeKernelMessage({
          kind: 'stats',
          transportHandle: HANDLE,
          sid: request.sid,
          cid: request.cid,
          stats: stats(132),
        }),
      );
    }
    receiveNow(): Buffer[] {
      return this.#queue.splice(0);
    }
    async wait(): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    close(): void {}
  }

  it('returns the multicast statistics of the asked connection, and KEVENT_IF_ERROR as a KernelError', async () => {
    const netlink = new IscsiNetlink(new StatsChannel(), { replyTimeoutMs: 2000 });
    const events: KernelEvent[] = [];
    netlink.onEvent((e) => events.push(e)); // as the supervisor does: the receive loop never stops
    try {
      const got = await netlink.getStats(HANDLE, 1, 0);
      expect(got.scsicmdPdus).toBe(132);
      await expect(netlink.getStats(HANDLE, 99, 0)).rejects.toMatchObject({ reason: 'request', errno: 17 });
      // The socket is still usable afterwards.
      expect((await netlink.getStats(HANDLE, 2, 0)).scsicmdPdus).toBe(132);
      expect(events).toEqual([]);
    } finally {
      netlink.close();
    }
  });
});

describe('userspaceReconnect (embedded target)', () => {
  const IQN = 'iqn.2026-11.test.iscsi-ts:supervisor';
  const chap = {
    credentials: { user: 'sup-in', secret: Secret.from('initiator-secret-0123') },
    targetCredentials: { user: 'sup-out', secret: Secret.from('target-secret-456789') },
  };
  let target: IscsiTarget;

  beforeAll(async () => {
    target = createTarget({
      portals: ['127.0.0.1:0'],
      targets: [
        {
          name: IQN,
          luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }],
          auth: {
            lookup: (user) => (user === chap.credentials.user ? chap.credentials.secret : undefined),
            targetCredentials: chap.targetCredentials,
          },
        },
      ],
    });
    await target.start();
  });

  afterAll(async () => {
    await target.stop({ graceMs: 200 });
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('logs in with the given ISID, TSIH 0 and CmdSN (mutual CHAP) and returns an fd Node no longer reads', async () => {
    const p = target.portals[0]!;
    const reconnect = userspaceReconnect({
      portal: `${p.host}:${p.port}`,
      targetName: IQN,
      chap,
      tsih: 0x1234, // ignored: a reconnection is always a new session
    });
    const controller = new AbortController();
    const conn = await reconnect({
      isid: 0x800012345678,
      cmdSN: 0xfffffffe,
      timeoutMs: 5000,
      signal: controller.signal,
    });
    try {
      expect(conn.fd).toBeGreaterThan(2);
      // The target expects the next command at our CmdSN: the kernel's will carry exactly that.
      expect(conn.loggedIn.expCmdSN).toBe(0xfffffffe);
      expect(conn.loggedIn.tsih).not.toBe(0);
      expect(conn.loggedIn.targetName).toBe(IQN);
      expect(conn.loggedIn.params.sessionType).toBe('Normal');
    } finally {
      conn.close();
    }
  });

  it('is aborted by its signal', async () => {
    const p = target.portals[0]!;
    const reconnect = userspaceReconnect({ portal: `${p.host}:${p.port}`, targetName: IQN, chap });
    const controller = new AbortController();
    controller.abort();
    await expect(
      reconnect({ isid: 0x800012345678, cmdSN: 1, timeoutMs: 5000, signal: controller.signal }),
    ).rejects.toBeInstanceOf(Error);
  });
});
