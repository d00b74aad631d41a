import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ChallengeLog,
  ChapInitiator,
  type ChapInitiatorOptions,
  ChapResponder,
  type ChapResponderOptions,
  Secret,
} from '../../src/chap/chap.js';
import { AuthError, IscsiError } from '../../src/errors.js';
import type { TextPair } from '../../src/pdu/text.js';
import { INITIATOR, SECRET_TEXTS, SecrecyWatch, TARGET, value } from './chap-kit.js';

const watch = new SecrecyWatch();
afterAll(() => watch.check());

const quiet = { onWarning: () => {} };
const lookup = (user: string): Secret | undefined => (user === INITIATOR.user ? INITIATOR.secret : undefined);

/** Runs a whole exchange; returns the algorithm and the keys each side sent. */
function exchange(
  init: Partial<ChapInitiatorOptions> = {},
  resp: Partial<ChapResponderOptions> = {},
): { algorithm: number | undefined; wire: TextPair[][]; initiator: ChapInitiator; responder: ChapResponder } {
  const initiator = new ChapInitiator({ credentials: INITIATOR, ...quiet, ...init });
  const responder = new ChapResponder({ lookup, targetCredentials: TARGET, ...quiet, ...resp });
  const offer = initiator.offer();
  const challenge = watch.see(responder.challenge(value(offer, 'CHAP_A'))) as TextPair[];
  const response = watch.see(initiator.respond(challenge)) as TextPair[];
  const answer = watch.see(responder.check(response)) as TextPair[];
  initiator.verify(answer);
  return { algorithm: initiator.chosenAlgorithm, wire: [offer, challenge, response, answer], initiator, responder };
}

describe('initiator ↔ responder round trips', () => {
  for (const algorithm of [5, 6, 7, 8]) {
    it(`one-way, CHAP_A=${algorithm}`, () => {
      const r = exchange({ algorithms: [algorithm] });
      expect(r.algorithm).toBe(algorithm);
      expect(r.wire[3]).toEqual([]);
      expect(r.initiator.done && r.responder.done).toBe(true);
      expect(r.responder).toMatchObject({ user: INITIATOR.user, mutual: false, chosenAlgorithm: algorithm });
    });

    it(`mutual, CHAP_A=${algorithm}`, () => {
      const r = exchange({ algorithms: [algorithm], targetCredentials: TARGET });
      expect(r.algorithm).toBe(algorithm);
      expect(r.wire[3]!.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R']);
      expect(r.initiator.done && r.responder.done && r.responder.mutual).toBe(true);
    });
  }

  it('the default offer 8,7,6,5 meets a default responder at SHA3-256, and an MD5/SHA-1 target at SHA-1', () => {
    expect(exchange({ targetCredentials: TARGET }).algorithm).toBe(8);
    expect(exchange({ targetCredentials: TARGET }, { algorithms: [5, 6] }).algorithm).toBe(6);
    expect(exchange({}, { algorithms: [5] }).algorithm).toBe(5);
  });

  it('a wrong initiator secret is caught by the responder (side "initiator")', () => {
    const e = watch.catch(() =>
      exchange({ credentials: { user: INITIATOR.user, secret: Secret.from(SECRET_TEXTS.other) } }),
    );
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).side).toBe('initiator');
  });

  it('a wrong target secret is caught by the initiator (side "target")', () => {
    const e = watch.catch(() =>
      exchange(
        { targetCredentials: TARGET },
        { targetCredentials: { user: TARGET.user, secret: Secret.from(SECRET_TEXTS.other) } },
      ),
    );
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).side).toBe('target');
    expect((e as AuthError).message).toContain("the target's CHAP response did not verify");
  });

  it('one ChallengeLog shared by many initiators keeps all their challenges distinct and recorded', () => {
    const log = new ChallengeLog();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const r = exchange({ targetCredentials: TARGET, challengeLog: log, algorithms: [5] });
      seen.add(value(r.wire[2]!, 'CHAP_C'));
    }
    expect(seen.size).toBe(200);
    expect(log.size).toBe(200);
    const bounded = new ChallengeLog(3);
    for (let i = 0; i < 5; i++) bounded.add(Uint8Array.of(i));
    expect(bounded.size).toBe(3);
    expect(bounded.has(Uint8Array.of(0))).toBe(false);
    expect(bounded.has(Uint8Array.of(4))).toBe(true);
  });
});

describe('arbitrary CHAP keys give a result or an IscsiError, nothing else (property)', () => {
  const chapKey = fc.constantFrom('CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R', 'CHAP_X', 'AuthMethod');
  const chapValue = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('5', '6', '7', '8', '9', '0', '255', '256', '0x05', 'Reject', '5,7', '', '0x', '0b'),
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map((b) => `0x${Buffer.from(b).toString('hex')}`),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => `0b${Buffer.from(b).toString('base64')}`),
    fc.constantFrom(INITIATOR.user, TARGET.user),
  );
  const noise = fc.array(fc.tuple(chapKey, chapValue), { maxLength: 8 });
  // Mostly-valid steps, so that the success paths are exercised too: a valid step plus 0-2 arbitrary pairs.
  const validChallenge = fc
    .record({
      a: fc.constantFrom('5', '6', '7', '8'),
      i: fc.integer({ min: 0, max: 255 }),
      c: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    })
    .map(({ a, i, c }): TextPair[] => [
      ['CHAP_A', a],
      ['CHAP_I', String(i)],
      ['CHAP_C', `0x${Buffer.from(c).toString('hex')}`],
    ]);
  const withNoise = (base: fc.Arbitrary<TextPair[]>): fc.Arbitrary<TextPair[]> =>
    fc
      .tuple(base, fc.array(fc.tuple(chapKey, chapValue), { maxLength: 2 }))
      .map(([b, extra]) => (extra.length === 0 ? b : [...b, ...extra]));
  const pairs = fc.oneof(noise, withNoise(validChallenge));
  const expectIscsiError = (fn: () => unknown): boolean => {
    try {
      fn();
      return true;
    } catch (e) {
      expect(e).toBeInstanceOf(IscsiError);
      watch.errors.push(e);
      return false;
    }
  };

  it('ChapInitiator.respond and verify', () => {
    let succeeded = 0;
    fc.assert(
      fc.property(pairs, noise, fc.boolean(), (challenge, answer, mutual) => {
        const chap = new ChapInitiator({
          credentials: INITIATOR,
          ...(mutual ? { targetCredentials: TARGET } : {}),
          ...quiet,
        });
        let out: TextPair[] = [];
        if (expectIscsiError(() => (out = chap.respond(challenge)))) {
          succeeded++;
          expect(out.map(([k]) => k)).toEqual(mutual ? ['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C'] : ['CHAP_N', 'CHAP_R']);
          expect(value(out, 'CHAP_R')).toMatch(/^0x[0-9a-f]+$/);
        }
        expectIscsiError(() => chap.verify(answer));
      }),
      { numRuns: 400 },
    );
    expect(succeeded).toBeGreaterThan(50);
  });

  it('ChapResponder.challenge and check', () => {
    let challenged = 0;
    fc.assert(
      fc.property(chapValue, pairs, fc.boolean(), (offer, response, mutual) => {
        const responder = new ChapResponder({ lookup, ...(mutual ? { targetCredentials: TARGET } : {}), ...quiet });
        if (expectIscsiError(() => responder.challenge(offer))) challenged++;
        expectIscsiError(() => responder.check(response));
        expect(responder.done).toBe(false);
      }),
      { numRuns: 400 },
    );
    expect(challenged).toBeGreaterThan(20);
  });
});

describe('secrecy: secrets never show', () => {
  it('String, JSON and util.inspect of a Secret, credentials and the CHAP objects do not contain the secret', () => {
    const secret = Secret.from(SECRET_TEXTS.initiator);
    const initiator = new ChapInitiator({ credentials: INITIATOR, targetCredentials: TARGET, ...quiet });
    const responder = new ChapResponder({ lookup, targetCredentials: TARGET, ...quiet });
    const challenge = watch.see(responder.challenge('8,7,6,5')) as TextPair[];
    const response = watch.see(initiator.respond(challenge)) as TextPair[];
    const log = new ChallengeLog();
    log.add(Buffer.from(value(response, 'CHAP_C').slice(2), 'hex'));
    const renderings = [secret, INITIATOR, TARGET, initiator, responder, log].flatMap((o) => [
      String(o),
      JSON.stringify(o),
      inspect(o, { depth: 10, showHidden: true }),
    ]);
    const forbidden = [
      ...Object.values(SECRET_TEXTS),
      value(challenge, 'CHAP_C').slice(2),
      value(response, 'CHAP_C').slice(2),
      value(response, 'CHAP_R').slice(2),
    ];
    for (const text of renderings) for (const f of forbidden) expect(text).not.toContain(f);
    expect(String(secret)).toBe('[Secret]');
  });

  it('the watch used by every CHAP test file does catch a leak', () => {
    const leaky = new SecrecyWatch();
    leaky.catch(() => {
      throw new Error(`oops ${SECRET_TEXTS.target}`);
    });
    expect(() => leaky.check()).toThrow();
    const hexLeak = new SecrecyWatch();
    hexLeak.see([['CHAP_R', '0x00112233445566778899aabbccddeeff']]);
    hexLeak.catch(() => {
      throw new Error('response was 00112233445566778899AABBCCDDEEFF');
    });
    expect(() => hexLeak.check()).toThrow();
  });
});
