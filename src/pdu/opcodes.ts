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
  0: 'NOP-Out',
  1: 'SCSI Command',
  2: 'Task Management Function Request',
  3: 'Login Request',
  4: 'Text Request',
  5: 'SCSI Data-Out',
  6: 'Logout Request',
  16: 'SNACK Request',
  32: 'NOP-In',
  33: 'SCSI Response',
  34: 'Task Management Function Response',
  35: 'Login Response',
  36: 'Text Response',
  37: 'SCSI Data-In',
  38: 'Logout Response',
  49: 'Ready To Transfer (R2T)',
  50: 'Asynchronous Message',
  63: 'Reject',
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
