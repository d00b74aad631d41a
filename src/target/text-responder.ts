/**
 * Text Requests in the Full Feature Phase, from the target's side (RFC 7143 §11.10, §11.11): SendTargets
 * (§12.3, Appendix C) and keys it does not negotiate after login, with continuation both ways — requests with C=1
 * are acknowledged and reassembled (bounded), long answers go out in pieces the initiator pulls with the Target
 * Transfer Tag (§11.10.4).
 * @module
 */
import { encodeText, splitText, type TextPair, TextReassembler } from '../pdu/text.js';
import type { TextRequestPdu, TextResponsePdu } from '../pdu/types.js';
import { keyDefinition } from '../session/keys.js';

const EMPTY = new Uint8Array(0);
const RESERVED_TAG = 0xffffffff;

/** The Text Response fields the session fills in: sequence numbers. */
export type TextAnswer = Omit<TextResponsePdu, 'statSN' | 'expCmdSN' | 'maxCmdSN'>;

/** Answers Text Requests for one session; see the module documentation. */
export class TextResponder {
  readonly #answer: (keys: readonly TextPair[]) => TextPair[];
  readonly #maxSegment: number;
  readonly #allocateTag: () => number;
  readonly #incoming = new TextReassembler({ repeatableKeys: [] });
  #pending: { ttt: number; itt: number; pieces: Uint8Array[] } | undefined;

  /**
   * @param answer the pairs answering a complete request
   * @param maxSegment the initiator's MaxRecvDataSegmentLength
   */
  constructor(answer: (keys: readonly TextPair[]) => TextPair[], maxSegment: number, allocateTag: () => number) {
    this.#answer = answer;
    this.#maxSegment = maxSegment;
    this.#allocateTag = allocateTag;
  }

  /** The response to one Text Request. Throws ProtocolError for malformed or oversized text. */
  respond(req: TextRequestPdu): TextAnswer {
    const base = { kind: 'text-response' as const, lun: req.lun, initiatorTaskTag: req.initiatorTaskTag, ahs: [] };
    const pending = this.#pending;
    // An empty request carrying our TTT pulls the next piece of a long answer (§11.10.4).
    if (pending && req.targetTransferTag === pending.ttt && req.initiatorTaskTag === pending.itt) {
      const piece = pending.pieces.shift() ?? EMPTY;
      const last = pending.pieces.length === 0;
      if (last) this.#pending = undefined;
      return {
        ...base,
        final: last,
        continue: !last,
        targetTransferTag: last ? RESERVED_TAG : pending.ttt,
        data: piece,
      };
    }
    // A new request (TTT 0xffffffff) abandons an unfinished answer (§11.10.4: it resets the exchange).
    this.#pending = undefined;
    const keys = this.#incoming.push(req.data, req.continue);
    if (keys === undefined) {
      // §11.10.2: a request with C=1 gets an empty answer with F=0 until the text is complete.
      return { ...base, final: false, continue: false, targetTransferTag: this.#allocateTag(), data: EMPTY };
    }
    const pieces = splitText(encodeText(this.#answer(keys)), this.#maxSegment);
    const first = pieces.shift() ?? EMPTY;
    if (pieces.length === 0) {
      return { ...base, final: true, continue: false, targetTransferTag: RESERVED_TAG, data: first };
    }
    const ttt = this.#allocateTag();
    this.#pending = { ttt, itt: req.initiatorTaskTag, pieces };
    return { ...base, final: false, continue: true, targetTransferTag: ttt, data: first };
  }
}

/**
 * The answer to keys other than SendTargets in the Full Feature Phase: this target renegotiates nothing after
 * login, so a key it knows is refused with `Reject` and one it does not with `NotUnderstood` (§6.2, §6.6).
 */
export function refuseKey(key: string): TextPair {
  return [key, keyDefinition(key) ? 'Reject' : 'NotUnderstood'];
}
