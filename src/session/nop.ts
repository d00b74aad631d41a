/**
 * NOP exchanges (RFC 7143 §11.18, §11.19). For now: the answer to a target's ping.
 * @module
 */
import type { NopInPdu, NopOutPdu } from '../pdu/types.js';
import { RESERVED_TAG } from './data-out.js';

const EMPTY = new Uint8Array(0);

/**
 * The NOP-Out that answers a target NOP-In, or undefined when it asks for none (TTT 0xffffffff). §11.18: TTT and
 * LUN are copied, the ITT is 0xffffffff, so the I bit is set and the CmdSN is carried without advancing it.
 */
export function nopOutAnswer(nopIn: NopInPdu, cmdSN: number, expStatSN: number): NopOutPdu | undefined {
  if (nopIn.targetTransferTag === RESERVED_TAG) return undefined;
  return {
    kind: 'nop-out',
    immediate: true,
    lun: nopIn.lun,
    initiatorTaskTag: RESERVED_TAG,
    targetTransferTag: nopIn.targetTransferTag,
    cmdSN,
    expStatSN,
    ahs: [],
    data: EMPTY,
  };
}
