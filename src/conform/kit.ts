/**
 * Building blocks for conformance cases: verdicts, hand-made Login Requests, a normal login through the
 * sans-IO {@link LoginMachine}, waiting for a matching PDU, NOP-Out pings and SCSI commands in the Full Feature
 * Phase. Cases written outside iscsi-ts use the same helpers.
 * @module
 */
import { chapResponse } from '../chap/chap.js';
import { IscsiError } from '../errors.js';
import { decodeTextLenient, type TextPair } from '../pdu/text.js';
import { formatBinary, parseBinary } from '../pdu/text-values.js';
import type { LoginRequestPdu, LoginResponsePdu, NopOutPdu, Pdu, ScsiCommandPdu } from '../pdu/types.js';
import { LoginMachine, type LoginResult } from '../session/login.js';
import type { LocalOffer, NegotiatedParameters } from '../session/params.js';
import { evidenceOf } from './describe.js';
import type { Probe, Received } from './probe.js';
import type { CaseContext, Evidence, Verdict } from './types.js';

/** Our initiator name unless the target description gives one. */
export const DEFAULT_INITIATOR_NAME = 'iqn.2026-11.io.github.iscsi-ts:conform';
/** The reserved tag value (RFC 7143 §11.2.1.8). */
export const NO_TAG = 0xffffffff;

type Item = Pdu | Received | Evidence | undefined;

/** A pass verdict. */
export const pass = (note?: string): Verdict => (note ? { status: 'pass', note } : { status: 'pass' });
/** A fail verdict with its evidence. */
export const fail = (message: string, ...evidence: Item[]): Verdict => ({
  status: 'fail',
  message,
  evidence: evidenceOf(evidence),
});
/** The rule does not apply to this target (a feature it does not offer, credentials not given). */
export const notApplicable = (reason: string): Verdict => ({ status: 'not-applicable', reason });
/** The case could not reach the state it tests. */
export const skipped = (reason: string): Verdict => ({ status: 'skipped', reason });

/** A received event as a PDU of one kind, or undefined. */
export function pduOf<K extends Pdu['kind']>(event: Received, kind: K): Extract<Pdu, { kind: K }> | undefined {
  return event.kind === 'pdu' && event.pdu.kind === kind ? (event.pdu as Extract<Pdu, { kind: K }>) : undefined;
}

/** Text pairs of a PDU's data segment (leniently parsed: a malformed segment yields what could be read). */
export function pairsOf(pdu: Pdu): TextPair[] {
  return decodeTextLenient(pdu.data).pairs;
}

/** The value of a key in a PDU's text, or undefined. */
export function keyValue(pdu: Pdu, key: string): string | undefined {
  return pairsOf(pdu).find(([k]) => k === key)?.[1];
}

/** Status-Class << 8 | Status-Detail of a Login Response. */
export const statusOf = (p: LoginResponsePdu): number => (p.statusClass << 8) | p.statusDetail;

/** `InitiatorName`, `SessionType` and (Normal) `TargetName` pairs. */
export function identity(ctx: CaseContext, sessionType: 'Normal' | 'Discovery' = 'Normal'): TextPair[] {
  const pairs: TextPair[] = [
    ['InitiatorName', ctx.target.initiatorName ?? DEFAULT_INITIATOR_NAME],
    ['SessionType', sessionType],
  ];
  if (sessionType === 'Normal') pairs.push(['TargetName', ctx.target.targetName]);
  return pairs;
}

/** Fields of a hand-made Login Request (see {@link loginRequest}). */
export type LoginFields = { -readonly [K in keyof LoginRequestPdu]?: LoginRequestPdu[K] };

/** A Login Request: CSG 1 → NSG 3 with T=1, version 0, ITT 0, CmdSN 0, unless `fields` says otherwise. */
export function loginRequest(isid: number, pairs: readonly TextPair[], fields: LoginFields = {}): LoginRequestPdu {
  return {
    kind: 'login-request',
    transit: true,
    continue: false,
    currentStage: 1,
    nextStage: 3,
    versionMax: 0,
    versionMin: 0,
    isid,
    tsih: 0,
    cid: 0,
    cmdSN: 0,
    expStatSN: 0,
    initiatorTaskTag: 0,
    ahs: [],
    data: rawText(pairs),
    ...fields,
  };
}

/**
 * `key=value` pairs as a data segment, NUL-terminated, without the codec's checks: cases send duplicate keys and
 * illegal values on purpose.
 */
export function rawText(pairs: readonly TextPair[]): Uint8Array {
  return new TextEncoder().encode(pairs.map(([k, v]) => `${k}=${v}\0`).join(''));
}

/** Keys that are declared, never answered (RFC 7143 §13: Declarative). */
const DECLARATIVE = new Set([
  'MaxRecvDataSegmentLength',
  'TargetPortalGroupTag',
  'TargetAlias',
  'TargetAddress',
  'InitiatorAlias',
  'TargetName',
  'InitiatorName',
]);
const RESERVED_VALUES = new Set(['Reject', 'NotUnderstood', 'Irrelevant']);

/**
 * Answers to the keys a target offered in a Login Response that we did not offer: the offered value (the first
 * of a list), which every result function accepts.
 */
export function acceptOffers(rsp: Pdu, sent: ReadonlySet<string>): TextPair[] {
  return pairsOf(rsp)
    .filter(([k, v]) => !sent.has(k) && !DECLARATIVE.has(k) && !RESERVED_VALUES.has(v))
    .map(([k, v]): TextPair => [k, v.split(',')[0]!]);
}

/** Waits for the next event that is a PDU matching `match` (or a close, a refused PDU, a timeout). */
export async function awaitPdu(probe: Probe, timeoutMs: number, match: (p: Pdu) => boolean): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await probe.next(Math.max(0, deadline - Date.now()));
    if (event.kind !== 'pdu' || match(event.pdu)) return event;
    // Anything else (a target's own NOP-In ping, an async message) is in the log and skipped here.
  }
}

/** Sends a Login Request and waits for the Login Response. */
export async function exchangeLogin(probe: Probe, ctx: CaseContext, req: LoginRequestPdu): Promise<Received> {
  probe.send(req);
  return awaitPdu(probe, ctx.timeouts.replyMs, (p) => p.kind === 'login-response');
}

/**
 * Runs a hand-made operational stage: sends `pairs` with CSG 1 → NSG 3, then empty requests while the target
 * answers T=0 (at most 4 rounds). Returns every event received; the last is the final one.
 */
export async function operationalLogin(
  probe: Probe,
  ctx: CaseContext,
  isid: number,
  pairs: readonly TextPair[],
  fields: LoginFields = {},
): Promise<Received[]> {
  const events: Received[] = [];
  const sent = new Set(pairs.map(([k]) => k));
  let req = loginRequest(isid, pairs, fields);
  for (let round = 0; round < 4; round++) {
    const event = await exchangeLogin(probe, ctx, req);
    events.push(event);
    const rsp = pduOf(event, 'login-response');
    if (rsp?.statusClass !== 0 || (rsp.transit && rsp.nextStage === 3)) break;
    const answers = acceptOffers(rsp, sent);
    for (const [k] of answers) sent.add(k);
    req = loginRequest(isid, answers, { ...fields, expStatSN: (rsp.statSN + 1) >>> 0 });
  }
  return events;
}

/** A logged-in session on one probe, with the sequence numbers the cases keep. */
export interface ConformSession {
  readonly probe: Probe;
  readonly result: LoginResult;
  readonly params: NegotiatedParameters;
  cmdSN: number;
  expStatSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** Next initiator task tag to use. */
  itt: number;
}

/** Options of {@link login}. */
export interface ConformLoginOptions {
  readonly offer?: Partial<LocalOffer>;
  readonly sessionType?: 'Normal' | 'Discovery';
  readonly isid?: number;
  readonly tsih?: number;
  readonly chapAlgorithms?: readonly number[];
  /** Log in on this probe instead of a new one. */
  readonly probe?: Probe;
}

/**
 * A normal login to the Full Feature Phase through the {@link LoginMachine} (CHAP when the target description has
 * credentials). Returns the session, or a `skipped` verdict when the target did not let us in.
 */
export async function login(ctx: CaseContext, options: ConformLoginOptions = {}): Promise<ConformSession | Verdict> {
  const probe = options.probe ?? (await ctx.open());
  const isid = options.isid ?? ctx.newIsid();
  const chap = ctx.target.chap;
  let step: ReturnType<LoginMachine['start']>;
  try {
    const machine = new LoginMachine({
      initiatorName: ctx.target.initiatorName ?? DEFAULT_INITIATOR_NAME,
      sessionType: options.sessionType ?? 'Normal',
      ...(options.sessionType === 'Discovery' ? {} : { targetName: ctx.target.targetName }),
      isid,
      ...(options.tsih !== undefined ? { tsih: options.tsih } : {}),
      ...(chap
        ? {
            chap: {
              credentials: chap.credentials,
              ...(chap.targetCredentials ? { targetCredentials: chap.targetCredentials } : {}),
              algorithms: options.chapAlgorithms ?? [5],
              onWarning: () => {},
            },
          }
        : {}),
      ...(options.offer ? { offer: options.offer } : {}),
    });
    step = machine.start();
    for (let round = 0; round < 16 && step.kind === 'send'; round++) {
      const event = await exchangeLogin(probe, ctx, step.pdu);
      if (event.kind !== 'pdu') return skipped(`login did not complete: ${evidenceOf([event])[0]?.summary}`);
      step = machine.receive(event.pdu);
    }
  } catch (err) {
    if (err instanceof IscsiError) return skipped(`login failed: ${err.message}`);
    throw err;
  }
  if (step.kind !== 'done') return skipped(`login did not complete (${step.kind})`);
  const { result } = step;
  probe.enterFullFeature(result.params);
  return {
    probe,
    result,
    params: result.params,
    cmdSN: result.cmdSN,
    expStatSN: result.expStatSN,
    expCmdSN: result.expCmdSN,
    maxCmdSN: result.maxCmdSN,
    itt: 0x100,
  };
}

/** True when {@link login} gave a verdict instead of a session. */
export function isVerdict(value: ConformSession | Verdict): value is Verdict {
  return 'status' in value;
}

/** Notes StatSN and the command window from a target PDU. */
export function track(s: ConformSession, event: Received): void {
  if (event.kind !== 'pdu') return;
  const p = event.pdu;
  if ('statSN' in p && !(p.kind === 'data-in' && !p.statusPresent) && p.kind !== 'r2t') {
    if (!(p.kind === 'nop-in' && p.initiatorTaskTag === NO_TAG)) s.expStatSN = (p.statSN + 1) >>> 0;
  }
  if ('expCmdSN' in p) {
    s.expCmdSN = p.expCmdSN;
    s.maxCmdSN = p.maxCmdSN;
  }
}

/** Waits for a PDU of the session matching `match`, tracking sequence numbers. */
export async function awaitSession(
  s: ConformSession,
  timeoutMs: number,
  match: (p: Pdu) => boolean,
): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const event = await s.probe.next(Math.max(0, deadline - Date.now()));
    track(s, event);
    if (event.kind !== 'pdu' || match(event.pdu)) return event;
  }
}

/** A NOP-Out of the session; a non-immediate one takes (and advances) the next CmdSN. */
export function nopOut(
  s: ConformSession,
  options: { immediate?: boolean; itt?: number; data?: Uint8Array } = {},
): NopOutPdu {
  const immediate = options.immediate ?? true;
  const pdu: NopOutPdu = {
    kind: 'nop-out',
    immediate,
    lun: 0n,
    targetTransferTag: NO_TAG,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    initiatorTaskTag: options.itt ?? s.itt++,
    ahs: [],
    data: options.data ?? new Uint8Array(0),
  };
  if (!immediate) s.cmdSN = (s.cmdSN + 1) >>> 0;
  return pdu;
}

/** Sends an immediate NOP-Out ping and waits for the NOP-In with its ITT. */
export async function ping(s: ConformSession, timeoutMs: number): Promise<Received> {
  const pdu = nopOut(s);
  s.probe.send(pdu);
  return awaitSession(s, timeoutMs, (p) => p.kind === 'nop-in' && p.initiatorTaskTag === pdu.initiatorTaskTag);
}

/** A SCSI Command of the session for LUN `ctx.target.lun`; non-immediate ones advance CmdSN. */
export function scsiCommand(
  s: ConformSession,
  lun: number,
  cdb: readonly number[],
  o: { read?: boolean; write?: boolean; edtl?: number; data?: Uint8Array; final?: boolean; immediate?: boolean } = {},
): ScsiCommandPdu {
  const full = new Uint8Array(16);
  full.set(cdb);
  const pdu: ScsiCommandPdu = {
    kind: 'scsi-command',
    immediate: o.immediate ?? false,
    final: o.final ?? true,
    read: o.read ?? false,
    write: o.write ?? false,
    attributes: 1,
    lun: BigInt(lun) << 48n,
    expectedDataTransferLength: o.edtl ?? 0,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    initiatorTaskTag: s.itt++,
    cdb: full,
    ahs: [],
    data: o.data ?? new Uint8Array(0),
  };
  if (!pdu.immediate) s.cmdSN = (s.cmdSN + 1) >>> 0;
  return pdu;
}

/** The LUN field value for a flat LUN number below 256 (SAM peripheral addressing). */
export const lunOf = (ctx: CaseContext): number => ctx.target.lun ?? 0;

/**
 * Sends TEST UNIT READY until it completes with GOOD (at most 3 times): a new session usually starts with a
 * UNIT ATTENTION, which would otherwise be mistaken for the reaction a case looks for.
 */
export async function settleUnitAttention(ctx: CaseContext, s: ConformSession): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    const cmd = scsiCommand(s, lunOf(ctx), [0]);
    s.probe.send(cmd);
    const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
    const rsp = pduOf(ev, 'scsi-response');
    if (!rsp) return false;
    if (rsp.response === 0 && rsp.status === 0) return true;
  }
  return false;
}

/** Our CHAP response to a target challenge, formatted for CHAP_R. */
export function chapAnswer(ctx: CaseContext, algorithm: number, id: string, challenge: string): string {
  const chap = ctx.target.chap!;
  const bytes = chapResponse(algorithm, Number(id), chap.credentials.secret, parseBinary(challenge));
  return formatBinary(bytes, 'hex');
}

/** Whether `a` equals `b` modulo 2^32. */
export const serialOk = (a: number, b: number): boolean => a >>> 0 === b >>> 0;

/** The Login Responses among received events, in order. */
export function loginResponses(events: readonly Received[]): LoginResponsePdu[] {
  return events.map((e) => pduOf(e, 'login-response')).filter((p): p is LoginResponsePdu => p !== undefined);
}

/** Every value the target sent for `key` across the Login Responses of `events`, in order. */
export function keyAnswers(events: readonly Received[], key: string): string[] {
  return loginResponses(events).flatMap((r) =>
    pairsOf(r)
      .filter(([k]) => k === key)
      .map(([, v]) => v),
  );
}

/**
 * The LUN's block length: TEST UNIT READY until GOOD ({@link settleUnitAttention}), then READ CAPACITY(10).
 * Undefined when either fails.
 */
export async function blockLengthOf(ctx: CaseContext, s: ConformSession): Promise<number | undefined> {
  if (!(await settleUnitAttention(ctx, s))) return undefined;
  const cmd = scsiCommand(s, lunOf(ctx), [0x25], { read: true, edtl: 8 });
  s.probe.send(cmd);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) {
    const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
    if (ev.kind !== 'pdu') return undefined;
    const p = ev.pdu;
    if (p.kind === 'data-in') parts.push(p.data);
    const status = p.kind === 'scsi-response' || (p.kind === 'data-in' && p.statusPresent) ? p.status : undefined;
    if (status !== undefined) {
      const data = Buffer.concat(parts);
      return status === 0 && data.length >= 8 ? data.readUInt32BE(4) : undefined;
    }
  }
  return undefined;
}
