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
];
