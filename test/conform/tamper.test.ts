/**
 * The new conformance cases catch the violations they are about: the embedded target is put behind a proxy that
 * rewrites (or adds) target PDUs in one way each, and the case under test must then fail, naming the rule. Together
 * with the embedded run (every case passes), this shows each case tells a right target from a wrong one.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { expect, it } from 'vitest';
import { builtinCases } from '../../src/conform/cases/index.js';
import { runConformance } from '../../src/conform/runner.js';
import type { ConformTarget, Verdict } from '../../src/conform/types.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import type { AsyncMessagePdu, Pdu } from '../../src/pdu/types.js';
import { TARGET_USER, USER, useConformTargets } from './targets.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform-tamper';
const encoder = new TextEncoder();
const targets = useConformTargets(IQN, 0);

/** Rewrites one target PDU into the PDUs to forward; `state` lives as long as the connection. */
type Tamper = (pdu: Pdu, state: Map<string, number>) => Pdu[];

/**
 * A proxy in front of `upstream`: initiator bytes pass as they are, target PDUs are framed, passed through
 * `tamper` and encoded again (no digests: the cases here negotiate none). Closes with either side.
 */
async function proxy(upstream: number, tamper: Tamper): Promise<{ server: Server; port: number }> {
  const server = createServer((client: Socket) => {
    const state = new Map<string, number>();
    const framer = new Framer({ sender: 'target', maxDataSegmentLength: 2 ** 24 - 1 });
    const target = connect({ host: '127.0.0.1', port: upstream });
    client.on('data', (chunk) => target.write(chunk));
    target.on('data', (chunk) => {
      framer.push(chunk);
      for (let f = framer.nextLenient(); f; f = framer.nextLenient()) {
        if (!f.pdu) {
          client.write(f.wire);
          continue;
        }
        for (const out of tamper(f.pdu, state)) for (const part of encodePdu(out)) client.write(part);
      }
    });
    const end = () => {
      client.destroy();
      target.destroy();
    };
    client.on('close', end);
    target.on('close', end);
    client.on('error', end);
    target.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

/** Runs one case through a tampering proxy in front of the plain (or CHAP) target. */
async function verdictOf(id: string, tamper: Tamper, withChap = false): Promise<Verdict> {
  const { server, port } = await proxy((withChap ? targets.chap : targets.plain).portals[0]!.port, tamper);
  try {
    const target: ConformTarget = {
      portal: { host: '127.0.0.1', port, family: 4 },
      targetName: IQN,
      ...(withChap ? { chap: { credentials: USER, targetCredentials: TARGET_USER } } : {}),
    };
    const report = await runConformance(
      target,
      builtinCases.filter((c) => c.id === id),
    );
    expect(report.results).toHaveLength(1);
    return report.results[0]!.verdict;
  } finally {
    server.close();
  }
}

const untouched: Tamper = (pdu) => [pdu];

function expectFail(verdict: Verdict, message: RegExp): void {
  expect(verdict.status, JSON.stringify(verdict)).toBe('fail');
  if (verdict.status === 'fail') {
    expect(verdict.message).toMatch(message);
    expect(verdict.evidence.length).toBeGreaterThan(0);
  }
}

it('the proxy itself changes nothing: a case passes through it untouched', async () => {
  expect((await verdictOf('data.r2t-sn', untouched)).status).toBe('pass');
}, 20_000);

it('data.r2t-sn fails when R2TSN skips a number', async () => {
  const v = await verdictOf('data.r2t-sn', (p) => (p.kind === 'r2t' && p.r2tSN === 1 ? [{ ...p, r2tSN: 2 }] : [p]));
  expectFail(v, /R2T number 1 has R2TSN 2/);
}, 20_000);

it('data.r2t-burst-length fails on an R2T longer than MaxBurstLength', async () => {
  const v = await verdictOf('data.r2t-burst-length', (p) =>
    p.kind === 'r2t' && p.r2tSN === 0 ? [{ ...p, desiredDataTransferLength: p.desiredDataTransferLength + 512 }] : [p],
  );
  expectFail(v, /DesiredDataTransferLength 1536, MaxBurstLength 1024/);
}, 20_000);

it('data.r2t-outstanding fails when more R2Ts are open than MaxOutstandingR2T', async () => {
  // The first R2T is sent twice: two unanswered R2Ts with MaxOutstandingR2T 1.
  const v = await verdictOf('data.r2t-outstanding', (p) => (p.kind === 'r2t' && p.r2tSN === 0 ? [p, p] : [p]));
  expectFail(v, /2 R2Ts outstanding with MaxOutstandingR2T 1/);
}, 20_000);

it('data.r2t-coverage fails when an R2T asks again for the immediate data', async () => {
  const v = await verdictOf('data.r2t-coverage', (p) =>
    p.kind === 'r2t' && p.r2tSN === 0 ? [{ ...p, bufferOffset: 0, desiredDataTransferLength: 512 }] : [p],
  );
  expectFail(v, /asks again for bytes 0\.\.512|no R2T asks for bytes/);
}, 20_000);

it('logout.response-sequence fails on a wrong StatSN', async () => {
  const v = await verdictOf('logout.response-sequence', (p) =>
    p.kind === 'logout-response' ? [{ ...p, statSN: p.statSN + 1 }] : [p],
  );
  expectFail(v, /StatSN \d+, expected \d+/);
}, 20_000);

it('logout.during-write fails when a response for the write follows the Logout Response', async () => {
  const v = await verdictOf('logout.during-write', (p, state) => {
    if (p.kind === 'r2t') state.set('itt', p.initiatorTaskTag);
    if (p.kind !== 'logout-response') return [p];
    const late: Pdu = {
      kind: 'scsi-response',
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status: 0,
      snackTag: 0,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      initiatorTaskTag: state.get('itt') ?? 0,
      statSN: p.statSN + 1,
      expCmdSN: p.expCmdSN,
      maxCmdSN: p.maxCmdSN,
      ahs: [],
      data: new Uint8Array(0),
    };
    return [p, late];
  });
  expectFail(v, /a PDU of the task came after the Logout Response/);
}, 20_000);

it('text.sendtargets-unknown-name fails when a target name is reported', async () => {
  const v = await verdictOf('text.sendtargets-unknown-name', (p) =>
    p.kind === 'text-response' ? [{ ...p, data: encoder.encode(`TargetName=${IQN}\0`) }] : [p],
  );
  expectFail(v, /TargetName .* reported for/);
}, 20_000);

it('text.request-continuation fails when a C=1 request is answered with F=1', async () => {
  const v = await verdictOf('text.request-continuation', (p) =>
    p.kind === 'text-response' && !p.final ? [{ ...p, final: true, targetTransferTag: 0xffffffff }] : [p],
  );
  expectFail(v, /F=1 answered a Text Request with F=0/);
}, 20_000);

it('async.message-format fails on a reserved AsyncEvent', async () => {
  const v = await verdictOf('async.message-format', (p) => {
    if (p.kind !== 'login-response' || !p.transit || p.nextStage !== 3) return [p];
    const bad: AsyncMessagePdu = {
      kind: 'async-message',
      lun: 0n,
      asyncEvent: 6,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      initiatorTaskTag: 0xffffffff,
      statSN: p.statSN + 1,
      expCmdSN: p.expCmdSN,
      maxCmdSN: p.maxCmdSN,
      ahs: [],
      data: new Uint8Array(0),
    };
    return [p, bad];
  });
  expectFail(v, /AsyncEvent 6 is reserved|strict decoder refused/);
}, 20_000);

it('chap.algorithm-unknown-first fails when the target answers with a value not offered', async () => {
  const v = await verdictOf(
    'chap.algorithm-unknown-first',
    (p) => {
      if (p.kind !== 'login-response') return [p];
      const text = new TextDecoder().decode(p.data);
      return [{ ...p, data: encoder.encode(text.replace('CHAP_A=5\0', 'CHAP_A=7\0')) }];
    },
    true,
  );
  expectFail(v, /the target chose CHAP_A=7/);
}, 20_000);

it('chap.mutual fails when the target CHAP_R does not verify', async () => {
  const v = await verdictOf(
    'chap.mutual',
    (p) => {
      if (p.kind !== 'login-response') return [p];
      const text = new TextDecoder().decode(p.data);
      return [
        {
          ...p,
          data: encoder.encode(
            text.replace(/CHAP_R=0x(..)/, (_m, b: string) => `CHAP_R=0x${b === '00' ? '01' : '00'}`),
          ),
        },
      ];
    },
    true,
  );
  expectFail(v, /does not verify with the target secret/);
}, 20_000);
