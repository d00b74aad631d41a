/**
 * `iscsi-ts attach` without a kernel: the readable line of every supervisor event, and the argument check. The real
 * run (hand-off, recoveries, logout on SIGTERM) is test/vm/kernel-supervisor.test.ts.
 */
import { expect, it } from 'vitest';
import { formatSupervisorEvent, runAttach } from '../../src/cli/attach.js';
import type { SupervisorEvent } from '../../src/kernel/supervisor.js';

const EVENTS: [SupervisorEvent, RegExp][] = [
  [{ event: 'kernel-supervise', sid: 1, cid: 0, hostNo: 2 }, /^session 1: supervising connection 1:0 \(host 2\)$/],
  [
    { event: 'kernel-conn-error', sid: 1, cid: 0, error: 1020, name: 'TcpConnClose' },
    /^session 1: connection 1:0 failed \(TcpConnClose 1020\); recovering$/,
  ],
  [
    { event: 'kernel-recovery', phase: 'attempt', sid: 1, attempt: 1, ms: 2001, cmdSN: 4228 },
    /^session 1: reconnect attempt 1 with CmdSN 4228 \(2001 ms after the failure\)$/,
  ],
  [
    {
      event: 'kernel-recovery',
      phase: 'failure',
      sid: 1,
      attempt: 1,
      ms: 2100,
      delayMs: 1000,
      code: 'ERR_ISCSI_CONNECTION',
      message: 'connect ECONNREFUSED',
    },
    /^session 1: attempt 1 failed: connect ECONNREFUSED \(ERR_ISCSI_CONNECTION\); next in 1000 ms$/,
  ],
  [
    { event: 'kernel-recovery', phase: 'success', sid: 1, attempt: 2, ms: 3500, tsih: 256 },
    /^session 1: recovered in 3500 ms \(attempt 2, TSIH 256\); same disks$/,
  ],
  [
    {
      event: 'kernel-recovery',
      phase: 'gave-up',
      sid: 1,
      attempt: 9,
      ms: 30_000,
      code: 'ERR_ISCSI_TIMEOUT',
      message: 'not reconnected',
    },
    /^session 1: recovery gave up after 30000 ms: not reconnected \(ERR_ISCSI_TIMEOUT\)$/,
  ],
  [
    { event: 'kernel-session-gone', sid: 1, why: 'unbind' },
    /^session 1: logged out by someone else \(unbind\); no longer supervised$/,
  ],
  [{ event: 'kernel-session-gone', sid: 1, why: 'released' }, /^session 1: no longer supervised$/],
];

it('prints one readable line per supervisor event', () => {
  for (const [event, line] of EVENTS) expect(formatSupervisorEvent(event)).toMatch(line);
});

it('refuses a portal without a target name before touching the kernel', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAttach(
    '127.0.0.1:3260',
    {},
    { out: (l) => out.push(l), err: (l) => err.push(l), env: {} },
    new AbortController().signal,
  );
  expect(code).toBe(1);
  expect(out).toEqual([]);
  expect(err).toEqual(['iscsi-ts: attach needs a target: an iscsi://host/iqn/lun URL or --target <iqn>']);
});
