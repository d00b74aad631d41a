/**
 * The typed error of the kernel hand-off module.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';

/** What went wrong, for callers that branch on it. */
export type KernelErrorReason =
  /** The bytes end before a header, the struct or the trailing data they announce. */
  | 'truncated'
  /** A length field contradicts the datagram or another length (nlmsg_len, SET_PARAM len, SEND_PDU sizes). */
  | 'length'
  /** `ev.type` (or nlmsg_type) is not a code this codec knows. */
  | 'unknown-type'
  /** A field holds a value the protocol does not allow (a value without its NUL, bad UTF-8, a bad sockaddr). */
  | 'field'
  /** A request to encode has an argument out of range. */
  | 'argument'
  /** A sysfs attribute is missing, unreadable or does not parse. */
  | 'sysfs'
  /** The kernel refused a request (KEVENT_IF_ERROR or a negative `retcode`); `errno` says why. */
  | 'request'
  /** Kernel iSCSI cannot be used here: no NETLINK_ISCSI, no koffi, a module or modprobe missing. */
  | 'unavailable'
  /** Missing CAP_SYS_ADMIN / CAP_NET_ADMIN (EPERM), or not in the initial network namespace. */
  | 'privilege'
  /** A system call on the netlink socket or the TCP socket failed; `errno` says why. */
  | 'syscall'
  /** The kernel did not answer, or a device did not appear, in time. */
  | 'timeout'
  /** The logged-in connection cannot be handed to the kernel (bytes already read past the login, not TCP). */
  | 'handoff';

/** Optional details of a {@link KernelError}. */
export interface KernelErrorDetails {
  /** Byte offset in the datagram, when the error is about bytes. */
  readonly offset?: number;
  /** The ISCSI_UEVENT_* / ISCSI_KEVENT_* code of the message, when it was read. */
  readonly messageType?: number;
  /** A positive errno, when the kernel or the file system gave one. */
  readonly errno?: number;
  readonly cause?: unknown;
}

/**
 * A NETLINK_ISCSI message that does not decode, a request that cannot be encoded, or a kernel iSCSI sysfs tree that
 * cannot be read. Messages name fields, offsets and numbers, never parameter values (they may be CHAP secrets).
 */
export class KernelError extends IscsiError {
  override name = 'KernelError';
  readonly reason: KernelErrorReason;
  readonly offset: number | undefined;
  readonly messageType: number | undefined;
  readonly errno: number | undefined;

  constructor(reason: KernelErrorReason, message: string, details: KernelErrorDetails = {}) {
    super(
      ErrorCode.Kernel,
      details.offset === undefined ? message : `${message} (at byte ${details.offset})`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.reason = reason;
    this.offset = details.offset;
    this.messageType = details.messageType;
    this.errno = details.errno;
  }
}
