/**
 * JUnit XML for CI systems: one `<testsuite>` per area, one `<testcase>` per case; a fail verdict is a
 * `<failure>`, not-applicable and skipped are `<skipped>`.
 * @module
 */
import { byArea, type ConformReport, totals } from './runner.js';

/** Escapes text for XML attributes and character data; drops characters XML 1.0 cannot hold. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** The report as a JUnit XML document. */
export function toJunitXml(report: ConformReport): string {
  const all = totals(report.results);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(`iscsi-ts conform ${report.target}`)}" tests="${report.results.length}" ` +
      `failures="${all.fail}" skipped="${all.skipped + all['not-applicable']}" time="${seconds(report.durationMs)}">`,
  ];
  for (const [area, results] of byArea(report.results)) {
    const t = totals(results);
    const time = results.reduce((n, r) => n + r.durationMs, 0);
    out.push(
      `  <testsuite name="${xmlEscape(area)}" tests="${results.length}" failures="${t.fail}" errors="0" ` +
        `skipped="${t.skipped + t['not-applicable']}" time="${seconds(time)}">`,
    );
    for (const r of results) {
      const name = xmlEscape(`${r.id} [§${r.section} ${r.strength}]`);
      const head = `    <testcase classname="${xmlEscape(`conform.${area}`)}" name="${name}" time="${seconds(r.durationMs)}"`;
      const v = r.verdict;
      if (v.status === 'pass') out.push(`${head}/>`);
      else if (v.status === 'fail') {
        const evidence = v.evidence.map((e) => `${e.direction === 'initiator' ? '>' : '<'} ${e.summary}`).join('\n');
        out.push(`${head}>`);
        out.push(
          `      <failure message="${xmlEscape(v.message)}" type="${r.strength}">${xmlEscape(evidence)}</failure>`,
        );
        out.push('    </testcase>');
      } else {
        const label = v.status === 'not-applicable' ? 'not applicable: ' : '';
        out.push(`${head}>`, `      <skipped message="${xmlEscape(label + v.reason)}"/>`, '    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}
