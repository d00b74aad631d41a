/**
 * Messages from the decoded iscsid trace in shared/reference/kernel-netlink.md §15 (open-iscsi 2.1.8 against tgtd
 * on Debian 6.1, pid 217, transport handle 0xffffffffc039d060, sid 1, host 0, cid 0, TCP fd 7), as hex.
 */

/** Hex with spaces and line breaks allowed. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export const HANDLE = 0xffffffffc039d060n;
export const ZERO16 = '00'.repeat(16);

/** Trace #1: CREATE_SESSION request, 72 bytes. */
export const CREATE_SESSION_REQUEST = hex(`
  48 00 00 00 0b 00 00 00 00 00 00 00 d9 00 00 00
  0b 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  00 00 00 00 80 00 20 00 ${'00'.repeat(16)}
  ${ZERO16}`);

/** Trace #3: its reply: the struct echoed, nlmsg_pid 0, r = {sid 1, host_no 0}. */
export const CREATE_SESSION_REPLY = hex(`
  48 00 00 00 0b 00 00 00 00 00 00 00 00 00 00 00
  0b 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  00 00 00 00 80 00 20 00 ${'00'.repeat(16)}
  01 00 00 00 00 00 00 00 ${'00'.repeat(8)}`);

/** Trace #2: KEVENT_CREATE_SESSION (106), nlmsg_type 0, u zero, r = {sid 1, host_no 0}. */
export const KEVENT_CREATE_SESSION = hex(`
  48 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  6a 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  ${'00'.repeat(24)}
  01 00 00 00 00 00 00 00 ${'00'.repeat(8)}`);

/** Trace #6: BIND_CONN sid 1 cid 0, transport_eph = fd 7, is_leading 1. */
export const BIND_CONN_REQUEST = hex(`
  48 00 00 00 0f 00 00 00 00 00 00 00 d9 00 00 00
  0f 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  01 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
  ${ZERO16}`);

/** Trace (SET_PARAM DATADGST_EN "0"): nlmsg_len 74, param 3, len 2, value 30 00. */
export const SET_PARAM_DATADGST = hex(`
  4a 00 00 00 10 00 00 00 00 00 00 00 d9 00 00 00
  10 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  01 00 00 00 00 00 00 00 03 00 00 00 02 00 00 00 ${'00'.repeat(8)}
  ${ZERO16}
  30 00`);

/** Trace #36: the Login Response BHS of KEVENT_RECV_PDU (DSL 300, TSIH 0x0100, MaxCmdSN 1). */
export const LOGIN_RESPONSE_BHS = hex(`
  23 87 00 00 00 00 01 2c 00 02 3d 00 00 01 01 00
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00`);

/** Its 16 keys, exactly the 300 bytes of the trace's data segment. */
export const LOGIN_RESPONSE_KEYS = [
  'TargetPortalGroupTag=1',
  'HeaderDigest=None',
  'DataDigest=None',
  'DefaultTime2Wait=2',
  'DefaultTime2Retain=0',
  'IFMarker=No',
  'OFMarker=No',
  'ErrorRecoveryLevel=0',
  'InitialR2T=Yes',
  'ImmediateData=Yes',
  'MaxBurstLength=262144',
  'FirstBurstLength=65536',
  'MaxOutstandingR2T=1',
  'MaxConnections=1',
  'DataPDUInOrder=Yes',
  'DataSequenceInOrder=Yes',
];

/** Trace #34: the Login Request BHS of SEND_PDU (DSL 452, ISID 00023d000001, CmdSN 1). */
export const LOGIN_REQUEST_BHS = hex(`
  43 87 00 00 00 00 01 c4 00 02 3d 00 00 01 00 00
  00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00
  ${ZERO16}`);

/** Trace #70: Logout Request BHS (opcode 0x06|I, F, reason 0; the kernel fills ITT, CmdSN, ExpStatSN). */
export const LOGOUT_REQUEST_BHS = hex(`46 80 ${'00'.repeat(46)}`);

/** Trace #72: Logout Response BHS: ITT bytes 65 00 00 00, StatSN 101, ExpCmdSN 100, MaxCmdSN 228. */
export const LOGOUT_RESPONSE_BHS = hex(`
  26 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  65 00 00 00 00 00 00 00 00 00 00 65 00 00 00 64
  00 00 00 e4 00 00 00 00 00 00 00 00 00 00 00 00`);

/** Trace #78: KEVENT_DESTROY_SESSION (104): host_no 0 at r+0, sid 1 at r+4. */
export const KEVENT_DESTROY_SESSION = hex(`
  48 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  68 00 00 00 00 00 00 00 60 d0 39 c0 ff ff ff ff
  ${'00'.repeat(24)}
  00 00 00 00 01 00 00 00 ${'00'.repeat(8)}`);
