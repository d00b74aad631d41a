/**
 * Parameter numbers of SET_PARAM (`enum iscsi_param`) and SET_HOST_PARAM (`enum iscsi_host_param`) from
 * `include/scsi/iscsi_if.h`, and how their values are written: ASCII text with a trailing NUL, integers in decimal
 * (iscsid: `%d`, EXP_STATSN `%u`), booleans and digests as `1` / `0`.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * SET_PARAM numbers (`ISCSI_PARAM_*`). The login-first hand-off sets MaxRecvDLength, MaxXmitDLength, HdrDgstEn,
 * DataDgstEn, InitialR2tEn, MaxR2t, ImmDataEn, FirstBurst, MaxBurst, PduInOrderEn, DataSeqInOrderEn, Erl, ExpStatSn,
 * TargetName, Tpgt, PersistentAddress, PersistentPort, SessRecoveryTmo, FastAbort, AbortTmo, LuResetTmo,
 * TgtResetTmo, PingTmo, RecvTmo, IfaceName, InitiatorName and DiscoverySess. iscsi_tcp answers -ENOSYS for Isid,
 * Tsid, ConnPort, ConnAddress, StatSn and the markers.
 */
export const IscsiParam = {
  /** ISCSI_PARAM_MAX_RECV_DLENGTH */
  MaxRecvDLength: 0,
  /** ISCSI_PARAM_MAX_XMIT_DLENGTH */
  MaxXmitDLength: 1,
  /** ISCSI_PARAM_HDRDGST_EN */
  HdrDgstEn: 2,
  /** ISCSI_PARAM_DATADGST_EN */
  DataDgstEn: 3,
  /** ISCSI_PARAM_INITIAL_R2T_EN */
  InitialR2tEn: 4,
  /** ISCSI_PARAM_MAX_R2T */
  MaxR2t: 5,
  /** ISCSI_PARAM_IMM_DATA_EN */
  ImmDataEn: 6,
  /** ISCSI_PARAM_FIRST_BURST */
  FirstBurst: 7,
  /** ISCSI_PARAM_MAX_BURST */
  MaxBurst: 8,
  /** ISCSI_PARAM_PDU_INORDER_EN */
  PduInOrderEn: 9,
  /** ISCSI_PARAM_DATASEQ_INORDER_EN */
  DataSeqInOrderEn: 10,
  /** ISCSI_PARAM_ERL */
  Erl: 11,
  /** ISCSI_PARAM_IFMARKER_EN */
  IfMarkerEn: 12,
  /** ISCSI_PARAM_OFMARKER_EN */
  OfMarkerEn: 13,
  /** ISCSI_PARAM_EXP_STATSN */
  ExpStatSn: 14,
  /** ISCSI_PARAM_TARGET_NAME */
  TargetName: 15,
  /** ISCSI_PARAM_TPGT */
  Tpgt: 16,
  /** ISCSI_PARAM_PERSISTENT_ADDRESS */
  PersistentAddress: 17,
  /** ISCSI_PARAM_PERSISTENT_PORT */
  PersistentPort: 18,
  /** ISCSI_PARAM_SESS_RECOVERY_TMO */
  SessRecoveryTmo: 19,
  /** ISCSI_PARAM_CONN_PORT */
  ConnPort: 20,
  /** ISCSI_PARAM_CONN_ADDRESS */
  ConnAddress: 21,
  /** ISCSI_PARAM_USERNAME */
  Username: 22,
  /** ISCSI_PARAM_USERNAME_IN */
  UsernameIn: 23,
  /** ISCSI_PARAM_PASSWORD */
  Password: 24,
  /** ISCSI_PARAM_PASSWORD_IN */
  PasswordIn: 25,
  /** ISCSI_PARAM_FAST_ABORT */
  FastAbort: 26,
  /** ISCSI_PARAM_ABORT_TMO */
  AbortTmo: 27,
  /** ISCSI_PARAM_LU_RESET_TMO */
  LuResetTmo: 28,
  /** ISCSI_PARAM_HOST_RESET_TMO */
  HostResetTmo: 29,
  /** ISCSI_PARAM_PING_TMO */
  PingTmo: 30,
  /** ISCSI_PARAM_RECV_TMO */
  RecvTmo: 31,
  /** ISCSI_PARAM_IFACE_NAME */
  IfaceName: 32,
  /** ISCSI_PARAM_ISID */
  Isid: 33,
  /** ISCSI_PARAM_INITIATOR_NAME */
  InitiatorName: 34,
  /** ISCSI_PARAM_TGT_RESET_TMO */
  TgtResetTmo: 35,
  /** ISCSI_PARAM_TARGET_ALIAS */
  TargetAlias: 36,
  /** ISCSI_PARAM_CHAP_IN_IDX */
  ChapInIdx: 37,
  /** ISCSI_PARAM_CHAP_OUT_IDX */
  ChapOutIdx: 38,
  /** ISCSI_PARAM_BOOT_ROOT */
  BootRoot: 39,
  /** ISCSI_PARAM_BOOT_NIC */
  BootNic: 40,
  /** ISCSI_PARAM_BOOT_TARGET */
  BootTarget: 41,
  /** ISCSI_PARAM_AUTO_SND_TGT_DISABLE */
  AutoSndTgtDisable: 42,
  /** ISCSI_PARAM_DISCOVERY_SESS */
  DiscoverySess: 43,
  /** ISCSI_PARAM_PORTAL_TYPE */
  PortalType: 44,
  /** ISCSI_PARAM_CHAP_AUTH_EN */
  ChapAuthEn: 45,
  /** ISCSI_PARAM_DISCOVERY_LOGOUT_EN */
  DiscoveryLogoutEn: 46,
  /** ISCSI_PARAM_BIDI_CHAP_EN */
  BidiChapEn: 47,
  /** ISCSI_PARAM_DISCOVERY_AUTH_OPTIONAL */
  DiscoveryAuthOptional: 48,
  /** ISCSI_PARAM_DEF_TIME2WAIT */
  DefTime2Wait: 49,
  /** ISCSI_PARAM_DEF_TIME2RETAIN */
  DefTime2Retain: 50,
  /** ISCSI_PARAM_MAX_SEGMENT_SIZE */
  MaxSegmentSize: 51,
  /** ISCSI_PARAM_STATSN */
  StatSn: 52,
  /** ISCSI_PARAM_KEEPALIVE_TMO */
  KeepaliveTmo: 53,
  /** ISCSI_PARAM_LOCAL_PORT */
  LocalPort: 54,
  /** ISCSI_PARAM_TSID */
  Tsid: 55,
  /** ISCSI_PARAM_DEF_TASKMGMT_TMO */
  DefTaskMgmtTmo: 56,
  /** ISCSI_PARAM_TCP_TIMESTAMP_STAT */
  TcpTimestampStat: 57,
  /** ISCSI_PARAM_TCP_WSF_DISABLE */
  TcpWsfDisable: 58,
  /** ISCSI_PARAM_TCP_NAGLE_DISABLE */
  TcpNagleDisable: 59,
  /** ISCSI_PARAM_TCP_TIMER_SCALE */
  TcpTimerScale: 60,
  /** ISCSI_PARAM_TCP_TIMESTAMP_EN */
  TcpTimestampEn: 61,
  /** ISCSI_PARAM_TCP_XMIT_WSF */
  TcpXmitWsf: 62,
  /** ISCSI_PARAM_TCP_RECV_WSF */
  TcpRecvWsf: 63,
  /** ISCSI_PARAM_IP_FRAGMENT_DISABLE */
  IpFragmentDisable: 64,
  /** ISCSI_PARAM_IPV4_TOS */
  Ipv4Tos: 65,
  /** ISCSI_PARAM_IPV6_TC */
  Ipv6Tc: 66,
  /** ISCSI_PARAM_IPV6_FLOW_LABEL */
  Ipv6FlowLabel: 67,
  /** ISCSI_PARAM_IS_FW_ASSIGNED_IPV6 */
  IsFwAssignedIpv6: 68,
  /** ISCSI_PARAM_DISCOVERY_PARENT_IDX */
  DiscoveryParentIdx: 69,
  /** ISCSI_PARAM_DISCOVERY_PARENT_TYPE */
  DiscoveryParentType: 70,
  /** ISCSI_PARAM_LOCAL_IPADDR */
  LocalIpAddr: 71,
} as const;

/** One of the {@link IscsiParam} numbers. */
export type IscsiParamValue = (typeof IscsiParam)[keyof typeof IscsiParam];

/** `ISCSI_PARAM_MAX`: one past the last parameter number. */
export const ISCSI_PARAM_MAX = 72;

/** SET_HOST_PARAM numbers (`enum iscsi_host_param`). iscsi_tcp accepts HwAddress, InitiatorName and NetdevName. */
export const IscsiHostParam = {
  HwAddress: 0,
  InitiatorName: 1,
  NetdevName: 2,
  IpAddress: 3,
  PortState: 4,
  PortSpeed: 5,
} as const;

/** One of the {@link IscsiHostParam} numbers. */
export type IscsiHostParamValue = (typeof IscsiHostParam)[keyof typeof IscsiHostParam];

/** `ISCSI_HOST_PARAM_MAX`. */
export const ISCSI_HOST_PARAM_MAX = 6;

/** Parameters whose values are CHAP secrets: never log or echo them. */
export const SECRET_PARAMS: ReadonlySet<number> = new Set([IscsiParam.Password, IscsiParam.PasswordIn]);

/** The name of a SET_PARAM number (`MaxRecvDLength`), or `undefined` for an unknown one. */
export function paramName(param: number): string | undefined {
  for (const [name, v] of Object.entries(IscsiParam)) if (v === param) return name;
  return undefined;
}

/** The name of a SET_HOST_PARAM number (`InitiatorName`), or `undefined`. */
export function hostParamName(param: number): string | undefined {
  for (const [name, v] of Object.entries(IscsiHostParam)) if (v === param) return name;
  return undefined;
}

/**
 * The text the kernel expects for a parameter value: booleans as `1` / `0` (HDRDGST_EN 1 = CRC32C), integers in
 * decimal, strings unchanged. Throws {@link InvalidArgumentError} for a non-integer number or a string holding NUL,
 * which the kernel would cut short.
 */
export function formatParamValue(value: string | number | bigint | boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'bigint') return value.toString(10);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new InvalidArgumentError('a parameter value must be an integer');
    return String(value);
  }
  if (value.includes('\0')) throw new InvalidArgumentError('a parameter value cannot hold NUL');
  return value;
}
