/**
 * `iscsi-ts conform <url|portal>`: runs the RFC 7143 conformance cases against a target and reports the verdicts
 * on the terminal, as JUnit XML and JSON, with a pcap of each failing case.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  builtinCases,
  type ConformTarget,
  formatSummary,
  InvalidArgumentError,
  runConformance,
  toJson,
  toJunitXml,
} from '../index.js';
import type { Io } from './session-commands.js';
import { resolveTargetArg } from './target-arg.js';

/** Options of `iscsi-ts conform`. */
export interface ConformCliOptions {
  /** Comma-separated areas (`login,negotiation`). */
  readonly suite?: string;
  readonly junit?: string;
  readonly json?: string;
  /** Directory for the pcap of each failing case. */
  readonly out?: string;
  readonly chapFile?: string;
  /** Target name when a portal is given (default: the first target SendTargets reports). */
  readonly target?: string;
  readonly initiatorName?: string;
  /** Per-case time limit in ms. */
  readonly caseTimeout?: number;
}

/** Exit codes: 0 every case passed or did not apply, 1 a usage or connection error, 2 at least one case failed. */
export const ConformExit = { Ok: 0, Error: 1, Failures: 2 } as const;

/** Runs the conformance suite; returns the exit code. */
export async function runConform(where: string, o: ConformCliOptions, io: Io): Promise<number> {
  const { portal, targetName, lun, chap } = await resolveTargetArg(where, o, io);
  const areas = o.suite
    ?.split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const known = new Set(builtinCases.map((c) => c.area));
  for (const a of areas ?? []) {
    if (!known.has(a)) throw new InvalidArgumentError(`unknown suite ${a} (known: ${[...known].join(', ')})`);
  }
  const target: ConformTarget = {
    portal,
    targetName,
    ...(lun !== undefined ? { lun } : {}),
    ...(o.initiatorName ? { initiatorName: o.initiatorName } : {}),
    ...(chap ? { chap } : {}),
  };
  const report = await runConformance(target, builtinCases, {
    ...(areas ? { areas } : {}),
    ...(o.caseTimeout ? { caseTimeoutMs: o.caseTimeout } : {}),
  });
  for (const line of formatSummary(report)) io.out(line);
  if (o.junit) writeFileSync(o.junit, toJunitXml(report));
  if (o.json) writeFileSync(o.json, `${toJson(report)}\n`);
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    for (const r of report.results) {
      if (r.pcap) writeFileSync(join(o.out, `${r.id}.pcap`), r.pcap);
    }
  }
  return report.results.some((r) => r.verdict.status === 'fail') ? ConformExit.Failures : ConformExit.Ok;
}
