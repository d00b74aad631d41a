/**
 * The NETLINK_ISCSI socket from Node: `socket(AF_NETLINK, SOCK_RAW, NETLINK_ISCSI)` bound to the kernel-chosen port
 * id and multicast group 1 (kernel events), requests matched to their replies, and events dispatched to listeners.
 *
 * Receiving without blocking the event loop: Node cannot watch a netlink fd (net.Socket takes only stream fds,
 * dgram only UDP), so readiness is waited for with `poll()` on a koffi worker thread, in slices of
 * {@link POLL_SLICE_MS}, and the datagrams are then read on the main thread with `recv(MSG_DONTWAIT)`. The worker
 * never touches a buffer (no data shared across threads), errno of every data call is read on the thread that made
 * it, and the loop runs only while someone waits for a reply or an event, so an idle socket keeps no thread busy.
 * The kernel handles a request inside `sendto()` and queues the reply before the call returns (netlink unicast to a
 * kernel socket is synchronous), so a reply is usually read by the first non-blocking drain, without any wait.
 * @module
 */
import { KernelError } from './errors.js';
import { errnoName, type Libc, loadLibc, MSG_DONTWAIT, SO_RCVBUF, SOL_SOCKET } from './libc.js';
import {
  decodeKernelMessage,
  encodeRequest,
  type IscsiRequest,
  type IscsiStats,
  type KernelEvent,
  type ReplyMessage,
  splitNetlinkDatagram,
} from './netlink-codec.js';
import { messageTypeName, NetlinkIscsi, UeventType } from './uevent-types.js';

/** Longest single wait of the receive loop; also the longest {@link IscsiNetlink.close} can leave a poll running. */
export const POLL_SLICE_MS = 200;
/** Receive buffer for one datagram: RECV_PDU is at most 72 + 48 + 8192 bytes; 64 KiB leaves room. */
const RECV_BUFFER_BYTES = 64 * 1024;
/** Datagrams read per drain, so a flood of events cannot hold the event loop. */
const MAX_DATAGRAMS_PER_DRAIN = 256;
/** Events kept for {@link IscsiNetlink.waitForEvent} callers that start waiting after the event came. */
const EVENT_BACKLOG = 256;
const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;
const EPERM = 1;
const EACCES = 13;
const ECONNREFUSED = 111;
const EPROTONOSUPPORT = 93;

/**
 * A datagram channel to the kernel: what {@link IscsiNetlink} needs, injectable so tests can run a fake kernel
 * (see test/kernel/handoff.test.ts).
 */
export interface NetlinkChannel {
  /** The port id the kernel assigned (it shows as a session's `creator` in sysfs). */
  readonly portId: number;
  /** Sends one datagram to the kernel (port id 0). Rejects with {@link KernelError}. */
  send(datagram: Buffer): Promise<void>;
  /** Datagrams already queued, without waiting (may be empty). Throws {@link KernelError}. */
  receiveNow(): Buffer[];
  /** Resolves when a datagram may be readable, or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void>;
  close(): void;
}

/** Options of {@link openNetlinkChannel}. */
export interface NetlinkChannelOptions {
  /** A bound libc (tests, or one already loaded); by default koffi is loaded now. */
  readonly libc?: Libc;
  /** Multicast groups to join (bit mask; default 1 = ISCSI_NL_GRP_ISCSID, where kernel events go). */
  readonly groups?: number;
}

function syscallError(call: string, errno: number): KernelError {
  if (call === 'socket' && (errno === EPROTONOSUPPORT || errno === 97) /* EAFNOSUPPORT */) {
    return new KernelError(
      'unavailable',
      `this kernel offers no NETLINK_ISCSI socket (${errnoName(errno)}): load scsi_transport_iscsi (modprobe iscsi_tcp)`,
      { errno },
    );
  }
  if (errno === EPERM || errno === EACCES) {
    return new KernelError(
      'privilege',
      `${call} on the NETLINK_ISCSI socket: ${errnoName(errno)} (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN in the initial user namespace)`,
      { errno },
    );
  }
  if (call === 'sendto' && errno === ECONNREFUSED) {
    return new KernelError(
      'privilege',
      'the kernel has no NETLINK_ISCSI socket in this network namespace (ECONNREFUSED): kernel iSCSI works only in the initial network namespace',
      { errno },
    );
  }
  return new KernelError('syscall', `${call} on the NETLINK_ISCSI socket failed: ${errnoName(errno)}`, { errno });
}

/**
 * Opens and binds a NETLINK_ISCSI socket through koffi. Throws {@link KernelError}: `unavailable` without koffi or
 * without NETLINK_ISCSI in the kernel, `privilege` when joining the event group is refused (EPERM).
 */
export async function openNetlinkChannel(options: NetlinkChannelOptions = {}): Promise<NetlinkChannel> {
  const libc = options.libc ?? (await loadLibc());
  const socket = libc.socket(NetlinkIscsi.Family, NetlinkIscsi.SocketType, NetlinkIscsi.Protocol);
  if (socket.value < 0) throw syscallError('socket', socket.errno);
  const fd = socket.value;
  try {
    const rcvbuf = Buffer.alloc(4);
    rcvbuf.writeInt32LE(256 * 1024);
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf); // best effort: room for event bursts
    // struct sockaddr_nl { u16 family; u16 pad; u32 pid; u32 groups }: pid 0 = the kernel picks our port id.
    const local = Buffer.alloc(12);
    local.writeUInt16LE(NetlinkIscsi.Family, 0);
    local.writeUInt32LE(0, 4);
    local.writeUInt32LE(options.groups ?? 1 << (NetlinkIscsi.GroupIscsid - 1), 8);
    const bound = libc.bind(fd, local);
    if (bound.value < 0) throw syscallError('bind', bound.errno);
    const name = Buffer.alloc(12);
    const got = libc.getsockname(fd, name);
    if (got.value < 0) throw syscallError('getsockname', got.errno);
    return new KoffiChannel(libc, fd, name.readUInt32LE(4));
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

class KoffiChannel implements NetlinkChannel {
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #buffer = Buffer.allocUnsafe(RECV_BUFFER_BYTES);
  /** sockaddr_nl of the kernel: family 16, pid 0, groups 0. */
  readonly #kernel = Buffer.alloc(12);
  #closed = false;

  constructor(
    libc: Libc,
    fd: number,
    readonly portId: number,
  ) {
    this.#libc = libc;
    this.#fd = fd;
    this.#kernel.writeUInt16LE(NetlinkIscsi.Family, 0);
  }

  async send(datagram: Buffer): Promise<void> {
    if (this.#closed) throw new KernelError('syscall', 'the NETLINK_ISCSI socket is closed');
    // iscsid retries ENOMEM after a pause; a bounded number of retries here.
    for (let attempt = 0; ; attempt++) {
      const r = await this.#libc.sendto(this.#fd, datagram, 0, this.#kernel);
      if (r.value === datagram.length) return;
      if (r.value >= 0) throw new KernelError('syscall', `sendto sent ${r.value} of ${datagram.length} bytes`);
      if ((r.errno === 12 || r.errno === EINTR) && attempt < 3) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      throw syscallError('sendto', r.errno);
    }
  }

  receiveNow(): Buffer[] {
    const out: Buffer[] = [];
    while (!this.#closed && out.length < MAX_DATAGRAMS_PER_DRAIN) {
      const r = this.#libc.recv(this.#fd, this.#buffer, MSG_DONTWAIT);
      if (r.value < 0) {
        if (r.errno === EAGAIN || r.errno === EINTR) break;
        // The receive queue overflowed and some multicast events were dropped; what follows is still good.
        if (r.errno === ENOBUFS) continue;
        throw syscallError('recv', r.errno);
      }
      out.push(Buffer.from(this.#buffer.subarray(0, r.value)));
    }
    return out;
  }

  async wait(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    await this.#libc.pollIn(this.#fd, Math.max(0, Math.min(timeoutMs, POLL_SLICE_MS)));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A poll still running on a worker holds its own reference to the file and ends within POLL_SLICE_MS.
    this.#libc.close(this.#fd);
  }
}

/** Options of {@link IscsiNetlink}. */
export interface IscsiNetlinkOptions {
  /** Milliseconds to wait for a reply (default 15 000: CREATE_SESSION/CREATE_CONN take ~0.2 s under QEMU TCG). */
  readonly replyTimeoutMs?: number;
}

/** A listener of kernel events (every session's: filter by sid, the group is shared with iscsid). */
export type KernelEventListener = (event: KernelEvent) => void;

interface ReplyWaiter {
  readonly type: number;
  resolve(reply: ReplyMessage): void;
  reject(error: unknown): void;
}

interface StatsWaiter {
  readonly sid: number;
  readonly cid: number;
  resolve(stats: IscsiStats): void;
}

interface EventWaiter {
  readonly match: (event: KernelEvent) => boolean;
  resolve(event: KernelEvent): void;
  reject(error: unknown): void;
}

/** Requests whose reply carries a driver error in `r.retcode` rather than as KEVENT_IF_ERROR. */
const RETCODE_REQUESTS: ReadonlySet<number> = new Set([
  UeventType.BindConn,
  UeventType.StartConn,
  UeventType.SendPdu,
  UeventType.TransportEpPoll,
]);

/**
 * NETLINK_ISCSI requests and events over a {@link NetlinkChannel}: one request at a time (replies are matched by
 * their request code, as iscsid does), the reply's errors turned into {@link KernelError}, events passed to every
 * listener and kept briefly for {@link IscsiNetlink.waitForEvent}.
 */
export class IscsiNetlink {
  readonly #channel: NetlinkChannel;
  readonly #replyTimeoutMs: number;
  readonly #listeners = new Set<KernelEventListener>();
  readonly #eventWaiters = new Set<EventWaiter>();
  #backlog: KernelEvent[] = [];
  #replyWaiter: ReplyWaiter | undefined;
  #statsWaiter: StatsWaiter | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #pumping = false;
  #closed = false;

  constructor(channel: NetlinkChannel, options: IscsiNetlinkOptions = {}) {
    this.#channel = channel;
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 15_000;
  }

  /** Opens a koffi-backed NETLINK_ISCSI socket (see {@link openNetlinkChannel}). */
  static async open(options: IscsiNetlinkOptions & NetlinkChannelOptions = {}): Promise<IscsiNetlink> {
    return new IscsiNetlink(await openNetlinkChannel(options), options);
  }

  /** Our netlink port id (a session's `creator` in sysfs). */
  get portId(): number {
    return this.#channel.portId;
  }

  /**
   * Sends a request and returns its reply. Throws {@link KernelError}: `request` with `errno` for KEVENT_IF_ERROR or
   * a negative `retcode` (BIND_CONN, START_CONN, SEND_PDU, EP_POLL), `privilege` for EPERM, `timeout`.
   */
  request(request: IscsiRequest): Promise<ReplyMessage> {
    const run = this.#queue.then(() => this.#requestNow(request));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #requestNow(request: IscsiRequest): Promise<ReplyMessage> {
    if (this.#closed) throw new KernelError('syscall', 'the NETLINK_ISCSI socket is closed');
    const name = messageTypeName(request.type) ?? `request ${request.type}`;
    const reply = new Promise<ReplyMessage>((resolve, reject) => {
      this.#replyWaiter = { type: request.type, resolve, reject };
    });
    // An event listener keeps the receive loop running, so an error reply can be dispatched while send() is still
    // awaited, before the race below handles `reply`: mark it handled now (the race still sees the rejection).
    reply.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.#channel.send(encodeRequest(request));
      void this.#pump();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new KernelError('timeout', `no reply to ${name} within ${this.#replyTimeoutMs} ms`)),
          this.#replyTimeoutMs,
        );
      });
      const message = await Promise.race([reply, timeout]);
      if (message.result.kind === 'retcode' && message.result.retcode < 0 && RETCODE_REQUESTS.has(request.type)) {
        const errno = -message.result.retcode;
        throw new KernelError('request', `${name} failed: ${errnoName(errno)}`, { errno, messageType: request.type });
      }
      return message;
    } finally {
      clearTimeout(timer);
      this.#replyWaiter = undefined;
    }
  }

  /**
   * GET_STATS of one connection: `struct iscsi_stats` (its `scsicmdPdus` gives the kernel's CmdSN: initial_cmdsn +
   * scsicmd_pdus, kernel-handoff-proven.md §7). The kernel answers by multicast only, to group 1 (the unicast reply
   * comes only on failure, as KEVENT_IF_ERROR). Throws {@link KernelError} like {@link IscsiNetlink.request}.
   */
  getStats(transportHandle: bigint, sid: number, cid: number): Promise<IscsiStats> {
    const run = this.#queue.then(() => this.#getStatsNow(transportHandle, sid, cid));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #getStatsNow(transportHandle: bigint, sid: number, cid: number): Promise<IscsiStats> {
    const stats = new Promise<IscsiStats>((resolve) => {
      this.#statsWaiter = { sid, cid, resolve };
    });
    try {
      // The request's reply waiter still catches KEVENT_IF_ERROR; a plain reply never comes on success.
      return await Promise.race([
        stats,
        this.#requestNow({ type: UeventType.GetStats, transportHandle, sid, cid }).then((): never => {
          throw new KernelError('request', 'GET_STATS answered without statistics', {
            messageType: UeventType.GetStats,
          });
        }),
      ]);
    } finally {
      this.#statsWaiter = undefined;
    }
  }

  /** Calls `listener` for every kernel event until the returned function is called. Keeps the socket reading. */
  onEvent(listener: KernelEventListener): () => void {
    this.#listeners.add(listener);
    void this.#pump();
    return () => this.#listeners.delete(listener);
  }

  /**
   * The first event `match` accepts, among the last 256 received (an event can come before its
   * waiter: KEVENT_CREATE_SESSION precedes the CREATE_SESSION reply) and those still to come; each event is given to
   * one waiter only. Throws {@link KernelError} (`timeout`) after `timeoutMs`.
   */
  waitForEvent(match: (event: KernelEvent) => boolean, timeoutMs: number): Promise<KernelEvent> {
    const index = this.#backlog.findIndex(match);
    if (index >= 0) {
      const [event] = this.#backlog.splice(index, 1);
      return Promise.resolve(event!);
    }
    if (this.#closed) return Promise.reject(new KernelError('syscall', 'the NETLINK_ISCSI socket is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#eventWaiters.delete(waiter);
        reject(new KernelError('timeout', `no matching kernel event within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: EventWaiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#eventWaiters.add(waiter);
      void this.#pump();
    });
  }

  /** Closes the socket; pending waits reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new KernelError('syscall', 'the NETLINK_ISCSI socket was closed');
    this.#replyWaiter?.reject(error);
    for (const w of this.#eventWaiters) w.reject(error);
    this.#eventWaiters.clear();
    this.#listeners.clear();
    this.#channel.close();
  }

  #wanted(): boolean {
    return this.#replyWaiter !== undefined || this.#eventWaiters.size > 0 || this.#listeners.size > 0;
  }

  async #pump(): Promise<void> {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    try {
      for (;;) {
        for (const datagram of this.#channel.receiveNow()) this.#dispatch(datagram);
        if (this.#closed || !this.#wanted()) return;
        await this.#channel.wait(POLL_SLICE_MS);
      }
    } catch (error) {
      this.#replyWaiter?.reject(error);
      for (const w of this.#eventWaiters) w.reject(error);
      this.#eventWaiters.clear();
    } finally {
      this.#pumping = false;
    }
  }

  #dispatch(datagram: Buffer): void {
    let messages: Buffer[];
    try {
      messages = splitNetlinkDatagram(datagram);
    } catch {
      return; // a malformed datagram: nothing in it can be trusted
    }
    for (const bytes of messages) {
      let message: ReturnType<typeof decodeKernelMessage>;
      try {
        message = decodeKernelMessage(bytes);
      } catch {
        continue; // a code newer kernels added, or bytes we cannot read: not ours to act on
      }
      if (message.kind === 'event') {
        this.#backlog.push(message.event);
        if (this.#backlog.length > EVENT_BACKLOG) this.#backlog.shift();
        for (const w of this.#eventWaiters) {
          if (!w.match(message.event)) continue;
          this.#eventWaiters.delete(w);
          this.#backlog.splice(this.#backlog.lastIndexOf(message.event), 1);
          w.resolve(message.event);
          break;
        }
        for (const listener of this.#listeners) listener(message.event);
        continue;
      }
      if (message.kind === 'stats') {
        const stats = this.#statsWaiter;
        if (stats !== undefined && stats.sid === message.sid && stats.cid === message.cid) {
          this.#statsWaiter = undefined;
          stats.resolve(message.stats);
          // The GET_STATS request is answered: end its reply wait (the kernel sends no unicast reply on success).
          this.#replyWaiter?.reject(new KernelError('request', 'answered by statistics'));
        }
        continue;
      }
      const waiter = this.#replyWaiter;
      if (waiter === undefined || message.requestType !== waiter.type) continue;
      this.#replyWaiter = undefined;
      if (message.kind === 'error') {
        const name = messageTypeName(message.requestType) ?? `request ${message.requestType}`;
        const reason = message.errno === EPERM ? 'privilege' : 'request';
        const hint = message.errno === EPERM ? ' (needs CAP_SYS_ADMIN in the initial user namespace)' : '';
        waiter.reject(
          new KernelError(reason, `${name} failed: ${errnoName(message.errno)}${hint}`, {
            errno: message.errno,
            messageType: message.requestType,
          }),
        );
      } else waiter.resolve(message);
    }
  }
}
