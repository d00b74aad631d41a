/**
 * The 18 RFC 7143 opcodes (§11.2.1.2), their names and the direction each travels.
 * @module
 */

/** Opcode values as they appear in the low six bits of BHS byte 0. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  Snack: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2t: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;

/** One of the {@link Opcode} values. */
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** RFC 7143 names, for logs and `iscsi-ts decode`. */
export const opcodeNames: Readonly<Record<OpcodeValue, string>> = {
  0x00: 'NOP-Out',
  0x01: 'SCSI Command',
  0x02: 'Task Management Function Request',
  0x03: 'Login Request',
  0x04: 'Text Request',
  0x05: 'SCSI Data-Out',
  0x06: 'Logout Request',
  0x10: 'SNACK Request',
  0x20: 'NOP-In',
  0x21: 'SCSI Response',
  0x22: 'Task Management Function Response',
  0x23: 'Login Response',
  0x24: 'Text Response',
  0x25: 'SCSI Data-In',
  0x26: 'Logout Response',
  0x31: 'Ready To Transfer (R2T)',
  0x32: 'Asynchronous Message',
  0x3f: 'Reject',
};

/** True for the 18 defined opcodes. */
export function isOpcode(value: number): value is OpcodeValue {
  return Object.hasOwn(opcodeNames, value);
}

/** Who sends a PDU: RFC 7143 §11.2.1.2 puts initiator opcodes in 0x00-0x1f and target opcodes in 0x20-0x3f. */
export type Sender = 'initiator' | 'target';

/** The side that sends PDUs with this opcode. */
export function senderOf(opcode: number): Sender {
  return opcode & 0x20 ? 'target' : 'initiator';
}
