/**
 * Login first, then hand the connection to the kernel (the design's path, proven on Debian 6.1 against tgtd:
 * ../shared/reference/kernel-handoff-proven.md). After a userspace login (CHAP included), with Node no longer
 * reading the socket:
 *
 * CREATE_SESSION(initial_cmdsn) → CREATE_CONN → BIND_CONN(fd) → SET_PARAM… → SET_HOST_PARAM → START_CONN →
 * `- - -` into `/sys/class/scsi_host/host<N>/scan` → wait for the block devices.
 *
 * What the kernel needs (observed): `initial_cmdsn` = the final Login Response's ExpCmdSN (+1 hangs, −1 gets the
 * connection dropped); every SET_PARAM after BIND_CONN (ENOTCONN before); MAX_RECV_DLENGTH = what we declared (else
 * reads fail with DATALEN) and MAX_XMIT_DLENGTH = what the target declared, 8192 when it declared nothing (else
 * writes stall); the burst, R2T and immediate-data values as negotiated; EXP_STATSN = last StatSN + 1. ISID and TSIH
 * cannot be set (ENOSYS) and are not sent. CHAP secrets are never given to the kernel: it does not log in again by
 * itself (its recovery needs a userspace supervisor, which holds the secrets: supervisor.ts).
 *
 * The hand-off must follow the final Login Response at once: a target's NOP-In that arrives in the gap waits in the
 * socket until after START_CONN, and was seen to stall or lose the session (proven doc §8). So the netlink socket,
 * the modules and the transport handle are all ready before the login starts ({@link loginAndHandOff}).
 *
 * Any failure after CREATE_SESSION stops and destroys what was created: no kernel session is left behind.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { CHAP_ALGORITHMS, ChapAlgorithm } from '../chap/chap.js';
import { LoginError } from '../errors.js';
import { encodePduBytes } from '../pdu/encode.js';
import { Framer } from '../pdu/framer.js';
import { connectOptions, type Portal, parsePortal } from '../session/address.js';
import type { SocketFactory } from '../session/connection.js';
import type { Logger } from '../session/events.js';
import { DEFAULT_INITIATOR_NAME, type LoggedIn, type LoginOptions, login, randomIsid } from '../session/initiator.js';
import { LoginMachine, type LoginResult } from '../session/login.js';
import { KernelError } from './errors.js';
import { ensureKernelModules, type Modprobe } from './modules.js';
import type { IscsiRequest, KernelEvent, ReplyMessage } from './netlink-codec.js';
import { IscsiNetlink } from './netlink-socket.js';
import { IscsiHostParam, IscsiParam, paramName } from './params.js';
import { readKernelSession, readTransportHandle } from './sysfs-sessions.js';
import { stopReading } from './tcp-socket.js';
import { KeventType, StopConnFlag, UeventType } from './uevent-types.js';

/** The netlink requests handOff and kernelLogout send; {@link IscsiNetlink} implements it, tests fake it. */
export interface KernelRequester {
  request(request: IscsiRequest): Promise<ReplyMessage>;
  waitForEvent(match: (event: KernelEvent) => boolean, timeoutMs: number): Promise<KernelEvent>;
}

/** Session-level timeouts and limits sent to the kernel (seconds; iscsid's defaults). */
export interface KernelSessionTunables {
  /** SESS_RECOVERY_TMO: how long I/O is held after a connection failure (default 120). */
  readonly recoveryTimeout?: number;
  /** PING_TMO / RECV_TMO: the kernel's NOP-Out keep-alive (default 5 / 5). */
  readonly pingTimeout?: number;
  readonly recvTimeout?: number;
  readonly abortTimeout?: number;
  readonly luResetTimeout?: number;
  readonly targetResetTimeout?: number;
  /** CREATE_SESSION cmds_max (power of two, 16..4096; default 128) and queue_depth (default 32). */
  readonly cmdsMax?: number;
  readonly queueDepth?: number;
}

/** Options of {@link handOff}. */
export interface HandOffOptions extends KernelSessionTunables {
  /** The logged-in TCP socket: {@link handOff} stops Node reading it (if not done yet) and closes it after bind. */
  readonly socket: Socket;
  /** Our initiator name (for sysfs and the host); default the one {@link login} uses. */
  readonly initiatorName?: string;
  /** The CHAP user names, shown in sysfs (`username`, `username_in`). Secrets are never sent. */
  readonly chapUsername?: string;
  readonly chapUsernameIn?: string;
  /** The netlink socket (default: opened and closed here). */
  readonly netlink?: KernelRequester;
  /** The transport's handle (default: read from sysfs). */
  readonly transportHandle?: bigint;
  /** Transport name (default `tcp`). */
  readonly transport?: string;
  readonly sysRoot?: string;
  /** Scan for LUNs after START_CONN (default true). */
  readonly scan?: boolean;
  /** How long to wait for the block devices after the scan (default 15 000 ms). */
  readonly diskTimeoutMs?: number;
  /** Writes a sysfs attribute (default fs.writeFile); tests inject it. */
  readonly writeSysfs?: (path: string, text: string) => Promise<void>;
  readonly logger?: Logger;
}

/** A block device of a handed-off session. */
export interface HandOffDisk {
  /** `sda`. */
  readonly name: string;
  /** `/dev/sda`. */
  readonly path: string;
  readonly lun: number | bigint;
  readonly sizeBytes?: number;
  /** The udev `/dev/disk/by-path/…` name (which exists only when udev runs). */
  readonly byPath?: string;
}

/** Where a connection lives in the kernel: the transport, the session and the connection. */
export interface KernelConnectionIds {
  /** The transport's handle (`/sys/class/iscsi_transport/<name>/handle`). */
  readonly transportHandle: bigint;
  /** Kernel session id (`/sys/class/iscsi_session/session<sid>`). */
  readonly sid: number;
  readonly cid: number;
  /** SCSI host number of the session. */
  readonly hostNo: number;
}

/** What {@link handOff} returns. */
export interface HandOffResult extends KernelConnectionIds {
  /**
   * The CREATE_SESSION `initial_cmdsn`. The kernel's CmdSN is this plus the connection's `scsicmd_pdus` (GET_STATS),
   * which is what a reconnection has to log in with (kernel/supervisor.ts).
   */
  readonly initialCmdSn: number;
  readonly disks: readonly HandOffDisk[];
  /** Milliseconds from CREATE_SESSION to the START_CONN reply. */
  readonly handOffMs: number;
}

/** One SET_PARAM to send. */
export interface KernelParam {
  readonly param: number;
  readonly value: string;
  /** Whether the session cannot work without it (ENOSYS on an informational one is tolerated, as iscsid does). */
  readonly required: boolean;
}

const b = (v: boolean): string => (v ? '1' : '0');

/**
 * The SET_PARAM list for a logged-in session, in iscsid's order: the session-level values, then the negotiated ones.
 * No CHAP secrets, no ISID/TSIH (the kernel answers ENOSYS for those).
 */
export function kernelParams(loggedIn: KernelLogin, options: KernelParamOptions = {}): KernelParam[] {
  const p = loggedIn.params;
  const info = (param: number, value: string | number | undefined): KernelParam[] =>
    value === undefined || value === '' ? [] : [{ param, value: String(value), required: false }];
  const need = (param: number, value: string | number): KernelParam => ({
    param,
    value: String(value),
    required: true,
  });
  return [
    ...info(IscsiParam.TargetName, loggedIn.targetName),
    ...info(IscsiParam.PersistentAddress, loggedIn.portal.host),
    ...info(IscsiParam.PersistentPort, loggedIn.portal.port),
    ...info(IscsiParam.SessRecoveryTmo, options.recoveryTimeout ?? 120),
    ...info(IscsiParam.Username, options.chapUsername),
    ...info(IscsiParam.UsernameIn, options.chapUsernameIn),
    ...info(IscsiParam.FastAbort, 1),
    ...info(IscsiParam.AbortTmo, options.abortTimeout ?? 15),
    ...info(IscsiParam.LuResetTmo, options.luResetTimeout ?? 30),
    ...info(IscsiParam.TgtResetTmo, options.targetResetTimeout ?? 30),
    ...info(IscsiParam.PingTmo, options.pingTimeout ?? 5),
    ...info(IscsiParam.RecvTmo, options.recvTimeout ?? 5),
    ...info(IscsiParam.IfaceName, 'default'),
    ...info(IscsiParam.InitiatorName, options.initiatorName ?? DEFAULT_INITIATOR_NAME),
    ...info(IscsiParam.DiscoverySess, 0),
    need(IscsiParam.MaxRecvDLength, p.maxRecvDataSegmentLength),
    need(IscsiParam.MaxXmitDLength, p.maxXmitDataSegmentLength),
    need(IscsiParam.HdrDgstEn, b(p.headerDigest === 'CRC32C')),
    need(IscsiParam.DataDgstEn, b(p.dataDigest === 'CRC32C')),
    need(IscsiParam.InitialR2tEn, b(p.initialR2T)),
    need(IscsiParam.MaxR2t, p.maxOutstandingR2T),
    need(IscsiParam.ImmDataEn, b(p.immediateData)),
    need(IscsiParam.FirstBurst, p.firstBurstLength),
    need(IscsiParam.MaxBurst, p.maxBurstLength),
    need(IscsiParam.PduInOrderEn, b(p.dataPDUInOrder)),
    need(IscsiParam.DataSeqInOrderEn, b(p.dataSequenceInOrder)),
    need(IscsiParam.Erl, p.errorRecoveryLevel),
    need(IscsiParam.ExpStatSn, loggedIn.expStatSN),
    ...info(IscsiParam.Tpgt, p.targetPortalGroupTag),
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ignores an error of a best-effort cleanup step. */
async function attempt(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch {
    // cleanup goes on: the next step may still free the session
  }
}

/**
 * Hands a logged-in session to the kernel and returns its sid, host and block devices. Call it right after the
 * login ({@link loginAndHandOff} does both). Throws {@link KernelError} (`request` with errno, `privilege`,
 * `unavailable`, `handoff`) after removing whatever it had created in the kernel and closing the connection.
 */
export async function handOff(loggedIn: LoggedIn, options: HandOffOptions): Promise<HandOffResult> {
  const logger = options.logger;
  if (loggedIn.params.sessionType !== 'Normal')
    throw new KernelError('handoff', 'only a Normal session can be handed off');
  if (loggedIn.connection.framer.bufferedBytes > 0) {
    loggedIn.connection.close();
    throw new KernelError('handoff', 'bytes after the final Login Response were already read: cannot hand off');
  }
  let fd: number;
  try {
    fd = stopReading(options.socket);
  } catch (error) {
    loggedIn.connection.close();
    throw error;
  }
  let ownNetlink: IscsiNetlink | undefined;
  const ids: { sid?: number; conn?: boolean; bound?: boolean } = {};
  let transportHandle = options.transportHandle;
  try {
    transportHandle ??= await readTransportHandle(options.transport ?? 'tcp', { sysRoot: options.sysRoot });
    if (options.netlink === undefined) ownNetlink = await IscsiNetlink.open();
    const netlink = options.netlink ?? ownNetlink!;
    const h = transportHandle;
    const started = performance.now();
    // §4.1 of the proven doc: the CmdSN the first command must carry = the final Login Response's ExpCmdSN.
    const created = await netlink.request({
      type: UeventType.CreateSession,
      transportHandle: h,
      initialCmdSn: loggedIn.expCmdSN,
      cmdsMax: options.cmdsMax ?? 128,
      queueDepth: options.queueDepth ?? 32,
    });
    if (created.result.kind !== 'session')
      throw new KernelError('request', 'CREATE_SESSION answered without a session');
    const sid = created.result.sid;
    const hostNo = created.result.hostNo;
    ids.sid = sid;
    const cid = 0;
    const conn = await netlink.request({ type: UeventType.CreateConn, transportHandle: h, sid, cid });
    if (conn.result.kind !== 'conn' || conn.result.cid === 0xffffffff) {
      throw new KernelError('request', 'CREATE_CONN failed (no connection id)');
    }
    ids.conn = true;
    await bindAndStart(netlink, { transportHandle: h, sid, cid, hostNo }, fd, loggedIn, options, () => {
      ids.bound = true;
      // The kernel holds its own reference to the socket now: our fd (and the Node socket) can go.
      loggedIn.connection.close();
    });
    const handOffMs = Math.round(performance.now() - started);
    logger?.info({ event: 'kernel-handoff', sid, hostNo, ms: handOffMs }, 'session handed to the kernel');
    const disks = options.scan === false ? [] : await scanDisks(sid, hostNo, options);
    return { transportHandle: h, sid, cid, hostNo, initialCmdSn: loggedIn.expCmdSN, disks, handOffMs };
  } catch (error) {
    loggedIn.connection.close();
    if (ids.sid !== undefined && transportHandle !== undefined) {
      const netlink = options.netlink ?? ownNetlink;
      if (netlink)
        await destroyKernelSession(netlink, transportHandle, ids.sid, ids.conn ? [0] : [], ids.bound === true);
    }
    throw error;
  } finally {
    ownNetlink?.close();
  }
}

/** What {@link kernelParams} and {@link bindAndStart} take from a login. */
export type KernelLogin = Pick<LoggedIn, 'params' | 'portal' | 'targetName' | 'expStatSN'>;

/** The options {@link kernelParams} and {@link bindAndStart} read: tunables, names, the logger. */
export type KernelParamOptions = Pick<
  HandOffOptions,
  keyof KernelSessionTunables | 'initiatorName' | 'chapUsername' | 'chapUsernameIn' | 'logger'
>;

/** BIND_CONN of a socket of this process to a kernel connection, as its leading connection. */
function bindConn(
  netlink: KernelRequester,
  ids: Omit<KernelConnectionIds, 'hostNo'>,
  fd: number,
): Promise<ReplyMessage> {
  return netlink.request({
    type: UeventType.BindConn,
    transportHandle: ids.transportHandle,
    sid: ids.sid,
    cid: ids.cid,
    transportEph: BigInt(fd),
    isLeading: true,
  });
}

/**
 * BIND_CONN(fd) → SET_PARAM (every value of {@link kernelParams}) → SET_HOST_PARAM (initiator name, optional) →
 * START_CONN, on a session and connection that exist: the end of a hand-off, and the whole of a reconnection after a
 * connection failure (kernel-handoff-proven.md §7: same sid and cid, no CREATE_*). `fd` is the logged-in socket's,
 * not read by Node any more; `onBound` runs as soon as the kernel holds its own reference to it (the caller's fd may
 * then be closed). Throws {@link KernelError}; a failure after the bind leaves the new socket bound (STOP_CONN frees it).
 */
export async function bindAndStart(
  netlink: KernelRequester,
  ids: KernelConnectionIds,
  fd: number,
  loggedIn: KernelLogin,
  options: KernelParamOptions,
  onBound?: () => void,
): Promise<void> {
  await bindConn(netlink, ids, fd);
  onBound?.();
  await setParamsAndStart(netlink, ids, loggedIn, options);
}

/** SET_PARAM (every value of {@link kernelParams}) → SET_HOST_PARAM (initiator name, optional) → START_CONN. */
async function setParamsAndStart(
  netlink: KernelRequester,
  ids: KernelConnectionIds,
  loggedIn: KernelLogin,
  options: KernelParamOptions,
): Promise<void> {
  const { transportHandle: h, sid, cid, hostNo } = ids;
  for (const { param, value, required } of kernelParams(loggedIn, options)) {
    try {
      await netlink.request({ type: UeventType.SetParam, transportHandle: h, sid, cid, param, value });
    } catch (error) {
      // iscsid ignores ENOSYS ("not supported") for the values the kernel only shows in sysfs.
      if (!required && error instanceof KernelError && error.errno === 38) continue;
      if (error instanceof KernelError) {
        throw new KernelError(error.reason, `SET_PARAM ${paramName(param) ?? param}: ${error.message}`, {
          ...(error.errno === undefined ? {} : { errno: error.errno }),
          cause: error,
        });
      }
      throw error;
    }
  }
  try {
    await netlink.request({
      type: UeventType.SetHostParam,
      transportHandle: h,
      hostNo,
      param: IscsiHostParam.InitiatorName,
      value: options.initiatorName ?? DEFAULT_INITIATOR_NAME,
    });
  } catch (error) {
    // Optional (iscsid sends none for the default iface): shown in /sys/class/iscsi_host only.
    options.logger?.warn({ event: 'kernel-host-param', error: (error as Error).message }, 'SET_HOST_PARAM refused');
  }
  await netlink.request({ type: UeventType.StartConn, transportHandle: h, sid, cid });
}

/** STOP_CONN(TERM) (when bound) → DESTROY_CONN → DESTROY_SESSION, each best effort; the DESTROY_SESSION error, if any. */
async function destroyKernelSession(
  netlink: KernelRequester,
  transportHandle: bigint,
  sid: number,
  cids: readonly number[],
  stop: boolean,
): Promise<unknown> {
  for (const cid of cids) {
    if (stop) {
      await attempt(() =>
        netlink.request({
          type: UeventType.StopConn,
          transportHandle,
          sid,
          cid,
          connHandle: 0n,
          flag: StopConnFlag.Term,
        }),
      );
    }
    await attempt(() => netlink.request({ type: UeventType.DestroyConn, transportHandle, sid, cid }));
  }
  try {
    await netlink.request({ type: UeventType.DestroySession, transportHandle, sid });
    return undefined;
  } catch (error) {
    return error;
  }
}

/** A kernel error no other request can get past: no privilege, no NETLINK_ISCSI here (another network namespace). */
const isFatal = (error: unknown): error is KernelError =>
  error instanceof KernelError && (error.reason === 'privilege' || error.reason === 'unavailable');

/** Writes `- - -` to the host's scan file and waits (bounded) until the session's disks are all there. */
async function scanDisks(sid: number, hostNo: number, options: Omit<HandOffOptions, 'socket'>): Promise<HandOffDisk[]> {
  const root = options.sysRoot ?? '/sys';
  const write = options.writeSysfs ?? ((path: string, text: string) => writeFile(path, text));
  // Synchronous in the kernel: the LUNs are probed when the write returns; sd attaches them just after.
  await write(`${root}/class/scsi_host/host${hostNo}/scan`, '- - -');
  const deadline = performance.now() + (options.diskTimeoutMs ?? 15_000);
  let previous = '';
  for (;;) {
    const session = await readKernelSession(sid, { sysRoot: options.sysRoot });
    const disks = (session?.disks ?? []).map(
      (d): HandOffDisk => ({
        name: d.name,
        path: `/dev/${d.name}`,
        lun: d.hctl.lun,
        ...(d.sizeBytes === undefined ? {} : { sizeBytes: d.sizeBytes }),
        ...(d.byPath === undefined ? {} : { byPath: d.byPath }),
      }),
    );
    const key = JSON.stringify(disks, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    // Done when there is a disk with a size and a second look shows the same list.
    if (disks.length > 0 && disks.every((d) => d.sizeBytes !== undefined) && key === previous) return disks;
    if (performance.now() > deadline) return disks;
    previous = key;
    await sleep(100);
  }
}

/** Options of {@link loginAndHandOff}: the hand-off's, without the socket. */
export interface LoginAndHandOffOptions extends Omit<HandOffOptions, 'socket' | 'netlink' | 'transportHandle'> {
  /** How to load modules (default spawn modprobe); `false` to never load any. */
  readonly modprobe?: Modprobe | false;
  readonly netlink?: IscsiNetlink;
  /**
   * iscsid's order instead of login-first: bind the fresh socket before any login byte, log in through the kernel
   * (SEND_PDU / KEVENT_RECV_PDU) with the same LoginMachine, then set the parameters and start. What partial-offload
   * HBAs need; no gap between login and hand-off can exist.
   */
  readonly bindFirst?: boolean;
}

/**
 * Loads the modules, opens the netlink socket and reads the transport handle, logs in over TCP in userspace (CHAP
 * included) and hands the connection to the kernel at once. Throws the login's errors (LoginError, AuthError, …)
 * unchanged, or {@link KernelError}; in every failure case no kernel session is left.
 */
export async function loginAndHandOff(
  loginOptions: LoginOptions,
  options: LoginAndHandOffOptions = {},
): Promise<HandOffResult & { readonly loggedIn: Omit<LoggedIn, 'connection'> }> {
  const transport = options.transport ?? 'tcp';
  if (options.modprobe !== false) {
    await ensureKernelModules({
      transport,
      ...(options.sysRoot === undefined ? {} : { sysRoot: options.sysRoot }),
      ...(options.modprobe === undefined ? {} : { modprobe: options.modprobe }),
    });
  }
  const transportHandle = await readTransportHandle(transport, { sysRoot: options.sysRoot });
  const netlink = options.netlink ?? (await IscsiNetlink.open());
  try {
    if (options.bindFirst === true) {
      try {
        return await bindFirst(loginOptions, options, netlink, transportHandle);
      } catch (error) {
        // tgt numbers SHA-1 as CHAP_A=7, the registry's SHA-256 (see login()): retry once without 7.
        if (!(error instanceof ChapSevenRefused) || loginOptions.chap === undefined) {
          throw error instanceof ChapSevenRefused ? error.cause : error;
        }
        const algorithms = (loginOptions.chap.algorithms ?? CHAP_ALGORITHMS).filter((a) => a !== ChapAlgorithm.SHA256);
        return await bindFirst(
          { ...loginOptions, chap: { ...loginOptions.chap, algorithms } },
          options,
          netlink,
          transportHandle,
        );
      }
    }
    const { loggedIn, socket } = await loginWithSocket({
      ...loginOptions,
      initiatorName: loginOptions.initiatorName ?? options.initiatorName ?? DEFAULT_INITIATOR_NAME,
    });
    // Nothing may run between the final Login Response and here but microtasks: handOff stops reading first.
    const result = await handOff(loggedIn, {
      ...options,
      socket,
      netlink,
      transportHandle,
      initiatorName: loginOptions.initiatorName ?? options.initiatorName ?? DEFAULT_INITIATOR_NAME,
      ...(options.chapUsername === undefined && loginOptions.chap
        ? { chapUsername: loginOptions.chap.credentials.user }
        : {}),
      ...(options.chapUsernameIn === undefined && loginOptions.chap?.targetCredentials
        ? { chapUsernameIn: loginOptions.chap.targetCredentials.user }
        : {}),
    });
    const { connection: _connection, ...rest } = loggedIn;
    return { ...result, loggedIn: rest };
  } finally {
    if (options.netlink === undefined) netlink.close();
  }
}

/**
 * {@link login} (userspace, CHAP included), returning the logged-in connection's Node socket too, so that its fd can
 * be given to the kernel. Node still reads the socket when this resolves: the caller must call `stopReading` before
 * yielding to the event loop (only microtasks may run), or a target PDU could be read by Node and lost to the kernel.
 * Throws the login's errors, or {@link KernelError} (`handoff`) when no socket was opened.
 */
export async function loginWithSocket(loginOptions: LoginOptions): Promise<{ loggedIn: LoggedIn; socket: Socket }> {
  let socket: Socket | undefined;
  const base = loginOptions.connect;
  // Redirects and the CHAP_A=7 retry open new connections: the last socket is the logged-in one.
  const connect: SocketFactory = (o) => {
    socket = base ? base(o) : netConnect(o);
    return socket;
  };
  const loggedIn = await login({ ...loginOptions, connect });
  if (socket === undefined) {
    loggedIn.connection.close();
    throw new KernelError('handoff', 'the login did not open a socket');
  }
  return { loggedIn, socket };
}

/** Marks tgt's CHAP_A=7 refusal for the retry in {@link loginAndHandOff}. */
class ChapSevenRefused extends Error {
  constructor(override readonly cause: LoginError) {
    super(cause.message);
  }
}

/** Connects a TCP socket to the portal that Node will never read (the kernel gets it before the login). */
function connectUnread(portal: Portal, loginOptions: LoginOptions): Promise<Socket> {
  const ms = loginOptions.connectTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const o = connectOptions(portal, loginOptions.localAddress);
    const socket = loginOptions.connect ? loginOptions.connect(o) : netConnect(o);
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new KernelError('timeout', `connecting to ${portal.host}:${portal.port} took over ${ms} ms`));
    }, ms);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new KernelError('syscall', `cannot connect to ${portal.host}:${portal.port}: ${error.message}`));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // the kernel owns the stream; errors show as KEVENT_CONN_ERROR
      stopReading(socket);
      resolve(socket);
    });
  });
}

/**
 * Bind first (iscsid's order, kernel-handoff-proven.md §5): CREATE_SESSION → CREATE_CONN → BIND_CONN(fresh socket)
 * → the login through the kernel → SET_PARAM… → SET_HOST_PARAM → START_CONN → scan. The kernel rewrites the login
 * requests' CmdSN (to initial_cmdsn, so the machine uses that value too) and their ITT (so the responses' ITT is set
 * back to the machine's before it checks them).
 */
async function bindFirst(
  loginOptions: LoginOptions,
  options: LoginAndHandOffOptions,
  netlink: KernelRequester,
  h: bigint,
): Promise<HandOffResult & { readonly loggedIn: Omit<LoggedIn, 'connection'> }> {
  if ((loginOptions.sessionType ?? 'Normal') !== 'Normal' || !loginOptions.targetName) {
    throw new KernelError('handoff', 'only a Normal session with a target name can be brought into the kernel');
  }
  const portal = typeof loginOptions.portal === 'string' ? parsePortal(loginOptions.portal) : loginOptions.portal;
  const initiatorName = loginOptions.initiatorName ?? options.initiatorName ?? DEFAULT_INITIATOR_NAME;
  const socket = await connectUnread(portal, loginOptions);
  const ids: { sid?: number; conn?: boolean; bound?: boolean } = {};
  const initialCmdSn = randomBytes(4).readUInt32BE(0);
  const itt = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  const stepMs = loginOptions.stepTimeoutMs ?? 10_000;
  try {
    const started = performance.now();
    const created = await netlink.request({
      type: UeventType.CreateSession,
      transportHandle: h,
      initialCmdSn,
      cmdsMax: options.cmdsMax ?? 128,
      queueDepth: options.queueDepth ?? 32,
    });
    if (created.result.kind !== 'session')
      throw new KernelError('request', 'CREATE_SESSION answered without a session');
    const { sid, hostNo } = created.result;
    ids.sid = sid;
    const cid = 0;
    const conn = await netlink.request({ type: UeventType.CreateConn, transportHandle: h, sid, cid });
    if (conn.result.kind !== 'conn' || conn.result.cid === 0xffffffff) {
      throw new KernelError('request', 'CREATE_CONN failed (no connection id)');
    }
    ids.conn = true;
    const fd = stopReading(socket);
    await bindConn(netlink, { transportHandle: h, sid, cid }, fd);
    ids.bound = true;
    socket.destroy(); // the kernel holds its own reference
    const machine = new LoginMachine({
      initiatorName,
      ...(loginOptions.initiatorAlias ? { initiatorAlias: loginOptions.initiatorAlias } : {}),
      sessionType: 'Normal',
      targetName: loginOptions.targetName,
      isid: loginOptions.isid ?? randomIsid(),
      ...(loginOptions.tsih ? { tsih: loginOptions.tsih } : {}),
      cmdSN: initialCmdSn,
      initiatorTaskTag: itt,
      ...(loginOptions.chap ? { chap: loginOptions.chap } : {}),
      ...(loginOptions.offer ? { offer: loginOptions.offer } : {}),
    });
    const framer = new Framer({ sender: 'target' });
    let result: LoginResult | undefined;
    for (let step = machine.start(); result === undefined; ) {
      if (step.kind === 'redirect') {
        throw new KernelError(
          'handoff',
          `the target redirects to ${step.targetAddress}: not followed in bind-first mode`,
        );
      }
      if (step.kind === 'done') {
        result = step.result;
        break;
      }
      const wire = encodePduBytes(step.pdu);
      await netlink.request({
        type: UeventType.SendPdu,
        transportHandle: h,
        sid,
        cid,
        header: wire.subarray(0, 48),
        data: wire.subarray(48),
      });
      const event = await netlink.waitForEvent((e) => e.type === KeventType.RecvPdu && e.sid === sid, stepMs);
      if (event.type !== KeventType.RecvPdu) continue;
      const header = Uint8Array.from(event.header);
      new DataView(header.buffer).setUint32(16, itt); // the kernel used its own ITT on the wire
      const padded = new Uint8Array(48 + Math.ceil(event.data.length / 4) * 4);
      padded.set(header);
      padded.set(event.data, 48);
      framer.push(padded);
      const framed = framer.next();
      if (framed === undefined) throw new KernelError('field', 'KEVENT_RECV_PDU did not hold a whole PDU');
      try {
        step = machine.receive(framed.pdu);
      } catch (error) {
        if (
          error instanceof LoginError &&
          error.status === 0x0200 &&
          machine.chapAlgorithm === ChapAlgorithm.SHA256 &&
          loginOptions.chap?.algorithms === undefined
        ) {
          throw new ChapSevenRefused(error);
        }
        throw error;
      }
    }
    const loggedIn = { ...result, portal, redirectedFrom: [], targetName: loginOptions.targetName };
    const withNames = {
      ...options,
      initiatorName,
      ...(options.chapUsername === undefined && loginOptions.chap
        ? { chapUsername: loginOptions.chap.credentials.user }
        : {}),
      ...(options.chapUsernameIn === undefined && loginOptions.chap?.targetCredentials
        ? { chapUsernameIn: loginOptions.chap.targetCredentials.user }
        : {}),
    };
    await setParamsAndStart(netlink, { transportHandle: h, sid, cid, hostNo }, loggedIn, withNames);
    const handOffMs = Math.round(performance.now() - started);
    options.logger?.info({ event: 'kernel-login', sid, hostNo, ms: handOffMs }, 'logged in through the kernel');
    const disks = options.scan === false ? [] : await scanDisks(sid, hostNo, options);
    return { transportHandle: h, sid, cid, hostNo, initialCmdSn, disks, handOffMs, loggedIn };
  } catch (error) {
    socket.destroy();
    if (ids.sid !== undefined) await destroyKernelSession(netlink, h, ids.sid, ids.conn ? [0] : [], ids.bound === true);
    throw error;
  }
}

/** Options of {@link kernelLogout}. */
export interface KernelLogoutOptions {
  /** `logout` (default): a Logout Request through the kernel first; `stop`: just stop and destroy. */
  readonly mode?: 'logout' | 'stop';
  readonly netlink?: KernelRequester;
  readonly sysRoot?: string;
  /** Milliseconds for each kernel event waited for (default 5 000). */
  readonly eventTimeoutMs?: number;
  readonly logger?: Logger;
}

/** What {@link kernelLogout} did. */
export interface KernelLogoutResult {
  readonly sid: number;
  /** The Logout Response's response code, when one came (0 = closed successfully). */
  readonly logoutResponse?: number;
  /** Disks the session had. */
  readonly disks: readonly string[];
}

/**
 * Logs a kernel session out and removes it, as iscsid does: UNBIND_SESSION (the disks go, caches synced) → a Logout
 * Request through the kernel (SEND_PDU, answered by KEVENT_RECV_PDU) → STOP_CONN(TERM) → DESTROY_CONN →
 * DESTROY_SESSION. When the connection is down, or the logout gets no answer, the stop/destroy part still runs.
 * Throws {@link KernelError} when the session does not exist or cannot be destroyed (`privilege` when this process may
 * not use NETLINK_ISCSI: no CAP_SYS_ADMIN, or another network namespace).
 */
export async function kernelLogout(sid: number, options: KernelLogoutOptions = {}): Promise<KernelLogoutResult> {
  const session = await readKernelSession(sid, { sysRoot: options.sysRoot });
  if (session === undefined) throw new KernelError('sysfs', `there is no kernel iSCSI session ${sid}`);
  const transport = session.transport?.name ?? session.host?.transport ?? 'tcp';
  const transportHandle =
    session.transport?.handle ?? (await readTransportHandle(transport, { sysRoot: options.sysRoot }));
  const ownNetlink = options.netlink === undefined ? await IscsiNetlink.open() : undefined;
  const netlink = options.netlink ?? ownNetlink!;
  const wait = options.eventTimeoutMs ?? 5000;
  const cids = session.connections.length > 0 ? session.connections.map((c) => c.cid) : [0];
  let logoutResponse: number | undefined;
  try {
    const up = session.connections.some((c) => c.state === 'up');
    if ((options.mode ?? 'logout') === 'logout' && up) {
      try {
        await netlink.request({ type: UeventType.UnbindSession, transportHandle, sid });
        await attempt(() =>
          netlink.waitForEvent((e) => e.type === KeventType.UnbindSession && 'sid' in e && e.sid === sid, wait),
        );
        // Logout Request, reason 0 (close the session): opcode 0x06 | I, F set; the kernel fills ITT and CmdSN.
        const header = new Uint8Array(48);
        header[0] = 0x46;
        header[1] = 0x80;
        await netlink.request({
          type: UeventType.SendPdu,
          transportHandle,
          sid,
          cid: cids[0]!,
          header,
          data: new Uint8Array(0),
        });
        const response = await netlink.waitForEvent(
          (e) => e.type === KeventType.RecvPdu && e.sid === sid && (e.header[0]! & 0x3f) === 0x26,
          wait,
        );
        if (response.type === KeventType.RecvPdu) logoutResponse = response.header[2];
      } catch (error) {
        if (isFatal(error)) throw error;
        options.logger?.warn(
          { event: 'kernel-logout', sid, error: (error as Error).message },
          'logout through the kernel failed; stopping the session',
        );
      }
    }
    const failed = await destroyKernelSession(netlink, transportHandle, sid, cids, true);
    if (failed !== undefined && (await readKernelSession(sid, { sysRoot: options.sysRoot })) !== undefined) {
      if (isFatal(failed)) throw failed;
      throw new KernelError('request', `kernel session ${sid} could not be destroyed`, { cause: failed });
    }
    return {
      sid,
      ...(logoutResponse === undefined ? {} : { logoutResponse }),
      disks: session.disks.map((d) => d.name),
    };
  } finally {
    ownNetlink?.close();
  }
}
