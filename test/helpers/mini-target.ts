/**
 * A tiny login-only iSCSI target over TCP, for tests and benchmarks: it accepts connections on a loopback
 * address, frames PDUs, drives a {@link TargetLoginMachine}, and after login answers Logout Requests and
 * SendTargets Text Requests. Anything else closes the connection. No SCSI, no sessions beyond a counter.
 */
import { createServer, type Socket } from 'node:net';
import { ChallengeLog } from '../../src/chap/chap.js';
import { type EncodeOptions, encodePdu } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import { decodeText, encodeText, splitText, type TextPair } from '../../src/pdu/text.js';
import type { Pdu, TextRequestPdu } from '../../src/pdu/types.js';
import type { LocalOffer } from '../../src/session/negotiate.js';
import {
  type TargetAuth,
  type TargetConfig,
  TargetLoginMachine,
  type TargetLoginOptions,
  type TargetLoginResult,
} from '../../src/target/login.js';

/** One target the mini target serves. */
export interface MiniTargetEntry extends TargetConfig {
  readonly name: string;
}

/** Options of {@link startMiniTarget}. */
export interface MiniTargetOptions {
  /** Loopback address to listen on (default 127.0.0.1; ::1 works too). */
  readonly host?: string;
  /** Port (default 0: any free port). */
  readonly port?: number;
  readonly targets?: readonly MiniTargetEntry[];
  /** Authentication of discovery sessions and of targets without their own `auth`. */
  readonly auth?: TargetAuth;
  readonly portalGroupTag?: number;
  readonly offer?: Partial<LocalOffer>;
  readonly maxSendSegment?: number;
  readonly discovery?: boolean;
}

/** A running mini target. */
export interface MiniTarget {
  readonly host: string;
  readonly port: number;
  /** Logins that reached the Full Feature Phase. */
  readonly sessions: number;
  /** Logins refused or redirected. */
  readonly rejects: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Starts a mini target; see the module documentation. */
export async function startMiniTarget(options: MiniTargetOptions = {}): Promise<MiniTarget> {
  const host = options.host ?? '127.0.0.1';
  const targets = options.targets ?? [];
  const tpgt = options.portalGroupTag ?? 1;
  const sockets = new Set<Socket>();
  const counts = { sessions: 0, rejects: 0 };
  // Shared by every connection: a challenge coming back on another connection is a reflection (RFC 7143 §9.2.1).
  const challengeLog = new ChallengeLog();
  const withLog = (auth: TargetAuth | false | undefined) =>
    auth ? { ...auth, challengeLog: auth.challengeLog ?? challengeLog } : auth;
  let nextTsih = 0;
  let port = 0;
  const loginOptions: TargetLoginOptions = {
    portalGroupTag: tpgt,
    targets: (name) => {
      const found = targets.find((t) => t.name === name);
      return found && { ...found, ...(found.auth !== undefined ? { auth: withLog(found.auth) } : {}) };
    },
    ...(options.auth ? { auth: withLog(options.auth) as TargetAuth } : {}),
    ...(options.offer ? { offer: options.offer } : {}),
    ...(options.maxSendSegment ? { maxSendSegment: options.maxSendSegment } : {}),
    ...(options.discovery !== undefined ? { discovery: options.discovery } : {}),
    tsih: () => {
      nextTsih = (nextTsih % 0xffff) + 1;
      return nextTsih;
    },
  };
  const address = () => `${host.includes(':') ? `[${host}]` : host}:${port},${tpgt}`;

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    serve(socket);
  });

  function serve(socket: Socket): void {
    const framer = new Framer({ sender: 'initiator' });
    const machine = new TargetLoginMachine(loginOptions);
    let encode: EncodeOptions = {};
    let session: { result: TargetLoginResult; statSN: number; expCmdSN: number; maxXmit: number } | undefined;
    let pendingText: { ttt: number; pieces: Uint8Array[] } | undefined;
    const send = (pdu: Pdu) => {
      if (socket.destroyed) return;
      const parts = encodePdu(pdu, encode);
      socket.cork();
      for (const part of parts) socket.write(part);
      socket.uncork();
    };
    const sequence = (pdu: { immediate: boolean; cmdSN: number }) => {
      const s = session!;
      // RFC 7143 §3.2.2.1: a non-immediate request advances ExpCmdSN.
      if (!pdu.immediate) s.expCmdSN = (pdu.cmdSN + 1) >>> 0;
      const statSN = s.statSN;
      s.statSN = (statSN + 1) >>> 0;
      return { statSN, expCmdSN: s.expCmdSN, maxCmdSN: (s.expCmdSN + 31) >>> 0 };
    };
    const sendText = (req: TextRequestPdu, piece: Uint8Array, last: boolean, ttt: number) =>
      send({
        kind: 'text-response',
        final: last,
        continue: !last,
        lun: 0n,
        initiatorTaskTag: req.initiatorTaskTag,
        targetTransferTag: last ? 0xffffffff : ttt,
        ...sequence(req),
        ahs: [],
        data: piece,
      });

    // Returns false to close the connection.
    const handle = (pdu: Pdu): boolean => {
      if (session === undefined) {
        const step = machine.receive(pdu);
        if (step.kind === 'send') {
          send(step.pdu);
          return true;
        }
        send(step.response);
        if (step.kind === 'reject') {
          counts.rejects++;
          return false;
        }
        counts.sessions++;
        const { params } = step.result;
        // Digests start with the first PDU after the final Login Response (RFC 7143 §13.1).
        const digests = { headerDigest: params.headerDigest === 'CRC32C', dataDigest: params.dataDigest === 'CRC32C' };
        encode = digests;
        framer.configure({ ...digests, maxDataSegmentLength: params.maxRecvDataSegmentLength });
        session = {
          result: step.result,
          statSN: step.result.statSN,
          expCmdSN: step.result.expCmdSN,
          maxXmit: params.maxXmitDataSegmentLength,
        };
        return true;
      }
      if (pdu.kind === 'logout-request') {
        send({
          kind: 'logout-response',
          response: 0,
          time2Wait: 0,
          time2Retain: 0,
          initiatorTaskTag: pdu.initiatorTaskTag,
          ...sequence(pdu),
          ahs: [],
          data: new Uint8Array(0),
        });
        return false;
      }
      if (pdu.kind !== 'text-request' || pdu.continue) return false;
      // An empty request with our Target Transfer Tag pulls the next piece of a continued answer (§11.10.4).
      if (pendingText && pdu.targetTransferTag === pendingText.ttt && pdu.data.length === 0) {
        const piece = pendingText.pieces.shift()!;
        const last = pendingText.pieces.length === 0;
        sendText(pdu, piece, last, pendingText.ttt);
        if (last) pendingText = undefined;
        return true;
      }
      const keys = decodeText(pdu.data);
      const wanted = keys.length === 1 && keys[0]![0] === 'SendTargets' ? keys[0]![1] : undefined;
      if (wanted === undefined) return false;
      const answer: TextPair[] = [];
      for (const t of targets) {
        if (wanted !== 'All' && wanted !== t.name) continue;
        answer.push(['TargetName', t.name], ['TargetAddress', address()]);
      }
      const pieces = splitText(encodeText(answer), session.maxXmit);
      const ttt = ((pendingText?.ttt ?? 0) + 1) & 0x7fffffff;
      const first = pieces.shift()!;
      sendText(pdu, first, pieces.length === 0, ttt);
      pendingText = pieces.length > 0 ? { ttt, pieces } : undefined;
      return true;
    };

    let closing = false;
    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      try {
        framer.push(chunk);
        for (let f = framer.next(); f; f = framer.next()) {
          if (!handle(f.pdu)) {
            closing = true;
            socket.end();
            return;
          }
        }
      } catch {
        socket.destroy();
      }
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    get sessions() {
      return counts.sessions;
    },
    get rejects() {
      return counts.rejects;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
