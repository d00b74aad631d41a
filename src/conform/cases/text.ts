/**
 * Text Request / SendTargets cases (RFC 7143 §11.10, §11.11, §13.3, Appendix C).
 * @module
 */
import type { TextPair } from '../../pdu/text.js';
import type { TextRequestPdu, TextResponsePdu } from '../../pdu/types.js';
import {
  awaitSession,
  type ConformSession,
  fail,
  isVerdict,
  login,
  NO_TAG,
  notApplicable,
  pairsOf,
  pass,
  pduOf,
  rawText,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

function textRequest(s: ConformSession, pairs: readonly TextPair[], ttt = NO_TAG, itt = s.itt): TextRequestPdu {
  return {
    kind: 'text-request',
    immediate: true,
    final: true,
    continue: false,
    lun: 0n,
    targetTransferTag: ttt,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    initiatorTaskTag: itt,
    ahs: [],
    data: rawText(pairs),
  };
}

/** Sends a Text Request and follows C=1 / F=0 continuations (at most 32 PDUs); returns every answer. */
async function textExchange(ctx: CaseContext, s: ConformSession, pairs: readonly TextPair[]) {
  const itt = s.itt++;
  const got: TextResponsePdu[] = [];
  let req = textRequest(s, pairs, NO_TAG, itt);
  let last: Received = { kind: 'timeout' };
  for (let i = 0; i < 32; i++) {
    s.probe.send(req);
    last = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === itt);
    const rsp = pduOf(last, 'text-response');
    if (!rsp) break;
    got.push(rsp);
    if (rsp.final && !rsp.continue) break;
    req = textRequest(s, [], rsp.targetTransferTag, itt);
  }
  return { got, last };
}

const keysOf = (got: readonly TextResponsePdu[]): TextPair[] => {
  const data = Buffer.concat(got.map((r) => r.data));
  return pairsOf({ ...got[0]!, data });
};

async function sendTargets(
  ctx: CaseContext,
  sessionType: 'Normal' | 'Discovery',
  value: string,
  mrdsl?: number,
): Promise<Verdict> {
  const s = await login(ctx, { sessionType, ...(mrdsl ? { offer: { maxRecvDataSegmentLength: mrdsl } } : {}) });
  if (isVerdict(s)) return s;
  const { got, last } = await textExchange(ctx, s, [['SendTargets', value]]);
  if (got.length === 0 || !got.at(-1)!.final) return fail('no final Text Response', ...s.probe.log.slice(-3), last);
  for (const r of got) {
    const more = !r.final || r.continue;
    // RFC 7143 §11.11.4: more to send → TTT other than 0xffffffff; otherwise it MUST be 0xffffffff.
    if (more && r.targetTransferTag === NO_TAG) return fail('a continued Text Response has TTT 0xffffffff', r);
    if (!more && r.targetTransferTag !== NO_TAG) return fail('the final Text Response has a TTT', r);
  }
  const names = keysOf(got)
    .filter(([k]) => k === 'TargetName')
    .map(([, v]) => v);
  if (!names.includes(ctx.target.targetName)) return fail(`TargetName ${ctx.target.targetName} not reported`, ...got);
  return pass(`${got.length} Text Response PDU(s), ${names.length} target(s)`);
}

/** Follows a long answer whose first PDU is `first`: empty requests echoing the TTT (at most 32). */
async function follow(ctx: CaseContext, s: ConformSession, itt: number, first: TextResponsePdu) {
  const got = [first];
  let last: Received = { kind: 'timeout' };
  for (let r = first, i = 0; (!r.final || r.continue) && i < 32; i++) {
    s.probe.send(textRequest(s, [], r.targetTransferTag, itt));
    last = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === itt);
    const next = pduOf(last, 'text-response');
    if (!next) break;
    got.push(next);
    r = next;
  }
  return { got, last };
}

/** The TargetName values of a complete answer. */
const targetNames = (got: readonly TextResponsePdu[]): string[] =>
  keysOf(got)
    .filter(([k]) => k === 'TargetName')
    .map(([, v]) => v);

const encoder = new TextEncoder();

/** Text and SendTargets cases. */
export const textCases: readonly ConformCase[] = [
  {
    id: 'text.sendtargets-discovery',
    area: 'text',
    section: 'C',
    strength: 'MUST',
    description:
      '"In a discovery session, a target MUST return all path information ... for the targets ... that the ' +
      'requesting initiator is authorized to access": SendTargets=All lists the target under test.',
    run: (ctx) => sendTargets(ctx, 'Discovery', 'All'),
  },
  {
    id: 'text.sendtargets-continuation',
    area: 'text',
    section: '11.11.4',
    strength: 'MUST',
    description:
      'With MaxRecvDataSegmentLength=512 every Text Response fits in 512 bytes (§13.12), a response with more to ' +
      'come has a TTT other than 0xffffffff and the final one 0xffffffff ("Otherwise, the Target Transfer Tag MUST ' +
      'be set to 0xffffffff").',
    run: (ctx) => sendTargets(ctx, 'Discovery', 'All', 512),
  },
  {
    id: 'text.sendtargets-normal',
    area: 'text',
    section: 'C',
    strength: 'MUST',
    description:
      '"A target MUST support the SendTargets command on operational sessions; these will only return path ' +
      'information about the target to which the session is connected": SendTargets=<its name>.',
    async run(ctx) {
      return sendTargets(ctx, 'Normal', ctx.target.targetName);
    },
  },
  {
    id: 'text.c-and-f',
    area: 'text',
    section: '11.10.2',
    strength: 'SHOULD',
    description:
      '"A Text Request with the C bit set to 1 MUST have the F bit set to 0": a request with both is a protocol ' +
      'error the target should reject (Reject 0x04 or 0x09) rather than answer.',
    async run(ctx) {
      const s = await login(ctx, { sessionType: 'Discovery' });
      if (isVerdict(s)) return s;
      const req = { ...textRequest(s, [['SendTargets', 'All']]), continue: true };
      s.itt++;
      s.probe.send(req);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, () => true);
      const rej = pduOf(ev, 'reject');
      if (rej && (rej.reason === 0x04 || rej.reason === 0x09)) return pass();
      if (ev.kind === 'closed') return pass('connection closed');
      return fail('a Text Request with C=1 F=1 was not rejected', req, ev);
    },
  },
  {
    id: 'text.sendtargets-all-normal',
    area: 'text',
    section: 'C',
    strength: 'SHOULD',
    description:
      '"A target MUST support the SendTargets command on operational sessions; these will only return path ' +
      'information about the target to which the session is connected": SendTargets=All in a Normal session is ' +
      'answered (final Text Response, TTT rules of §11.11.4) and lists the connected target.',
    run: (ctx) => sendTargets(ctx, 'Normal', 'All'),
  },
  {
    id: 'text.sendtargets-unknown-name',
    area: 'text',
    section: 'C',
    strength: 'MUST',
    description:
      '"A SendTargets response MUST NOT contain target names if there are no targets for the requesting ' +
      'initiator to access": SendTargets=<a name no target has> in a Discovery session gets a final Text Response ' +
      'without any TargetName.',
    async run(ctx) {
      const s = await login(ctx, { sessionType: 'Discovery' });
      if (isVerdict(s)) return s;
      const name = 'iqn.2026-11.invalid.iscsi-ts:no-such-target';
      const { got, last } = await textExchange(ctx, s, [['SendTargets', name]]);
      if (got.length === 0 || !got.at(-1)!.final) return fail('no final Text Response', ...s.probe.log.slice(-2), last);
      const names = targetNames(got);
      return names.length === 0 ? pass() : fail(`TargetName ${names.join(', ')} reported for ${name}`, ...got);
    },
  },
  {
    id: 'text.request-continuation',
    area: 'text',
    section: '11.10.2',
    strength: 'MUST',
    description:
      '"SendTargets=All" split over two Text Requests (the first with C=1, F=0): the target answers the first ' +
      'with an empty Text Response with F=0 (§11.11.1: F=1 in answer to F=0 "is a protocol error") and the whole ' +
      'text, sent with its TTT, with the SendTargets answer.',
    async run(ctx) {
      const s = await login(ctx, { sessionType: 'Discovery' });
      if (isVerdict(s)) return s;
      const itt = s.itt++;
      const text = encoder.encode('SendTargets=All\0');
      const first: TextRequestPdu = {
        ...textRequest(s, [], NO_TAG, itt),
        final: false,
        continue: true,
        data: text.subarray(0, 8),
      };
      s.probe.send(first);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.kind === 'reject' || p.initiatorTaskTag === itt);
      const ack = pduOf(ev, 'text-response');
      if (!ack) return fail('no Text Response to a Text Request with C=1', first, ev);
      // §11.11.1: "A Text Response with the F bit set to 1 in response to a Text Request with the F bit set to 0 is
      // a protocol error"; the text is not complete yet, so there is nothing to answer with.
      if (ack.final) return fail('a Text Response with F=1 answered a Text Request with F=0 and C=1', first, ack);
      if (ack.data.length !== 0) return fail('the answer to an incomplete (C=1) request carries text', first, ack);
      const rest: TextRequestPdu = { ...textRequest(s, [], ack.targetTransferTag, itt), data: text.subarray(8) };
      s.probe.send(rest);
      const ev2 = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === itt);
      const answer = pduOf(ev2, 'text-response');
      if (!answer) return fail('no answer to the completed request', rest, ev2);
      const { got, last } = await follow(ctx, s, itt, answer);
      if (!got.at(-1)!.final) return fail('no final Text Response', last);
      const names = targetNames(got);
      return names.includes(ctx.target.targetName)
        ? pass(`${names.length} target(s)`)
        : fail(`TargetName ${ctx.target.targetName} not reported`, rest, ...got);
    },
  },
  {
    id: 'text.ttt-reset',
    area: 'text',
    section: '11.10.4',
    strength: 'MUST',
    description:
      'With MaxRecvDataSegmentLength=512, after the first piece of a long SendTargets answer a new request with ' +
      'the same ITT and TTT 0xffffffff "tells the target that this is a new request, and the target resets any ' +
      'internal state associated with the Initiator Task Tag": the answer starts over and completes.',
    async run(ctx) {
      const s = await login(ctx, { sessionType: 'Discovery', offer: { maxRecvDataSegmentLength: 512 } });
      if (isVerdict(s)) return s;
      const itt = s.itt++;
      const ask = () => {
        const req = textRequest(s, [['SendTargets', 'All']], NO_TAG, itt);
        s.probe.send(req);
        return awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === itt);
      };
      const firstEv = await ask();
      const first = pduOf(firstEv, 'text-response');
      if (!first) return fail('no Text Response', firstEv);
      if (first.final && !first.continue) return notApplicable('the SendTargets answer fits in one 512-byte PDU');
      const againEv = await ask();
      const again = pduOf(againEv, 'text-response');
      if (!again) return fail('no Text Response to the reset request', first, againEv);
      if (Buffer.compare(Buffer.from(again.data), Buffer.from(first.data)) !== 0) {
        return fail('the answer to the reset request does not start over', first, again);
      }
      const { got, last } = await follow(ctx, s, itt, again);
      if (!got.at(-1)!.final) return fail('no final Text Response after the reset', last);
      return targetNames(got).includes(ctx.target.targetName)
        ? pass(`${got.length} PDUs after the reset`)
        : fail(`TargetName ${ctx.target.targetName} not reported`, ...got);
    },
  },
];
