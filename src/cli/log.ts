/**
 * The command line's loggers: readable `level message key=value` lines or JSON lines, on stderr.
 * @module
 */
import type { Logger } from '../index.js';

/** Logging flags shared by the commands. */
export interface LogFlags {
  /** JSON lines. */
  readonly logJson?: boolean;
  /** Readable lines, debug level included. */
  readonly verbose?: boolean;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * A logger for `flags`, or undefined when nothing is to be logged. With `always`, readable lines at info level and
 * above are written even without `-v` (a server's normal output); `-v` adds debug.
 */
export function makeLogger(flags: LogFlags, err: (line: string) => void, always = false): Logger | undefined {
  const debug = flags.verbose === true;
  const quiet = () => {};
  if (flags.logJson) {
    const line = (level: string) => (obj: object, msg?: string) =>
      err(JSON.stringify({ level, time: new Date().toISOString(), ...obj, ...(msg ? { msg } : {}) }));
    return logger((level) => (level === 'debug' && !debug && always ? quiet : line(level)));
  }
  if (!debug && !always) return undefined;
  const line = (level: string) => (obj: object, msg?: string) => {
    const fields = Object.entries(obj)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(' ') : String(v)}`)
      .join(' ');
    err(`${level.padEnd(5)} ${msg ?? ''} ${fields}`.trimEnd());
  };
  return logger((level) => (level === 'debug' && !debug ? quiet : line(level)));
}

function logger(make: (level: (typeof LEVELS)[number]) => (obj: object, msg?: string) => void): Logger {
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}
