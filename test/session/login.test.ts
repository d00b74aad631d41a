/**
 * The login machine driven by a scripted target (sans-IO), and the TCP login against fake targets that misbehave:
 * every failure is a typed error, and nothing hangs past its timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ChapResponder } from '../../src/chap/chap.js';
import { Secret } from '../../src/chap/secret.js';
import { IscsiError, LoginError, TimeoutError } from '../../src/errors.js';
import { decodePdu } from '../../src/pdu/decode.js';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import { decodeText, encodeText, type TextPair } from '../../src/pdu/text.js';
import type { LoginRequestPdu, LoginResponsePdu, Pdu } from '../../src/pdu/types.js';
import { login } from '../../src/session/initiator.js';
import { LoginMachine, type LoginStep } from '../../src/session/login.js';

const ISID = 0x80123456abcd;
const base = { initiatorName: 'iqn.2024-01.test:init', isid: ISID, initiatorTaskTag: 7, cmdSN: 100 } as const;

function response(
  req: LoginRequestPdu,
  keys: readonly TextPair[],
  over: Partial<LoginResponsePdu> = {},
): LoginResponsePdu {
  return {
    kind: 'login-response',
    transit: req.transit,
    continue: false,
    currentStage: req.currentStage,
    nextStage: req.transit ? req.nextStage : 0,
    versionMax: 0,
    versionActive: 0,
    isid: req.isid,
    tsih: req.transit && req.nextStage === 3 ? 0x100 : 0,
    initiatorTaskTag: req.initiatorTaskTag,
    statSN: 0,
    expCmdSN: req.cmdSN,
    maxCmdSN: req.cmdSN + 1,
    statusClass: 0,
    statusDetail: 0,
    ahs: [],
    data: encodeText(keys),
    ...over,
  };
}

function sent(step: LoginStep): LoginRequestPdu {
  if (step.kind !== 'send') throw new Error(`expected a request, got ${step.kind}`);
  return step.pdu;
}

const operationalAnswers = (req: LoginRequestPdu): TextPair[] =>
  decodeText(req.data)
    .filter(
      ([k]) =>
        !['InitiatorName', 'SessionType', 'TargetName', 'InitiatorAlias', 'MaxRecvDataSegmentLength'].includes(k),
    )
    .map(([k, v]) => [k, v.split(',')[0]!] as const);

describe('LoginMachine (RFC 7143 §6.3, §11.12)', () => {
  it('no authentication: one operational exchange, T=1 CSG=1 NSG=3, identity keys first', () => {
    const m = new LoginMachine({ ...base, sessionType: 'Normal', targetName: 'iqn.2024-01.test:t' });
    const req = sent(m.start());
    expect(req).toMatchObject({
      transit: true,
      continue: false,
      currentStage: 1,
      nextStage: 3,
      isid: ISID,
      tsih: 0,
      cmdSN: 100,
    });
    const keys = decodeText(req.data);
    expect(keys.slice(0, 3)).toEqual([
      ['InitiatorName', 'iqn.2024-01.test:init'],
      ['SessionType', 'Normal'],
      ['TargetName', 'iqn.2024-01.test:t'],
    ]);
    const step = m.receive(response(req, operationalAnswers(req)));
    expect(step).toMatchObject({ kind: 'done', result: { tsih: 0x100, cmdSN: 100, expStatSN: 1, isid: ISID } });
  });

  it('mutual CHAP through the security stage, verified by a responder of our own', () => {
    const user = { user: 'alice', secret: Secret.from('alice-secret-12') };
    const tgt = { user: 'target', secret: Secret.from('target-secret-34') };
    const m = new LoginMachine({
      ...base,
      sessionType: 'Discovery',
      chap: { credentials: user, targetCredentials: tgt, algorithms: [7] },
    });
    const responder = new ChapResponder({
      lookup: (u) => (u === 'alice' ? user.secret : undefined),
      targetCredentials: tgt,
    });
    let req = sent(m.start());
    expect(req).toMatchObject({ currentStage: 0, nextStage: 1, transit: true });
    expect(decodeText(req.data)).toContainEqual(['AuthMethod', 'CHAP']);
    req = sent(m.receive(response(req, [['AuthMethod', 'CHAP']], { transit: false, nextStage: 0 })));
    const offer = decodeText(req.data).find(([k]) => k === 'CHAP_A')![1];
    req = sent(m.receive(response(req, responder.challenge(offer), { transit: false, nextStage: 0 })));
    const answer = responder.check(decodeText(req.data));
    req = sent(m.receive(response(req, answer)));
    expect(req).toMatchObject({ currentStage: 1, nextStage: 3 });
    const done = m.receive(response(req, operationalAnswers(req)));
    expect(done).toMatchObject({ kind: 'done', result: { chapAlgorithm: 7 } });
  });

  it('a wrong target response in mutual CHAP is an AuthError naming the target', () => {
    const user = { user: 'alice', secret: Secret.from('alice-secret-12') };
    const m = new LoginMachine({
      ...base,
      sessionType: 'Discovery',
      chap: {
        credentials: user,
        targetCredentials: { user: 'target', secret: Secret.from('target-secret-34') },
        algorithms: [5],
      },
    });
    const liar = new ChapResponder({
      lookup: () => user.secret,
      targetCredentials: { user: 'target', secret: Secret.from('another-secret-56') },
    });
    let req = sent(m.start());
    req = sent(m.receive(response(req, [['AuthMethod', 'CHAP']], { transit: false, nextStage: 0 })));
    req = sent(m.receive(response(req, liar.challenge('5'), { transit: false, nextStage: 0 })));
    const answer = liar.check(decodeText(req.data));
    expect(() => m.receive(response(req, answer))).toThrowError(
      expect.objectContaining({ name: 'AuthError', side: 'target' }),
    );
  });

  it('sends text larger than 8192 bytes in continued PDUs and asks for continued answers (§6.1)', () => {
    const alias = 'a'.repeat(200);
    const m = new LoginMachine({ ...base, sessionType: 'Discovery', initiatorAlias: alias, maxSendSegment: 64 });
    const pieces: Uint8Array[] = [];
    let req = sent(m.start());
    while (req.continue) {
      expect(req.transit).toBe(false);
      pieces.push(req.data);
      req = sent(m.receive(response(req, [])));
    }
    pieces.push(req.data);
    expect(req.transit).toBe(true);
    expect(pieces.length).toBeGreaterThan(3);
    const all = decodeText(Buffer.concat(pieces));
    expect(all).toContainEqual(['InitiatorAlias', alias]);
    // The target continues its answer: the initiator sends an empty request, then gets the rest.
    const answer = encodeText(
      all
        .filter(([k]) => !['InitiatorName', 'InitiatorAlias', 'SessionType', 'MaxRecvDataSegmentLength'].includes(k))
        .map(([k, v]) => [k, v.split(',')[0]!] as const),
    );
    const first = sent(
      m.receive(response(req, [], { continue: true, transit: false, nextStage: 0, data: answer.subarray(0, 10) })),
    );
    expect(first.data.length).toBe(0);
    const done = m.receive(response(first, [], { data: answer.subarray(10), transit: true, nextStage: 3 }));
    expect(done.kind).toBe('done');
  });

  it('maps a redirect to the TargetAddress and refusals to LoginError', () => {
    const m = new LoginMachine({ ...base, sessionType: 'Discovery' });
    const req = sent(m.start());
    expect(m.receive(response(req, [['TargetAddress', '[::1]:3261,1']], { statusClass: 1, statusDetail: 2 }))).toEqual({
      kind: 'redirect',
      targetAddress: '[::1]:3261,1',
      permanent: true,
    });
    const m2 = new LoginMachine({ ...base, sessionType: 'Discovery' });
    const req2 = sent(m2.start());
    expect(() => m2.receive(response(req2, [], { statusClass: 3, statusDetail: 1 }))).toThrowError(
      expect.objectContaining({
        name: 'LoginError',
        status: 0x0301,
        message: expect.stringMatching(/service unavailable/),
      }),
    );
  });

  it('any scripted answer gives a request, a result or a typed error (property)', () => {
    const anyResponse = fc.record({
      transit: fc.boolean(),
      continue: fc.boolean(),
      currentStage: fc.constantFrom(0, 1, 3),
      nextStage: fc.constantFrom(0, 1, 3),
      statusClass: fc.constantFrom(0, 0, 0, 1, 2, 3, 9),
      statusDetail: fc.integer({ min: 0, max: 12 }),
      itt: fc.constantFrom(7, 7, 7, 8),
      keys: fc.array(
        fc.tuple(
          fc.constantFrom(
            'AuthMethod',
            'CHAP_A',
            'CHAP_I',
            'CHAP_C',
            'HeaderDigest',
            'MaxBurstLength',
            'X-foo',
            'TargetAddress',
          ),
          fc.constantFrom('CHAP', 'None', '5', '7', '0x0102', 'CRC32C', '512', 'garbage', '[::1]:3260,1', ''),
        ),
        { maxLength: 6 },
      ),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.array(anyResponse, { minLength: 1, maxLength: 6 }), (chap, script) => {
        const m = new LoginMachine({
          ...base,
          sessionType: 'Discovery',
          ...(chap ? { chap: { credentials: { user: 'u', secret: Secret.from('twelve-bytes-x') } } } : {}),
        });
        let step = m.start();
        try {
          for (const r of script) {
            if (step.kind !== 'send') break;
            let data: Uint8Array;
            try {
              data = encodeText(r.keys);
            } catch {
              data = new Uint8Array(0);
            }
            step = m.receive(response(step.pdu, [], { ...r, initiatorTaskTag: r.itt, data }));
          }
        } catch (err) {
          expect(err).toBeInstanceOf(IscsiError);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('login over TCP against misbehaving fake targets', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A fake target that answers each PDU with `reply` (or nothing). */
  async function fakeTarget(reply: (req: Pdu, socket: Socket) => void): Promise<number> {
    server = createServer((socket) => {
      const framer = new Framer({ sender: 'initiator' });
      socket.on('data', (c) => {
        framer.push(c);
        for (let f = framer.nextLenient(); f; f = framer.nextLenient()) if (f.pdu) reply(f.pdu, socket);
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }

  it('a target that never answers: TimeoutError after the step timeout', async () => {
    const port = await fakeTarget(() => {});
    const started = Date.now();
    const err = await login({ portal: `127.0.0.1:${port}`, sessionType: 'Discovery', stepTimeoutMs: 300 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('an AbortSignal stops the login', async () => {
    const port = await fakeTarget(() => {});
    const err = await login({
      portal: `127.0.0.1:${port}`,
      sessionType: 'Discovery',
      signal: AbortSignal.timeout(200),
    }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_ISCSI_ABORTED' });
  });

  it('garbage, truncated, oversized and out-of-order answers are typed errors', async () => {
    const answers: ((req: LoginRequestPdu) => Uint8Array)[] = [
      () => new Uint8Array(100).fill(0xee), // not a PDU
      (req) => encodePduBytes(response(req, [])).subarray(0, 30), // truncated, then the connection closes
      (req) => {
        const b = encodePduBytes(response(req, []));
        b[5] = 0x7f; // DataSegmentLength far beyond the login limit
        return b;
      },
      (req) =>
        encodePduBytes({
          ...response(req, []),
          kind: 'logout-response',
          response: 0,
          time2Wait: 0,
          time2Retain: 0,
        } as Pdu),
      (req) => encodePduBytes(response(req, [], { initiatorTaskTag: 999 })),
    ];
    for (const answer of answers) {
      const port = await fakeTarget((req, socket) => {
        socket.end(answer(req as LoginRequestPdu));
      });
      const err = await login({ portal: `127.0.0.1:${port}`, sessionType: 'Discovery', stepTimeoutMs: 2000 }).catch(
        (e) => e,
      );
      expect(err).toBeInstanceOf(IscsiError);
      expect(err).not.toBeInstanceOf(TimeoutError);
      server!.close();
    }
  });

  it('redirect loops stop after maxRedirects', async () => {
    const port = await fakeTarget((req, socket) => {
      socket.write(
        encodePduBytes(
          response(req as LoginRequestPdu, [['TargetAddress', `127.0.0.1:${port}`]], {
            statusClass: 1,
            statusDetail: 1,
          }),
        ),
      );
    });
    const err = await login({ portal: `127.0.0.1:${port}`, sessionType: 'Discovery', maxRedirects: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as Error).message).toMatch(/more than 3 redirects/);
  });

  it('sends a strictly valid first Login Request (wire byte 0x43: I bit set)', async () => {
    let wire: Uint8Array | undefined;
    server = createServer((socket) => {
      socket.once('data', (c) => {
        wire = Uint8Array.from(c);
        socket.destroy();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await login({ portal: `127.0.0.1:${port}`, sessionType: 'Discovery' }).catch(() => undefined);
    expect(wire?.[0]).toBe(0x43);
    expect(decodePdu(wire!, { sender: 'initiator' }).kind).toBe('login-request');
  });
});

describe('Text exchange with continuation (RFC 7143 §11.10, §11.11)', () => {
  it('follows a continued Text Response through its Target Transfer Tag', async () => {
    const { Connection } = await import('../../src/session/connection.js');
    const { parsePortal } = await import('../../src/session/address.js');
    const { textExchange } = await import('../../src/session/initiator.js');
    const answer = encodeText([
      ['TargetName', 'iqn.2024-01.test:a'],
      ['TargetAddress', '127.0.0.1:3260,1'],
      ['TargetName', 'iqn.2024-01.test:b'],
      ['TargetAddress', '[::1]:3260,1'],
    ]);
    const requests: Pdu[] = [];
    const srv = createServer((socket) => {
      const framer = new Framer({ sender: 'initiator' });
      socket.on('data', (c) => {
        framer.push(c);
        for (let f = framer.next(); f; f = framer.next()) {
          requests.push(f.pdu);
          const first = requests.length === 1;
          socket.write(
            encodePduBytes({
              kind: 'text-response',
              final: !first,
              continue: first,
              lun: 0n,
              initiatorTaskTag: f.pdu.initiatorTaskTag,
              targetTransferTag: first ? 0x1234 : 0xffffffff,
              statSN: requests.length,
              expCmdSN: 1,
              maxCmdSN: 1,
              ahs: [],
              data: first ? answer.subarray(0, 20) : answer.subarray(20),
            }),
          );
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const connection = await Connection.open({ portal: parsePortal(`127.0.0.1:${port}`) });
      const session = { connection, cmdSN: 1, expStatSN: 1 } as Parameters<typeof textExchange>[0];
      const pairs = await textExchange(session, [['SendTargets', 'All']]);
      expect(pairs).toEqual(decodeText(answer, { allowDuplicates: true }));
      expect(requests).toHaveLength(2);
      expect(requests[1]).toMatchObject({ kind: 'text-request', targetTransferTag: 0x1234 });
      expect(requests[1]!.data.length).toBe(0);
      expect(session.expStatSN).toBe(3);
      connection.close();
    } finally {
      srv.close();
    }
  });
});
