/**
 * TargetSession driven PDU by PDU with a fake device server (RFC 7143 §3.2.2.1, §4.2.2.1, §11): CmdSN ordering and
 * the command window, StatSN, NOP-Out/NOP-In, task management, logout, SNACK, Reject, text continuation, writes
 * under every InitialR2T/ImmediateData combination, the transfer limit and data digest errors.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { lunFromNumber } from '../../src/pdu/lun.js';
import { decodeText, encodeText, type TextPair } from '../../src/pdu/text.js';
import type {
  DataInPdu,
  DataOutPdu,
  LogoutRequestPdu,
  NopInPdu,
  NopOutPdu,
  Pdu,
  R2tPdu,
  RejectPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  TaskManagementRequestPdu,
  TaskManagementResponsePdu,
  TextRequestPdu,
  TextResponsePdu,
} from '../../src/pdu/types.js';
import { ScsiStatus, SenseKey } from '../../src/scsi/names.js';
import { silentLogger } from '../../src/session/events.js';
import { DEFAULT_PARAMETERS, type NegotiatedParameters } from '../../src/session/params.js';
import type { TargetLoginResult } from '../../src/target/login-types.js';
import type { Nexus, ScsiRequest, ScsiResult } from '../../src/target/scsi/types.js';
import {
  type ResetRequest,
  type SessionDeviceServer,
  TargetSession,
  type TargetSessionOptions,
} from '../../src/target/session.js';

const RESERVED = 0xffffffff;
const EXP_CMD_SN = 500;
const STAT_SN = 1000;
const WINDOW = 8;
const OP_READ = 0x28;
const OP_WRITE = 0x2a;
const NEXUS: Nexus = { initiatorPort: 'iqn.x,i,0x1', initiatorName: 'iqn.x', isid: 1, relativeTargetPort: 1 };

/** A device server over a memory array: READ returns bytes at the CDB's offset, WRITE stores the Data-Out there. */
class FakeServer implements SessionDeviceServer {
  readonly memory = new Uint8Array(1 << 20);
  readonly requests: ScsiRequest[] = [];
  readonly lunResets: number[] = [];
  targetResets = 0;
  readonly lost: Nexus[] = [];
  /** When set, commands wait until {@link FakeServer.release}. */
  gated = false;
  readonly #waiting: (() => void)[] = [];

  hasLun(lun: number): boolean {
    return lun === 0 || lun === 1;
  }

  async execute(request: ScsiRequest): Promise<ScsiResult> {
    this.requests.push(request);
    if (this.gated) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    const offset = new DataView(request.cdb.buffer, request.cdb.byteOffset).getUint32(2);
    if (request.cdb[0] === OP_WRITE) {
      this.memory.set(request.dataOut, offset);
      return { status: ScsiStatus.Good };
    }
    return { status: ScsiStatus.Good, data: this.memory.slice(offset, offset + request.dataInLength) };
  }

  release(): void {
    this.gated = false;
    for (const w of this.#waiting.splice(0)) w();
  }

  resetLun(lun: number): void {
    this.lunResets.push(lun);
  }

  resetTarget(): void {
    this.targetResets++;
  }

  nexusLost(nexus: Nexus): void {
    this.lost.push(nexus);
  }
}

interface Harness {
  readonly session: TargetSession;
  readonly server: FakeServer;
  readonly sent: Pdu[];
  readonly closed: string[];
  readonly resets: ResetRequest[];
  /** Receives a PDU as the connection would, its BHS as the header. */
  readonly recv: (pdu: Pdu) => void;
  /** PDUs sent since the last call. */
  readonly take: () => Pdu[];
}

function harness(
  params: Partial<NegotiatedParameters> = {},
  options: Partial<TargetSessionOptions> & { sessionType?: 'Normal' | 'Discovery' } = {},
): Harness {
  const server = new FakeServer();
  const sent: Pdu[] = [];
  const closed: string[] = [];
  const resets: ResetRequest[] = [];
  const sessionType = options.sessionType ?? 'Normal';
  const login: TargetLoginResult = {
    params: { ...DEFAULT_PARAMETERS, initialR2T: false, maxXmitDataSegmentLength: 4096, ...params },
    initiatorName: 'iqn.2024-01.test:host',
    targetName: sessionType === 'Normal' ? 'iqn.2024-01.test:disk' : undefined,
    sessionType,
    isid: 1,
    tsih: 3,
    newSession: true,
    cid: 1,
    expCmdSN: EXP_CMD_SN,
    maxCmdSN: EXP_CMD_SN + WINDOW - 1,
    statSN: STAT_SN,
  };
  const session = new TargetSession({
    login,
    server: sessionType === 'Normal' ? server : undefined,
    nexus: NEXUS,
    send: (pdus) => sent.push(...pdus),
    close: (reason) => closed.push(reason),
    sendTargets: (value) => [
      ['TargetName', value || 'iqn.2024-01.test:disk'],
      ['TargetAddress', '127.0.0.1:3260,1'],
    ],
    commandWindow: WINDOW,
    maxTransferLength: 64 * 1024,
    nopIntervalMs: 0,
    nopTimeoutMs: 1000,
    onReset: (reset) => resets.push(reset),
    logger: silentLogger,
    remote: '127.0.0.1:1',
    ...options,
  });
  let seen = 0;
  return {
    session,
    server,
    sent,
    closed,
    resets,
    recv: (pdu) => session.receive(pdu, encodePduBytes(pdu).subarray(0, 48)),
    take: () => {
      const out = sent.slice(seen);
      seen = sent.length;
      return out;
    },
  };
}

/** Lets the device server's promises and the session's continuations run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

function cdb(op: number, offset = 0): Uint8Array {
  const c = new Uint8Array(16);
  c[0] = op;
  new DataView(c.buffer).setUint32(2, offset);
  return c;
}

function read(itt: number, cmdSN: number, length: number, offset = 0, extra: Partial<ScsiCommandPdu> = {}) {
  return command({
    initiatorTaskTag: itt,
    cmdSN,
    read: true,
    expectedDataTransferLength: length,
    cdb: cdb(OP_READ, offset),
    ...extra,
  });
}

function write(itt: number, cmdSN: number, length: number, extra: Partial<ScsiCommandPdu> = {}): ScsiCommandPdu {
  return command({
    initiatorTaskTag: itt,
    cmdSN,
    write: true,
    expectedDataTransferLength: length,
    cdb: cdb(OP_WRITE),
    ...extra,
  });
}

function command(fields: Partial<ScsiCommandPdu>): ScsiCommandPdu {
  return {
    kind: 'scsi-command',
    immediate: false,
    final: true,
    read: false,
    write: false,
    attributes: 1,
    lun: 0n,
    initiatorTaskTag: 1,
    expectedDataTransferLength: 0,
    cmdSN: EXP_CMD_SN,
    expStatSN: STAT_SN,
    cdb: cdb(0),
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

function dataOut(fields: Partial<DataOutPdu> & { data: Uint8Array; bufferOffset: number }): DataOutPdu {
  return {
    kind: 'data-out',
    final: true,
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: RESERVED,
    expStatSN: STAT_SN,
    dataSN: 0,
    ahs: [],
    ...fields,
  };
}

function nopOut(fields: Partial<NopOutPdu> = {}): NopOutPdu {
  return {
    kind: 'nop-out',
    immediate: true,
    lun: 0n,
    initiatorTaskTag: 0x99,
    targetTransferTag: RESERVED,
    cmdSN: EXP_CMD_SN,
    expStatSN: STAT_SN,
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

function tmf(fn: number, fields: Partial<TaskManagementRequestPdu> = {}): TaskManagementRequestPdu {
  return {
    kind: 'task-management-request',
    immediate: true,
    function: fn,
    lun: 0n,
    initiatorTaskTag: 0x77,
    referencedTaskTag: RESERVED,
    cmdSN: EXP_CMD_SN,
    expStatSN: STAT_SN,
    refCmdSN: 0,
    expDataSN: 0,
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

function logoutReq(reasonCode: number, cid = 1): LogoutRequestPdu {
  return {
    kind: 'logout-request',
    immediate: true,
    reasonCode,
    cid,
    initiatorTaskTag: 0x55,
    cmdSN: EXP_CMD_SN,
    expStatSN: STAT_SN,
    ahs: [],
    data: new Uint8Array(0),
  };
}

function textReq(fields: Partial<TextRequestPdu>): TextRequestPdu {
  return {
    kind: 'text-request',
    immediate: true,
    final: true,
    continue: false,
    lun: 0n,
    initiatorTaskTag: 0x44,
    targetTransferTag: RESERVED,
    cmdSN: EXP_CMD_SN,
    expStatSN: STAT_SN,
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);
const ofKind = <K extends Pdu['kind']>(pdus: Pdu[], kind: K) =>
  pdus.filter((p): p is Extract<Pdu, { kind: K }> => p.kind === kind);
const responses = (pdus: Pdu[]) => ofKind(pdus, 'scsi-response');
/** Sense key and ASC/ASCQ of a SCSI Response's fixed-format sense (after the 2-byte SenseLength). */
const senseOf = (r: ScsiResponsePdu) => ({ key: r.data[4]! & 0x0f, asc: (r.data[14]! << 8) | r.data[15]! });
const statSNs = (pdus: Pdu[]) => pdus.map((p) => ('statSN' in p ? p.statSN : -1));

/** The ITTs answered with status (a SCSI Response or a Data-In with S). */
function answered(pdus: Pdu[]): number[] {
  return pdus
    .filter((p) => p.kind === 'scsi-response' || (p.kind === 'data-in' && p.statusPresent))
    .map((p) => p.initiatorTaskTag);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('TargetSession: CmdSN ordering and the window', () => {
  it('holds commands ahead of ExpCmdSN and runs them in CmdSN order', async () => {
    const h = harness();
    h.recv(read(3, EXP_CMD_SN + 2, 16, 30));
    h.recv(read(2, EXP_CMD_SN + 1, 16, 20));
    await settle();
    expect(h.server.requests).toHaveLength(0);
    expect(h.sent).toHaveLength(0);
    h.recv(read(1, EXP_CMD_SN, 16, 10));
    await settle();
    expect(h.server.requests.map((r) => r.cdb[5])).toEqual([10, 20, 30]);
    expect(answered(h.sent)).toEqual([1, 2, 3]);
    expect(h.session.activeTasks).toBe(0);
  });

  it('ignores non-immediate commands outside [ExpCmdSN, MaxCmdSN] and duplicates of held ones', async () => {
    const h = harness();
    h.recv(read(1, EXP_CMD_SN - 1, 16));
    h.recv(read(2, EXP_CMD_SN + WINDOW, 16));
    h.recv(nopOut({ immediate: false, cmdSN: EXP_CMD_SN + WINDOW + 100 }));
    await settle();
    expect(h.sent).toEqual([]);
    expect(h.server.requests).toEqual([]);
    h.recv(read(3, EXP_CMD_SN + 1, 16, 1));
    h.recv(read(4, EXP_CMD_SN + 1, 16, 2)); // a duplicate CmdSN while the first is held
    h.recv(read(5, EXP_CMD_SN, 16, 0));
    await settle();
    expect(answered(h.sent)).toEqual([5, 3]);
  });

  it('runs immediate commands at once, whatever their CmdSN', async () => {
    const h = harness();
    h.recv(read(2, EXP_CMD_SN + 3, 16)); // held
    h.recv(read(1, EXP_CMD_SN + 1000, 16, 0, { immediate: true }));
    await settle();
    expect(answered(h.sent)).toEqual([1]);
  });

  it('closes MaxCmdSN as tasks accumulate and opens it as they end', async () => {
    const h = harness();
    h.server.gated = true;
    const windowNow = () => {
      h.recv(nopOut({ initiatorTaskTag: 0x1000 + h.sent.length }));
      const nop = h.take().at(-1) as NopInPdu;
      return { exp: nop.expCmdSN, max: nop.maxCmdSN };
    };
    expect(windowNow()).toEqual({ exp: EXP_CMD_SN, max: EXP_CMD_SN + WINDOW - 1 });
    for (let i = 0; i < WINDOW; i++) {
      h.recv(read(10 + i, EXP_CMD_SN + i, 16));
      // ExpCmdSN moves, MaxCmdSN stays: the room left shrinks by one per task.
      expect(windowNow()).toEqual({ exp: EXP_CMD_SN + i + 1, max: EXP_CMD_SN + WINDOW - 1 });
    }
    // The window is closed (MaxCmdSN = ExpCmdSN - 1): a command beyond it is ignored.
    h.recv(read(30, EXP_CMD_SN + WINDOW + 1, 16));
    await settle();
    expect(h.server.requests).toHaveLength(WINDOW);
    h.server.release();
    await settle();
    h.take();
    expect(windowNow()).toEqual({ exp: EXP_CMD_SN + WINDOW, max: EXP_CMD_SN + 2 * WINDOW - 1 });
  });

  it('never lowers MaxCmdSN for an immediate command, and accepts commands up to the advertised one', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(1, EXP_CMD_SN, 16, 0, { immediate: true }));
    h.recv(nopOut());
    const nop = ofKind(h.take(), 'nop-in')[0]!;
    expect(nop.maxCmdSN).toBe(EXP_CMD_SN + WINDOW - 1);
    // Fill the whole advertised window: every command is accepted.
    for (let i = 0; i < WINDOW; i++) h.recv(read(10 + i, EXP_CMD_SN + i, 16));
    await settle();
    expect(h.server.requests).toHaveLength(WINDOW + 1);
    h.server.release();
    await settle();
    expect(answered(h.sent).sort((a, b) => a - b)).toEqual([1, 10, 11, 12, 13, 14, 15, 16, 17]);
  });

  it('answers immediate commands beyond the window with TASK SET FULL', async () => {
    const h = harness();
    h.server.gated = true;
    for (let i = 0; i <= WINDOW; i++) h.recv(read(i + 1, EXP_CMD_SN, 16, 0, { immediate: true }));
    await settle();
    expect(h.server.requests).toHaveLength(WINDOW);
    const [full] = responses(h.take());
    expect(full).toMatchObject({ initiatorTaskTag: WINDOW + 1, status: ScsiStatus.TaskSetFull });
    h.server.release();
    await settle();
  });
});

describe('TargetSession: StatSN', () => {
  it('advances StatSN once per status-carrying PDU, not for R2T or a NOP-In ping', async () => {
    vi.useFakeTimers();
    const h = harness({ initialR2T: true }, { nopIntervalMs: 1000 });
    h.recv(read(1, EXP_CMD_SN, 5000)); // Data-In ×2 with the status on the last
    h.recv(write(2, EXP_CMD_SN + 1, 1000)); // an R2T, then after the data a SCSI Response
    await vi.advanceTimersByTimeAsync(1);
    h.recv(nopOut());
    const first = h.take();
    const kinds = first.map((p) => p.kind);
    // The R2T goes out at once; the read answers once the device server has run.
    expect(kinds).toEqual(['r2t', 'data-in', 'data-in', 'nop-in']);
    const dataIns = ofKind(first, 'data-in');
    expect(dataIns[1]).toMatchObject({ statusPresent: true, statSN: STAT_SN });
    const r2t = ofKind(first, 'r2t')[0]!;
    expect(r2t.statSN).toBe(STAT_SN); // carried, not consumed: the read's status takes it
    expect(ofKind(first, 'nop-in')[0]!.statSN).toBe(STAT_SN + 1);
    await vi.advanceTimersByTimeAsync(1000);
    const ping = h.take();
    expect(ping).toHaveLength(1);
    expect(ping[0]).toMatchObject({ kind: 'nop-in', initiatorTaskTag: RESERVED, statSN: STAT_SN + 2 });
    h.recv(
      dataOut({ initiatorTaskTag: 2, targetTransferTag: r2t.targetTransferTag, bufferOffset: 0, data: bytes(1000) }),
    );
    await vi.advanceTimersByTimeAsync(1);
    h.recv(tmf(1, { referencedTaskTag: 0x4242, refCmdSN: EXP_CMD_SN - 5 }));
    h.recv({
      kind: 'snack',
      type: 0,
      lun: 0n,
      initiatorTaskTag: 1,
      targetTransferTag: 0,
      expStatSN: 0,
      begRun: 0,
      runLength: 0,
      ahs: [],
      data: new Uint8Array(0),
    });
    const later = h.take();
    expect(later.map((p) => p.kind)).toEqual(['scsi-response', 'task-management-response', 'reject']);
    expect(statSNs(later)).toEqual([STAT_SN + 2, STAT_SN + 3, STAT_SN + 4]);
    h.session.close();
  });
});

describe('TargetSession: NOP', () => {
  it('answers a NOP-Out ping with its data echoed, cut to the initiator MaxRecvDataSegmentLength', () => {
    const h = harness({ maxXmitDataSegmentLength: 512 });
    h.recv(nopOut({ initiatorTaskTag: 7, data: bytes(100) }));
    h.recv(nopOut({ initiatorTaskTag: 8, data: bytes(1000) }));
    h.recv(nopOut({ initiatorTaskTag: RESERVED })); // wants no answer
    const out = ofKind(h.take(), 'nop-in');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ initiatorTaskTag: 7, targetTransferTag: RESERVED, statSN: STAT_SN });
    expect(out[0]!.data).toEqual(bytes(100));
    expect(out[1]!.data).toEqual(bytes(1000).subarray(0, 512));
  });

  it('pings when idle and keeps the connection while the initiator answers', async () => {
    vi.useFakeTimers();
    const h = harness({}, { nopIntervalMs: 100, nopTimeoutMs: 50 });
    await vi.advanceTimersByTimeAsync(99);
    expect(h.sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    const ping = h.take()[0] as NopInPdu;
    expect(ping).toMatchObject({ kind: 'nop-in', initiatorTaskTag: RESERVED });
    expect(ping.targetTransferTag).not.toBe(RESERVED);
    h.recv(nopOut({ initiatorTaskTag: RESERVED, targetTransferTag: ping.targetTransferTag }));
    await vi.advanceTimersByTimeAsync(60);
    expect(h.closed).toEqual([]);
    // Pinged again after the next idle interval; no answer this time.
    await vi.advanceTimersByTimeAsync(40);
    expect(ofKind(h.take(), 'nop-in')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(h.closed).toHaveLength(1);
    expect(h.session.closed).toBe(true);
    expect(h.server.lost).toEqual([NEXUS]);
  });
});

describe('TargetSession: task management', () => {
  it('ABORT TASK of an existing task answers 0, and the task never answers', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(7, EXP_CMD_SN, 512));
    await settle();
    h.recv(tmf(1, { referencedTaskTag: 7, refCmdSN: EXP_CMD_SN }));
    const rsp = ofKind(h.take(), 'task-management-response');
    expect(rsp).toMatchObject([{ response: 0, initiatorTaskTag: 0x77 }]);
    h.server.release();
    await settle();
    expect(h.take()).toEqual([]);
    expect(h.session.activeTasks).toBe(0);
  });

  it('ABORT TASK of an unknown task: 0 when its RefCmdSN is in the window (not seen yet), 1 when it is not', () => {
    const h = harness();
    h.recv(tmf(1, { referencedTaskTag: 9, refCmdSN: EXP_CMD_SN + 1 }));
    h.recv(tmf(1, { referencedTaskTag: 9, refCmdSN: EXP_CMD_SN - 10 }));
    expect(ofKind(h.take(), 'task-management-response').map((r) => r.response)).toEqual([0, 1]);
  });

  it('ABORT TASK of a held command: it never runs when its CmdSN arrives', async () => {
    const h = harness();
    h.recv(read(2, EXP_CMD_SN + 1, 16));
    h.recv(tmf(1, { referencedTaskTag: 2, refCmdSN: EXP_CMD_SN + 1 }));
    h.recv(read(1, EXP_CMD_SN, 16));
    await settle();
    expect(h.server.requests).toHaveLength(1);
    expect(answered(h.sent)).toEqual([1]);
  });

  it('ABORT TASK SET aborts the tasks of the LUN only', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(1, EXP_CMD_SN, 16));
    h.recv(read(2, EXP_CMD_SN + 1, 16));
    h.recv(read(3, EXP_CMD_SN + 2, 16, 0, { lun: lunFromNumber(1) }));
    await settle();
    h.recv(tmf(2));
    expect(ofKind(h.take(), 'task-management-response')[0]!.response).toBe(0);
    h.server.release();
    await settle();
    expect(answered(h.sent)).toEqual([3]);
  });

  it('LOGICAL UNIT RESET aborts the tasks and resets the LU through the device server and the target', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(1, EXP_CMD_SN, 16, 0, { lun: lunFromNumber(1) }));
    await settle();
    h.recv(tmf(5, { lun: lunFromNumber(1) }));
    expect(ofKind(h.take(), 'task-management-response')[0]!.response).toBe(0);
    expect(h.server.lunResets).toEqual([1]);
    expect(h.resets).toEqual([{ lun: 1, cold: false }]);
    h.server.release();
    await settle();
    expect(h.take()).toEqual([]);
  });

  it('TARGET COLD RESET answers, resets the target and closes the connection', () => {
    const h = harness();
    h.recv(tmf(7));
    expect(h.take().map((p) => p.kind)).toEqual(['task-management-response']);
    expect(h.server.targetResets).toBe(1);
    expect(h.resets).toEqual([{ lun: undefined, cold: true }]);
    expect(h.closed).toEqual(['target cold reset']);
    expect(h.session.closed).toBe(true);
  });

  it('TARGET WARM RESET answers and keeps the connection', () => {
    const h = harness();
    h.recv(tmf(6));
    expect(ofKind(h.take(), 'task-management-response')[0]!.response).toBe(0);
    expect(h.closed).toEqual([]);
  });

  it('answers 2 for an unknown LUN, 4 for TASK REASSIGN, 5 for an unknown function', () => {
    const h = harness();
    h.recv(tmf(2, { lun: lunFromNumber(9) }));
    h.recv(tmf(5, { lun: lunFromNumber(9) }));
    h.recv(tmf(8, { referencedTaskTag: 1 }));
    h.recv(tmf(0x55));
    expect(ofKind(h.take(), 'task-management-response').map((r: TaskManagementResponsePdu) => r.response)).toEqual([
      2, 2, 4, 5,
    ]);
    expect(h.server.lunResets).toEqual([]);
  });
});

describe('TargetSession: logout, SNACK and Reject', () => {
  it('logout reason 0 answers 0 and closes', () => {
    const h = harness();
    h.recv(logoutReq(0));
    const [rsp] = h.take();
    expect(rsp).toMatchObject({ kind: 'logout-response', response: 0, initiatorTaskTag: 0x55, statSN: STAT_SN });
    expect(h.closed).toEqual(['logout']);
    expect(h.session.closed).toBe(true);
    // Nothing more is sent or accepted.
    h.recv(nopOut());
    expect(h.take()).toEqual([]);
  });

  it('logout reason 1 closes this connection; another CID answers 1 and keeps it', () => {
    const other = harness();
    other.recv(logoutReq(1, 9));
    expect(other.take()).toMatchObject([{ kind: 'logout-response', response: 1 }]);
    expect(other.closed).toEqual([]);
    const own = harness();
    own.recv(logoutReq(1, 1));
    expect(own.take()).toMatchObject([{ kind: 'logout-response', response: 0 }]);
    expect(own.closed).toEqual(['logout']);
  });

  it('logout reason 2 answers 2 (no connection recovery) and keeps the connection', () => {
    const h = harness();
    h.recv(logoutReq(2));
    expect(h.take()).toMatchObject([{ kind: 'logout-response', response: 2 }]);
    expect(h.closed).toEqual([]);
  });

  it('rejects a SNACK with reason 0x03, carrying its header', () => {
    const h = harness();
    const snack: Pdu = {
      kind: 'snack',
      type: 1,
      lun: 0n,
      initiatorTaskTag: 0x1234,
      targetTransferTag: 0,
      expStatSN: STAT_SN,
      begRun: 0,
      runLength: 0,
      ahs: [],
      data: new Uint8Array(0),
    };
    h.recv(snack);
    const [rej] = h.take() as RejectPdu[];
    expect(rej).toMatchObject({ kind: 'reject', reason: 0x03, initiatorTaskTag: RESERVED, statSN: STAT_SN });
    expect(rej!.data).toEqual(encodePduBytes(snack).subarray(0, 48));
  });

  it('rejects a Data-Out for an unknown Target Transfer Tag with 0x09', () => {
    const h = harness();
    h.recv(dataOut({ targetTransferTag: 0x4444, bufferOffset: 0, data: bytes(8) }));
    expect(h.take()).toMatchObject([{ kind: 'reject', reason: 0x09 }]);
  });

  it('rejects a SCSI command in a discovery session and data on a command without W', async () => {
    const d = harness({}, { sessionType: 'Discovery' });
    d.recv(read(1, EXP_CMD_SN, 16));
    expect(d.take()).toMatchObject([{ kind: 'reject', reason: 0x04 }]);
    const h = harness();
    h.recv(read(1, EXP_CMD_SN, 16, 0, { data: bytes(8) }));
    expect(h.take()).toMatchObject([{ kind: 'reject', reason: 0x04 }]);
    // The refused command does not keep its ITT or a window slot: the same ITT works next.
    expect(h.session.activeTasks).toBe(0);
    h.recv(read(1, EXP_CMD_SN + 1, 16));
    await settle();
    expect(answered(h.sent)).toEqual([1]);
  });

  it('a command refused while held does not stall the commands after it', async () => {
    const h = harness({ immediateData: false });
    h.recv(read(3, EXP_CMD_SN + 2, 16));
    h.recv(write(2, EXP_CMD_SN + 1, 64, { data: bytes(64) })); // immediate data with ImmediateData=No
    expect(h.take()).toMatchObject([{ kind: 'reject', reason: 0x04 }]);
    h.recv(read(1, EXP_CMD_SN, 16));
    await settle();
    expect(answered(h.sent)).toEqual([1, 3]);
    expect(h.session.activeTasks).toBe(0);
  });

  it('a held request that fails on delivery is rejected with its own header and the rest still run', async () => {
    const h = harness();
    const bad = textReq({ immediate: false, cmdSN: EXP_CMD_SN + 1, data: Uint8Array.from([0x41, 0]) }); // no '='
    h.recv(bad);
    h.recv(read(3, EXP_CMD_SN + 2, 16));
    h.recv(read(1, EXP_CMD_SN, 16));
    await settle();
    const out = h.take();
    const rej = ofKind(out, 'reject')[0]!;
    expect(rej.data).toEqual(encodePduBytes(bad).subarray(0, 48));
    expect(answered(out)).toEqual([1, 3]);
  });

  it('rejects a second command with an ITT in use (0x07)', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(1, EXP_CMD_SN, 16));
    h.recv(read(1, EXP_CMD_SN + 1, 16));
    expect(h.take()).toMatchObject([{ kind: 'reject', reason: 0x07 }]);
    h.server.release();
    await settle();
    expect(answered(h.sent)).toEqual([1]);
  });

  it('keeps a reused ITT working after the aborted task with that tag ends', async () => {
    const h = harness();
    h.server.gated = true;
    h.recv(read(7, EXP_CMD_SN, 16));
    await settle();
    h.recv(tmf(1, { referencedTaskTag: 7, refCmdSN: EXP_CMD_SN }));
    h.take();
    // The initiator reuses ITT 7 for a write with unsolicited data.
    h.recv(write(7, EXP_CMD_SN + 1, 2000, { final: false, data: bytes(1000) }));
    h.server.release(); // the aborted read ends now
    await settle();
    expect(h.take()).toEqual([]);
    h.recv(dataOut({ initiatorTaskTag: 7, bufferOffset: 1000, data: bytes(1000, 1000 % 256) }));
    await settle();
    expect(responses(h.take())).toMatchObject([{ initiatorTaskTag: 7, status: 0 }]);
    expect(h.session.activeTasks).toBe(0);
  });
});

describe('TargetSession: text', () => {
  it('answers SendTargets in pieces the initiator pulls with the TTT', () => {
    const many: TextPair[] = [];
    for (let i = 0; i < 40; i++) {
      many.push(['TargetName', `iqn.2024-01.test:disk-number-${i}`], ['TargetAddress', `127.0.0.${i}:3260,1`]);
    }
    const asked: string[] = [];
    const h = harness(
      { maxXmitDataSegmentLength: 512 },
      {
        sessionType: 'Discovery',
        sendTargets: (value) => {
          asked.push(value);
          return many;
        },
      },
    );
    h.recv(textReq({ data: encodeText([['SendTargets', 'All']]) }));
    const pieces: Uint8Array[] = [];
    let rsp = h.take()[0] as TextResponsePdu;
    for (let i = 0; i < 50 && !rsp.final; i++) {
      expect(rsp).toMatchObject({ continue: true, final: false });
      expect(rsp.targetTransferTag).not.toBe(RESERVED);
      expect(rsp.data.length).toBeLessThanOrEqual(512);
      pieces.push(rsp.data);
      h.recv(textReq({ targetTransferTag: rsp.targetTransferTag }));
      rsp = h.take()[0] as TextResponsePdu;
    }
    expect(rsp).toMatchObject({ final: true, continue: false, targetTransferTag: RESERVED });
    pieces.push(rsp.data);
    expect(pieces.length).toBeGreaterThan(3);
    expect(decodeText(Buffer.concat(pieces), { repeatableKeys: ['TargetName', 'TargetAddress'] })).toEqual(many);
    expect(asked).toEqual(['All']);
  });

  it('reports only its own target in a Normal session, and refuses other keys', () => {
    const asked: string[] = [];
    const h = harness(
      {},
      {
        sendTargets: (v) => {
          asked.push(v);
          return [['TargetName', v]];
        },
      },
    );
    h.recv(
      textReq({
        data: encodeText([
          ['SendTargets', 'All'],
          ['MaxBurstLength', '512'],
          ['X-Foo', '1'],
        ]),
      }),
    );
    const rsp = h.take()[0] as TextResponsePdu;
    expect(asked).toEqual(['iqn.2024-01.test:disk']);
    expect(decodeText(rsp.data)).toEqual([
      ['TargetName', 'iqn.2024-01.test:disk'],
      ['MaxBurstLength', 'Reject'],
      ['X-Foo', 'NotUnderstood'],
    ]);
  });

  it('acknowledges a continued request and answers it once complete', () => {
    const h = harness({}, { sessionType: 'Discovery' });
    const text = encodeText([['SendTargets', 'All']]);
    h.recv(textReq({ final: false, continue: true, data: text.subarray(0, 5) }));
    const ack = h.take()[0] as TextResponsePdu;
    expect(ack).toMatchObject({ final: false, continue: false, data: new Uint8Array(0) });
    h.recv(textReq({ targetTransferTag: ack.targetTransferTag, data: text.subarray(5) }));
    const rsp = h.take()[0] as TextResponsePdu;
    expect(rsp.final).toBe(true);
    expect(decodeText(rsp.data)[0]).toEqual(['TargetName', 'All']);
  });
});

describe('TargetSession: writes', () => {
  const cases = [
    { initialR2T: true, immediateData: false },
    { initialR2T: true, immediateData: true },
    { initialR2T: false, immediateData: false },
    { initialR2T: false, immediateData: true },
  ];
  for (const c of cases) {
    it(`writes with InitialR2T=${c.initialR2T ? 'Yes' : 'No'} ImmediateData=${c.immediateData ? 'Yes' : 'No'}`, async () => {
      const params = { ...c, firstBurstLength: 4096, maxBurstLength: 8192, maxOutstandingR2T: 2 };
      const h = harness(params);
      const length = 30_000;
      const all = bytes(length, 5);
      const immediate = c.immediateData ? 1500 : 0;
      const unsolicitedEnd = c.initialR2T ? immediate : 4096;
      h.recv(
        write(1, EXP_CMD_SN, length, {
          cdb: cdb(OP_WRITE, 1000),
          final: unsolicitedEnd === immediate,
          data: all.subarray(0, immediate),
        }),
      );
      const r2ts: R2tPdu[] = [];
      const pump = () => {
        for (const p of h.take()) {
          if (p.kind === 'r2t') r2ts.push(p);
          else if (p.kind !== 'scsi-response') throw new Error(`unexpected ${p.kind}`);
        }
      };
      pump();
      if (c.initialR2T) expect(r2ts.length).toBeGreaterThan(0);
      else expect(r2ts).toEqual([]); // no R2T while unsolicited data is due
      for (let offset = immediate, sn = 0; offset < unsolicitedEnd; sn++) {
        const end = Math.min(unsolicitedEnd, offset + 1000);
        h.recv(
          dataOut({ bufferOffset: offset, dataSN: sn, final: end === unsolicitedEnd, data: all.subarray(offset, end) }),
        );
        offset = end;
      }
      pump();
      let served = 0;
      while (r2ts.length > 0 && served++ < 100) {
        expect(r2ts.length).toBeLessThanOrEqual(2);
        const r = r2ts.shift()!;
        expect(r.desiredDataTransferLength).toBeLessThanOrEqual(8192);
        expect(r.r2tSN).toBe(served - 1);
        const end = r.bufferOffset + r.desiredDataTransferLength;
        for (let offset = r.bufferOffset, sn = 0; offset < end; sn++) {
          const stop = Math.min(end, offset + 3000);
          h.recv(
            dataOut({
              targetTransferTag: r.targetTransferTag,
              bufferOffset: offset,
              dataSN: sn,
              final: stop === end,
              data: all.subarray(offset, stop),
            }),
          );
          offset = stop;
        }
        pump();
      }
      expect(r2ts.map((r) => r.bufferOffset)).toEqual([]);
      await settle();
      expect(responses(h.take())).toMatchObject([{ initiatorTaskTag: 1, status: 0, residualCount: 0 }]);
      expect(Buffer.from(h.server.memory.subarray(1000, 1000 + length)).equals(all)).toBe(true);
      expect(h.server.requests).toHaveLength(1);
    });
  }

  it('answers a write above maxTransferLength at once with CHECK CONDITION and drops its unsolicited data', async () => {
    const h = harness({ initialR2T: false });
    const length = 64 * 1024 + 512;
    h.recv(write(1, EXP_CMD_SN, length, { final: false, data: bytes(1024) }));
    const [rsp] = responses(h.take());
    expect(rsp!.status).toBe(ScsiStatus.CheckCondition);
    expect(senseOf(rsp!)).toEqual({ key: SenseKey.IllegalRequest, asc: 0x2400 });
    h.recv(dataOut({ bufferOffset: 1024, dataSN: 0, final: false, data: bytes(1024) }));
    h.recv(dataOut({ bufferOffset: 2048, dataSN: 1, final: true, data: bytes(1024) }));
    await settle();
    expect(h.take()).toEqual([]);
    expect(h.server.requests).toEqual([]);
    expect(h.session.activeTasks).toBe(0);
  });

  it('answers a held write above maxTransferLength only once', async () => {
    const h = harness();
    h.recv(write(2, EXP_CMD_SN + 1, 1 << 20));
    h.recv(nopOut({ immediate: false, cmdSN: EXP_CMD_SN }));
    await settle();
    expect(responses(h.sent).map((r) => r.initiatorTaskTag)).toEqual([2]);
  });

  it('a broken Data-Out sequence is rejected and ends the task with CHECK CONDITION', async () => {
    const h = harness({ initialR2T: true });
    h.recv(write(1, EXP_CMD_SN, 4096));
    const r2t = ofKind(h.take(), 'r2t')[0]!;
    h.recv(dataOut({ targetTransferTag: r2t.targetTransferTag, bufferOffset: 512, data: bytes(512), final: false }));
    const out = h.take();
    expect(out.map((p) => p.kind)).toEqual(['scsi-response', 'reject']);
    expect((out[1] as RejectPdu).reason).toBe(0x09);
    expect((out[0] as ScsiResponsePdu).status).toBe(ScsiStatus.CheckCondition);
    expect(senseOf(out[0] as ScsiResponsePdu).key).toBe(SenseKey.AbortedCommand);
    await settle();
    expect(h.server.requests).toEqual([]);
  });

  it('a Data-Out with a data digest error is rejected (0x02) and ends its task with a CRC error', async () => {
    const h = harness({ initialR2T: true });
    h.recv(write(1, EXP_CMD_SN, 4096));
    const r2t = ofKind(h.take(), 'r2t')[0]!;
    const bad = dataOut({ targetTransferTag: r2t.targetTransferTag, bufferOffset: 0, data: bytes(4096) });
    const header = encodePduBytes(bad).subarray(0, 48);
    h.session.dataDigestError(bad, header);
    const out = h.take();
    expect(out.map((p) => p.kind)).toEqual(['reject', 'scsi-response']);
    expect(out[0]).toMatchObject({ reason: 0x02, data: header });
    expect(senseOf(out[1] as ScsiResponsePdu)).toEqual({ key: SenseKey.AbortedCommand, asc: 0x4705 });
    await settle();
    expect(h.server.requests).toEqual([]);
    expect(h.session.activeTasks).toBe(0);
  });

  it('a command with a data digest error consumes its CmdSN, so held commands go on', async () => {
    const h = harness();
    h.recv(read(2, EXP_CMD_SN + 1, 16));
    const bad = write(1, EXP_CMD_SN, 64, { data: bytes(64) });
    h.session.dataDigestError(bad, encodePduBytes(bad).subarray(0, 48));
    await settle();
    expect(h.sent[0]).toMatchObject({ kind: 'reject', reason: 0x02 });
    expect(answered(h.sent)).toEqual([2]);
  });

  it('returns read data in Data-In PDUs within the initiator MaxRecvDataSegmentLength', async () => {
    const h = harness({ maxXmitDataSegmentLength: 1024 });
    h.server.memory.set(bytes(5000, 9), 4096);
    h.recv(read(1, EXP_CMD_SN, 5000, 4096));
    await settle();
    const ins = ofKind(h.take(), 'data-in') as DataInPdu[];
    expect(ins.map((p) => p.data.length)).toEqual([1024, 1024, 1024, 1024, 904]);
    expect(Buffer.concat(ins.map((p) => p.data)).equals(bytes(5000, 9))).toBe(true);
  });
});
