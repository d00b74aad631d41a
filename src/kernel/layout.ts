/**
 * Byte layouts of NETLINK_ISCSI messages as `buffer-layout` structs: `struct nlmsghdr` (16 bytes), the fixed head
 * of `struct iscsi_uevent`, every member of its request union `u` and reply/event union `r`, and `struct iscsi_stats`.
 *
 * `struct iscsi_uevent` (include/scsi/iscsi_if.h) is naturally aligned and `__attribute__((aligned(8)))`; on every
 * ABI where a u64 inside a struct is 8-byte aligned (x86_64, aarch64, arm EABI, ppc64le, s390x, riscv64) it is:
 * ```
 *  0 u32 type   4 u32 iferror   8 u64 transport_handle
 * 16 union u (24 bytes: its largest members, b_conn and stop_conn, are u32 u32 u64 u32 + 4 padding)
 * 40 union r (16 bytes: recv_req and ping_comp)          sizeof = 56
 * ```
 * (i386 aligns u64 to 4 and puts `r` at 36: not supported.) Integers are host-endian; this codec writes
 * little-endian, the byte order of every Linux target the project runs on. Trailing data starts at byte 56.
 * @module
 */
import { createRequire } from 'node:module';

/** A fixed-size record layout. */
export interface Layout<T> {
  /** Size in bytes. */
  readonly span: number;
  decode(b: Buffer, offset?: number): T;
  encode(src: T, b: Buffer, offset?: number): number;
}

// buffer-layout is CommonJS without type declarations: the few constructors used here, typed by hand.
interface FieldLayout {
  readonly span: number;
  readonly property?: string;
}
const bl = createRequire(import.meta.url)('buffer-layout') as {
  Layout: new (span: number, property?: string) => FieldLayout;
  struct(fields: FieldLayout[]): Layout<Record<string, unknown>>;
  u16(property: string): FieldLayout;
  u32(property: string): FieldLayout;
  s32(property: string): FieldLayout;
  blob(length: number, property: string): FieldLayout;
};

/** A little-endian u64 as a bigint (buffer-layout's own 64-bit layouts return lossy numbers). */
class U64 extends bl.Layout {
  constructor(property: string) {
    super(8, property);
  }
  decode(b: Buffer, offset = 0): bigint {
    return b.readBigUInt64LE(offset);
  }
  encode(src: bigint, b: Buffer, offset = 0): number {
    b.writeBigUInt64LE(src, offset);
    return 8;
  }
}

function struct<T>(fields: FieldLayout[]): Layout<T> {
  return bl.struct(fields) as unknown as Layout<T>;
}

const u32 = (p: string) => bl.u32(p);
const u64 = (p: string) => new U64(p);

/** `sizeof(struct nlmsghdr)`. */
export const NLMSG_HDRLEN = 16;
/** `sizeof(struct iscsi_uevent)`. */
export const ISCSI_UEVENT_SIZE = 56;
/** Offset of union `u` in the struct. */
export const U_OFFSET = 16;
/** Size of union `u`. */
export const U_SIZE = 24;
/** Offset of union `r` in the struct. */
export const R_OFFSET = 40;
/** Size of union `r`. */
export const R_SIZE = 16;
/** Netlink messages in one datagram start on 4-byte boundaries (`NLMSG_ALIGN`). */
export const NLMSG_ALIGNTO = 4;
/** `sizeof(struct iscsi_stats)` up to `custom[]`. */
export const ISCSI_STATS_SIZE = 96;
/** `sizeof(struct iscsi_stats_custom)`: 64-byte description + u64 value. */
export const ISCSI_STATS_CUSTOM_SIZE = 72;

/** `struct nlmsghdr`. */
export interface NlMsgHdrRecord {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}
export const NLMSGHDR = struct<NlMsgHdrRecord>([u32('len'), bl.u16('type'), bl.u16('flags'), u32('seq'), u32('pid')]);

/** The first 16 bytes of `struct iscsi_uevent`. */
export interface UeventHeadRecord {
  type: number;
  iferror: number;
  transportHandle: bigint;
}
export const UEVENT_HEAD = struct<UeventHeadRecord>([u32('type'), u32('iferror'), u64('transportHandle')]);

// ---- union u (request) members ----

/** `msg_create_session`. */
export interface CreateSessionRecord {
  initialCmdSn: number;
  cmdsMax: number;
  queueDepth: number;
}
export const C_SESSION = struct<CreateSessionRecord>([u32('initialCmdSn'), bl.u16('cmdsMax'), bl.u16('queueDepth')]);

/** `msg_create_bound_session`. */
export interface CreateBoundSessionRecord extends CreateSessionRecord {
  epHandle: bigint;
}
export const C_BOUND_SESSION = struct<CreateBoundSessionRecord>([
  u64('epHandle'),
  u32('initialCmdSn'),
  bl.u16('cmdsMax'),
  bl.u16('queueDepth'),
]);

/** `msg_destroy_session` (also UNBIND_SESSION and DESTROY_SESSION_ASYNC). */
export interface SidRecord {
  sid: number;
}
export const D_SESSION = struct<SidRecord>([u32('sid')]);

/** `msg_create_conn`, `msg_destroy_conn`, `msg_start_conn`, `msg_get_stats`. */
export interface ConnRecord {
  sid: number;
  cid: number;
}
export const CONN = struct<ConnRecord>([u32('sid'), u32('cid')]);

/** `msg_bind_conn`. */
export interface BindConnRecord extends ConnRecord {
  transportEph: bigint;
  isLeading: number;
}
export const B_CONN = struct<BindConnRecord>([u32('sid'), u32('cid'), u64('transportEph'), u32('isLeading')]);

/** `msg_send_pdu`. */
export interface SendPduRecord extends ConnRecord {
  hdrSize: number;
  dataSize: number;
}
export const SEND_PDU = struct<SendPduRecord>([u32('sid'), u32('cid'), u32('hdrSize'), u32('dataSize')]);

/** `msg_set_param`. */
export interface SetParamRecord extends ConnRecord {
  param: number;
  len: number;
}
export const SET_PARAM = struct<SetParamRecord>([u32('sid'), u32('cid'), u32('param'), u32('len')]);

/** `msg_stop_conn`. */
export interface StopConnRecord extends ConnRecord {
  connHandle: bigint;
  flag: number;
}
export const STOP_CONN = struct<StopConnRecord>([u32('sid'), u32('cid'), u64('connHandle'), u32('flag')]);

/** `msg_set_host_param`. */
export interface SetHostParamRecord {
  hostNo: number;
  param: number;
  len: number;
}
export const SET_HOST_PARAM = struct<SetHostParamRecord>([u32('hostNo'), u32('param'), u32('len')]);

/** `msg_transport_connect`. */
export interface EpConnectRecord {
  nonBlocking: number;
}
export const EP_CONNECT = struct<EpConnectRecord>([u32('nonBlocking')]);

/** `msg_transport_connect_through_host`. */
export interface EpConnectThroughHostRecord extends EpConnectRecord {
  hostNo: number;
}
export const EP_CONNECT_THROUGH_HOST = struct<EpConnectThroughHostRecord>([u32('hostNo'), u32('nonBlocking')]);

/** `msg_transport_poll`. */
export interface EpPollRecord {
  epHandle: bigint;
  timeoutMs: number;
}
export const EP_POLL = struct<EpPollRecord>([u64('epHandle'), u32('timeoutMs')]);

/** `msg_transport_disconnect`. */
export interface EpDisconnectRecord {
  epHandle: bigint;
}
export const EP_DISCONNECT = struct<EpDisconnectRecord>([u64('epHandle')]);

// ---- union r (reply / event) members ----

/** `int retcode`. */
export interface RetcodeRecord {
  retcode: number;
}
export const RETCODE = struct<RetcodeRecord>([bl.s32('retcode')]);

/** `msg_create_session_ret`, `msg_unbind_session`. */
export interface SidHostRecord {
  sid: number;
  hostNo: number;
}
export const SID_HOST = struct<SidHostRecord>([u32('sid'), u32('hostNo')]);

/** `msg_create_conn_ret` (CONN above). `msg_recv_req`. */
export interface RecvReqRecord extends ConnRecord {
  recvHandle: bigint;
}
export const RECV_REQ = struct<RecvReqRecord>([u32('sid'), u32('cid'), u64('recvHandle')]);

/** `msg_conn_login`. */
export interface ConnLoginRecord extends ConnRecord {
  state: number;
}
export const CONN_LOGIN = struct<ConnLoginRecord>([u32('sid'), u32('cid'), u32('state')]);

/** `msg_conn_error`. */
export interface ConnErrorRecord extends ConnRecord {
  error: number;
}
export const CONN_ERROR = struct<ConnErrorRecord>([u32('sid'), u32('cid'), u32('error')]);

/** `msg_session_destroyed`: host_no first, then sid (the reverse of the other members). */
export const SESSION_DESTROYED = struct<SidHostRecord>([u32('hostNo'), u32('sid')]);

/** `msg_transport_connect_ret`. */
export interface EpConnectRetRecord {
  handle: bigint;
}
export const EP_CONNECT_RET = struct<EpConnectRetRecord>([u64('handle')]);

/** `msg_req_path`, `msg_notify_if_down`. */
export interface HostRecord {
  hostNo: number;
}
export const HOST = struct<HostRecord>([u32('hostNo')]);

/** `msg_host_event`. */
export interface HostEventRecord extends HostRecord {
  dataSize: number;
  code: number;
}
export const HOST_EVENT = struct<HostEventRecord>([u32('hostNo'), u32('dataSize'), u32('code')]);

/** `msg_ping_comp`. */
export interface PingCompRecord extends HostRecord {
  status: number;
  pid: number;
  dataSize: number;
}
export const PING_COMP = struct<PingCompRecord>([u32('hostNo'), u32('status'), u32('pid'), u32('dataSize')]);

// ---- struct iscsi_stats ----

/** `struct iscsi_stats` without its custom entries. */
export interface StatsRecord {
  txdataOctets: bigint;
  rxdataOctets: bigint;
  noptxPdus: number;
  scsicmdPdus: number;
  tmfcmdPdus: number;
  loginPdus: number;
  textPdus: number;
  dataoutPdus: number;
  logoutPdus: number;
  snackPdus: number;
  noprxPdus: number;
  scsirspPdus: number;
  tmfrspPdus: number;
  textrspPdus: number;
  datainPdus: number;
  logoutrspPdus: number;
  r2tPdus: number;
  asyncPdus: number;
  rjtPdus: number;
  digestErr: number;
  timeoutErr: number;
  customLength: number;
}
/** The u32 counters of `struct iscsi_stats`, in order. */
export const STATS_COUNTERS = [
  'noptxPdus',
  'scsicmdPdus',
  'tmfcmdPdus',
  'loginPdus',
  'textPdus',
  'dataoutPdus',
  'logoutPdus',
  'snackPdus',
  'noprxPdus',
  'scsirspPdus',
  'tmfrspPdus',
  'textrspPdus',
  'datainPdus',
  'logoutrspPdus',
  'r2tPdus',
  'asyncPdus',
  'rjtPdus',
  'digestErr',
  'timeoutErr',
] as const;
export const STATS = struct<StatsRecord>([
  u64('txdataOctets'),
  u64('rxdataOctets'),
  ...STATS_COUNTERS.map((c) => u32(c)),
  u32('customLength'),
]);

/** `struct iscsi_stats_custom`. */
export interface StatsCustomRecord {
  desc: Buffer;
  value: bigint;
}
export const STATS_CUSTOM = struct<StatsCustomRecord>([bl.blob(64, 'desc'), u64('value')]);
