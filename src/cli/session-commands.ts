/**
 * `iscsi-ts discover` and `iscsi-ts login`, their logging (`-v`, `--log-json`), traces (`--trace`) and exit codes.
 * @module
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import {
  AuthError,
  ConnectionError,
  discover,
  type IscsiError,
  IscsiError as IscsiErrorClass,
  LoginError,
  login,
  loginFromFirmware,
  logout,
  NegotiationError,
  type Portal,
  ProtocolError,
  parseIscsiUrl,
  TimeoutError,
} from '../index.js';
import { credentialsFromUrl, gatherCredentials, type PartialCredentials } from './credentials.js';
import { loadIbft } from './ibft.js';
import { makeLogger } from './log.js';

/** Exit codes of the session commands. */
export const ExitCode = {
  Ok: 0,
  Other: 1,
  Network: 3,
  Auth: 4,
  NotFound: 5,
  Protocol: 6,
} as const;

/** Options shared by discover and login. */
export interface SessionCliOptions {
  readonly json?: boolean;
  readonly verbose?: boolean;
  readonly logJson?: boolean;
  readonly trace?: string;
  readonly chapFile?: string;
  readonly chapPrompt?: boolean;
  readonly target?: string;
  readonly initiatorName?: string;
  readonly localAddress?: string;
  readonly timeout?: number;
}

/** Output channels, injectable for tests. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

/** The exit code for an error. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof ConnectionError || err instanceof TimeoutError) return ExitCode.Network;
  if (err instanceof AuthError) return ExitCode.Auth;
  if (err instanceof LoginError) {
    if (err.status === 0x0201 || err.status === 0x0202) return ExitCode.Auth;
    if (err.status === 0x0203 || err.status === 0x0204) return ExitCode.NotFound;
    return ExitCode.Protocol;
  }
  if (err instanceof ProtocolError || err instanceof NegotiationError) return ExitCode.Protocol;
  return ExitCode.Other;
}

/**
 * Login options for a portal or iscsi:// URL and the CLI options: credentials from every source, logger, trace
 * file. `close` closes the trace file.
 */
export async function common(where: string, o: SessionCliOptions, io: Io) {
  let portal: string | Portal = where;
  let targetName = o.target;
  let fromUrl: PartialCredentials | undefined;
  if (where.startsWith('iscsi://')) {
    const url = parseIscsiUrl(where);
    portal = url.portal;
    targetName ??= url.targetName;
    if (url.secretInUrl)
      io.err('warning: a CHAP secret on the command line is visible to other users; prefer --chap-file');
    fromUrl = credentialsFromUrl(url);
  }
  const { credentials, targetCredentials } = await gatherCredentials({
    ...(fromUrl ? { fromUrl } : {}),
    ...(o.chapFile ? { chapFile: o.chapFile } : {}),
    env: io.env,
    ...(o.chapPrompt ? { prompt: true } : {}),
  });
  const logger = makeLogger(o, io.err);
  const fd = o.trace ? openSync(o.trace, 'w', 0o600) : undefined;
  const options = {
    portal,
    ...(targetName ? { targetName } : {}),
    ...(credentials ? { chap: { credentials, ...(targetCredentials ? { targetCredentials } : {}) } } : {}),
    ...(o.initiatorName ? { initiatorName: o.initiatorName } : {}),
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    ...(o.timeout ? { connectTimeoutMs: o.timeout, stepTimeoutMs: o.timeout } : {}),
    ...(logger ? { logger } : {}),
    ...(fd !== undefined ? { trace: (chunk: Uint8Array) => writeSync(fd, chunk) } : {}),
  };
  return { options, close: () => fd !== undefined && closeSync(fd) };
}

/** `iscsi-ts discover <portal|url>`. */
export async function runDiscover(where: string, o: SessionCliOptions, io: Io): Promise<number> {
  const { options, close } = await common(where, o, io);
  try {
    const targets = await discover(options);
    if (o.json) {
      io.out(
        JSON.stringify(
          targets.map((t) => ({
            name: t.name,
            portals: t.portals.map((p) => ({
              address: p.address,
              port: p.port,
              ...(p.tpgt !== undefined ? { tpgt: p.tpgt } : {}),
            })),
          })),
          null,
          2,
        ),
      );
    } else {
      for (const t of targets) {
        io.out(t.name);
        for (const p of t.portals)
          io.out(
            `  ${p.address.includes(':') ? `[${p.address}]` : p.address}:${p.port}${p.tpgt !== undefined ? `,${p.tpgt}` : ''}`,
          );
      }
    }
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  } finally {
    close();
  }
}

/** `iscsi-ts login <url|portal> [--target iqn]`: logs in, prints the negotiated parameters, logs out. */
export async function runLogin(where: string, o: SessionCliOptions, io: Io): Promise<number> {
  const { options, close } = await common(where, o, io);
  try {
    if (!options.targetName) {
      io.err('iscsi-ts: login needs a target: an iscsi://host/iqn/lun URL or --target <iqn>');
      return ExitCode.Other;
    }
    const session = await login(options);
    const summary = {
      target: session.targetName,
      portal: session.portal,
      redirectedFrom: session.redirectedFrom,
      tsih: session.tsih,
      isid: session.isid.toString(16).padStart(12, '0'),
      ...(session.chapAlgorithm !== undefined ? { chapAlgorithm: session.chapAlgorithm } : {}),
      parameters: session.params,
    };
    await logout(session);
    if (o.json) io.out(JSON.stringify(summary, null, 2));
    else {
      io.out(`logged in to ${session.targetName} (TSIH ${session.tsih}), then logged out`);
      for (const [k, v] of Object.entries(session.params)) io.out(`  ${k} = ${String(v)}`);
    }
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  } finally {
    close();
  }
}

/** Prints a typed error on stderr and returns its exit code; anything else is rethrown. */
export function report(err: unknown, io: Io): number {
  if (!(err instanceof IscsiErrorClass)) throw err;
  const e = err as IscsiError;
  io.err(`iscsi-ts: ${e.message} (${e.code})`);
  return exitCodeFor(err);
}

/** `iscsi-ts login --firmware`: logs in to every valid target of the iBFT, reports each, logs out. */
export async function runFirmwareLogin(o: SessionCliOptions & { ibftFile?: string }, io: Io): Promise<number> {
  const table = loadIbft(o.ibftFile, {});
  if (!table) {
    io.err('iscsi-ts: no iSCSI Boot Firmware Table found');
    return ExitCode.Other;
  }
  const logger = makeLogger(o, io.err);
  const outcomes = await loginFromFirmware(table, {
    ...(logger ? { logger } : {}),
    ...(o.timeout ? { connectTimeoutMs: o.timeout, stepTimeoutMs: o.timeout } : {}),
  });
  let code: number = ExitCode.Ok;
  const report: object[] = [];
  for (const outcome of outcomes) {
    const name = outcome.target.name ?? `target ${outcome.target.index}`;
    if (outcome.ok) {
      report.push({ target: name, ok: true, portal: outcome.portal, lun: outcome.lun, tsih: outcome.session.tsih });
      if (!o.json) io.out(`${name}: logged in (TSIH ${outcome.session.tsih}), logging out`);
      await logout(outcome.session);
    } else {
      code = exitCodeFor(outcome.error);
      report.push({ target: name, ok: false, code: outcome.error.code, message: outcome.error.message });
      if (!o.json) io.out(`${name}: ${outcome.error.message} (${outcome.error.code})`);
    }
  }
  if (o.json) io.out(JSON.stringify(report, null, 2));
  return code;
}
