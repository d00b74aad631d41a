import { afterAll, describe, expect, it } from 'vitest';
import { chapDigestLength, chapResponse } from '../../src/chap/algorithms.js';
import { ChallengeLog } from '../../src/chap/chap-common.js';
import { ChapResponder, type ChapResponderOptions } from '../../src/chap/chap-responder.js';
import { Secret } from '../../src/chap/secret.js';
import { AuthError, ErrorCode, InvalidArgumentError, NegotiationError, ProtocolError } from '../../src/errors.js';
import type { TextPair } from '../../src/pdu/text.js';
import { formatBinary, parseBinary } from '../../src/pdu/text-values.js';
import { INITIATOR, replace, SECRET_TEXTS, SecrecyWatch, seededRandom, TARGET, value } from './chap-kit.js';

const watch = new SecrecyWatch();
afterAll(() => watch.check());

const users = new Map([[INITIATOR.user, INITIATOR.secret]]);
const lookup = (user: string): Secret | undefined => users.get(user);
const OUR_CHALLENGE = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);

function responder(options: Partial<ChapResponderOptions> = {}): ChapResponder {
  return new ChapResponder({ lookup, random: seededRandom(), onWarning: () => {}, ...options });
}

function authError(fn: () => unknown, side: 'initiator' | 'target'): AuthError {
  const e = watch.catch(fn);
  expect(e).toBeInstanceOf(AuthError);
  expect((e as AuthError).code).toBe(ErrorCode.Auth);
  expect((e as AuthError).side).toBe(side);
  return e as AuthError;
}

/** Runs challenge(offer) and returns the initiator's correct one-way answer to it. */
function challenged(
  r: ChapResponder,
  offer = '5',
  credentials = INITIATOR,
): { challenge: TextPair[]; answer: TextPair[] } {
  const challenge = watch.see(r.challenge(offer)) as TextPair[];
  const algorithm = Number(value(challenge, 'CHAP_A'));
  const response = chapResponse(
    algorithm,
    Number(value(challenge, 'CHAP_I')),
    credentials.secret,
    parseBinary(value(challenge, 'CHAP_C')),
  );
  const answer = watch.see([
    ['CHAP_N', credentials.user],
    ['CHAP_R', formatBinary(response)],
  ]) as TextPair[];
  return { challenge, answer };
}

/** Adds a mutual-CHAP challenge of the initiator to `answer`. */
function withMutual(answer: TextPair[], id = 9, challenge: Uint8Array = OUR_CHALLENGE): TextPair[] {
  return watch.see([...answer, ['CHAP_I', String(id)], ['CHAP_C', formatBinary(challenge)]]) as TextPair[];
}

describe('ChapResponder.challenge (RFC 7143 §12.1.3, §6.2)', () => {
  it("picks the first algorithm of the initiator's list that it supports", () => {
    expect(value(responder().challenge('8,7,6,5'), 'CHAP_A')).toBe('8');
    expect(value(responder().challenge('5,8'), 'CHAP_A')).toBe('5');
    expect(value(responder({ algorithms: [5, 6] }).challenge('8,7,6,5'), 'CHAP_A')).toBe('6');
    // The responder's own order does not matter, only what it supports.
    expect(value(responder({ algorithms: [5, 8] }).challenge('8,5'), 'CHAP_A')).toBe('8');
  });

  it('skips offered values that are not numbers or not algorithms', () => {
    expect(value(responder().challenge('MD5,4,300,5'), 'CHAP_A')).toBe('5');
  });

  for (const algorithm of [5, 6, 7, 8]) {
    it(`CHAP_A=${algorithm}: CHAP_I is a decimal 0..255 and CHAP_C a fresh ${chapDigestLength(algorithm)}-byte value`, () => {
      const r = responder();
      const out = watch.see(r.challenge(String(algorithm)));
      expect(out.map(([k]) => k)).toEqual(['CHAP_A', 'CHAP_I', 'CHAP_C']);
      expect(value(out, 'CHAP_I')).toMatch(/^(0|[1-9][0-9]{0,2})$/);
      expect(Number(value(out, 'CHAP_I'))).toBeLessThanOrEqual(255);
      expect(value(out, 'CHAP_C')).toMatch(new RegExp(`^0x[0-9a-f]{${2 * chapDigestLength(algorithm)}}$`));
      expect(r.chosenAlgorithm).toBe(algorithm);
    });
  }

  it('no acceptable algorithm is an AuthError (side "initiator"); a malformed list a ProtocolError', () => {
    const e = authError(() => responder({ algorithms: [8] }).challenge('5,6'), 'initiator');
    expect(e.message).toMatch(/none of the offered CHAP algorithms/);
    authError(() => responder().challenge('Reject'), 'initiator');
    for (const bad of ['', '5,,6', ',5']) {
      const p = watch.catch(() => responder().challenge(bad));
      expect(p).toBeInstanceOf(ProtocolError);
    }
  });

  it('1000 responders with the default CSPRNG send 1000 distinct challenges', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(value(new ChapResponder({ lookup }).challenge('5'), 'CHAP_C'));
    expect(seen.size).toBe(1000);
  });
});

describe('ChapResponder.check (RFC 1994 §4.1, RFC 7143 §12.1.3)', () => {
  for (const algorithm of [5, 6, 7, 8]) {
    it(`one-way CHAP_A=${algorithm}: a correct response is accepted and nothing is answered`, () => {
      const r = responder();
      const { answer } = challenged(r, String(algorithm));
      expect(r.check(answer)).toEqual([]);
      expect(r).toMatchObject({ user: INITIATOR.user, mutual: false, done: true });
    });
  }

  it('accepts CHAP_R in base64 and ignores non-CHAP keys', () => {
    const r = responder();
    const { answer } = challenged(r);
    const b64 = replace(answer, 'CHAP_R', formatBinary(parseBinary(value(answer, 'CHAP_R')), 'base64'));
    expect(r.check([['HeaderDigest', 'None'], ...b64])).toEqual([]);
  });

  it('a wrong secret fails with side "initiator" and no secret in the message', () => {
    const r = responder();
    const { answer } = challenged(r, '7', { user: INITIATOR.user, secret: Secret.from(SECRET_TEXTS.other) });
    const e = authError(() => r.check(answer), 'initiator');
    expect(e.message).toMatch(/did not verify: wrong secret\?/);
    expect(r.done).toBe(false);
    expect(r.user).toBeUndefined();
  });

  it('an unknown user fails with side "initiator"', () => {
    const r = responder();
    const { answer } = challenged(r, '5', { user: 'iqn.2024-01.test:stranger', secret: INITIATOR.secret });
    expect(authError(() => r.check(answer), 'initiator').message).toMatch(/unknown CHAP user/);
    const empty = responder();
    const other = challenged(empty);
    authError(() => empty.check(replace(other.answer, 'CHAP_N', '')), 'initiator');
  });

  it('a CHAP_R of the wrong length fails (side "initiator")', () => {
    const r = responder();
    const { answer } = challenged(r, '8');
    const e = authError(
      () => r.check(replace(answer, 'CHAP_R', formatBinary(new Uint8Array(16).fill(7)))),
      'initiator',
    );
    expect(e.message).toMatch(/16 bytes.*SHA3-256.*32/);
  });

  it('missing, repeated, misplaced and malformed keys', () => {
    for (const k of ['CHAP_N', 'CHAP_R']) {
      const r = responder();
      authError(() => r.check(replace(challenged(r).answer, k, undefined)), 'initiator');
    }
    const dup = responder();
    const d = watch.catch(() => dup.check([...challenged(dup).answer, ['CHAP_N', INITIATOR.user]]));
    expect((d as ProtocolError).code).toBe(ErrorCode.TextDuplicate);
    const misplaced = responder();
    expect(watch.catch(() => misplaced.check([...challenged(misplaced).answer, ['CHAP_A', '5']]))).toBeInstanceOf(
      NegotiationError,
    );
    for (const [k, v] of [
      ['CHAP_R', '0xq1'],
      ['CHAP_R', `0x${'00'.repeat(1025)}`],
    ] as const) {
      const r = responder();
      const e = watch.catch(() => r.check(replace(challenged(r).answer, k, v)));
      expect((e as ProtocolError).code).toBe(ErrorCode.TextValue);
    }
  });

  it('calls out of order are InvalidArgumentErrors; one attempt per instance', () => {
    const r = responder();
    expect(() => r.check([])).toThrow(/before challenge/);
    const { answer } = challenged(r);
    expect(() => r.challenge('5')).toThrow(/already called/);
    r.check(answer);
    expect(() => r.check(answer)).toThrow(/already called/);
    const failed = responder();
    const bad = challenged(failed, '5', { user: INITIATOR.user, secret: Secret.from(SECRET_TEXTS.other) });
    authError(() => failed.check(bad.answer), 'initiator');
    expect(() => failed.check(bad.answer)).toThrow(/failed/);
  });
});

describe('ChapResponder mutual CHAP and RFC 7143 §9.2.1 checks', () => {
  for (const algorithm of [5, 6, 7, 8]) {
    it(`CHAP_A=${algorithm}: answers CHAP_N and CHAP_R = H(initiator's CHAP_I || target secret || CHAP_C)`, () => {
      const r = responder({ targetCredentials: TARGET });
      const { answer } = challenged(r, String(algorithm));
      const out = watch.see(r.check(withMutual(answer, 254)));
      const expected = chapResponse(algorithm, 254, TARGET.secret, OUR_CHALLENGE);
      expect(out).toEqual([
        ['CHAP_N', TARGET.user],
        ['CHAP_R', formatBinary(expected)],
      ]);
      expect(r).toMatchObject({ mutual: true, done: true });
    });
  }

  it('mutual CHAP without target credentials fails with side "target"', () => {
    const r = responder();
    const { answer } = challenged(r);
    expect(authError(() => r.check(withMutual(answer)), 'target').message).toMatch(/no target credentials/);
  });

  it("refuses an initiator challenge equal to the target's own (reflection), also across connections", () => {
    const r = responder({ targetCredentials: TARGET });
    const { challenge, answer } = challenged(r);
    const reflected = withMutual(answer, 1, parseBinary(value(challenge, 'CHAP_C')));
    expect(authError(() => r.check(reflected), 'initiator').message).toMatch(/reflection/);

    const log = new ChallengeLog();
    const first = responder({ targetCredentials: TARGET, challengeLog: log });
    const firstChallenge = challenged(first).challenge;
    const second = responder({ targetCredentials: TARGET, challengeLog: log, random: seededRandom('second') });
    const replay = withMutual(challenged(second).answer, 1, parseBinary(value(firstChallenge, 'CHAP_C')));
    expect(authError(() => second.check(replay), 'initiator').message).toMatch(/reflection/);
  });

  it('CHAP_I without CHAP_C (or the reverse) fails; a bad CHAP_I or CHAP_C is a ProtocolError', () => {
    for (const drop of ['CHAP_I', 'CHAP_C']) {
      const r = responder({ targetCredentials: TARGET });
      authError(() => r.check(replace(withMutual(challenged(r).answer), drop, undefined)), 'initiator');
    }
    for (const [k, v] of [
      ['CHAP_I', '256'],
      ['CHAP_C', '0x'],
      ['CHAP_C', '0bA'],
    ] as const) {
      const r = responder({ targetCredentials: TARGET });
      const e = watch.catch(() => r.check(replace(withMutual(challenged(r).answer), k, v)));
      expect(e).toBeInstanceOf(ProtocolError);
    }
  });

  it('minChallengeLength refuses a short initiator challenge', () => {
    const r = responder({ targetCredentials: TARGET, minChallengeLength: 16 });
    const { answer } = challenged(r);
    authError(() => r.check(withMutual(answer, 1, OUR_CHALLENGE.slice(0, 15))), 'initiator');
    const ok = responder({ targetCredentials: TARGET, minChallengeLength: 16 });
    expect(ok.check(withMutual(challenged(ok).answer, 1, OUR_CHALLENGE))).toHaveLength(2);
  });

  it('an initiator whose secret is the target\'s own secret is refused (side "target": configuration)', () => {
    const same = { user: 'iqn.2024-01.test:same', secret: Secret.from(SECRET_TEXTS.target) };
    const r = responder({ targetCredentials: TARGET, lookup: (u) => (u === same.user ? same.secret : undefined) });
    const { answer } = challenged(r, '5', same);
    expect(authError(() => r.check(answer), 'target').message).toMatch(/different secrets/);
  });

  it("a response computed with the target's own secret is refused", () => {
    const r = responder({ targetCredentials: TARGET });
    const { answer } = challenged(r, '5', { user: INITIATOR.user, secret: TARGET.secret });
    expect(authError(() => r.check(answer), 'initiator').message).toMatch(/target's own secret/);
  });

  it('short secrets: a warning (never the secret) or, with refuseShortSecrets, an AuthError', () => {
    const short = { user: 'iqn.2024-01.test:short', secret: Secret.from(SECRET_TEXTS.short) };
    const warnings: string[] = [];
    const r = responder({ lookup: () => short.secret, onWarning: (m) => warnings.push(m) });
    r.check(challenged(r, '5', short).answer);
    new ChapResponder({ lookup, targetCredentials: short, onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(2);
    for (const w of warnings) expect(w).not.toContain(SECRET_TEXTS.short);
    const strict = responder({ lookup: () => short.secret, refuseShortSecrets: true });
    authError(() => strict.check(challenged(strict, '5', short).answer), 'initiator');
    authError(() => responder({ targetCredentials: short, refuseShortSecrets: true }), 'target');
  });

  it('bad options are InvalidArgumentErrors', () => {
    expect(() => new ChapResponder({} as ChapResponderOptions)).toThrow(InvalidArgumentError);
    expect(() => responder({ algorithms: [] })).toThrow(InvalidArgumentError);
    expect(() => responder({ minChallengeLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => responder({ targetCredentials: { user: '', secret: TARGET.secret } })).toThrow(InvalidArgumentError);
    const plain = { user: 'u', secret: SECRET_TEXTS.target as unknown as Secret };
    expect(() => responder({ targetCredentials: plain })).toThrow(InvalidArgumentError);
  });
});
