/**
 * Reporters of a conformance run: a readable terminal summary and JSON. JUnit XML is in `junit.ts`.
 * @module
 */
import { byArea, type ConformReport, totals } from './runner.js';

const pad = (s: string | number, n: number) => String(s).padStart(n);

/** The terminal summary: one line per area with counts, then each failure with its RFC section and evidence. */
export function formatSummary(report: ConformReport): string[] {
  const lines = [`iSCSI conformance: ${report.target} (${report.results.length} cases, ${report.durationMs} ms)`, ''];
  lines.push(`${'area'.padEnd(12)} ${pad('pass', 5)} ${pad('fail', 5)} ${pad('n/a', 5)} ${pad('skip', 5)}`);
  for (const [area, results] of byArea(report.results)) {
    const t = totals(results);
    lines.push(
      `${area.padEnd(12)} ${pad(t.pass, 5)} ${pad(t.fail, 5)} ${pad(t['not-applicable'], 5)} ${pad(t.skipped, 5)}`,
    );
  }
  const t = totals(report.results);
  lines.push(
    `${'total'.padEnd(12)} ${pad(t.pass, 5)} ${pad(t.fail, 5)} ${pad(t['not-applicable'], 5)} ${pad(t.skipped, 5)}`,
  );
  const failures = report.results.filter((r) => r.verdict.status === 'fail');
  if (failures.length > 0) lines.push('', 'Failures:');
  for (const r of failures) {
    if (r.verdict.status !== 'fail') continue;
    lines.push(`  ${r.id} [RFC 7143 §${r.section} ${r.strength}] ${r.verdict.message}`);
    for (const e of r.verdict.evidence) lines.push(`      ${e.direction === 'initiator' ? '>' : '<'} ${e.summary}`);
  }
  const skipped = report.results.filter((r) => r.verdict.status === 'skipped');
  if (skipped.length > 0) lines.push('', 'Skipped:');
  for (const r of skipped) if (r.verdict.status === 'skipped') lines.push(`  ${r.id}: ${r.verdict.reason}`);
  return lines;
}

/** The run as JSON: target, totals, and every case with its verdict (pcaps left out). */
export function toJson(report: ConformReport): string {
  return JSON.stringify(
    {
      target: report.target,
      startedAt: report.startedAt,
      durationMs: report.durationMs,
      totals: totals(report.results),
      results: report.results.map(({ pcap: _pcap, ...r }) => r),
    },
    null,
    2,
  );
}
