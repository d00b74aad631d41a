/**
 * TextResponder (RFC 7143 §11.10, §11.11): one-piece answers, long answers pulled with the Target Transfer Tag,
 * continued requests acknowledged and reassembled, a new request abandoning an unfinished answer, and refuseKey.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeText, encodeText, type TextPair } from '../../src/pdu/text.js';
import type { TextRequestPdu } from '../../src/pdu/types.js';
import { refuseKey, TextResponder } from '../../src/target/text-responder.js';

const RESERVED = 0xffffffff;
const REPEATABLE = { repeatableKeys: ['TargetName', 'TargetAddress'] };

function request(fields: Partial<TextRequestPdu> = {}): TextRequestPdu {
  return {
    kind: 'text-request',
    immediate: true,
    final: true,
    continue: false,
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: RESERVED,
    cmdSN: 0,
    expStatSN: 0,
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

function responder(answer: TextPair[], maxSegment = 8192) {
  let tag = 10;
  const asked: (readonly TextPair[])[] = [];
  const r = new TextResponder(
    (keys) => {
      asked.push(keys);
      return answer;
    },
    maxSegment,
    () => tag++,
  );
  return { r, asked };
}

describe('TextResponder', () => {
  it('answers a short request in one final response', () => {
    const { r, asked } = responder([['TargetName', 'iqn.x']]);
    const rsp = r.respond(request({ data: encodeText([['SendTargets', 'All']]) }));
    expect(rsp).toMatchObject({ final: true, continue: false, targetTransferTag: RESERVED, initiatorTaskTag: 1 });
    expect(decodeText(rsp.data)).toEqual([['TargetName', 'iqn.x']]);
    expect(asked).toEqual([[['SendTargets', 'All']]]);
  });

  it('answers with an empty final response when there is nothing to say', () => {
    const { r } = responder([]);
    expect(r.respond(request({ data: encodeText([['SendTargets', 'All']]) }))).toMatchObject({
      final: true,
      data: new Uint8Array(0),
    });
  });

  it('splits a long answer into pieces pulled with the TTT (property over sizes)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 64, max: 2048 }), (count, maxSegment) => {
        const answer: TextPair[] = [];
        for (let i = 0; i < count; i++) answer.push(['TargetName', `iqn.2024-01.example:target-${i}`]);
        const { r } = responder(answer, maxSegment);
        let rsp = r.respond(request({ data: encodeText([['SendTargets', 'All']]) }));
        const pieces = [rsp.data];
        const ttt = rsp.targetTransferTag;
        for (let i = 0; i < 1000 && !rsp.final; i++) {
          expect(rsp.continue).toBe(true);
          expect(rsp.targetTransferTag).toBe(ttt);
          rsp = r.respond(request({ targetTransferTag: ttt }));
          pieces.push(rsp.data);
        }
        expect(rsp).toMatchObject({ final: true, continue: false, targetTransferTag: RESERVED });
        for (const p of pieces) expect(p.length).toBeLessThanOrEqual(maxSegment);
        expect(decodeText(Buffer.concat(pieces), REPEATABLE)).toEqual(answer);
      }),
      { numRuns: 100 },
    );
  });

  it('acknowledges continued request pieces and answers once the text is complete', () => {
    const { r, asked } = responder([['TargetName', 'iqn.x']]);
    const text = encodeText([['SendTargets', 'All']]);
    const ack = r.respond(request({ final: false, continue: true, data: text.subarray(0, 4) }));
    expect(ack).toMatchObject({ final: false, continue: false, data: new Uint8Array(0) });
    expect(ack.targetTransferTag).not.toBe(RESERVED);
    expect(asked).toEqual([]);
    const rsp = r.respond(request({ targetTransferTag: ack.targetTransferTag, data: text.subarray(4) }));
    expect(rsp.final).toBe(true);
    expect(asked).toEqual([[['SendTargets', 'All']]]);
  });

  it('a new request abandons an unfinished answer', () => {
    const answer: TextPair[] = [];
    for (let i = 0; i < 30; i++) answer.push(['TargetName', `iqn.2024-01.example:t${i}`]);
    const { r, asked } = responder(answer, 128);
    const first = r.respond(request({ data: encodeText([['SendTargets', 'All']]) }));
    expect(first.final).toBe(false);
    const again = r.respond(request({ initiatorTaskTag: 2, data: encodeText([['SendTargets', 'All']]) }));
    expect(asked).toHaveLength(2);
    expect(again.data).toEqual(first.data);
    // The old TTT no longer pulls anything: it is a new (empty) request now.
    expect(r.respond(request({ targetTransferTag: first.targetTransferTag })).targetTransferTag).not.toBe(
      first.targetTransferTag,
    );
  });

  it('throws a ProtocolError for malformed text and recovers for the next request', () => {
    const { r } = responder([['TargetName', 'iqn.x']]);
    expect(() => r.respond(request({ data: Uint8Array.from([0x41, 0]) }))).toThrow();
    expect(r.respond(request({ data: encodeText([['SendTargets', 'All']]) })).final).toBe(true);
  });

  it('refuses keys it knows with Reject and unknown keys with NotUnderstood', () => {
    expect(refuseKey('MaxBurstLength')).toEqual(['MaxBurstLength', 'Reject']);
    expect(refuseKey('X-com.example.Foo')).toEqual(['X-com.example.Foo', 'NotUnderstood']);
  });
});
