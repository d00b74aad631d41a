/**
 * handOff / loginAndHandOff / kernelLogout against a fake kernel: a NetlinkChannel that decodes every request with
 * the codec and answers the way the 6.1 kernel did in kernel-handoff-proven.md (KEVENT_CREATE_SESSION before the
 * CREATE_SESSION reply, ENOSYS for ISID/TSID, ENOTCONN for SET_PARAM before BIND_CONN, retcode for BIND/START). The
 * login is real: our embedded target on loopback with mutual CHAP. Checks the exact message sequence and values.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import { KernelError } from '../../src/kernel/errors.js';
import { handOff, kernelLogout, kernelParams, loginAndHandOff } from '../../src/kernel/handoff.js';
import {
  decodeKernelMessage,
  decodeRequest,
  encodeKernelMessage,
  type IscsiRequest,
  type KernelEvent,
  requestFields,
} from '../../src/kernel/netlink-codec.js';
import { IscsiNetlink, type NetlinkChannel } from '../../src/kernel/netlink-socket.js';
import { IscsiParam } from '../../src/kernel/params.js';
import { stopReading, tcpSocketFd } from '../../src/kernel/tcp-socket.js';
import { KeventType, StopConnFlag, UeventType } from '../../src/kernel/uevent-types.js';
import { Framer } from '../../src/pdu/framer.js';
import { login } from '../../src/session/initiator.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const HANDLE = 0xffffffffc02d3060n;

/** libc dup() through koffi (a dev dependency here), for the fake kernel's own reference to a bound socket. */
const libc = (
  (await import('koffi')) as unknown as { default: { load(p: string): { func(d: string): (fd: number) => number } } }
).default.load('libc.so.6');
const dupFn = libc.func('int dup(int)');
function libcDup(fd: number): number {
  const copy = dupFn(fd);
  if (copy < 0) throw new Error(`dup(${fd}) failed`);
  return copy;
}
const IQN = 'iqn.2026-11.test.iscsi-ts:handoff';
const INITIATOR = 'iqn.2026-11.test.iscsi-ts:handoff-initiator';
const chap = {
  credentials: { user: 'handoff-in', secret: Secret.from('initiator-secret-0123') },
  targetCredentials: { user: 'handoff-out', secret: Secret.from('target-secret-456789') },
};

/** A fake NETLINK_ISCSI kernel: records requests, answers like scsi_transport_iscsi. */
class FakeKernel implements NetlinkChannel {
  readonly portId = 140;
  readonly requests: IscsiRequest[] = [];
  #queue: Buffer[] = [];
  #wake: (() => void) | undefined;
  #bound = false;
  /** Return an errno to fail a request with KEVENT_IF_ERROR. */
  failWith: (r: IscsiRequest) => number | undefined = () => undefined;
  /** Return a negative retcode for BIND/START/SEND_PDU. */
  retcodeOf: (r: IscsiRequest) => number = () => 0;
  closed = false;
  /** Bind-first: the bound connection (a dup of the fd BIND_CONN named), relayed like iscsi_tcp's login path. */
  wire: Socket | undefined;
  #initialCmdSn = 0;
  readonly #framer = new Framer({ sender: 'target' });

  async send(datagram: Buffer): Promise<void> {
    const { header, request } = decodeRequest(datagram);
    expect(header.type).toBe(request.type); // nlmsg_type = ev.type
    this.requests.push(request);
    const fields = requestFields(request);
    const errno =
      this.failWith(request) ??
      (request.type === UeventType.SetParam && !this.#bound
        ? 107 // ENOTCONN: parameters before BIND_CONN
        : request.type === UeventType.SetParam &&
            (request.param === IscsiParam.Isid || request.param === IscsiParam.Tsid)
          ? 38
          : undefined);
    if (errno !== undefined) {
      this.#push(encodeKernelMessage({ kind: 'error', request: fields, errno }));
      return;
    }
    const event = (e: KernelEvent) =>
      this.#push(encodeKernelMessage({ kind: 'event', transportHandle: HANDLE, event: e }));
    switch (request.type) {
      case UeventType.CreateSession:
        this.#initialCmdSn = request.initialCmdSn;
        event({ type: KeventType.CreateSession, sid: 7, hostNo: 3 });
        this.#push(
          encodeKernelMessage({ kind: 'reply', request: fields, result: { kind: 'session', sid: 7, hostNo: 3 } }),
        );
        return;
      case UeventType.CreateConn:
        this.#push(
          encodeKernelMessage({ kind: 'reply', request: fields, result: { kind: 'conn', sid: request.sid, cid: 0 } }),
        );
        return;
      case UeventType.BindConn:
        if (this.retcodeOf(request) === 0) {
          this.#bound = true;
          // Like sockfd_lookup: take our own reference to the socket, so the caller may close its fd.
          this.wire = new Socket({ fd: libcDup(Number(request.transportEph)), readable: true, writable: true });
          this.wire.pause();
        }
        break;
      case UeventType.UnbindSession:
        this.#push(encodeKernelMessage({ kind: 'reply', request: fields, result: { kind: 'retcode', retcode: 0 } }));
        event({ type: KeventType.UnbindSession, sid: request.sid, hostNo: 3 });
        return;
      case UeventType.SendPdu: {
        if (this.wire !== undefined && (request.header[0]! & 0x3f) === 0x03) {
          this.#relayLogin(request.sid, request.header, request.data);
          this.#push(encodeKernelMessage({ kind: 'reply', request: fields, result: { kind: 'retcode', retcode: 0 } }));
          return;
        }
        this.#push(encodeKernelMessage({ kind: 'reply', request: fields, result: { kind: 'retcode', retcode: 0 } }));
        const header = new Uint8Array(48);
        header[0] = 0x26; // Logout Response
        header[1] = 0x80;
        header[2] = 0; // response: closed successfully
        setTimeout(
          () =>
            event({
              type: KeventType.RecvPdu,
              sid: request.sid,
              cid: 0,
              recvHandle: 0n,
              header,
              data: new Uint8Array(),
            }),
          20,
        );
        return;
      }
      case UeventType.DestroySession:
        event({ type: KeventType.UnbindSession, sid: request.sid, hostNo: 3 });
        event({ type: KeventType.DestroySession, sid: request.sid, hostNo: 3 });
        break;
    }
    this.#push(
      encodeKernelMessage({
        kind: 'reply',
        request: fields,
        result: { kind: 'retcode', retcode: this.retcodeOf(request) },
      }),
    );
  }

  /** A Login Request through the kernel: ITT and CmdSN rewritten as libiscsi does, the response passed up. */
  #relayLogin(sid: number, header: Uint8Array, data: Uint8Array): void {
    const bhs = Buffer.from(header);
    bhs.writeUInt32BE(0, 16); // the kernel's task ITT
    bhs.writeUInt32BE(this.#initialCmdSn, 24); // session->cmdsn
    this.wire!.write(Buffer.concat([bhs, data]));
    const onData = (chunk: Buffer) => {
      this.#framer.push(chunk);
      const f = this.#framer.next();
      if (f === undefined) return;
      this.wire!.off('data', onData);
      this.wire!.pause();
      const wire = f.wire;
      const dsl = (wire[5]! << 16) | (wire[6]! << 8) | wire[7]!;
      this.#push(
        encodeKernelMessage({
          kind: 'event',
          transportHandle: HANDLE,
          event: {
            type: KeventType.RecvPdu,
            sid,
            cid: 0,
            recvHandle: 0n,
            header: wire.subarray(0, 48),
            data: wire.subarray(48, 48 + dsl),
          },
        }),
      );
    };
    this.wire!.on('data', onData);
    this.wire!.resume();
  }

  #push(b: Buffer): void {
    this.#queue.push(b);
    this.#wake?.();
  }

  receiveNow(): Buffer[] {
    return this.#queue.splice(0);
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.#queue.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  close(): void {
    this.closed = true;
  }

  types(): string[] {
    return this.requests.map((r) =>
      r.type === UeventType.SetParam
        ? `SET_PARAM ${r.param}`
        : (Object.entries(UeventType).find(([, v]) => v === r.type)?.[0] ?? '?'),
    );
  }
}

let target: IscsiTarget;
let sysRoot: string;

beforeAll(async () => {
  target = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [
      {
        name: IQN,
        luns: [{ storage: { type: 'memory', size: 4 * 1024 * 1024 } }],
        auth: {
          lookup: (user) => (user === chap.credentials.user ? chap.credentials.secret : undefined),
          targetCredentials: chap.targetCredentials,
        },
      },
    ],
  });
  await target.start();
  sysRoot = mkdtempSync(join(tmpdir(), 'iscsi-ts-handoff-'));
  mkdirSync(join(sysRoot, 'class', 'iscsi_transport', 'tcp'), { recursive: true });
  writeFileSync(join(sysRoot, 'class', 'iscsi_transport', 'tcp', 'handle'), `${HANDLE}\n`);
  writeFileSync(join(sysRoot, 'class', 'iscsi_transport', 'tcp', 'caps'), '0x39\n');
});

afterAll(async () => {
  await target.stop({ graceMs: 200 });
  rmSync(sysRoot, { recursive: true, force: true });
});

function portal(): string {
  const p = target.portals[0]!;
  return `${p.host}:${p.port}`;
}

describe('loginAndHandOff (login-first)', () => {
  it('sends the proven sequence with the negotiated values and closes our fd after BIND_CONN', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    const scans: string[] = [];
    let socketAtBind: boolean | undefined;
    const sockets: Socket[] = [];
    kernel.retcodeOf = (r) => {
      if (r.type === UeventType.BindConn) socketAtBind = !sockets[0]!.destroyed;
      return 0;
    };
    const result = await loginAndHandOff(
      {
        portal: portal(),
        targetName: IQN,
        initiatorName: INITIATOR,
        chap,
        connect: (o) => {
          const s = netConnect(o);
          sockets.push(s);
          return s;
        },
      },
      {
        netlink,
        modprobe: false,
        sysRoot,
        diskTimeoutMs: 300,
        writeSysfs: async (path, text) => {
          scans.push(`${path}=${text}`);
        },
      },
    );
    netlink.close();
    expect(result.sid).toBe(7);
    expect(result.hostNo).toBe(3);
    expect(result.disks).toEqual([]); // no such session in the fixture sysfs
    expect(scans).toEqual([`${sysRoot}/class/scsi_host/host3/scan=- - -`]);

    const names = kernel.types();
    expect(names.slice(0, 3)).toEqual(['CreateSession', 'CreateConn', 'BindConn']);
    expect(names.slice(-2)).toEqual(['SetHostParam', 'StartConn']);
    const create = kernel.requests[0]!;
    if (create.type !== UeventType.CreateSession) throw new Error('not CREATE_SESSION');
    // initial_cmdsn = the final Login Response's ExpCmdSN (proven doc §2 #1).
    expect(create.initialCmdSn).toBe(result.loggedIn.expCmdSN);
    expect(create.cmdsMax).toBe(128);
    expect(create.queueDepth).toBe(32);
    for (const r of kernel.requests) expect(r.transportHandle).toBe(HANDLE);

    const bind = kernel.requests[2]!;
    if (bind.type !== UeventType.BindConn) throw new Error('not BIND_CONN');
    expect(bind.isLeading).toBe(true);
    expect(bind.sid).toBe(7);
    expect(bind.cid).toBe(0);
    expect(Number(bind.transportEph)).toBeGreaterThan(2);
    expect(socketAtBind).toBe(true); // our fd was open when the kernel looked it up
    expect(sockets.at(-1)!.destroyed).toBe(true); // and closed after

    const params = new Map(
      kernel.requests.flatMap((r) => (r.type === UeventType.SetParam ? [[r.param, r.value] as const] : [])),
    );
    const p = result.loggedIn.params;
    expect(params.get(IscsiParam.MaxRecvDLength)).toBe(String(p.maxRecvDataSegmentLength));
    expect(params.get(IscsiParam.MaxXmitDLength)).toBe(String(p.maxXmitDataSegmentLength));
    expect(params.get(IscsiParam.FirstBurst)).toBe(String(p.firstBurstLength));
    expect(params.get(IscsiParam.MaxBurst)).toBe(String(p.maxBurstLength));
    expect(params.get(IscsiParam.InitialR2tEn)).toBe(p.initialR2T ? '1' : '0');
    expect(params.get(IscsiParam.ImmDataEn)).toBe(p.immediateData ? '1' : '0');
    expect(params.get(IscsiParam.ExpStatSn)).toBe(String(result.loggedIn.expStatSN));
    expect(params.get(IscsiParam.HdrDgstEn)).toBe('0');
    expect(params.get(IscsiParam.TargetName)).toBe(IQN);
    expect(params.get(IscsiParam.InitiatorName)).toBe(INITIATOR);
    expect(params.get(IscsiParam.PersistentAddress)).toBe('127.0.0.1');
    expect(params.get(IscsiParam.PersistentPort)).toBe(String(target.portals[0]!.port));
    expect(params.get(IscsiParam.Username)).toBe('handoff-in');
    expect(params.get(IscsiParam.UsernameIn)).toBe('handoff-out');
    // Never the secrets, never ISID/TSIH (ENOSYS on 6.1).
    for (const never of [IscsiParam.Password, IscsiParam.PasswordIn, IscsiParam.Isid, IscsiParam.Tsid]) {
      expect(params.has(never)).toBe(false);
    }
    const serialized = kernel.requests.map((r) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? 0 : v))).join();
    expect(serialized).not.toContain('secret');
    // Every SET_PARAM after BIND_CONN, before START_CONN (the fake answers ENOTCONN otherwise).
    const firstParam = names.findIndex((n) => n.startsWith('SET_PARAM'));
    expect(firstParam).toBe(3);
  });

  it('destroys what it created when a step fails: no kernel session left, connection closed', async () => {
    const kernel = new FakeKernel();
    kernel.retcodeOf = (r) => (r.type === UeventType.StartConn ? -22 : 0);
    const netlink = new IscsiNetlink(kernel);
    const error = await loginAndHandOff(
      { portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap },
      { netlink, modprobe: false, sysRoot, scan: false },
    ).catch((e: unknown) => e);
    netlink.close();
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).reason).toBe('request');
    expect((error as KernelError).errno).toBe(22);
    expect(kernel.types().slice(-4)).toEqual(['StartConn', 'StopConn', 'DestroyConn', 'DestroySession']);
    const stop = kernel.requests.at(-3)!;
    expect(stop.type === UeventType.StopConn && stop.flag).toBe(StopConnFlag.Term);
  });

  it('maps EPERM to a privilege error and cleans up', async () => {
    const kernel = new FakeKernel();
    kernel.failWith = (r) => (r.type === UeventType.CreateConn ? 1 : undefined);
    const netlink = new IscsiNetlink(kernel);
    const error = await loginAndHandOff(
      { portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap },
      { netlink, modprobe: false, sysRoot, scan: false },
    ).catch((e: unknown) => e);
    netlink.close();
    expect((error as KernelError).reason).toBe('privilege');
    expect((error as KernelError).message).toMatch(/CAP_SYS_ADMIN/);
    expect(kernel.types()).toEqual(['CreateSession', 'CreateConn', 'DestroySession']);
  });

  it('a wrong CHAP secret fails the login before any netlink request', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    const bad = { ...chap, credentials: { user: 'handoff-in', secret: Secret.from('wrong-secret-0123456') } };
    await expect(
      loginAndHandOff(
        { portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap: bad },
        { netlink, modprobe: false, sysRoot, scan: false },
      ),
    ).rejects.toMatchObject({ name: expect.stringMatching(/Login|Auth/) });
    netlink.close();
    expect(kernel.requests).toEqual([]);
  });

  it('reports a missing transport module clearly', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'iscsi-ts-nosys-'));
    try {
      await expect(
        loginAndHandOff(
          { portal: portal(), targetName: IQN },
          {
            sysRoot: empty,
            modprobe: async (m) => {
              throw new KernelError('unavailable', `modprobe ${m} failed (exit 1): module ${m} not found`);
            },
          },
        ),
      ).rejects.toMatchObject({ reason: 'unavailable', message: expect.stringContaining('iscsi_tcp') });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('loginAndHandOff with bindFirst (iscsid order)', () => {
  it('binds the fresh socket, logs in through SEND_PDU/RECV_PDU with mutual CHAP, then sets parameters', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    try {
      const result = await loginAndHandOff(
        { portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap },
        { netlink, modprobe: false, sysRoot, scan: false, bindFirst: true },
      );
      expect(result.sid).toBe(7);
      expect(result.loggedIn.tsih).toBeGreaterThan(0);
      const names = kernel.types();
      expect(names.slice(0, 3)).toEqual(['CreateSession', 'CreateConn', 'BindConn']);
      const sends = names.filter((n) => n === 'SendPdu').length;
      expect(sends).toBeGreaterThanOrEqual(3); // AuthMethod, CHAP_A, CHAP_N/R (+ operational)
      expect(names.indexOf('SendPdu')).toBe(3); // the login comes right after the bind
      expect(names.lastIndexOf('SendPdu')).toBeLessThan(names.findIndex((n) => n.startsWith('SET_PARAM')));
      expect(names.at(-1)).toBe('StartConn');
      const create = kernel.requests[0]!;
      if (create.type !== UeventType.CreateSession) throw new Error('not CREATE_SESSION');
      // The login's CmdSN is initial_cmdsn: the target's final ExpCmdSN equals it.
      expect(result.loggedIn.expCmdSN).toBe(create.initialCmdSn);
      const exp = kernel.requests.find((r) => r.type === UeventType.SetParam && r.param === IscsiParam.ExpStatSn);
      expect(exp?.type === UeventType.SetParam && exp.value).toBe(String(result.loggedIn.expStatSN));
      expect(target.sessionCount).toBeGreaterThanOrEqual(1);
    } finally {
      netlink.close();
      kernel.wire?.destroy();
    }
  });

  it('a wrong secret fails inside the kernel login and destroys the session', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    const bad = { ...chap, credentials: { user: 'handoff-in', secret: Secret.from('wrong-secret-0123456') } };
    try {
      await expect(
        loginAndHandOff(
          { portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap: bad },
          { netlink, modprobe: false, sysRoot, scan: false, bindFirst: true },
        ),
      ).rejects.toMatchObject({ name: expect.stringMatching(/Login|Auth/) });
      expect(kernel.types().slice(-3)).toEqual(['StopConn', 'DestroyConn', 'DestroySession']);
    } finally {
      netlink.close();
      kernel.wire?.destroy();
    }
  });
});

describe('kernelParams', () => {
  it('lists the negotiated values as the proven hand-off sent them (tgtd-like negotiation)', async () => {
    const session = await login({ portal: portal(), targetName: IQN, initiatorName: INITIATOR, chap });
    try {
      const list = kernelParams(session, { initiatorName: INITIATOR });
      const required = list.filter((p) => p.required).map((p) => p.param);
      expect(required).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14]);
      expect(list.find((p) => p.param === IscsiParam.SessRecoveryTmo)?.value).toBe('120');
      expect(list.find((p) => p.param === IscsiParam.PingTmo)?.value).toBe('5');
      expect(list.find((p) => p.param === IscsiParam.ExpStatSn)?.value).toBe(String(session.expStatSN));
    } finally {
      session.connection.close();
    }
  });
});

describe('kernelLogout', () => {
  /** kernelLogout of session 7 (connection up) in a sysfs tree made for it, against `kernel`. */
  async function logoutSession7(kernel: FakeKernel): Promise<unknown> {
    const root = mkdtempSync(join(tmpdir(), 'iscsi-ts-logout-'));
    const netlink = new IscsiNetlink(kernel);
    try {
      mkdirSync(join(root, 'class', 'iscsi_transport', 'tcp'), { recursive: true });
      writeFileSync(join(root, 'class', 'iscsi_transport', 'tcp', 'handle'), `${HANDLE}\n`);
      const s = join(root, 'class', 'iscsi_session', 'session7');
      mkdirSync(s, { recursive: true });
      writeFileSync(join(s, 'targetname'), `${IQN}\n`);
      writeFileSync(join(s, 'state'), 'LOGGED_IN\n');
      const c = join(root, 'class', 'iscsi_connection', 'connection7:0');
      mkdirSync(c, { recursive: true });
      writeFileSync(join(c, 'state'), 'up\n');
      return await kernelLogout(7, { netlink, sysRoot: root }).catch((e: unknown) => e);
    } finally {
      netlink.close();
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('UNBIND → Logout via SEND_PDU → STOP_CONN(TERM) → DESTROY_CONN → DESTROY_SESSION', async () => {
    const kernel = new FakeKernel();
    const r = (await logoutSession7(kernel)) as Awaited<ReturnType<typeof kernelLogout>>;
    expect(r.logoutResponse).toBe(0);
    expect(kernel.types()).toEqual(['UnbindSession', 'SendPdu', 'StopConn', 'DestroyConn', 'DestroySession']);
    const pdu = kernel.requests[1]!;
    if (pdu.type !== UeventType.SendPdu) throw new Error('not SEND_PDU');
    expect([...pdu.header.subarray(0, 4)]).toEqual([0x46, 0x80, 0, 0]);
    expect(pdu.data.length).toBe(0);
  });

  it('stops at the first request refused for privilege (no CAP_SYS_ADMIN), with that error', async () => {
    const kernel = new FakeKernel();
    kernel.failWith = () => 1; // EPERM
    const error = await logoutSession7(kernel);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).reason).toBe('privilege');
    expect(kernel.types()).toEqual(['UnbindSession']);
  });

  it('an unknown sid is a KernelError', async () => {
    await expect(kernelLogout(99, { netlink: new IscsiNetlink(new FakeKernel()), sysRoot })).rejects.toBeInstanceOf(
      KernelError,
    );
  });
});

describe('KEVENT_RECV_PDU as the kernel sizes it', () => {
  it('accepts nlmsg_len counting the pad to 4 bytes (iscsi_recv_pdu uses nlmsg_total_size) and drops the pad', () => {
    const header = new Uint8Array(48);
    header[0] = 0x23; // Login Response
    header[7] = 39; // "TargetPortalGroupTag=1\0AuthMethod=CHAP\0"
    const data = new Uint8Array(39).fill(0x41);
    const exact = encodeKernelMessage({
      kind: 'event',
      transportHandle: HANDLE,
      event: { type: KeventType.RecvPdu, sid: 1, cid: 0, recvHandle: 0n, header, data },
    });
    const padded = Buffer.concat([exact, Buffer.from([0xee])]);
    padded.writeUInt32LE(padded.length, 0);
    const decoded = decodeKernelMessage(padded);
    expect(decoded.kind === 'event' && decoded.event.type === KeventType.RecvPdu && decoded.event.data).toEqual(data);
    const tooLong = Buffer.concat([exact, Buffer.alloc(5)]);
    tooLong.writeUInt32LE(tooLong.length, 0);
    expect(() => decodeKernelMessage(tooLong)).toThrow(KernelError);
  });
});

describe('IscsiNetlink', () => {
  it('matches replies by type while events arrive first, and passes events to listeners', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    const seen: number[] = [];
    const off = netlink.onEvent((e) => seen.push(e.type));
    const reply = await netlink.request({
      type: UeventType.CreateSession,
      transportHandle: HANDLE,
      initialCmdSn: 4096,
      cmdsMax: 128,
      queueDepth: 32,
    });
    expect(reply.result).toEqual({ kind: 'session', sid: 7, hostNo: 3 });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual([KeventType.CreateSession]);
    off();
    netlink.close();
    expect(kernel.closed).toBe(true);
  });

  it('turns IF_ERROR into KernelError with errno and a retcode into a request error', async () => {
    const kernel = new FakeKernel();
    const netlink = new IscsiNetlink(kernel);
    await expect(
      netlink.request({ type: UeventType.SetParam, transportHandle: HANDLE, sid: 1, cid: 0, param: 0, value: '8192' }),
    ).rejects.toMatchObject({ reason: 'request', errno: 107, message: expect.stringContaining('ENOTCONN') });
    kernel.retcodeOf = () => -17;
    await expect(
      netlink.request({
        type: UeventType.BindConn,
        transportHandle: HANDLE,
        sid: 1,
        cid: 0,
        transportEph: 999n,
        isLeading: true,
      }),
    ).rejects.toMatchObject({ reason: 'request', errno: 17 });
    netlink.close();
  });

  it('times out when the kernel does not answer', async () => {
    const silent: NetlinkChannel = {
      portId: 1,
      send: async () => undefined,
      receiveNow: () => [],
      wait: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      close: () => undefined,
    };
    const netlink = new IscsiNetlink(silent, { replyTimeoutMs: 100 });
    await expect(
      netlink.request({ type: UeventType.StartConn, transportHandle: HANDLE, sid: 1, cid: 0 }),
    ).rejects.toMatchObject({ reason: 'timeout' });
    netlink.close();
  });
});

describe('tcp-socket', () => {
  let server: Server;
  let peer: Socket | undefined;
  beforeAll(async () => {
    server = createServer((s) => {
      peer = s;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(() => peer?.destroy());
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('stops Node reading: bytes the peer sends stay in the kernel socket buffer', async () => {
    const port = (server.address() as { port: number }).port;
    const s = netConnect({ host: '127.0.0.1', port });
    await new Promise((r) => s.once('connect', r));
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    const fd = stopReading(s);
    expect(fd).toBe(tcpSocketFd(s));
    await new Promise((r) => setTimeout(r, 20));
    peer!.write(Buffer.alloc(1000));
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe(0);
    expect(s.readableLength).toBe(0);
    s.destroy();
  });

  it('refuses a socket that is not connected', () => {
    const s = netConnect({ host: '127.0.0.1', port: 1 });
    s.on('error', () => undefined);
    s.destroy();
    expect(() => tcpSocketFd(s)).toThrow(KernelError);
  });
});

describe('handOff', () => {
  it('refuses a session whose bytes were already read past the login', async () => {
    const socket = netConnect({ host: '127.0.0.1', port: target.portals[0]!.port });
    await new Promise((r) => socket.once('connect', r));
    let closed = false;
    const loggedIn = {
      params: { sessionType: 'Normal' },
      connection: { framer: { bufferedBytes: 48 }, close: () => (closed = true) },
    } as unknown as Parameters<typeof handOff>[0];
    await expect(handOff(loggedIn, { socket, netlink: new IscsiNetlink(new FakeKernel()) })).rejects.toMatchObject({
      reason: 'handoff',
    });
    expect(closed).toBe(true);
    socket.destroy();
  });
});
