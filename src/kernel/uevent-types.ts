/**
 * Constants of the Linux NETLINK_ISCSI protocol (`include/scsi/iscsi_if.h`, the header that scsi_transport_iscsi
 * and open-iscsi share): message codes, stop flags, connection error codes, offload connection states, host event
 * codes, transport capability bits, and the netlink socket numbers. Values checked against the kernel header;
 * every enumeration there only ever grows at its end.
 * @module
 */

/** Socket numbers: `socket(AF_NETLINK, SOCK_RAW, NETLINK_ISCSI)` and its multicast groups. */
export const NetlinkIscsi = {
  /** `AF_NETLINK`. */
  Family: 16,
  /** `SOCK_RAW`. */
  SocketType: 3,
  /** `NETLINK_ISCSI`. */
  Protocol: 8,
  /** `ISCSI_NL_GRP_ISCSID`: the group kernel events are multicast to (bind with `nl_groups = 1 << (1 - 1)`). */
  GroupIscsid: 1,
  /** `ISCSI_NL_GRP_UIP`: iscsiuio path requests of offload transports. */
  GroupUip: 2,
} as const;

/** Request codes, user → kernel (`enum iscsi_uevent_e`, `ISCSI_UEVENT_*`, base 10). */
export const UeventType = {
  CreateSession: 11,
  DestroySession: 12,
  CreateConn: 13,
  DestroyConn: 14,
  BindConn: 15,
  SetParam: 16,
  StartConn: 17,
  StopConn: 18,
  SendPdu: 19,
  GetStats: 20,
  /** Not implemented by the kernel (-ENOSYS). */
  GetParam: 21,
  TransportEpConnect: 22,
  TransportEpPoll: 23,
  TransportEpDisconnect: 24,
  TgtDscvr: 25,
  SetHostParam: 26,
  UnbindSession: 27,
  CreateBoundSession: 28,
  TransportEpConnectThroughHost: 29,
  PathUpdate: 30,
  SetIfaceParams: 31,
  Ping: 32,
  GetChap: 33,
  DeleteChap: 34,
  SetFlashnodeParams: 35,
  NewFlashnode: 36,
  DelFlashnode: 37,
  LoginFlashnode: 38,
  LogoutFlashnode: 39,
  LogoutFlashnodeSid: 40,
  SetChap: 41,
  GetHostStats: 42,
  /** Newer kernels only (older ones: -ENOSYS). */
  DestroySessionAsync: 43,
} as const;

/** One of the {@link UeventType} codes. */
export type UeventTypeValue = (typeof UeventType)[keyof typeof UeventType];

/** Event codes, kernel → user (`ISCSI_KEVENT_*`, base 100). */
export const KeventType = {
  RecvPdu: 101,
  ConnError: 102,
  /** Not an event: the kernel rewrites a failed request's `type` to this and puts -errno in `iferror`. */
  IfError: 103,
  DestroySession: 104,
  UnbindSession: 105,
  CreateSession: 106,
  PathReq: 107,
  IfDown: 108,
  ConnLoginState: 109,
  HostEvent: 110,
  PingComp: 111,
} as const;

/** One of the {@link KeventType} codes. */
export type KeventTypeValue = (typeof KeventType)[keyof typeof KeventType];

/** STOP_CONN `flag` (`STOP_CONN_*`). Current kernels accept only Term and Recover ("invalid stop flag" otherwise). */
export const StopConnFlag = {
  /** Tear the connection down for good (logout, teardown). */
  Term: 1,
  /** Historical; rejected by current kernels. */
  Suspend: 2,
  /** Stop it for recovery: the session is blocked for `recovery_tmo` while a new connection is bound. */
  Recover: 3,
} as const;

/** One of the {@link StopConnFlag} values. */
export type StopConnFlagValue = (typeof StopConnFlag)[keyof typeof StopConnFlag];

/** Connection error codes of KEVENT_CONN_ERROR (`enum iscsi_err`, base 1000). */
export const IscsiErr = {
  Ok: 0,
  DataSn: 1001,
  DataOffset: 1002,
  MaxCmdSn: 1003,
  ExpCmdSn: 1004,
  BadOpcode: 1005,
  /** A PDU's data segment exceeds MAX_RECV_DLENGTH. */
  DataLen: 1006,
  AhsLen: 1007,
  Proto: 1008,
  Lun: 1009,
  BadItt: 1010,
  ConnFailed: 1011,
  R2tSn: 1012,
  SessionFailed: 1013,
  HdrDgst: 1014,
  DataDgst: 1015,
  ParamNotFound: 1016,
  NoScsiCmd: 1017,
  /** The host is being removed: the session cannot be recovered. */
  InvalidHost: 1018,
  XmitFailed: 1019,
  /** The target closed the TCP connection. */
  TcpConnClose: 1020,
  ScsiEhSessionRst: 1021,
  /** A kernel NOP-Out (PING_TMO / RECV_TMO) got no answer. */
  NopTimedOut: 1022,
} as const;

/** State of an offload connection in KEVENT_CONN_LOGIN_STATE (`enum iscsi_conn_state`). */
export const IscsiConnState = {
  Free: 0,
  XptWait: 1,
  InLogin: 2,
  LoggedIn: 3,
  InLogout: 4,
  LogoutRequested: 5,
  CleanupWait: 6,
} as const;

/** Code of KEVENT_HOST_EVENT (`enum iscsi_host_event_code`). */
export const HostEventCode = { LinkUp: 1, LinkDown: 2 } as const;

/** Transport capability bits (`CAP_*`), as `/sys/class/iscsi_transport/<name>/caps` prints them in hex. */
export const TransportCap = {
  RecoveryL0: 0x1,
  RecoveryL1: 0x2,
  RecoveryL2: 0x4,
  MultiR2t: 0x8,
  HdrDgst: 0x10,
  DataDgst: 0x20,
  MultiConn: 0x40,
  TextNego: 0x80,
  Markers: 0x100,
  FwDb: 0x200,
  SendTargetsOffload: 0x400,
  /** The HBA moves the data (bnx2i, qedi, be2iscsi, qla4xxx). */
  DataPathOffload: 0x800,
  /** Digests computed by the NIC (cxgb3i, cxgb4i). */
  DigestOffload: 0x1000,
  /** Padding handled by the NIC (cxgb3i, cxgb4i). */
  PaddingOffload: 0x2000,
  /** The HBA logs in by itself (qla4xxx). */
  LoginOffload: 0x4000,
} as const;

function nameOf(table: Readonly<Record<string, number>>, value: number): string | undefined {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return undefined;
}

/** The name of a request or event code (`CreateSession`, `RecvPdu`), or `undefined` for an unknown one. */
export function messageTypeName(type: number): string | undefined {
  return nameOf(UeventType, type) ?? nameOf(KeventType, type);
}

/** The name of a connection error code (`TcpConnClose`), or `undefined`. */
export function iscsiErrName(code: number): string | undefined {
  return nameOf(IscsiErr, code);
}

/** Whether `type` is a request code this codec knows. */
export function isUeventType(type: number): type is UeventTypeValue {
  return Number.isInteger(type) && type >= UeventType.CreateSession && type <= UeventType.DestroySessionAsync;
}

/** Whether `type` is an event code this codec knows. */
export function isKeventType(type: number): type is KeventTypeValue {
  return Number.isInteger(type) && type >= KeventType.RecvPdu && type <= KeventType.PingComp;
}
