import { afterAll, describe, expect, it, vi } from 'vitest';
import { chapDigestLength, chapResponse } from '../../src/chap/algorithms.js';
import { ChallengeLog } from '../../src/chap/chap-common.js';
import { ChapInitiator, type ChapInitiatorOptions } from '../../src/chap/chap-initiator.js';
import { Secret } from '../../src/chap/secret.js';
import { AuthError, ErrorCode, InvalidArgumentError, NegotiationError, ProtocolError } from '../../src/errors.js';
import type { TextPair } from '../../src/pdu/text.js';
import { formatBinary, parseBinary } from '../../src/pdu/text-values.js';
import {
  INITIATOR,
  replace,
  SECRET_TEXTS,
  SecrecyWatch,
  seededRandom,
  stuckRandom,
  TARGET,
  value,
} from './chap-kit.js';

const watch = new SecrecyWatch();
afterAll(() => watch.check());

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const quiet = { onWarning: () => {} };
const CHALLENGE16 = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

/** A target's challenge step: CHAP_A, CHAP_I, CHAP_C. */
function targetChallenge(algorithm = 5, id = 7, challenge: Uint8Array = CHALLENGE16): TextPair[] {
  return watch.see([
    ['CHAP_A', String(algorithm)],
    ['CHAP_I', String(id)],
    ['CHAP_C', formatBinary(challenge)],
  ]) as TextPair[];
}

function initiator(options: Partial<ChapInitiatorOptions> = {}): ChapInitiator {
  return new ChapInitiator({ credentials: INITIATOR, random: seededRandom(), ...quiet, ...options });
}

function authError(fn: () => unknown, side: 'initiator' | 'target'): AuthError {
  const e = watch.catch(fn);
  expect(e).toBeInstanceOf(AuthError);
  expect((e as AuthError).code).toBe(ErrorCode.Auth);
  expect((e as AuthError).side).toBe(side);
  return e as AuthError;
}

/** The target's correct mutual answer to an initiator's response pairs. */
function targetAnswer(algorithm: number, ours: readonly TextPair[], secret = TARGET.secret): TextPair[] {
  const id = Number(value(ours, 'CHAP_I'));
  const r = chapResponse(algorithm, id, secret, parseBinary(value(ours, 'CHAP_C')));
  return watch.see([
    ['CHAP_N', TARGET.user],
    ['CHAP_R', formatBinary(r)],
  ]) as TextPair[];
}

describe('ChapInitiator.offer (RFC 7143 §12.1.3 CHAP_A=<A1,A2,...>)', () => {
  it('offers 8,7,6,5 by default: strongest first, MD5 last', () => {
    expect(initiator().offer()).toEqual([['CHAP_A', '8,7,6,5']]);
  });

  it('offers the configured list in its order', () => {
    expect(initiator({ algorithms: [5] }).offer()).toEqual([['CHAP_A', '5']]);
    expect(initiator({ algorithms: [6, 8, 5] }).offer()).toEqual([['CHAP_A', '6,8,5']]);
  });

  it('rejects an empty list, unknown numbers and repeats', () => {
    for (const algorithms of [[], [9], [5, 5], [4, 5]]) {
      expect(() => initiator({ algorithms })).toThrow(InvalidArgumentError);
    }
  });

  it('warns when MD5 (5), which initiators MUST offer, is left out', () => {
    const warnings: string[] = [];
    initiator({ algorithms: [8, 7], onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/MD5.*RFC 7143 §12\.1\.3/);
  });
});

describe('ChapInitiator.respond (RFC 1994 §4.1, RFC 7143 §12.1.3)', () => {
  it('one-way: answers CHAP_N and CHAP_R = H(CHAP_I || secret || CHAP_C) in lower-case hex', () => {
    const chap = initiator();
    const out = watch.see(chap.respond(targetChallenge(5, 7)));
    const expected = chapResponse(5, 7, INITIATOR.secret, CHALLENGE16);
    expect(out).toEqual([
      ['CHAP_N', INITIATOR.user],
      ['CHAP_R', `0x${hex(expected)}`],
    ]);
    expect(value(out, 'CHAP_R')).toMatch(/^0x[0-9a-f]{32}$/);
    expect(chap.chosenAlgorithm).toBe(5);
    expect(chap.mutual).toBe(false);
    expect(chap.done).toBe(true);
  });

  for (const algorithm of [5, 6, 7, 8]) {
    it(`mutual with CHAP_A=${algorithm}: adds CHAP_I and a fresh CHAP_C of the digest length`, () => {
      const chap = initiator({ targetCredentials: TARGET });
      const out = watch.see(chap.respond(targetChallenge(algorithm, 200)));
      expect(out.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C']);
      expect(parseBinary(value(out, 'CHAP_R'))).toHaveLength(chapDigestLength(algorithm));
      const id = Number(value(out, 'CHAP_I'));
      expect(Number.isInteger(id) && id >= 0 && id <= 255).toBe(true);
      expect(value(out, 'CHAP_C')).toMatch(new RegExp(`^0x[0-9a-f]{${2 * chapDigestLength(algorithm)}}$`));
      expect(value(out, 'CHAP_C')).not.toBe(formatBinary(CHALLENGE16));
      expect(chap.done).toBe(false);
    });
  }

  it('accepts CHAP_C in base64 (0b) and upper-case hex (0X), and CHAP_I in hex', () => {
    const expected = `0x${hex(chapResponse(5, 7, INITIATOR.secret, CHALLENGE16))}`;
    const b64 = replace(targetChallenge(), 'CHAP_C', formatBinary(CHALLENGE16, 'base64'));
    expect(value(initiator().respond(b64), 'CHAP_R')).toBe(expected);
    const upper = replace(targetChallenge(), 'CHAP_C', `0X${hex(CHALLENGE16).toUpperCase()}`);
    expect(value(initiator().respond(upper), 'CHAP_R')).toBe(expected);
    const hexId = replace(targetChallenge(), 'CHAP_I', '0x07');
    expect(value(initiator().respond(hexId), 'CHAP_R')).toBe(expected);
  });

  it('ignores non-CHAP keys of the same Login Response', () => {
    const out = initiator().respond([['TargetPortalGroupTag', '1'], ...targetChallenge(), ['AuthMethod', 'CHAP']]);
    expect(out.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R']);
  });

  it('accepts the extremes: CHAP_I 0 and 255, a 1-byte and a 1024-byte challenge', () => {
    expect(() => initiator().respond(targetChallenge(5, 0, Uint8Array.of(1)))).not.toThrow();
    expect(() => initiator().respond(targetChallenge(8, 255, new Uint8Array(1024).fill(3)))).not.toThrow();
  });

  it('refuses an algorithm it did not offer, a list, a reserved answer or a non-number (side "target")', () => {
    authError(() => initiator({ algorithms: [5] }).respond(targetChallenge(7)), 'target');
    authError(() => initiator().respond(targetChallenge(9)), 'target');
    for (const a of ['5,7', 'Reject', 'NotUnderstood', 'MD5', '']) {
      const e = authError(() => initiator().respond(replace(targetChallenge(), 'CHAP_A', a)), 'target');
      expect(e.message).toContain('CHAP_A');
    }
  });

  it('a missing CHAP_A, CHAP_I or CHAP_C is an AuthError naming the key (side "target")', () => {
    for (const k of ['CHAP_A', 'CHAP_I', 'CHAP_C']) {
      const e = authError(() => initiator().respond(replace(targetChallenge(), k, undefined)), 'target');
      expect(e.message).toContain(k);
    }
  });

  it('a repeated key is a ProtocolError (TextDuplicate); a CHAP key of another step a NegotiationError', () => {
    const dup = watch.catch(() => initiator().respond([...targetChallenge(), ['CHAP_C', formatBinary(CHALLENGE16)]]));
    expect(dup).toBeInstanceOf(ProtocolError);
    expect((dup as ProtocolError).code).toBe(ErrorCode.TextDuplicate);
    const misplaced = watch.catch(() => initiator().respond([...targetChallenge(), ['CHAP_R', '0x00']]));
    expect(misplaced).toBeInstanceOf(NegotiationError);
    expect((misplaced as NegotiationError).key).toBe('CHAP_R');
  });

  it('CHAP_I outside 0..255 or not a number is a ProtocolError (TextValue)', () => {
    for (const id of ['256', '-1', '1000000', 'x', '', '0x100', '07']) {
      const e = watch.catch(() => initiator().respond(replace(targetChallenge(), 'CHAP_I', id)));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).code).toBe(ErrorCode.TextValue);
      expect((e as ProtocolError).message).toContain('CHAP_I');
    }
  });

  it('a malformed CHAP_C (bad hex or base64, empty, no prefix) is a ProtocolError that never shows the value', () => {
    for (const c of ['0xZZ', '0x', '', 'a0a1a2a3', '0bA', '0b====', '0b!!!!', '0x12 34']) {
      const e = watch.catch(() => initiator().respond(replace(targetChallenge(), 'CHAP_C', c)));
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).code).toBe(ErrorCode.TextValue);
      expect((e as ProtocolError).message).toContain('CHAP_C');
    }
  });

  it('CHAP_C over 1024 bytes is refused before decoding, even when huge (RFC 7143 §12.1.3)', () => {
    const over = watch.catch(() => initiator().respond(targetChallenge(5, 1, new Uint8Array(1025).fill(9))));
    expect(over).toBeInstanceOf(ProtocolError);
    expect((over as ProtocolError).limit).toBe(1024);
    const started = performance.now();
    const huge = watch.catch(() =>
      initiator().respond(replace(targetChallenge(), 'CHAP_C', `0x${'ab'.repeat(4_000_000)}`)),
    );
    expect(huge).toBeInstanceOf(ProtocolError);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('minChallengeLength refuses short target challenges (side "target")', () => {
    const e = authError(
      () => initiator({ minChallengeLength: 16 }).respond(targetChallenge(5, 1, CHALLENGE16.slice(0, 8))),
      'target',
    );
    expect(e.message).toMatch(/8 bytes/);
    expect(() => initiator({ minChallengeLength: 16 }).respond(targetChallenge())).not.toThrow();
    for (const bad of [0, 1025, 1.5])
      expect(() => initiator({ minChallengeLength: bad })).toThrow(InvalidArgumentError);
  });

  it('refuses a target challenge equal to one this initiator sent before (reflection, RFC 7143 §9.2.1)', () => {
    const log = new ChallengeLog();
    const first = initiator({ targetCredentials: TARGET, challengeLog: log });
    const ours = watch.see(first.respond(targetChallenge(5, 1)));
    expect(log.size).toBe(1);
    // A rogue "target" on a second connection replays our challenge to obtain our response to it.
    const second = initiator({ targetCredentials: TARGET, challengeLog: log });
    const reflected = replace(targetChallenge(5, Number(value(ours, 'CHAP_I'))), 'CHAP_C', value(ours, 'CHAP_C'));
    const e = authError(() => second.respond(reflected), 'target');
    expect(e.message).toMatch(/reflection/);
  });

  it('never answers the target challenge with the same challenge, even if the random source produces it', () => {
    let calls = 0;
    const echo = (n: number): Uint8Array => (calls++ === 1 ? CHALLENGE16.slice(0, n) : seededRandom(`echo${calls}`)(n));
    const out = initiator({ targetCredentials: TARGET, random: echo, algorithms: [5] }).respond(targetChallenge());
    expect(calls).toBe(3); // id, the colliding challenge, a fresh one
    expect(value(out, 'CHAP_C')).not.toBe(formatBinary(CHALLENGE16));
  });

  it('a random source that keeps repeating challenges, or returns the wrong length, is refused', () => {
    const log = new ChallengeLog();
    initiator({ targetCredentials: TARGET, random: stuckRandom(), challengeLog: log }).respond(targetChallenge());
    const e = watch.catch(() =>
      initiator({ targetCredentials: TARGET, random: stuckRandom(), challengeLog: log }).respond(targetChallenge()),
    );
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as Error).message).toMatch(/CSPRNG/);
    const short = watch.catch(() =>
      initiator({ targetCredentials: TARGET, random: (n) => new Uint8Array(n - 1) }).respond(targetChallenge()),
    );
    expect(short).toBeInstanceOf(InvalidArgumentError);
  });

  it('1000 instances with the default CSPRNG send 1000 distinct challenges', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const chap = new ChapInitiator({ credentials: INITIATOR, targetCredentials: TARGET, algorithms: [5] });
      seen.add(value(chap.respond(targetChallenge()), 'CHAP_C'));
    }
    expect(seen.size).toBe(1000);
  });

  it('calls out of order are InvalidArgumentErrors; a failed exchange cannot be resumed', () => {
    const chap = initiator();
    expect(() => chap.verify([])).toThrow(/before respond/);
    chap.respond(targetChallenge());
    expect(() => chap.respond(targetChallenge())).toThrow(/already called/);
    const failed = initiator();
    authError(() => failed.respond(targetChallenge(9)), 'target');
    expect(() => failed.respond(targetChallenge())).toThrow(/failed/);
  });
});

describe('ChapInitiator.verify (mutual CHAP, RFC 7143 §12.1.3, §9.2.1)', () => {
  function responded(algorithm = 5): { chap: ChapInitiator; ours: TextPair[] } {
    const chap = initiator({ targetCredentials: TARGET });
    const ours = watch.see(chap.respond(targetChallenge(algorithm))) as TextPair[];
    return { chap, ours };
  }

  for (const algorithm of [5, 6, 7, 8]) {
    it(`accepts the target's correct answer (CHAP_A=${algorithm})`, () => {
      const { chap, ours } = responded(algorithm);
      chap.verify(targetAnswer(algorithm, ours));
      expect(chap.done).toBe(true);
    });
  }

  it("accepts the target's CHAP_R in base64", () => {
    const { chap, ours } = responded();
    const answer = targetAnswer(5, ours);
    chap.verify(replace(answer, 'CHAP_R', formatBinary(parseBinary(value(answer, 'CHAP_R')), 'base64')));
    expect(chap.done).toBe(true);
  });

  it('a wrong target secret fails with side "target" and a message naming the target side', () => {
    const { chap, ours } = responded();
    const e = authError(() => chap.verify(targetAnswer(5, ours, Secret.from(SECRET_TEXTS.other))), 'target');
    expect(e.message).toBe("the target's CHAP response did not verify: wrong target secret?");
    expect(chap.done).toBe(false);
  });

  it('a wrong target user name fails with side "target"', () => {
    const { chap, ours } = responded();
    const e = authError(
      () => chap.verify(replace(targetAnswer(5, ours), 'CHAP_N', 'iqn.2024-01.test:impostor')),
      'target',
    );
    expect(e.message).toMatch(/CHAP_N/);
  });

  it("an answer computed with the initiator's own secret is refused (one secret for both directions)", () => {
    const { chap, ours } = responded();
    const e = authError(() => chap.verify(targetAnswer(5, ours, INITIATOR.secret)), 'target');
    expect(e.message).toMatch(/own secret/);
  });

  it('a CHAP_R of the wrong length fails; 20 bytes under CHAP_A=7 points at the tgt SHA-1 numbering', () => {
    const { chap, ours } = responded(7);
    const e = authError(
      () => chap.verify(replace(targetAnswer(7, ours), 'CHAP_R', formatBinary(new Uint8Array(20).fill(1)))),
      'target',
    );
    expect(e.message).toMatch(/20 bytes.*SHA-1.*tgt/);
    const other = responded(5);
    authError(() => other.chap.verify(replace(targetAnswer(5, other.ours), 'CHAP_R', '0x0102')), 'target');
  });

  it('missing CHAP_N or CHAP_R fails (side "target"); malformed CHAP_R is a ProtocolError', () => {
    for (const k of ['CHAP_N', 'CHAP_R']) {
      const { chap, ours } = responded();
      authError(() => chap.verify(replace(targetAnswer(5, ours), k, undefined)), 'target');
    }
    const { chap, ours } = responded();
    expect(watch.catch(() => chap.verify(replace(targetAnswer(5, ours), 'CHAP_R', '0xnothex')))).toBeInstanceOf(
      ProtocolError,
    );
  });

  it('one-way: verify accepts a final step without CHAP keys and refuses CHAP_N/CHAP_R', () => {
    const chap = initiator();
    chap.respond(targetChallenge());
    chap.verify([['TargetPortalGroupTag', '1']]);
    const other = initiator();
    other.respond(targetChallenge());
    expect(watch.catch(() => other.verify([['CHAP_N', 'x']]))).toBeInstanceOf(NegotiationError);
  });
});

describe('ChapInitiator configuration checks (RFC 7143 §9.2.1)', () => {
  it('identical initiator and target secrets are refused at construction (side "initiator")', () => {
    authError(
      () => initiator({ targetCredentials: { user: TARGET.user, secret: Secret.from(SECRET_TEXTS.initiator) } }),
      'initiator',
    );
  });

  it('a secret shorter than minSecretLength draws a warning without the secret, or an AuthError when refused', () => {
    const short = { user: 'u', secret: Secret.from(SECRET_TEXTS.short) };
    const warnings: string[] = [];
    initiator({ credentials: short, onWarning: (m) => warnings.push(m) });
    initiator({ targetCredentials: short, onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/initiator CHAP secret.*11 bytes.*12/);
    expect(warnings[1]).toMatch(/target CHAP secret/);
    for (const w of warnings) expect(w).not.toContain(SECRET_TEXTS.short);
    authError(() => initiator({ credentials: short, refuseShortSecrets: true }), 'initiator');
    // A 21-byte secret passes the default and fails a 32-byte policy.
    const custom: string[] = [];
    initiator({ minSecretLength: 32, onWarning: (m) => custom.push(m) });
    expect(custom).toHaveLength(1);
    expect(() => initiator({ minSecretLength: -1 })).toThrow(InvalidArgumentError);
  });

  it('without onWarning, warnings go to process.emitWarning', () => {
    const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      new ChapInitiator({ credentials: { user: 'u', secret: Secret.from(SECRET_TEXTS.short) } });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).not.toContain(SECRET_TEXTS.short);
    } finally {
      spy.mockRestore();
    }
  });

  it('missing credentials or a secret that is not a Secret are refused', () => {
    expect(() => new ChapInitiator({} as ChapInitiatorOptions)).toThrow(InvalidArgumentError);
    const plain = { user: 'u', secret: SECRET_TEXTS.initiator as unknown as Secret };
    expect(() => initiator({ credentials: plain })).toThrow(InvalidArgumentError);
    expect(() => initiator({ targetCredentials: plain })).toThrow(InvalidArgumentError);
  });

  it('empty, NUL-containing or over-long user names are refused', () => {
    for (const user of ['', 'a\0b', 'x'.repeat(256)]) {
      expect(() => initiator({ credentials: { user, secret: INITIATOR.secret } })).toThrow(InvalidArgumentError);
      expect(() => initiator({ targetCredentials: { user, secret: TARGET.secret } })).toThrow(InvalidArgumentError);
    }
  });
});
