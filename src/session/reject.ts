/**
 * Reading a Reject (RFC 7143 §11.17): which PDU of ours it refers to and why, as a typed error.
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import { isOpcode, opcodeNames } from '../pdu/opcodes.js';
import type { RejectPdu } from '../pdu/types.js';
import { RESERVED_TAG } from './data-out.js';

/** Reject reasons (§11.17.1). */
export const REJECT_REASONS: Readonly<Record<number, string>> = Object.freeze({
  2: 'data digest error',
  3: 'SNACK reject',
  4: 'protocol error',
  5: 'command not supported',
  6: 'immediate command reject',
  7: 'task in progress',
  8: 'invalid data ack',
  9: 'invalid PDU field',
  10: 'long operation reject',
  11: 'negotiation reset',
  12: 'waiting for logout',
});

/** What a Reject refers to. */
export interface RejectedPdu {
  /** Opcode of the rejected PDU, or -1 when the Reject does not carry its header. */
  readonly opcode: number;
  /** ITT of the rejected PDU, or 0xffffffff when unknown. */
  readonly initiatorTaskTag: number;
  /** The error to fail the affected operation with (ProtocolError, `got` = the reason code). */
  readonly error: ProtocolError;
}

/** Reads the rejected PDU's header from a Reject's data segment (§11.17: the complete header, 48 bytes). */
export function readReject(pdu: RejectPdu): RejectedPdu {
  const header = pdu.data;
  const whole = header.length >= 48;
  const opcode = whole ? header[0]! & 0x3f : -1;
  const initiatorTaskTag = whole ? new DataView(header.buffer, header.byteOffset, 48).getUint32(16) : RESERVED_TAG;
  const name = isOpcode(opcode) ? opcodeNames[opcode] : 'PDU';
  const why = REJECT_REASONS[pdu.reason] ?? 'reserved reason';
  const error = new ProtocolError(
    ErrorCode.PduField,
    `the target rejected a ${name} (reason 0x${pdu.reason.toString(16).padStart(2, '0')}: ${why})`,
    { opcode, got: pdu.reason },
  );
  return { opcode, initiatorTaskTag, error };
}
