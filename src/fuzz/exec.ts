/**
 * Running one fuzz case: reach the phase under test on a raw {@link Probe} (a valid login, a partial login, or a
 * WRITE with an outstanding R2T), send the steps, then ask the oracles: a PDU our strict decoder refuses, an
 * Initiator Task Tag we never sent, Data-In out of DataSN order, no NOP-In to a NOP-Out ping (a hang), and —
 * for the next case or a check — whether the target still accepts connections and logins.
 * @module
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { exchangeLogin, identity, isVerdict, login, loginRequest, pduOf } from '../conform/kit.js';
import { Probe, type Received } from '../conform/probe.js';
import type { CaseContext, ConformTarget } from '../conform/types.js';
import { IscsiError } from '../errors.js';
import type { EncodeOptions } from '../pdu/encode.js';
import type { PcapTrace } from '../pdu/pcap-write.js';
import type { NopOutPdu, Pdu } from '../pdu/types.js';
import type { LocalOffer } from '../session/params.js';
import { encodeOrUndefined, fixHeaderDigest, mutatePdu, mutateSequence, randomPdu } from './mutate.js';
import type { Rng } from './rng.js';
import { type TemplateState, template } from './templates.js';
import type { FuzzCase, FuzzPhase, FuzzStep, FuzzTarget, FuzzTimeouts, Observation, SessionMarks } from './types.js';

const NO_TAG = 0xffffffff;

/** What running a case needs. */
export interface ExecContext {
  readonly target: FuzzTarget;
  readonly timeouts: FuzzTimeouts;
  /** Record every connection of the case here (for a finding's pcap). */
  readonly trace?: PcapTrace;
}

/** A probe in the phase under test. */
export interface Reached {
  readonly probe: Probe;
  readonly phase: FuzzPhase;
  readonly marks: SessionMarks;
  readonly state: TemplateState;
  readonly encode: EncodeOptions;
}

function conformTarget(t: FuzzTarget): ConformTarget {
  return {
    portal: t.portal,
    targetName: t.targetName,
    ...(t.lun !== undefined ? { lun: t.lun } : {}),
    ...(t.initiatorName ? { initiatorName: t.initiatorName } : {}),
    ...(t.chap ? { chap: t.chap } : {}),
  };
}

function context(x: ExecContext): CaseContext {
  const open = (): Promise<Probe> =>
    Probe.open({
      portal: x.target.portal,
      connectTimeoutMs: x.timeouts.connectMs,
      ...(x.trace ? { trace: x.trace } : {}),
    });
  return {
    target: conformTarget(x.target),
    timeouts: { replyMs: x.timeouts.replyMs, silenceMs: 300 },
    signal: new AbortController().signal,
    open,
    // Type 2 (random) ISIDs (RFC 7143 §11.12.5): every case is a new session, never a reinstatement.
    newIsid: () => 0x800000000000 + randomInt(0, 2 ** 40),
  };
}

/** Connects, retrying once: a refusal twice in a row is the "target stopped answering" oracle. */
async function open(ctx: CaseContext): Promise<Probe | Observation> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.open();
    } catch (err) {
      if (!(err instanceof IscsiError)) throw err;
      if (attempt >= 1) return { kind: 'refused', message: `the target refuses connections: ${err.message}` };
      await sleep(50);
    }
  }
}

/**
 * A target that crashes while it answers closes the connection before its listener goes away: a login that broke
 * is a crash (`refused`) when new connections are refused within a few hundred ms. Telling the two apart keeps a
 * finding's kind stable while it is minimised.
 */
async function refusedSoon(ctx: CaseContext): Promise<Observation | undefined> {
  for (let i = 0; i < 3; i++) {
    await sleep(100);
    const again = await open(ctx);
    if (!(again instanceof Probe)) return again;
    again.close();
  }
  return undefined;
}

function lunField(lun: number): bigint {
  return (BigInt(lun & 0x3fff) << 48n) | (lun > 255 ? 1n << 62n : 0n);
}

/** Reaches the phase on a new connection, or tells why not (a refused connection, a login that failed). */
export async function reach(x: ExecContext, phase: FuzzPhase, digests: boolean): Promise<Reached | Observation> {
  const ctx = context(x);
  const probe = await open(ctx);
  if (!(probe instanceof Probe)) return probe;
  const lun = lunField(x.target.lun ?? 0);
  const broken = async (why: string): Promise<Observation> => {
    probe.close();
    return (await refusedSoon(ctx)) ?? { kind: 'login-broken', message: `a new session cannot log in: ${why}` };
  };
  if (phase === 'mid-login') {
    // A partial login: the security stage with T=0, so the target waits for more Login Requests.
    const isid = ctx.newIsid();
    const pairs = [...identity(ctx), ['AuthMethod', x.target.chap ? 'CHAP' : 'None'] as [string, string]];
    const ev = await exchangeLogin(
      probe,
      ctx,
      loginRequest(isid, pairs, { transit: false, currentStage: 0, nextStage: 0 }),
    );
    const rsp = pduOf(ev, 'login-response');
    if (rsp?.statusClass !== 0) return await broken(rsp ? `status 0x${rsp.statusClass.toString(16)}` : ev.kind);
    const expStatSN = (rsp.statSN + 1) >>> 0;
    const nextLogin = loginRequest(isid, [], { currentStage: 0, nextStage: 1, transit: true, expStatSN });
    return {
      probe,
      phase,
      marks: { cmdSN: 0, expStatSN },
      state: { phase, lun, cmdSN: 0, expStatSN, itt: 1, sentItts: [], nextLogin },
      encode: {},
    };
  }
  const digestOffer: Partial<LocalOffer> = digests
    ? { headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C', 'None'] }
    : { headerDigest: ['None'], dataDigest: ['None'] };
  const offer: Partial<LocalOffer> = phase === 'mid-transfer' ? { ...digestOffer, initialR2T: true } : digestOffer;
  let s: Awaited<ReturnType<typeof login>>;
  try {
    s = await login(ctx, { probe, offer });
  } catch (err) {
    if (!(err instanceof IscsiError)) throw err;
    return await broken(err.message);
  }
  if (isVerdict(s)) return await broken(s.status === 'skipped' ? s.reason : s.status);
  const encode = probe.encodeOptions;
  const state: TemplateState = { phase, lun, cmdSN: s.cmdSN, expStatSN: s.expStatSN, itt: s.itt, sentItts: [] };
  if (phase !== 'mid-transfer') {
    return { probe, phase, marks: { cmdSN: s.cmdSN, expStatSN: s.expStatSN }, state, encode };
  }
  // Mid-transfer: a WRITE(10) of 4 blocks without immediate data, then the R2T the target owes us.
  const itt = state.itt++;
  const write: Pdu = {
    kind: 'scsi-command',
    immediate: false,
    final: true,
    read: false,
    write: true,
    attributes: 1,
    lun,
    expectedDataTransferLength: 2048,
    cmdSN: state.cmdSN,
    expStatSN: state.expStatSN,
    initiatorTaskTag: itt,
    cdb: Uint8Array.of(0x2a, 0, 0, 0, 0, 8, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0),
    ahs: [],
    data: new Uint8Array(0),
  };
  state.cmdSN = (state.cmdSN + 1) >>> 0;
  state.sentItts.push(itt);
  probe.send(write);
  const deadline = Date.now() + x.timeouts.replyMs;
  let r2t: Extract<Pdu, { kind: 'r2t' }> | undefined;
  while (!r2t && Date.now() < deadline) {
    const ev = await probe.next(Math.max(0, deadline - Date.now()));
    if (ev.kind !== 'pdu') break;
    if (ev.pdu.kind === 'r2t' && ev.pdu.initiatorTaskTag === itt) r2t = ev.pdu;
    else if (ev.pdu.initiatorTaskTag === itt) break;
  }
  const transfer = r2t && {
    itt,
    ttt: r2t.targetTransferTag,
    bufferOffset: r2t.bufferOffset,
    length: Math.min(r2t.desiredDataTransferLength, 8192),
  };
  const marks: SessionMarks = {
    cmdSN: state.cmdSN,
    expStatSN: state.expStatSN,
    ...(transfer ? { ttt: transfer.ttt } : {}),
  };
  return { probe, phase, marks, state: { ...state, ...(transfer ? { transfer } : {}) }, encode };
}

/** Generates the steps of a case from the reached state: 1–10 mutated PDUs, sometimes reordered or split. */
export function generate(rng: Rng, reached: Reached): FuzzStep[] {
  let steps: FuzzStep[] = [];
  const count = rng.range(1, 10);
  for (let i = 0; i < count; i++) {
    const pdu = rng.chance(0.15) ? randomPdu(rng) : template(rng, reached.state);
    const m = mutatePdu(rng, pdu, reached.encode);
    if (m.bytes.length === 0) continue;
    const base = encodeOrUndefined(pdu, reached.encode);
    steps.push({
      bytes: m.bytes,
      note: `${pdu.kind}: ${m.note}`,
      ...(base ? { base } : {}),
      ...(m.desync ? { desync: true } : {}),
      ...(reached.encode.headerDigest && m.headerDigestValid ? { headerDigest: true } : {}),
    });
  }
  if (rng.chance(0.3)) steps = mutateSequence(rng, steps);
  return steps;
}

const u32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/**
 * Moves the steps' CmdSN, ExpStatSN and Target Transfer Tag from the session they were made in to a new one
 * (a replay gets another StatSN from most targets). Only fields still holding the old session's values change.
 */
export function rebase(steps: readonly FuzzStep[], from: SessionMarks | undefined, to: SessionMarks): FuzzStep[] {
  if (!from || (from.cmdSN === to.cmdSN && from.expStatSN === to.expStatSN && from.ttt === to.ttt)) return [...steps];
  return steps.map((s) => {
    if (s.bytes.length < 48) return s;
    const b = Uint8Array.from(s.bytes);
    if (u32(b, 28) === from.expStatSN) put32(b, 28, to.expStatSN);
    const delta = (u32(b, 24) - from.cmdSN) >>> 0;
    if (delta < 64) put32(b, 24, (to.cmdSN + delta) >>> 0);
    if (from.ttt !== undefined && to.ttt !== undefined && u32(b, 20) === from.ttt) put32(b, 20, to.ttt);
    fixHeaderDigest(b, s.headerDigest);
    return { ...s, bytes: b };
  });
}

/** The length the BHS of `bytes` announces (TotalAHSLength, DataSegmentLength, digests), or -1 when under 48. */
export function framedLength(bytes: Uint8Array, enc: EncodeOptions): number {
  if (bytes.length < 48) return -1;
  const dsl = (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!;
  const data = dsl === 0 ? 0 : ((dsl + 3) & ~3) + (enc.dataDigest ? 4 : 0);
  return 48 + bytes[4]! * 4 + (enc.headerDigest ? 4 : 0) + data;
}

async function write(probe: Probe, step: FuzzStep): Promise<void> {
  if (!step.chunks) {
    probe.sendRaw(step.bytes, step.note);
    return;
  }
  let at = 0;
  for (const [k, n] of step.chunks.entries()) {
    if (probe.closed) return;
    probe.sendRaw(step.bytes.subarray(at, at + n), `${step.note} (part ${k + 1})`);
    at += n;
    if (step.delayMs) await sleep(step.delayMs);
    else await new Promise((r) => setImmediate(r));
  }
}

/** Every 32-bit value at any offset of what we sent: a tag the target echoes may come from a misframed PDU. */
function sentValues(probe: Probe, steps: readonly FuzzStep[]): Set<number> {
  const set = new Set<number>([NO_TAG]);
  for (const e of probe.log) {
    if (e.direction === 'initiator' && e.bhs && e.bhs.length >= 40) set.add(Number.parseInt(e.bhs.slice(32, 40), 16));
  }
  // Over the whole stream: a truncated PDU's tail is read with the head of the next one.
  const stream = Buffer.concat(steps.map((s) => s.bytes));
  for (let i = 0; i + 4 <= stream.length; i++) set.add(u32(stream, i));
  return set;
}

/** Applies the per-PDU oracles to what the target sent. */
export function judge(events: readonly Received[], sent: ReadonlySet<number>): Observation | undefined {
  // Open DataSN sequences per ITT: a second command with the same tag starts another at 0.
  const open = new Map<number, number[]>();
  for (const ev of events) {
    if (ev.kind === 'invalid') {
      return { kind: 'invalid-pdu', message: `the target sent a PDU our strict decoder refuses: ${ev.error.message}` };
    }
    if (ev.kind !== 'pdu') continue;
    const p = ev.pdu;
    if (!sent.has(p.initiatorTaskTag)) {
      const tag = `0x${p.initiatorTaskTag.toString(16)}`;
      return {
        kind: 'unknown-itt',
        message: `the target sent a ${p.kind} with an Initiator Task Tag we never sent (${tag})`,
      };
    }
    if (p.kind === 'data-in') {
      const seqs = open.get(p.initiatorTaskTag) ?? [];
      const k = seqs.indexOf(p.dataSN);
      if (k >= 0) seqs[k] = (p.dataSN + 1) >>> 0;
      else if (p.dataSN === 0) seqs.push(1);
      else {
        const want = seqs.length > 0 ? seqs.join(' or ') : '0';
        return {
          kind: 'bad-datasn',
          message: `Data-In with DataSN ${p.dataSN} where ${want} was due (RFC 7143 §11.7.5)`,
        };
      }
      open.set(p.initiatorTaskTag, seqs);
    } else if (p.kind === 'scsi-response') open.delete(p.initiatorTaskTag);
  }
  return undefined;
}

/** Sends the steps on the reached probe and applies the oracles; the probe is closed afterwards. */
export async function play(x: ExecContext, r: Reached, steps: readonly FuzzStep[]): Promise<Observation | undefined> {
  const { probe } = r;
  try {
    for (const step of steps) {
      if (probe.closed) break;
      await write(probe, step);
    }
    const events: Received[] = [];
    let hang: Observation | undefined;
    // After a step whose lengths disagree, the target may take our ping as the rest of it: no ping then.
    const framed = steps.every((s) => !s.desync && framedLength(s.bytes, r.encode) === s.bytes.length);
    const canPing = !probe.closed && r.phase !== 'mid-login' && framed;
    if (canPing) {
      // The hang oracle: an immediate NOP-Out must get its NOP-In (§11.18, §11.19) whatever came before.
      const itt = r.state.itt++;
      const ping: NopOutPdu = {
        kind: 'nop-out',
        immediate: true,
        lun: 0n,
        targetTransferTag: NO_TAG,
        cmdSN: r.state.cmdSN,
        expStatSN: r.state.expStatSN,
        initiatorTaskTag: itt,
        ahs: [],
        data: new Uint8Array(0),
      };
      probe.send(ping);
      const deadline = Date.now() + x.timeouts.hangMs;
      for (;;) {
        const ev = await probe.next(Math.max(0, deadline - Date.now()));
        if (ev.kind === 'timeout') {
          hang = { kind: 'hang', message: `no NOP-In to a NOP-Out ping within ${x.timeouts.hangMs} ms` };
          break;
        }
        if (ev.kind === 'closed') break;
        events.push(ev);
        if (ev.kind === 'pdu' && ev.pdu.kind === 'nop-in' && ev.pdu.initiatorTaskTag === itt) break;
        if (ev.kind === 'invalid') break;
      }
      // Late answers of commands still running when the NOP-In overtook them.
      for (let ev = await probe.next(1); ev.kind === 'pdu' || ev.kind === 'invalid'; ev = await probe.next(1)) {
        events.push(ev);
      }
    } else {
      const deadline = Date.now() + x.timeouts.hangMs;
      while (Date.now() < deadline) {
        const ev = await probe.next(x.timeouts.quietMs);
        if (ev.kind === 'timeout' || ev.kind === 'closed') break;
        events.push(ev);
      }
    }
    return judge(events, sentValues(probe, steps)) ?? hang;
  } finally {
    probe.close();
  }
}

/** A fresh session: it must connect, log in and answer a ping. */
export async function freshSession(x: ExecContext): Promise<Observation | undefined> {
  const r = await reach(x, 'full-feature', false);
  if (!('probe' in r)) return r;
  return play(x, r, []);
}

/** Runs a saved or minimised case from the start; with `post`, a fresh session must work afterwards. */
export async function runCase(x: ExecContext, c: FuzzCase, post: boolean): Promise<Observation | undefined> {
  const r = await reach(x, c.phase, c.digests);
  if (!('probe' in r)) return r;
  const seen = await play(x, r, rebase(c.steps, c.marks, r.marks));
  if (seen || !post) return seen;
  return freshSession(x);
}
