import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { KernelError } from '../../src/kernel/errors.js';
import * as L from '../../src/kernel/layout.js';
import {
  decodeKernelMessage,
  decodeRequest,
  encodeKernelMessage,
  encodeRequest,
  type IscsiRequest,
  requestFields,
  splitNetlinkDatagram,
} from '../../src/kernel/netlink-codec.js';
import { formatParamValue, IscsiHostParam, IscsiParam } from '../../src/kernel/params.js';
import { decodeSockaddr, encodeSockaddr } from '../../src/kernel/sockaddr.js';
import { IscsiErr, KeventType, StopConnFlag, UeventType } from '../../src/kernel/uevent-types.js';
import * as F from './trace-fixtures.js';

const H = F.HANDLE;

function kernelError(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
    return error as KernelError;
  }
  throw new Error('expected a KernelError');
}

describe('struct iscsi_uevent layout (include/scsi/iscsi_if.h, 64-bit ABI)', () => {
  it('is 56 bytes: head 16, union u 24 at 16, union r 16 at 40', () => {
    expect(L.ISCSI_UEVENT_SIZE).toBe(56);
    expect(L.UEVENT_HEAD.span).toBe(16);
    expect(L.U_OFFSET + L.U_SIZE).toBe(L.R_OFFSET);
    expect(L.R_OFFSET + L.R_SIZE).toBe(L.ISCSI_UEVENT_SIZE);
    expect(L.NLMSGHDR.span).toBe(16);
  });

  it('every u member fits the 24-byte union and every r member the 16-byte one', () => {
    // b_conn and stop_conn (u32 u32 u64 u32) are 20 bytes of fields, padded to 24 by the u64 alignment.
    const u = [L.C_SESSION, L.C_BOUND_SESSION, L.D_SESSION, L.CONN, L.B_CONN, L.SEND_PDU, L.SET_PARAM, L.STOP_CONN];
    const u2 = [L.SET_HOST_PARAM, L.EP_CONNECT, L.EP_CONNECT_THROUGH_HOST, L.EP_POLL, L.EP_DISCONNECT];
    expect([...u, ...u2].map((l) => l.span)).toEqual([8, 16, 4, 8, 20, 16, 16, 20, 12, 4, 8, 12, 8]);
    const r = [L.RETCODE, L.SID_HOST, L.RECV_REQ, L.CONN_LOGIN, L.CONN_ERROR, L.SESSION_DESTROYED, L.EP_CONNECT_RET];
    const r2 = [L.HOST, L.HOST_EVENT, L.PING_COMP];
    expect([...r, ...r2].map((l) => l.span)).toEqual([4, 8, 16, 12, 12, 8, 8, 4, 12, 16]);
    expect(L.STATS.span).toBe(L.ISCSI_STATS_SIZE);
    expect(L.STATS_CUSTOM.span).toBe(L.ISCSI_STATS_CUSTOM_SIZE);
  });
});

describe('byte-exact against the iscsid trace', () => {
  it('CREATE_SESSION request (initial_cmdsn 0, cmds_max 128, queue_depth 32, pid 217)', () => {
    const req: IscsiRequest = {
      type: UeventType.CreateSession,
      transportHandle: H,
      initialCmdSn: 0,
      cmdsMax: 128,
      queueDepth: 32,
    };
    expect(encodeRequest(req, { pid: 217 })).toEqual(F.CREATE_SESSION_REQUEST);
    expect(decodeRequest(F.CREATE_SESSION_REQUEST)).toEqual({
      header: { length: 72, type: 11, flags: 0, seq: 0, pid: 217 },
      request: req,
    });
  });

  it('the CREATE_SESSION reply and the KEVENT_CREATE_SESSION that precedes it', () => {
    const reply = decodeKernelMessage(F.CREATE_SESSION_REPLY);
    expect(reply).toMatchObject({
      kind: 'reply',
      requestType: UeventType.CreateSession,
      transportHandle: H,
      result: { kind: 'session', sid: 1, hostNo: 0 },
      request: { initialCmdSn: 0, cmdsMax: 128, queueDepth: 32 },
    });
    const event = decodeKernelMessage(F.KEVENT_CREATE_SESSION);
    expect(event).toEqual({
      kind: 'event',
      header: { length: 72, type: 0, flags: 0, seq: 0, pid: 0 },
      transportHandle: H,
      event: { type: KeventType.CreateSession, sid: 1, hostNo: 0 },
    });
    // A fake kernel writes the same bytes.
    expect(
      encodeKernelMessage({
        kind: 'reply',
        request: { type: 11, transportHandle: H, initialCmdSn: 0, cmdsMax: 128, queueDepth: 32 },
        result: { kind: 'session', sid: 1, hostNo: 0 },
      }),
    ).toEqual(F.CREATE_SESSION_REPLY);
    expect(encodeKernelMessage({ kind: 'event', transportHandle: H, event: { type: 106, sid: 1, hostNo: 0 } })).toEqual(
      F.KEVENT_CREATE_SESSION,
    );
  });

  it('BIND_CONN: transport_eph (the fd, a u64) at struct offset 24, is_leading at 32, padding to 40', () => {
    const req: IscsiRequest = {
      type: UeventType.BindConn,
      transportHandle: H,
      sid: 1,
      cid: 0,
      transportEph: 7n,
      isLeading: true,
    };
    expect(encodeRequest(req, { pid: 217 })).toEqual(F.BIND_CONN_REQUEST);
    expect(decodeRequest(F.BIND_CONN_REQUEST).request).toEqual(req);
  });

  it('SET_PARAM DATADGST_EN "0": nlmsg_len 74, len 2 (the NUL counts), value after the struct', () => {
    const req: IscsiRequest = {
      type: UeventType.SetParam,
      transportHandle: H,
      sid: 1,
      cid: 0,
      param: IscsiParam.DataDgstEn,
      value: formatParamValue(false),
    };
    expect(encodeRequest(req, { pid: 217 })).toEqual(F.SET_PARAM_DATADGST);
    expect(decodeRequest(F.SET_PARAM_DATADGST).request).toEqual(req);
  });

  it('SET_PARAM lengths of the trace: TARGET_NAME 107, PERSISTENT_ADDRESS 82, INITIATOR_NAME 110, MAX_RECV 79', () => {
    const set = (param: number, value: string) =>
      encodeRequest({ type: UeventType.SetParam, transportHandle: H, sid: 1, cid: 0, param, value });
    expect(set(IscsiParam.TargetName, 'x'.repeat(34)).length).toBe(107);
    expect(set(IscsiParam.PersistentAddress, '127.0.0.1').length).toBe(82);
    expect(set(IscsiParam.PersistentPort, '3260').readUInt32LE(0)).toBe(77);
    expect(set(IscsiParam.InitiatorName, 'y'.repeat(37)).length).toBe(110);
    expect(set(IscsiParam.MaxRecvDLength, '262144').length).toBe(79);
  });

  it('SEND_PDU Login Request: hdr_size 48, data_size 452, nlmsg_len 572; the BHS at message offset 72', () => {
    const data = Buffer.alloc(452, 0x41);
    const msg = encodeRequest(
      { type: UeventType.SendPdu, transportHandle: H, sid: 1, cid: 0, header: F.LOGIN_REQUEST_BHS, data },
      { pid: 217 },
    );
    expect(msg.length).toBe(572);
    expect(msg.readUInt32LE(0)).toBe(572);
    expect(msg.subarray(32, 48)).toEqual(F.hex('01000000 00000000 30000000 c4010000'));
    expect(msg.subarray(72, 120)).toEqual(F.LOGIN_REQUEST_BHS);
    const back = decodeRequest(msg).request;
    expect(back).toMatchObject({ type: UeventType.SendPdu, sid: 1, cid: 0 });
    expect(Buffer.from((back as { data: Uint8Array }).data)).toEqual(data);
    // Its reply carries retcode 0; the trailing data is not echoed.
    const reply = encodeKernelMessage({
      kind: 'reply',
      request: requestFields(back),
      result: { kind: 'retcode', retcode: 0 },
    });
    expect(reply.length).toBe(72);
    expect(decodeKernelMessage(reply)).toMatchObject({
      kind: 'reply',
      request: { hdrSize: 48, dataSize: 452 },
      result: { kind: 'retcode', retcode: 0 },
    });
  });

  it('KEVENT_RECV_PDU Login Response: 420 = 72 + 48 + 300 key bytes, no padding', () => {
    const data = Buffer.from(`${F.LOGIN_RESPONSE_KEYS.join('\0')}\0`);
    expect(data.length).toBe(300);
    const msg = Buffer.concat([
      F.hex(`a4010000 0000 0000 00000000 00000000 65000000 00000000 60d039c0ffffffff ${'00'.repeat(24)}`),
      F.hex(`01000000 00000000 0000000000000000`),
      F.LOGIN_RESPONSE_BHS,
      data,
    ]);
    expect(msg.length).toBe(420);
    const decoded = decodeKernelMessage(msg);
    expect(decoded.kind).toBe('event');
    if (decoded.kind !== 'event' || decoded.event.type !== KeventType.RecvPdu) throw new Error('not RECV_PDU');
    expect(decoded.event).toMatchObject({ sid: 1, cid: 0, recvHandle: 0n });
    expect(Buffer.from(decoded.event.header)).toEqual(F.LOGIN_RESPONSE_BHS);
    expect(Buffer.from(decoded.event.data).toString().split('\0')).toContain('TargetPortalGroupTag=1');
    expect(encodeKernelMessage({ kind: 'event', transportHandle: H, event: decoded.event })).toEqual(msg);
  });

  it('Logout: SEND_PDU of 120 bytes and the RECV_PDU answer (StatSN 101, ExpCmdSN 100, MaxCmdSN 228)', () => {
    const send = encodeRequest({
      type: UeventType.SendPdu,
      transportHandle: H,
      sid: 1,
      cid: 0,
      header: F.LOGOUT_REQUEST_BHS,
      data: new Uint8Array(0),
    });
    expect(send.length).toBe(120);
    const recv = encodeKernelMessage({
      kind: 'event',
      transportHandle: H,
      event: {
        type: KeventType.RecvPdu,
        sid: 1,
        cid: 0,
        recvHandle: 0n,
        header: F.LOGOUT_RESPONSE_BHS,
        data: new Uint8Array(0),
      },
    });
    expect(recv.length).toBe(120);
    const back = decodeKernelMessage(recv);
    expect(back.kind === 'event' && back.event.type === KeventType.RecvPdu && back.event.header[0]).toBe(0x26);
  });

  it('STOP_CONN flag TERM with conn_handle 0, then DESTROY_CONN and DESTROY_SESSION', () => {
    const stop = encodeRequest({
      type: UeventType.StopConn,
      transportHandle: H,
      sid: 1,
      cid: 0,
      connHandle: 0n,
      flag: StopConnFlag.Term,
    });
    expect(stop.subarray(32, 56)).toEqual(F.hex(`01000000 00000000 0000000000000000 01000000 00000000`));
    expect(
      encodeRequest({ type: UeventType.DestroyConn, transportHandle: H, sid: 1, cid: 0 }).subarray(32, 40),
    ).toEqual(F.hex('01000000 00000000'));
    expect(encodeRequest({ type: UeventType.DestroySession, transportHandle: H, sid: 1 }).readUInt32LE(32)).toBe(1);
  });

  it('KEVENT_DESTROY_SESSION puts host_no before sid', () => {
    expect(decodeKernelMessage(F.KEVENT_DESTROY_SESSION)).toMatchObject({
      kind: 'event',
      event: { type: KeventType.DestroySession, sid: 1, hostNo: 0 },
    });
    const other = encodeKernelMessage({
      kind: 'event',
      transportHandle: H,
      event: { type: KeventType.DestroySession, sid: 7, hostNo: 3 },
    });
    expect(other.subarray(56, 64)).toEqual(F.hex('03000000 07000000'));
  });
});

describe('replies and errors', () => {
  it('IF_ERROR: ev.type 103, -errno in iferror, the request type in nlmsg_type (SET_PARAM ISID -> ENOSYS)', () => {
    const request = requestFields({
      type: UeventType.SetParam,
      transportHandle: H,
      sid: 1,
      cid: 0,
      param: IscsiParam.Isid,
      value: '00023d000001',
    });
    const msg = encodeKernelMessage({ kind: 'error', request, errno: 38 });
    expect(msg.readUInt16LE(4)).toBe(UeventType.SetParam);
    expect(msg.readUInt32LE(16)).toBe(103);
    expect(msg.readUInt32LE(20)).toBe(0xffffffda);
    expect(decodeKernelMessage(msg)).toMatchObject({
      kind: 'error',
      requestType: UeventType.SetParam,
      errno: 38,
      request: { param: IscsiParam.Isid, len: 13 },
    });
  });

  it('retcode is signed (BIND_CONN with a bad fd: -EEXIST)', () => {
    const msg = encodeKernelMessage({
      kind: 'reply',
      request: { type: UeventType.BindConn, transportHandle: H, sid: 1, cid: 0, transportEph: 999n, isLeading: true },
      result: { kind: 'retcode', retcode: -17 },
    });
    expect(msg.readInt32LE(56)).toBe(-17);
    expect(decodeKernelMessage(msg)).toMatchObject({ kind: 'reply', result: { kind: 'retcode', retcode: -17 } });
  });

  it('CREATE_CONN reply and EP_CONNECT reply (a u64 endpoint handle)', () => {
    const conn = encodeKernelMessage({
      kind: 'reply',
      request: { type: UeventType.CreateConn, transportHandle: H, sid: 4, cid: 0 },
      result: { kind: 'conn', sid: 4, cid: 0xffffffff },
    });
    expect(decodeKernelMessage(conn)).toMatchObject({ result: { kind: 'conn', sid: 4, cid: 0xffffffff } });
    const ep = encodeKernelMessage({
      kind: 'reply',
      request: { type: UeventType.TransportEpConnect, transportHandle: H, nonBlocking: true },
      result: { kind: 'endpoint', epHandle: 0xffff8881_0badcafen },
    });
    expect(decodeKernelMessage(ep)).toMatchObject({ result: { kind: 'endpoint', epHandle: 0xffff8881_0badcafen } });
  });

  it('the GET_STATS multicast answer: nlmsg_type 0, ev.type 20, iscsi_stats + custom entries (384 bytes)', () => {
    const stats = {
      txdataOctets: 1n << 40n,
      rxdataOctets: 33554432n,
      noptxPdus: 1,
      scsicmdPdus: 132,
      tmfcmdPdus: 0,
      loginPdus: 0,
      textPdus: 0,
      dataoutPdus: 128,
      logoutPdus: 0,
      snackPdus: 0,
      noprxPdus: 1,
      scsirspPdus: 132,
      tmfrspPdus: 0,
      textrspPdus: 0,
      datainPdus: 4096,
      logoutrspPdus: 0,
      r2tPdus: 1,
      asyncPdus: 0,
      rjtPdus: 0,
      digestErr: 0,
      timeoutErr: 0,
      custom: [
        { desc: 'eh_abort_cnt', value: 0n },
        { desc: 'r2t_pdus', value: 1n },
        { desc: 'tx_sendpage_failures', value: 3n },
      ],
    };
    const msg = encodeKernelMessage({ kind: 'stats', transportHandle: H, sid: 1, cid: 0, stats });
    expect(msg.length).toBe(384);
    expect(msg.readUInt16LE(4)).toBe(0);
    expect(decodeKernelMessage(msg)).toMatchObject({ kind: 'stats', sid: 1, cid: 0, stats });
    // The kernel's CmdSN after a failure is initial_cmdsn + scsicmd_pdus (kernel-handoff-proven.md §7).
    expect(4096 + stats.scsicmdPdus).toBe(4228);
  });

  it('CONN_ERROR 1020, UNBIND_SESSION, CONN_LOGIN_STATE, IF_DOWN, HOST_EVENT, PING_COMP', () => {
    const events = [
      { type: KeventType.ConnError, sid: 1, cid: 0, error: IscsiErr.TcpConnClose },
      { type: KeventType.UnbindSession, sid: 1, hostNo: 0 },
      { type: KeventType.ConnLoginState, sid: 2, cid: 0, state: 3 },
      { type: KeventType.IfDown, hostNo: 5, data: new Uint8Array(0) },
      { type: KeventType.HostEvent, hostNo: 5, code: 2, data: new Uint8Array([1, 2, 3]) },
      { type: KeventType.PingComp, hostNo: 5, status: 0, pid: 9, data: new Uint8Array([4]) },
    ] as const;
    for (const event of events) {
      const msg = encodeKernelMessage({ kind: 'event', transportHandle: H, event });
      expect(decodeKernelMessage(msg)).toEqual({
        kind: 'event',
        header: { length: msg.length, type: 0, flags: 0, seq: 0, pid: 0 },
        transportHandle: H,
        event,
      });
    }
  });
});

describe('the remaining requests', () => {
  it('SET_HOST_PARAM INITIATOR_NAME, UNBIND_SESSION, START_CONN, GET_STATS, CREATE_BOUND_SESSION', () => {
    const reqs: IscsiRequest[] = [
      {
        type: UeventType.SetHostParam,
        transportHandle: H,
        hostNo: 0,
        param: IscsiHostParam.InitiatorName,
        value: 'iqn.2024-01.example:handoff-initiator',
      },
      { type: UeventType.UnbindSession, transportHandle: H, sid: 1 },
      { type: UeventType.DestroySessionAsync, transportHandle: H, sid: 1 },
      { type: UeventType.StartConn, transportHandle: H, sid: 1, cid: 0 },
      { type: UeventType.GetStats, transportHandle: H, sid: 1, cid: 0 },
      {
        type: UeventType.CreateBoundSession,
        transportHandle: H,
        epHandle: 0xffff_8000_0000_1234n,
        initialCmdSn: 4096,
        cmdsMax: 1024,
        queueDepth: 64,
      },
    ];
    for (const req of reqs) expect(decodeRequest(encodeRequest(req)).request).toEqual(req);
    const host = encodeRequest(reqs[0]!);
    expect(host.subarray(32, 44)).toEqual(F.hex('00000000 01000000 26000000'));
  });

  it('endpoint messages (offload transports): EP_CONNECT with a sockaddr, EP_POLL, EP_DISCONNECT', () => {
    const address = encodeSockaddr({ host: '10.1.2.3', port: 3260 });
    expect(address).toEqual(F.hex('0200 0cbc 0a010203 0000000000000000'));
    const v6 = encodeSockaddr({ host: 'fd00::1', port: 3260, scopeId: 2 });
    expect(v6.length).toBe(28);
    expect(decodeSockaddr(v6)).toEqual({ host: 'fd00::1', port: 3260, scopeId: 2 });
    const reqs: IscsiRequest[] = [
      { type: UeventType.TransportEpConnect, transportHandle: H, nonBlocking: true, address: new Uint8Array(address) },
      {
        type: UeventType.TransportEpConnectThroughHost,
        transportHandle: H,
        hostNo: 6,
        nonBlocking: false,
        address: new Uint8Array(v6),
      },
      { type: UeventType.TransportEpPoll, transportHandle: H, epHandle: 0xffff888012345678n, timeoutMs: 1000 },
      { type: UeventType.TransportEpDisconnect, transportHandle: H, epHandle: 0xffff888012345678n },
    ];
    for (const req of reqs) {
      const msg = encodeRequest(req);
      expect(decodeRequest(msg).request).toEqual(req);
    }
    expect(encodeRequest(reqs[0]!).length).toBe(88);
    expect(encodeRequest(reqs[2]!).subarray(32, 44)).toEqual(F.hex('78563412 8088ffff e8030000'));
    expect(decodeSockaddr(encodeRequest(reqs[0]!).subarray(72))).toEqual({ host: '10.1.2.3', port: 3260 });
  });
});

describe('strict decoding', () => {
  it('splits a datagram on 4-byte boundaries', () => {
    const a = encodeRequest({ type: UeventType.SetParam, transportHandle: H, sid: 1, cid: 0, param: 3, value: '0' });
    const b = F.KEVENT_CREATE_SESSION;
    const datagram = Buffer.concat([a, Buffer.alloc(2), b]);
    const parts = splitNetlinkDatagram(datagram);
    expect(parts.map((p) => p.length)).toEqual([74, 72]);
    expect(decodeKernelMessage(parts[1]!).kind).toBe('event');
    expect(kernelError(() => splitNetlinkDatagram(datagram.subarray(0, 80))).reason).toBe('truncated');
  });

  it('typed errors for short, inconsistent or unknown messages', () => {
    expect(kernelError(() => decodeKernelMessage(F.CREATE_SESSION_REPLY.subarray(0, 10))).reason).toBe('truncated');
    expect(kernelError(() => decodeKernelMessage(F.CREATE_SESSION_REPLY.subarray(0, 71))).reason).toBe('truncated');
    const short = Buffer.from(F.CREATE_SESSION_REPLY);
    short.writeUInt32LE(60, 0);
    expect(kernelError(() => decodeKernelMessage(short)).reason).toBe('length');
    const unknown = Buffer.from(F.KEVENT_CREATE_SESSION);
    unknown.writeUInt32LE(112, 16);
    const err = kernelError(() => decodeKernelMessage(unknown));
    expect(err).toMatchObject({ reason: 'unknown-type', messageType: 112, code: 'ERR_ISCSI_KERNEL' });
    const setParam = Buffer.from(F.SET_PARAM_DATADGST);
    setParam.writeUInt32LE(3, 44); // len 3 but 2 bytes follow
    expect(kernelError(() => decodeRequest(setParam)).reason).toBe('length');
    const noNul = Buffer.from(F.SET_PARAM_DATADGST);
    noNul[73] = 0x31;
    expect(kernelError(() => decodeRequest(noNul)).reason).toBe('field');
    const mismatch = Buffer.from(F.BIND_CONN_REQUEST);
    mismatch.writeUInt16LE(16, 4);
    expect(kernelError(() => decodeRequest(mismatch)).reason).toBe('field');
    const leading = Buffer.from(F.BIND_CONN_REQUEST);
    leading.writeUInt32LE(2, 48);
    expect(kernelError(() => decodeRequest(leading)).reason).toBe('field');
  });

  it('a RECV_PDU whose data does not match the BHS DataSegmentLength is rejected', () => {
    const msg = encodeKernelMessage({
      kind: 'event',
      transportHandle: H,
      event: {
        type: KeventType.RecvPdu,
        sid: 1,
        cid: 0,
        recvHandle: 0n,
        header: F.LOGOUT_RESPONSE_BHS,
        data: new Uint8Array(4),
      },
    });
    expect(kernelError(() => decodeKernelMessage(msg)).reason).toBe('length');
  });

  it('the encoder refuses out-of-range fields with InvalidArgumentError', () => {
    const bad: unknown[] = [
      { type: UeventType.CreateSession, transportHandle: H, initialCmdSn: 2 ** 32, cmdsMax: 128, queueDepth: 32 },
      { type: UeventType.CreateSession, transportHandle: H, initialCmdSn: 0, cmdsMax: 70000, queueDepth: 32 },
      { type: UeventType.BindConn, transportHandle: -1n, sid: 1, cid: 0, transportEph: 7n, isLeading: true },
      { type: UeventType.SetParam, transportHandle: H, sid: 1, cid: 0, param: 3, value: 'a\0b' },
      { type: UeventType.SetParam, transportHandle: H, sid: 1, cid: 0, param: 3, value: 'x'.repeat(4096) },
      {
        type: UeventType.SendPdu,
        transportHandle: H,
        sid: 1,
        cid: 0,
        header: new Uint8Array(47),
        data: new Uint8Array(),
      },
      { type: UeventType.TgtDscvr, transportHandle: H },
    ];
    for (const req of bad) expect(() => encodeRequest(req as IscsiRequest)).toThrow(InvalidArgumentError);
    expect(() => formatParamValue(1.5)).toThrow(InvalidArgumentError);
    expect([formatParamValue(true), formatParamValue(262144), formatParamValue(4294967295n)]).toEqual([
      '1',
      '262144',
      '4294967295',
    ]);
  });
});
