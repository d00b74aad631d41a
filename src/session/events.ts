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

/** The structured events of a login, as passed to the logger (the `event` field names them). */
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
  | { readonly event: 'login-failed'; readonly portal: string; readonly code: string; readonly message: string };

/** Sends one event to the logger at `level`. */
export function emit(logger: Logger, level: keyof Logger, event: SessionEvent, msg: string): void {
  logger[level](event, msg);
}
