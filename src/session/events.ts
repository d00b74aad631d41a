/**
 * Structured events and the logger they go to. The logger interface is pino's (`logger.info(obj, msg)`), so a
 * pino instance can be passed as is; the default logger discards everything. Events never carry secrets: text
 * keys are redacted with the same rule as traces (CHAP challenges and responses).
 * @module
 */
import { redactTextPair, type TextPair } from '../pdu/text.js';

/** A pino-compatible logger: each method takes a structured object and an optional message. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The logger used when none is given: silent. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** Text keys as they may appear in logs: CHAP challenges and responses redacted. */
export function loggableKeys(pairs: readonly TextPair[]): string[] {
  return pairs.map((p) => {
    const [k, v] = redactTextPair(p);
    return `${k}=${v}`;
  });
}

/** The structured events of a login and a session, as passed to the logger (the `event` field names them). */
export type SessionEvent =
  | { readonly event: 'connect'; readonly portal: string; readonly ms: number }
  | {
      readonly event: 'login-stage';
      /** CSG of the exchange: 0 security, 1 operational. */
      readonly stage: number;
      /** Keys the target sent, then the keys we answered or offered, redacted. */
      readonly received: readonly string[];
      readonly sent: readonly string[];
    }
  | { readonly event: 'chap-compat'; readonly chosen: number; readonly status: string }
  /** A CHAP configuration warning (short secret, MD5 left out of the offer…); never contains a secret. */
  | { readonly event: 'chap-warning'; readonly message: string }
  | { readonly event: 'redirect'; readonly from: string; readonly to: string; readonly permanent: boolean }
  | {
      readonly event: 'login';
      readonly portal: string;
      readonly target: string | undefined;
      readonly tsih: number;
      /** CHAP_A used, when CHAP ran. */
      readonly chapAlgorithm: number | undefined;
      readonly ms: number;
    }
  | { readonly event: 'login-failed'; readonly portal: string; readonly code: string; readonly message: string }
  /** A SCSI command the target completed (debug level): latency from `execute` and from sending, data bytes. */
  | {
      readonly event: 'command';
      readonly itt: number;
      readonly cmdSN: number;
      /** CDB byte 0 (the SCSI operation code). */
      readonly op: number;
      readonly lun: string;
      readonly response: number;
      readonly status: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      /** Milliseconds from `execute` to the result, and from sending the command. */
      readonly ms: number;
      readonly wireMs: number;
    }
  /** A SCSI command that ended without a result (timeout, abort, protocol error, connection loss). */
  | {
      readonly event: 'command-failed';
      readonly itt: number | undefined;
      readonly op: number;
      readonly code: string;
      readonly message: string;
      readonly ms: number;
    }
  /** A target NOP-In; `answered` when it asked for a NOP-Out (TTT not 0xffffffff). */
  | { readonly event: 'nop-in'; readonly ttt: number; readonly answered: boolean }
  /** A Reject (§11.17) and the opcode and ITT of the PDU it rejected. */
  | { readonly event: 'reject'; readonly reason: number; readonly opcode: number; readonly itt: number }
  /**
   * An Asynchronous Message (§11.9): `name` of the AsyncEvent, the LUN, the parameters that matter for it, and for
   * a SCSI event the sense key / ASC / ASCQ of its sense data (or why it did not parse).
   */
  | {
      readonly event: 'async-message';
      readonly asyncEvent: number;
      readonly asyncVCode: number;
      readonly name?: string;
      readonly lun?: string;
      readonly parameter1?: number;
      readonly parameter2?: number;
      readonly parameter3?: number;
      readonly senseKey?: number;
      readonly asc?: number;
      readonly ascq?: number;
      readonly senseError?: string;
    }
  /** A Task Management Function and the target's response code (§11.6.1), or the error it ended with. */
  | {
      readonly event: 'tmf';
      readonly function: number;
      readonly lun: string;
      readonly referencedTaskTag: number;
      readonly response: number | undefined;
      /** Commands failed with TaskAbortedError because of it. */
      readonly aborted: number;
      readonly ms: number;
      readonly code?: string;
    }
  /** A NOP-Out ping answered by its NOP-In. */
  | { readonly event: 'ping'; readonly ms: number }
  /** A PDU the session could not route (unknown ITT, or a kind it does not handle yet); it was dropped. */
  | { readonly event: 'unexpected-pdu'; readonly kind: string; readonly itt: number }
  | { readonly event: 'logout'; readonly ms: number; readonly time2Wait: number; readonly time2Retain: number }
  | { readonly event: 'session-closed'; readonly code: string; readonly message: string }
  /**
   * ERL 0 session recovery (recovery.ts): an `attempt` after `delayMs` of backoff, its `failure` (error code and
   * message) or `success` (the new TSIH, commands re-issued), and `gave-up` when the attempts are spent. `ms` is
   * the time since the connection failure was noticed.
   */
  | {
      readonly event: 'reconnect';
      readonly phase: 'attempt' | 'success' | 'failure' | 'gave-up';
      readonly attempt: number;
      readonly ms: number;
      readonly delayMs?: number;
      readonly tsih?: number;
      readonly retried?: number;
      readonly code?: string;
      readonly message?: string;
    };

/** Sends one event to the logger at `level`. */
export function emit(logger: Logger, level: keyof Logger, event: SessionEvent, msg: string): void {
  logger[level](event, msg);
}
