/**
 * Parser for the console output of libiscsi's `iscsi-test-cu` (CUnit 2.1 basic mode) and for the results file the
 * repository keeps (docs/target-iscsi-test-cu.md). Facts the parser relies on, seen with libiscsi 1.19:
 *
 * - `Suite: <name>` starts a suite; `  Test: <name> ...` starts a test block, which ends at the next Test or Suite
 *   line or at `Run Summary:`.
 * - CUnit prints the result as `passed` or `FAILED` at the start of a line or right after the `...` of the Test
 *   line; messages such as `    [FAILED] RESERVE6 command: …` are libiscsi's own log lines and do not fail the test
 *   (a test with such lines can still end `passed`).
 * - CUnit counts a skipped test as passed; libiscsi prints `[SKIPPED]` in the block of a skipped test.
 * - A test block without a result means the process died during that test.
 * @module
 */

/** What happened to one test. */
export type CunitOutcome = 'passed' | 'failed' | 'skipped';

/** One test of the run. */
export interface CunitTestResult {
  readonly suite: string;
  readonly test: string;
  /** `Suite.Test`, the name used in the results file (`iscsi-test-cu -t ALL.<Suite>.<Test>` runs it alone). */
  readonly name: string;
  readonly outcome: CunitOutcome;
  /** The block's lines after the Test line (messages, assertion lines), trimmed. */
  readonly lines: readonly string[];
}

/** The `tests` row of CUnit's Run Summary table. */
export interface CunitSummary {
  readonly total: number;
  readonly ran: number;
  readonly passed: number;
  readonly failed: number;
  readonly inactive: number;
}

/** A parsed run. */
export interface CunitRun {
  /** Tests that printed a result, in output order. */
  readonly tests: readonly CunitTestResult[];
  /** `Suite.Test` of a test block that has no result (the process died there), if any. */
  readonly unfinished: string | undefined;
  /** The Run Summary's test counts, when the run got that far. */
  readonly summary: CunitSummary | undefined;
}

/** Counts of a run by outcome. */
export interface CunitCounts {
  readonly total: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

const SUITE_LINE = /^Suite: (.+?)\s*$/u;
const TEST_LINE = /^ {2}Test: (.+?) \.\.\.(.*)$/u;
const RESULT_AT_START = /^(passed|FAILED)\b/u;
const SUMMARY_TESTS = /^\s*tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/u;

interface OpenBlock {
  suite: string;
  test: string;
  result: 'passed' | 'FAILED' | undefined;
  lines: string[];
}

/**
 * Parses `iscsi-test-cu` console output (stdout; `\r` is treated as a line break).
 * @param text - the captured output
 */
export function parseCunitOutput(text: string): CunitRun {
  const tests: CunitTestResult[] = [];
  let suite = '';
  let open: OpenBlock | undefined;
  let unfinished: string | undefined;
  let summary: CunitSummary | undefined;
  let inSummary = false;

  const close = (): void => {
    if (!open) return;
    const name = `${open.suite}.${open.test}`;
    if (open.result === undefined) {
      unfinished ??= name;
    } else {
      const skipped = open.lines.some((l) => l.includes('[SKIPPED]'));
      const outcome: CunitOutcome = open.result === 'FAILED' ? 'failed' : skipped ? 'skipped' : 'passed';
      tests.push({ suite: open.suite, test: open.test, name, outcome, lines: open.lines });
    }
    open = undefined;
  };

  for (const raw of text.replace(/\r\n?/gu, '\n').split('\n')) {
    if (inSummary) {
      const m = SUMMARY_TESTS.exec(raw);
      if (m) {
        summary = { total: +m[1]!, ran: +m[2]!, passed: +m[3]!, failed: +m[4]!, inactive: +m[5]! };
        inSummary = false;
      }
      continue;
    }
    if (raw.startsWith('Run Summary:')) {
      close();
      inSummary = true;
      continue;
    }
    const suiteMatch = SUITE_LINE.exec(raw);
    if (suiteMatch) {
      close();
      suite = suiteMatch[1]!;
      continue;
    }
    const testMatch = TEST_LINE.exec(raw);
    if (testMatch) {
      close();
      open = { suite, test: testMatch[1]!, result: undefined, lines: [] };
      // `  Test: X ...passed` (no messages) or `  Test: X ...    [SKIPPED] …` (a message follows on this line).
      const rest = testMatch[2]!;
      const inline = RESULT_AT_START.exec(rest);
      if (inline) open.result = inline[1] as 'passed' | 'FAILED';
      else if (rest.trim().length > 0) open.lines.push(rest.trim());
      continue;
    }
    if (!open) continue;
    if (open.result === undefined) {
      const result = RESULT_AT_START.exec(raw);
      if (result) {
        open.result = result[1] as 'passed' | 'FAILED';
        const after = raw.slice(result[0].length).trim();
        if (after.length > 0) open.lines.push(after);
        continue;
      }
    }
    if (raw.trim().length > 0) open.lines.push(raw.trim());
  }
  close();
  return { tests, unfinished, summary };
}

/** Counts the tests of `run` by outcome (skipped ones apart, unlike CUnit's own summary). */
export function countOutcomes(run: CunitRun): CunitCounts {
  const count = (o: CunitOutcome): number => run.tests.filter((t) => t.outcome === o).length;
  return { total: run.tests.length, passed: count('passed'), failed: count('failed'), skipped: count('skipped') };
}

/**
 * The expected failures listed in the results file: the first column (a backquoted `Suite.Test`) of the table
 * rows under the heading `## Expected failures`, up to the next `## ` heading.
 * @param markdown - text of docs/target-iscsi-test-cu.md
 */
export function parseExpectedFailures(markdown: string): string[] {
  const names: string[] = [];
  let inSection = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) {
      inSection = /^## Expected failures\b/iu.test(line);
      continue;
    }
    if (!inSection) continue;
    const m = /^\|\s*`([A-Za-z0-9_]+\.[A-Za-z0-9_]+)`\s*\|/u.exec(line);
    if (m) names.push(m[1]!);
  }
  return names;
}
