/**
 * The runner and its reporters without a network target: verdict collection, per-case timeouts, thrown errors,
 * pcaps of failing cases only, the terminal summary, JSON shape and well-formed JUnit XML.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toJunitXml, xmlEscape } from '../../src/conform/junit.js';
import { fail, notApplicable, pass, skipped } from '../../src/conform/kit.js';
import { formatSummary, toJson } from '../../src/conform/report.js';
import { runConformance } from '../../src/conform/runner.js';
import type { ConformCase, ConformTarget } from '../../src/conform/types.js';

let server: Server;
let target: ConformTarget;
const sockets = new Set<Socket>();

beforeAll(async () => {
  // A portal that accepts connections and says nothing.
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  target = { portal: { host: '127.0.0.1', port: address.port, family: 4 }, targetName: 'iqn.2026-11.test:x' };
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const make = (id: string, area: string, run: ConformCase['run']): ConformCase => ({
  id,
  area,
  section: '11.18',
  strength: 'MUST',
  description: `case ${id} <with> "markup" & more`,
  run,
});

const cases: ConformCase[] = [
  make('a.pass', 'a', async () => pass()),
  make('a.fail', 'a', async (ctx) => {
    const probe = await ctx.open();
    probe.send({
      kind: 'nop-out',
      immediate: true,
      lun: 0n,
      targetTransferTag: 0xffffffff,
      cmdSN: 0,
      expStatSN: 0,
      initiatorTaskTag: 1,
      ahs: [],
      data: new Uint8Array(0),
    });
    const event = await probe.next(ctx.timeouts.silenceMs);
    return fail('no answer <&>', event, ...probe.log);
  }),
  make('b.na', 'b', async () => notApplicable('not offered')),
  make('b.skip', 'b', async () => skipped('could not log in')),
  make('b.throws', 'b', async () => {
    throw new Error('boom');
  }),
  make('b.hangs', 'b', () => new Promise(() => {})),
];

it('collects verdicts, times out hanging cases and keeps pcaps of failures only', async () => {
  const seen: string[] = [];
  const report = await runConformance(target, cases, {
    caseTimeoutMs: 400,
    timeouts: { silenceMs: 50 },
    onResult: (r) => seen.push(r.id),
  });
  expect(seen).toEqual(cases.map((c) => c.id));
  const status = Object.fromEntries(report.results.map((r) => [r.id, r.verdict.status]));
  expect(status).toEqual({
    'a.pass': 'pass',
    'a.fail': 'fail',
    'b.na': 'not-applicable',
    'b.skip': 'skipped',
    'b.throws': 'fail',
    'b.hangs': 'fail',
  });
  const failed = report.results.find((r) => r.id === 'a.fail')!;
  // pcap global header magic, then the PDUs of the connection.
  expect(Buffer.from(failed.pcap!).readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(report.results.find((r) => r.id === 'a.pass')!.pcap).toBeUndefined();
  if (failed.verdict.status === 'fail') {
    expect(failed.verdict.evidence.map((e) => e.summary)).toContain('no answer (timeout)');
    expect(failed.verdict.evidence.some((e) => e.direction === 'initiator' && e.bhs?.length === 96)).toBe(true);
  }
  const hang = report.results.find((r) => r.id === 'b.hangs')!;
  expect(hang.durationMs).toBeLessThan(2000);

  const summary = formatSummary(report).join('\n');
  expect(summary).toMatch(/^a\s+1\s+1\s+0\s+0$/m);
  expect(summary).toMatch(/^b\s+0\s+2\s+1\s+1$/m);
  expect(summary).toContain('a.fail [RFC 7143 §11.18 MUST] no answer <&>');

  const json = JSON.parse(toJson(report)) as Record<string, unknown> & { results: Record<string, unknown>[] };
  expect(json.totals).toEqual({ pass: 1, fail: 3, 'not-applicable': 1, skipped: 1 });
  expect(json.results).toHaveLength(6);
  expect(Object.keys(json.results[0]!).sort()).toEqual(
    ['area', 'description', 'durationMs', 'id', 'section', 'strength', 'verdict'].sort(),
  );
  expect(JSON.stringify(json)).not.toContain('pcap');

  const xml = toJunitXml(report);
  expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')).toBe(true);
  expect(xml).toContain('<testsuite name="a" tests="2" failures="1"');
  expect(xml).toContain('<testsuite name="b" tests="4" failures="2" errors="0" skipped="2"');
  expect(xml).toContain('message="no answer &lt;&amp;&gt;"');
  expect(xml).toContain('<skipped message="not applicable: not offered"/>');
  expectWellFormed(xml);
});

it('refuses duplicate case ids and filters by area', async () => {
  await expect(runConformance(target, [cases[0]!, cases[0]!])).rejects.toThrow(/twice/);
  const report = await runConformance(target, cases.slice(0, 4), { areas: ['b'] });
  expect(report.results.map((r) => r.id)).toEqual(['b.na', 'b.skip']);
});

it('escapes XML text, dropping characters XML cannot hold', () => {
  expect(xmlEscape('a<b>&"\'\u0001z')).toBe('a&lt;b&gt;&amp;&quot;&apos;z');
});

/** A small XML well-formedness check: balanced tags, quoted attributes, no raw & or < in text. */
function expectWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\n/, '');
  const stack: string[] = [];
  const token =
    /<(\/?)([A-Za-z]+)((?:\s+[A-Za-z]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  let consumed = 0;
  for (let m = token.exec(body); m; m = token.exec(body)) {
    consumed = token.lastIndex;
    const [, close, name, , selfClose, text] = m;
    if (text !== undefined) {
      expect(text).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
      continue;
    }
    if (close) expect(stack.pop()).toBe(name);
    else if (!selfClose) stack.push(name!);
  }
  expect(consumed).toBe(body.length);
  expect(stack).toEqual([]);
}
