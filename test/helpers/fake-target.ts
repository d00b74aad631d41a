/**
 * A scripted fake target for session tests: the test plays the target PDU by PDU (its own framer and encoder) on a
 * loopback socket, so every rule can be checked and every misbehaviour provoked.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { encodePdu } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import type {
  DataInPdu,
  Pdu,
  PduKind,
  PduOfKind,
  R2tPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  TargetPdu,
} from '../../src/pdu/types.js';
import { parsePortal } from '../../src/session/address.js';
import { Connection } from '../../src/session/connection.js';
import type { Logger, SessionEvent } from '../../src/session/events.js';
import type { LoggedIn } from '../../src/session/initiator.js';
import { DEFAULT_PARAMETERS, type NegotiatedParameters } from '../../src/session/params.js';
import { Session, type SessionOptions } from '../../src/session/session.js';

export const EMPTY = new Uint8Array(0);
export const FIRST_CMDSN = 0xfffffffd; // the window wraps around 2**32 within the first commands
export const READ_10 = Uint8Array.of(0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0);
export const WRITE_10 = Uint8Array.of(0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0);
export const TUR = new Uint8Array(6);

/** The target side of the socket: frames what the session sends, encodes what the test answers. */
export class FakeTarget {
  readonly #framer = new Framer({ sender: 'initiator', maxDataSegmentLength: 0xffffff });
  readonly #inbox: Pdu[] = [];
  #wake: (() => void) | undefined;
  statSN = 500;
  expCmdSN = FIRST_CMDSN;
  /** MaxCmdSN = ExpCmdSN + window - 1. */
  window: number;

  constructor(
    readonly socket: Socket,
    window: number,
  ) {
    this.window = window;
    socket.on('data', (chunk: Buffer) => {
      this.#framer.push(chunk);
      for (let f = this.#framer.next(); f; f = this.#framer.next()) {
        this.#inbox.push(f.pdu);
        // Commands are taken in CmdSN order here, so ExpCmdSN follows the last non-immediate one.
        if (f.pdu.kind === 'scsi-command' && !f.pdu.immediate) this.expCmdSN = (f.pdu.cmdSN + 1) >>> 0;
      }
      this.#wake?.();
    });
  }

  /** The next PDU the session sent. */
  async next<K extends PduKind>(kind: K, timeoutMs = 2000): Promise<PduOfKind<K>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inbox.length === 0) {
      if (Date.now() > deadline) throw new Error(`no ${kind} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 20);
      });
    }
    const pdu = this.#inbox.shift()!;
    expect(pdu.kind).toBe(kind);
    return pdu as PduOfKind<K>;
  }

  /** True when nothing arrives within `ms`. */
  async quiet(ms = 60): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.#inbox.length === 0;
  }

  send(pdu: TargetPdu): void {
    this.socket.write(Buffer.concat(encodePdu(pdu)));
  }

  /** ExpCmdSN/MaxCmdSN, and a StatSN: taken (advanced) for a status, or just the next one. */
  seq(take: boolean) {
    const statSN = this.statSN;
    if (take) this.statSN = (statSN + 1) >>> 0;
    return { statSN, expCmdSN: this.expCmdSN, maxCmdSN: (this.expCmdSN + this.window - 1) >>> 0 };
  }

  dataIn(cmd: ScsiCommandPdu, o: Partial<DataInPdu> & { bufferOffset: number; data: Uint8Array; dataSN: number }) {
    const s = !!o.statusPresent;
    this.send({
      kind: 'data-in',
      final: s,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      statusPresent: false,
      status: 0,
      lun: 0n,
      initiatorTaskTag: cmd.initiatorTaskTag,
      targetTransferTag: 0xffffffff,
      residualCount: 0,
      ahs: [],
      ...this.seq(s),
      ...(s ? {} : { statSN: 0 }),
      ...o,
    });
  }

  response(cmd: { initiatorTaskTag: number }, o: Partial<ScsiResponsePdu> = {}): void {
    this.send({
      kind: 'scsi-response',
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status: 0,
      snackTag: 0,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      initiatorTaskTag: cmd.initiatorTaskTag,
      ahs: [],
      data: EMPTY,
      ...this.seq(true),
      ...o,
    });
  }

  r2t(cmd: ScsiCommandPdu, o: Pick<R2tPdu, 'r2tSN' | 'bufferOffset' | 'desiredDataTransferLength'> & Partial<R2tPdu>) {
    this.send({
      kind: 'r2t',
      lun: cmd.lun,
      initiatorTaskTag: cmd.initiatorTaskTag,
      targetTransferTag: 0x7700 + o.r2tSN,
      ahs: [],
      data: EMPTY,
      ...this.seq(false),
      ...o,
    });
  }
}

export interface Harness {
  target: FakeTarget;
  session: Session;
  events: SessionEvent[];
}

/** Options of {@link setupSession}: the session's, the target's CmdSN window, a hook before the session starts. */
export type SetupOptions = SessionOptions & { window?: number; beforeSession?: (target: FakeTarget) => Promise<void> };

/**
 * A session logged in (without a login exchange) to a fresh FakeTarget on a loopback socket; the teardown goes in
 * `cleanups`, for the test file's afterEach.
 */
export async function setupSession(
  cleanups: (() => void)[],
  params: Partial<NegotiatedParameters> = {},
  options: SetupOptions = {},
): Promise<Harness> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const connection = await Connection.open({ portal: parsePortal(`127.0.0.1:${port}`) });
  const socket = await accepted;
  const window = options.window ?? 16;
  const target = new FakeTarget(socket, window);
  const loggedIn: LoggedIn = {
    connection,
    params: Object.freeze({ ...DEFAULT_PARAMETERS, ...params }),
    isid: 0x23d000000001,
    tsih: 7,
    cmdSN: FIRST_CMDSN,
    expStatSN: 500,
    expCmdSN: FIRST_CMDSN,
    maxCmdSN: (FIRST_CMDSN + window - 1) >>> 0,
    portal: parsePortal(`127.0.0.1:${port}`),
    redirectedFrom: [],
    targetName: 'iqn.2024-01.test.iscsi-ts:fake',
  };
  const events: SessionEvent[] = [];
  const push = (obj: object) => events.push(obj as SessionEvent);
  const logger: Logger = { debug: push, info: push, warn: push, error: push };
  await options.beforeSession?.(target);
  const session = new Session(loggedIn, { logger, ...options });
  cleanups.push(() => {
    session.close();
    socket.destroy();
    server.close();
  });
  return { target, session, events };
}

/** A plain Uint8Array view (received data are Buffer views, which toEqual tells apart from Uint8Array). */
export const u8 = (b: Uint8Array | undefined) => (b ? new Uint8Array(b.buffer, b.byteOffset, b.length) : b);
/** Waits (bounded) until `condition` holds. */
export async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
}
export const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
