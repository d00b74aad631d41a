/**
 * Error classes. Every error thrown by iscsi-ts is an {@link IscsiError} with a stable `code`;
 * the full table is in docs/errors.md and is checked by test/errors.test.ts.
 * Messages never contain secrets (CHAP secrets, responses) or raw data segments.
 * @module
 */

/** Stable error codes. */
export const ErrorCode = {
  /** The input ends before the PDU (BHS, AHS, data segment, padding or digest) does. */
  PduTruncated: 'ERR_ISCSI_PDU_TRUNCATED',
  /** The opcode is not one of the 18 RFC 7143 opcodes. */
  PduOpcode: 'ERR_ISCSI_PDU_OPCODE',
  /** A reserved bit is set or a fixed bit is clear (strict mode). */
  PduReserved: 'ERR_ISCSI_PDU_RESERVED',
  /** A field holds a value RFC 7143 forbids for this PDU. */
  PduField: 'ERR_ISCSI_PDU_FIELD',
  /** An initiator opcode arrived from the target, or the reverse. */
  PduDirection: 'ERR_ISCSI_PDU_DIRECTION',
  /** DataSegmentLength (or TotalAHSLength) is above the negotiated or hard limit. */
  PduTooLarge: 'ERR_ISCSI_PDU_TOO_LARGE',
  /** An Additional Header Segment is malformed. */
  PduAhs: 'ERR_ISCSI_PDU_AHS',
  /** A header or data digest does not match (see {@link DigestError}). */
  Digest: 'ERR_ISCSI_DIGEST',
  /** Login/Text data is not a well-formed sequence of key=value pairs. */
  TextSyntax: 'ERR_ISCSI_TEXT_SYNTAX',
  /** A key name or value is longer than RFC 7143 §6.1 allows. */
  TextLimit: 'ERR_ISCSI_TEXT_LIMIT',
  /** The same key appears twice in one negotiation sequence. */
  TextDuplicate: 'ERR_ISCSI_TEXT_DUPLICATE',
  /** A value does not parse as the type it was read as. */
  TextValue: 'ERR_ISCSI_TEXT_VALUE',
  /** Continued Login/Text PDUs exceed the reassembly bound. */
  TextOverflow: 'ERR_ISCSI_TEXT_OVERFLOW',
  /** A capture file (pcap/pcapng) cannot be read. */
  Capture: 'ERR_ISCSI_CAPTURE',
  /** An API was called with an argument out of range. */
  InvalidArgument: 'ERR_ISCSI_INVALID_ARGUMENT',
  /** CHAP failed: bad response, unsupported algorithm, reflected challenge, weak or reused secret. */
  Auth: 'ERR_ISCSI_AUTH',
  /** A key negotiation broke RFC 7143 §6 / §13 (bad value, unexpected key, answer outside the offer). */
  Negotiation: 'ERR_ISCSI_NEGOTIATION',
  /** The target answered a Login Request with a non-success status (see {@link LoginError}). */
  Login: 'ERR_ISCSI_LOGIN',
  /** A portal, TargetAddress or iscsi:// URL does not parse. */
  Address: 'ERR_ISCSI_ADDRESS',
  /** An operation did not complete in time. */
  Timeout: 'ERR_ISCSI_TIMEOUT',
  /** The operation was aborted through its AbortSignal. */
  Aborted: 'ERR_ISCSI_ABORTED',
  /** The TCP connection failed or closed. */
  Connection: 'ERR_ISCSI_CONNECTION',
  /** An iSCSI Boot Firmware Table (raw ACPI bytes or the kernel's sysfs tree) is malformed (see IbftError). */
  Ibft: 'ERR_ISCSI_IBFT',
  /** A dracut boot argument, udev ID_PATH / by-path name or udev database text is malformed (see BootConfigError). */
  BootConfig: 'ERR_ISCSI_BOOT_CONFIG',
  /** A SCSI command ended with a status other than GOOD or CONDITION MET (see ScsiError in src/scsi). */
  Scsi: 'ERR_ISCSI_SCSI',
  /** A target LUN's backing file could not be opened, sized, read, written or synced (FileBackendError). */
  Storage: 'ERR_ISCSI_STORAGE',
  /** SCSI data (sense, INQUIRY/VPD, READ CAPACITY, REPORT LUNS, MODE SENSE data or a CDB) is malformed. */
  ScsiData: 'ERR_ISCSI_SCSI_DATA',
  /** A NETLINK_ISCSI message is malformed or truncated, or the kernel's iSCSI sysfs tree cannot be read (KernelError). */
  Kernel: 'ERR_ISCSI_KERNEL',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error iscsi-ts throws. */
export class IscsiError extends Error {
  override name = 'IscsiError';
  readonly code: ErrorCodeValue;

  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Details a decoder attaches to a {@link ProtocolError}. */
export interface ProtocolErrorDetails {
  /** Opcode of the PDU being decoded, when known. */
  readonly opcode?: number;
  /** Byte offset in the PDU (or stream) where the problem is. */
  readonly offset?: number;
  /** The offending value. */
  readonly got?: number | string;
  /** The limit or expected value it broke. */
  readonly limit?: number | string;
}

/** Malformed or forbidden protocol input: a PDU, a text segment or a capture. */
export class ProtocolError extends IscsiError {
  override name = 'ProtocolError';
  readonly opcode: number | undefined;
  readonly offset: number | undefined;
  readonly got: number | string | undefined;
  readonly limit: number | string | undefined;

  constructor(code: ErrorCodeValue, message: string, details: ProtocolErrorDetails = {}) {
    super(code, message);
    this.opcode = details.opcode;
    this.offset = details.offset;
    this.got = details.got;
    this.limit = details.limit;
  }
}

/** A CRC32C header or data digest mismatch (RFC 7143 §7.8 decides the recovery). */
export class DigestError extends IscsiError {
  override name = 'DigestError';

  constructor(
    /** Which digest failed. */
    readonly which: 'header' | 'data',
    /** Digest computed over the received bytes. */
    readonly expected: number,
    /** Digest carried by the PDU. */
    readonly actual: number,
    /** Initiator Task Tag of the PDU, when its header could be trusted (data digest errors). */
    readonly itt: number | undefined,
    /** Opcode of the PDU, when its header could be trusted. */
    readonly opcode: number | undefined,
  ) {
    super(
      ErrorCode.Digest,
      `${which} digest mismatch: computed 0x${hex32(expected)}, received 0x${hex32(actual)}` +
        (itt === undefined ? '' : ` (ITT 0x${hex32(itt)})`),
    );
  }
}

/** Invalid argument passed to an iscsi-ts API. */
export class InvalidArgumentError extends IscsiError {
  override name = 'InvalidArgumentError';

  constructor(message: string) {
    super(ErrorCode.InvalidArgument, message);
  }
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** Which side of a CHAP exchange failed. */
export type AuthSide = 'initiator' | 'target';

/**
 * CHAP failure. `side` says whose credentials or behaviour failed: `'target'` when the target's mutual-CHAP
 * response did not verify, `'initiator'` when our own credentials or configuration are at fault.
 */
export class AuthError extends IscsiError {
  override name = 'AuthError';

  constructor(
    message: string,
    readonly side: AuthSide,
  ) {
    super(ErrorCode.Auth, message);
  }
}

/** A key negotiation that broke RFC 7143 §6 or §13. */
export class NegotiationError extends IscsiError {
  override name = 'NegotiationError';

  constructor(
    message: string,
    /** The key concerned. */
    readonly key: string,
  ) {
    super(ErrorCode.Negotiation, message);
  }
}

/** A non-success Login Response (RFC 7143 §11.13.5): Status-Class and Status-Detail with a readable message. */
export class LoginError extends IscsiError {
  override name = 'LoginError';

  constructor(
    message: string,
    readonly statusClass: number,
    readonly statusDetail: number,
  ) {
    super(ErrorCode.Login, message);
  }

  /** Status-Class << 8 | Status-Detail, as tools print it (0x0201). */
  get status(): number {
    return (this.statusClass << 8) | this.statusDetail;
  }
}

/** An operation that ran out of time. */
export class TimeoutError extends IscsiError {
  override name = 'TimeoutError';

  constructor(message: string) {
    super(ErrorCode.Timeout, message);
  }
}

/** A TCP connection that failed, or closed while an operation needed it. */
export class ConnectionError extends IscsiError {
  override name = 'ConnectionError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Connection, message, options);
  }
}
