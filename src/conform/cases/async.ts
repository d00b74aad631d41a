/**
 * Asynchronous Message cases (RFC 7143 §11.9). A target sends these on its own events (shutting down, resets,
 * renegotiation), which a conformance run cannot cause from outside: the cases watch a logged-in session for a
 * while and judge what arrives; with nothing arriving they are not applicable, never passed.
 * @module
 */
import type { AsyncMessagePdu, NopInPdu } from '../../pdu/types.js';
import {
  awaitSession,
  type ConformSession,
  fail,
  isVerdict,
  login,
  NO_TAG,
  nopOut,
  notApplicable,
  pass,
  pduOf,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase } from '../types.js';

/** The Asynchronous Message opcode (§11.9). */
const ASYNC_OPCODE = 0x32;

/** AsyncEvent codes RFC 7143 §11.9.1 defines: 0-5 and 255 (vendor specific); 6-254 are reserved. */
const DEFINED_EVENTS = new Set([0, 1, 2, 3, 4, 5, 255]);

/** What a watch saw: the Asynchronous Messages, the ones the strict decoder refused, and the last event. */
interface Watched {
  readonly messages: AsyncMessagePdu[];
  readonly refused: Received[];
  readonly last: Received;
}

/** Answers a target's NOP-In ping (TTT other than 0xffffffff) as §11.18 asks, so the watch is not cut short. */
function answerPing(s: ConformSession, nop: NopInPdu): void {
  s.probe.send({ ...nopOut(s, { itt: NO_TAG }), targetTransferTag: nop.targetTransferTag });
}

/**
 * Watches the session for `ms` (or until `until` matches an Asynchronous Message, or the connection closes),
 * answering the target's pings.
 */
async function watch(s: ConformSession, ms: number, until?: (p: AsyncMessagePdu) => boolean): Promise<Watched> {
  const messages: AsyncMessagePdu[] = [];
  const refused: Received[] = [];
  const deadline = Date.now() + ms;
  let last: Received = { kind: 'timeout' };
  for (let i = 0; i < 1024; i++) {
    last = await awaitSession(s, Math.max(0, deadline - Date.now()), () => true);
    if (last.kind === 'invalid') {
      if (last.wire && (last.wire[0]! & 0x3f) === ASYNC_OPCODE) refused.push(last);
      break;
    }
    if (last.kind !== 'pdu') break;
    const nop = pduOf(last, 'nop-in');
    if (nop && nop.targetTransferTag !== NO_TAG) answerPing(s, nop);
    const msg = pduOf(last, 'async-message');
    if (msg) {
      messages.push(msg);
      if (until?.(msg)) break;
    }
  }
  return { messages, refused, last };
}

/** What is wrong with an Asynchronous Message, or undefined. */
export function asyncMessageProblem(p: AsyncMessagePdu): string | undefined {
  if (p.initiatorTaskTag !== NO_TAG) return `ITT 0x${p.initiatorTaskTag.toString(16)}, not 0xffffffff (§11.2.1.8)`;
  if (!DEFINED_EVENTS.has(p.asyncEvent)) return `AsyncEvent ${p.asyncEvent} is reserved`;
  // §11.9.1: event 0 carries the SCSI sense data in its data segment.
  if (p.asyncEvent === 0 && p.data.length < 2) return 'AsyncEvent 0 (SCSI async event) without sense data';
  // §11.9.1: for event 1 (logout request) Parameter1 and Parameter2 are reserved.
  if (p.asyncEvent === 1 && (p.parameter1 !== 0 || p.parameter2 !== 0)) {
    return `AsyncEvent 1 with reserved Parameter1 ${p.parameter1} / Parameter2 ${p.parameter2} not 0`;
  }
  return undefined;
}

const watchMs = (ctx: CaseContext): number => ctx.timeouts.silenceMs * 2;

const NOTHING =
  'a target sends Asynchronous Messages on its own events (shutdown, resets, renegotiation), which cannot be ' +
  'caused from outside';

/** Asynchronous Message cases. */
export const asyncCases: readonly ConformCase[] = [
  {
    id: 'async.message-format',
    area: 'async',
    section: '11.9',
    strength: 'MUST',
    description:
      'Every Asynchronous Message the target sends while a session is watched is well formed: ITT 0xffffffff, ' +
      'an AsyncEvent RFC 7143 defines (0-5, 255), sense data with event 0, Parameter1/2 reserved (0) with event ' +
      '1. Not applicable when none arrives.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const seen = await watch(s, watchMs(ctx));
      if (seen.refused.length > 0) return fail('an Asynchronous Message our strict decoder refused', ...seen.refused);
      for (const m of seen.messages) {
        const problem = asyncMessageProblem(m);
        if (problem) return fail(problem, m);
      }
      if (seen.messages.length === 0) return notApplicable(`no Asynchronous Message in ${watchMs(ctx)} ms: ${NOTHING}`);
      return pass(`AsyncEvent ${seen.messages.map((m) => m.asyncEvent).join(', ')}`);
    },
  },
  {
    id: 'async.logout-request',
    area: 'async',
    section: '11.9.1',
    strength: 'MUST',
    description:
      'When the target asks for a logout (AsyncEvent 1), an initiator that logs out (close the session) within ' +
      'Parameter3 seconds gets Logout Response 0 and the connection closes. Not applicable when the target sends ' +
      'no such request while watched.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const seen = await watch(s, watchMs(ctx), (m) => m.asyncEvent === 1);
      const request = seen.messages.find((m) => m.asyncEvent === 1);
      if (!request) return notApplicable(`no AsyncEvent 1 in ${watchMs(ctx)} ms: ${NOTHING}`);
      const logout = {
        kind: 'logout-request' as const,
        immediate: true,
        reasonCode: 0,
        cid: 0,
        cmdSN: s.cmdSN,
        expStatSN: s.expStatSN,
        initiatorTaskTag: s.itt++,
        ahs: [],
        data: new Uint8Array(0),
      };
      s.probe.send(logout);
      // The answer must come before the target's deadline runs out; a short Parameter3 does not shorten our wait
      // below the usual reply time.
      const limit = Math.max(ctx.timeouts.replyMs, request.parameter3 * 1000);
      const ev = await awaitSession(s, limit, (p) => p.initiatorTaskTag === logout.initiatorTaskTag);
      const rsp = pduOf(ev, 'logout-response');
      if (!rsp) return fail('no Logout Response to a logout the target asked for', request, logout, ev);
      if (rsp.response !== 0) return fail(`Logout Response ${rsp.response}, expected 0`, request, logout, rsp);
      return (await s.probe.waitClosed(ctx.timeouts.replyMs))
        ? pass(`Parameter3 ${request.parameter3} s`)
        : fail('the connection stayed open after the logout', request, logout, rsp);
    },
  },
];
