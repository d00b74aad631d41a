/**
 * Structured events of the embedded target, for the same pino-compatible {@link Logger} as the initiator's. The
 * `event` field names them; none carries a secret or a data segment.
 * @module
 */
import type { Logger } from '../session/events.js';

/** The target's events. */
export type TargetEvent =
  | { readonly event: 'listen'; readonly portal: string; readonly tpgt: number }
  | { readonly event: 'connection'; readonly remote: string; readonly portal: string }
  | {
      readonly event: 'login';
      readonly remote: string;
      readonly initiator: string;
      readonly target: string | undefined;
      readonly sessionType: string;
      readonly tsih: number;
      readonly chapAlgorithm: number | undefined;
      readonly mutual: boolean;
      /** The session replaced an older one with the same ISID (RFC 7143 §6.3.5 session reinstatement). */
      readonly reinstated: boolean;
    }
  | { readonly event: 'login-failed'; readonly remote: string; readonly status: number; readonly reason: string }
  /** One SCSI command (debug level): opcode, LUN, status, bytes moved, milliseconds from command to status. */
  | {
      readonly event: 'command';
      readonly tsih: number;
      readonly op: number;
      readonly lun: number;
      readonly status: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      readonly ms: number;
    }
  | {
      readonly event: 'tmf';
      readonly tsih: number;
      readonly function: number;
      readonly response: number;
      readonly aborted: number;
    }
  /** A PDU that broke the protocol; `action` says whether it was rejected or ended the connection. */
  | {
      readonly event: 'protocol-error';
      readonly remote: string;
      readonly action: 'reject' | 'drop' | 'ignore';
      readonly code: string;
      readonly message: string;
    }
  | { readonly event: 'logout'; readonly tsih: number; readonly reason: number }
  | {
      readonly event: 'connection-closed';
      readonly remote: string;
      readonly tsih: number | undefined;
      readonly reason: string;
    }
  | { readonly event: 'stop'; readonly sessions: number; readonly loggedOut: number };

/** Sends one target event to the logger at `level`. */
export function emitTarget(logger: Logger, level: keyof Logger, event: TargetEvent, msg: string): void {
  logger[level](event, msg);
}
