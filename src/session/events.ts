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
