/**
 * Login over TCP: connects, drives the {@link LoginMachine}, follows redirects, and hands back a logged-in
 * connection with its negotiated parameters. Also Logout (§11.14) and one Text exchange with continuation (§11.10).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { CHAP_ALGORITHMS, ChapAlgorithm } from '../chap/chap.js';
import { ErrorCode, IscsiError, LoginError, ProtocolError } from '../errors.js';
import { makeIsid } from '../pdu/isid.js';
import { PcapTrace } from '../pdu/pcap-write.js';
import { encodeText, type TextPair, TextReassembler } from '../pdu/text.js';
import type { Pdu } from '../pdu/types.js';
import { formatPortal, type Portal, parsePortal, parseTargetAddress } from './address.js';
import { Connection, type SocketFactory } from './connection.js';
import { emit, type Logger, loggableKeys, silentLogger } from './events.js';
import { type LoginChap, LoginMachine, type LoginResult } from './login.js';
import type { LocalOffer } from './negotiate.js';

/** The initiator name used when none is given. */
export const DEFAULT_INITIATOR_NAME = 'iqn.2024-01.org.iscsi-ts:initiator';

/** Options of {@link login}. */
export interface LoginOptions {
  /** `host[:port]`, `[v6]:port`, or a parsed portal. */
  readonly portal: string | Portal;
  readonly sessionType?: 'Normal' | 'Discovery';
  /** Required for Normal sessions. */
  readonly targetName?: string;
  readonly initiatorName?: string;
  readonly initiatorAlias?: string;
  /** CHAP credentials (one-way), plus `targetCredentials` for mutual CHAP. */
  readonly chap?: LoginChap;
  readonly offer?: Partial<LocalOffer>;
  /** ISID; by default a random-qualifier ISID (type 2, RFC 7143 §11.12.5) made once per call. */
  readonly isid?: number;
  /** The TSIH of a session to reinstate or extend (with the same ISID); 0 or absent for a new session. */
  readonly tsih?: number;
  /**
   * CmdSN of the login requests, which the first command then carries (default random). Reconnecting a kernel
   * session must use the kernel's next CmdSN (kernel/supervisor.ts).
   */
  readonly cmdSN?: number;
  /** Redirects followed before giving up (default 5). */
  readonly maxRedirects?: number;
  /** Milliseconds for the TCP connection (default 10 000). */
  readonly connectTimeoutMs?: number;
  /** Milliseconds for each login step (default 10 000). */
  readonly stepTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly localAddress?: string;
  readonly connect?: SocketFactory;
  readonly logger?: Logger;
  /** Records every PDU of each connection as a pcap written through this function. */
  readonly trace?: (chunk: Uint8Array) => void;
}

/** A logged-in connection. */
export interface LoggedIn extends LoginResult {
  readonly connection: Connection;
  /** Where the session ended up (after redirects). */
  readonly portal: Portal;
  /** Portals that redirected us, in order. */
  readonly redirectedFrom: readonly Portal[];
  readonly targetName: string | undefined;
  /** The next CmdSN to use; Text and Logout requests advance or reuse it. */
  cmdSN: number;
  expStatSN: number;
}

/** A random-qualifier ISID: T=2 (random), B and C random, D the qualifier (RFC 7143 §11.12.5). */
export function randomIsid(): number {
  const r = randomBytes(5);
  return makeIsid({ t: 2, a: 0, b: (r[0]! << 8) | r[1]!, c: r[2]!, d: (r[3]! << 8) | r[4]! });
}

/**
 * Connects and logs in, following redirects (class 1 statuses) up to `maxRedirects`.
 *
 * tgt (tgtd) numbers SHA-1 as CHAP_A=7, the registry's SHA-256: offered 7, it picks it and then refuses a
 * SHA-256 response with status 0x0200 (seen with tgtd 1.0.85, docs/interop.md). When the default algorithm list
 * was used and exactly that happens, the login is retried once without 7, and a warning is logged. The target
 * picks the algorithm in any case, so the retry offers nothing the target could not have chosen the first time.
 */
export async function login(options: LoginOptions): Promise<LoggedIn> {
  // One trace file for every connection of this login (redirects, the retry below).
  const trace = options.trace && new PcapTrace(options.trace);
  try {
    return await loginOnce(options, trace);
  } catch (err) {
    const chap = options.chap;
    if (!(err instanceof ChapSeven) || !chap) throw err instanceof ChapSeven ? err.cause : err;
    emit(
      options.logger ?? silentLogger,
      'warn',
      { event: 'chap-compat', chosen: 7, status: '0x0200' },
      'the target chose CHAP_A=7 and refused a SHA-256 response (tgt uses 7 for SHA-1); retrying without 7',
    );
    const algorithms = (chap.algorithms ?? CHAP_ALGORITHMS).filter((a) => a !== ChapAlgorithm.SHA256);
    return loginOnce({ ...options, chap: { ...chap, algorithms } }, trace);
  }
}

/** Marks the tgt CHAP_A=7 failure for {@link login}'s retry. */
class ChapSeven extends Error {
  constructor(override readonly cause: LoginError) {
    super(cause.message);
  }
}

async function loginOnce(options: LoginOptions, trace: PcapTrace | undefined): Promise<LoggedIn> {
  const logger = options.logger ?? silentLogger;
  const isid = options.isid ?? randomIsid();
  const redirectedFrom: Portal[] = [];
  let portal = typeof options.portal === 'string' ? parsePortal(options.portal) : options.portal;
  const maxRedirects = options.maxRedirects ?? 5;
  for (;;) {
    const started = performance.now();
    const connection = await Connection.open({
      portal,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.connect ? { connect: options.connect } : {}),
      ...(trace ? { trace } : {}),
    });
    emit(logger, 'info', { event: 'connect', portal: formatPortal(portal), ms: elapsed(started) }, 'connected');
    let machine: LoginMachine | undefined;
    try {
      machine = new LoginMachine({
        initiatorName: options.initiatorName ?? DEFAULT_INITIATOR_NAME,
        ...(options.initiatorAlias ? { initiatorAlias: options.initiatorAlias } : {}),
        sessionType: options.sessionType ?? 'Normal',
        ...(options.targetName ? { targetName: options.targetName } : {}),
        isid,
        ...(options.tsih ? { tsih: options.tsih } : {}),
        cmdSN: options.cmdSN ?? randomBytes(4).readUInt32BE(0),
        initiatorTaskTag: randomBytes(4).readUInt32BE(0) & 0x7fffffff,
        ...(options.chap
          ? {
              chap: {
                // CHAP warnings go to the session's logger, not to process warnings.
                onWarning: (message: string) =>
                  emit(logger, 'warn', { event: 'chap-warning', message }, 'CHAP warning'),
                ...options.chap,
              },
            }
          : {}),
        ...(options.offer ? { offer: options.offer } : {}),
        onExchange: (x) =>
          emit(
            logger,
            'debug',
            { event: 'login-stage', stage: x.stage, received: loggableKeys(x.received), sent: loggableKeys(x.sent) },
            'login exchange',
          ),
      });
      let step = machine.start();
      for (;;) {
        if (step.kind === 'send') {
          connection.send(step.pdu);
          step = machine.receive(await connection.receive(options.stepTimeoutMs ?? 10_000, options.signal));
          continue;
        }
        if (step.kind === 'redirect') {
          const target = parseTargetAddress(step.targetAddress).portal;
          emit(
            logger,
            'info',
            { event: 'redirect', from: formatPortal(portal), to: formatPortal(target), permanent: step.permanent },
            'redirected',
          );
          connection.close();
          if (redirectedFrom.length >= maxRedirects) {
            throw new LoginError(`more than ${maxRedirects} redirects, last to ${formatPortal(target)}`, 1, 0);
          }
          redirectedFrom.push(portal);
          portal = target;
          break;
        }
        const result = step.result;
        // Digests apply from the first PDU after the final Login Response (§13.1).
        const { headerDigest, dataDigest, maxRecvDataSegmentLength } = result.params;
        connection.framer.configure({
          headerDigest: headerDigest === 'CRC32C',
          dataDigest: dataDigest === 'CRC32C',
          maxDataSegmentLength: maxRecvDataSegmentLength,
        });
        connection.encodeOptions = { headerDigest: headerDigest === 'CRC32C', dataDigest: dataDigest === 'CRC32C' };
        emit(
          logger,
          'info',
          {
            event: 'login',
            portal: formatPortal(portal),
            target: options.targetName,
            tsih: result.tsih,
            chapAlgorithm: result.chapAlgorithm,
            ms: elapsed(started),
          },
          'logged in',
        );
        return {
          ...result,
          connection,
          portal,
          redirectedFrom,
          targetName: options.targetName,
        };
      }
    } catch (err) {
      connection.close();
      if (
        err instanceof LoginError &&
        err.status === 0x0200 &&
        machine?.chapAlgorithm === ChapAlgorithm.SHA256 &&
        options.chap?.algorithms === undefined
      ) {
        throw new ChapSeven(err);
      }
      emit(
        logger,
        'warn',
        {
          event: 'login-failed',
          portal: formatPortal(portal),
          code: (err as IscsiError).code,
          message: (err as Error).message,
        },
        'login failed',
      );
      throw err;
    }
  }
}

/**
 * One Text Request/Response exchange (§11.10, §11.11), following continued responses through their Target
 * Transfer Tag. Returns the target's keys.
 */
export async function textExchange(
  session: LoggedIn,
  keys: readonly TextPair[],
  options: { stepTimeoutMs?: number; signal?: AbortSignal; maxBytes?: number } = {},
): Promise<TextPair[]> {
  const itt = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  const reassembler = new TextReassembler({ allowDuplicates: true, maxBytes: options.maxBytes ?? 1024 * 1024 });
  let data = encodeText(keys);
  let ttt = 0xffffffff;
  for (;;) {
    session.connection.send({
      kind: 'text-request',
      immediate: true,
      final: true,
      continue: false,
      lun: 0n,
      initiatorTaskTag: itt,
      targetTransferTag: ttt,
      cmdSN: session.cmdSN,
      expStatSN: session.expStatSN,
      ahs: [],
      data,
    });
    const pdu = await expect(session, 'text-response', itt, options);
    const pairs = reassembler.push(pdu.data, pdu.continue);
    if (pairs) return pairs;
    // §11.11.? A continued response carries a TTT; an empty request with that TTT asks for the rest.
    ttt = pdu.targetTransferTag;
    data = new Uint8Array(0);
  }
}

/** Logout (§11.14): closes the session (reason 0) and the connection. */
export async function logout(
  session: LoggedIn,
  options: { stepTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const itt = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
  try {
    session.connection.send({
      kind: 'logout-request',
      immediate: true,
      reasonCode: 0,
      initiatorTaskTag: itt,
      cid: 0,
      cmdSN: session.cmdSN,
      expStatSN: session.expStatSN,
      ahs: [],
      data: new Uint8Array(0),
    });
    const response = await expect(session, 'logout-response', itt, options);
    if (response.response !== 0) {
      throw new IscsiError(ErrorCode.Login, `logout refused by the target (response ${response.response})`);
    }
  } finally {
    session.connection.close();
  }
}

async function expect<K extends 'text-response' | 'logout-response'>(
  session: LoggedIn,
  kind: K,
  itt: number,
  options: { stepTimeoutMs?: number; signal?: AbortSignal },
): Promise<Extract<Pdu, { kind: K }>> {
  for (;;) {
    const pdu = await session.connection.receive(options.stepTimeoutMs ?? 10_000, options.signal);
    if ('statSN' in pdu && pdu.kind !== 'data-in') session.expStatSN = (pdu.statSN + 1) >>> 0;
    if (pdu.kind === 'nop-in') continue; // keepalives are answered by the full session engine
    if (pdu.kind === 'reject')
      throw new ProtocolError(ErrorCode.PduField, `the target rejected our request (reason ${pdu.reason})`);
    if (pdu.kind !== kind || pdu.initiatorTaskTag !== itt) {
      throw new ProtocolError(ErrorCode.PduField, `expected a ${kind}, got ${pdu.kind}`);
    }
    return pdu as Extract<Pdu, { kind: K }>;
  }
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}
