import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHAP_ALGORITHMS,
  ChapAlgorithm,
  chapAlgorithmName,
  chapDigestLength,
  chapResponse,
  isChapAlgorithm,
} from '../../src/chap/algorithms.js';
import { Secret } from '../../src/chap/secret.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { describePeers, findTool } from '../helpers/peers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** `openssl dgst` option for each CHAP_A number. */
const OPENSSL_DIGEST: Record<number, string> = { 5: '-md5', 6: '-sha1', 7: '-sha256', 8: '-sha3-256' };

/** H(id || secret || challenge) computed by openssl, an implementation independent of @noble/hashes. */
function opensslResponse(algorithm: number, id: number, secret: Uint8Array, challenge: Uint8Array): Uint8Array {
  const input = Buffer.concat([Uint8Array.of(id), secret, challenge]);
  const r = spawnSync(findTool('openssl') ?? 'openssl', ['dgst', OPENSSL_DIGEST[algorithm]!, '-binary'], {
    input,
    timeout: 10_000,
  });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`openssl failed: ${r.error?.message ?? r.stderr.toString()}`);
  }
  return Uint8Array.from(r.stdout);
}

describe('CHAP algorithm table (IANA PPP Authentication Algorithms, RFC 7143 §12.1.3)', () => {
  it('numbers 5, 6, 7, 8 are MD5, SHA-1, SHA-256, SHA3-256 with 16/20/32/32-byte digests', () => {
    expect(ChapAlgorithm).toEqual({ MD5: 5, SHA1: 6, SHA256: 7, SHA3_256: 8 });
    expect([5, 6, 7, 8].map(chapAlgorithmName)).toEqual(['MD5', 'SHA-1', 'SHA-256', 'SHA3-256']);
    expect([5, 6, 7, 8].map(chapDigestLength)).toEqual([16, 20, 32, 32]);
    expect(CHAP_ALGORITHMS).toEqual([8, 7, 6, 5]);
  });

  it('other numbers are not algorithms', () => {
    for (const n of [0, 1, 4, 9, 128, 129, -5, 5.5, Number.NaN]) {
      expect(isChapAlgorithm(n)).toBe(false);
      expect(() => chapAlgorithmName(n)).toThrow(InvalidArgumentError);
      expect(() => chapDigestLength(n)).toThrow(InvalidArgumentError);
    }
  });
});

describe('chapResponse = H(CHAP_I || secret || CHAP_C) (RFC 1994 §4.1)', () => {
  // Fixed vectors produced with `openssl dgst -<alg> -binary` over id || secret || challenge; they run without
  // openssl on the machine.
  const vectors = [
    {
      algorithm: 5,
      id: 0x01,
      secret: 'tgtchapsecret1',
      challenge: '00112233445566778899aabbccddeeff',
      response: 'afda786b62bdc8f6515d0fea0ce80381',
    },
    {
      algorithm: 6,
      id: 0x2a,
      secret: 'initiator-secret-12',
      challenge: '000102030405060708090a0b0c0d0e0f10111213',
      response: '4b3c78ee52a034d65126e72203dc2764f643b1f4',
    },
    {
      algorithm: 7,
      id: 0xff,
      secret: 'mutual target secret',
      challenge: '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
      response: '2cfed44adcf6caaca980a4c1c5e8c61cb7184d230c95412a05303e5899a85074',
    },
    {
      algorithm: 8,
      id: 0x00,
      secret: 'été secret ✓',
      challenge: 'deadbeef',
      response: '098939a4ffdb3389f8133783b994291a286a31846075f08e901f0eec28d736b4',
    },
  ];
  for (const v of vectors) {
    it(`${chapAlgorithmName(v.algorithm)} (CHAP_A=${v.algorithm}) fixed vector from openssl`, () => {
      const out = chapResponse(v.algorithm, v.id, Secret.from(v.secret), fromHex(v.challenge));
      expect(hex(out)).toBe(v.response);
      expect(out.length).toBe(chapDigestLength(v.algorithm));
    });
  }

  it('the identifier is one octet in front of the secret, then the challenge (order matters)', () => {
    const secret = Secret.from('abcdefghijklmnop');
    const challenge = fromHex('0102030405060708090a0b0c0d0e0f10');
    const a = chapResponse(5, 1, secret, challenge);
    expect(hex(a)).not.toBe(hex(chapResponse(5, 2, secret, challenge)));
    expect(hex(a)).not.toBe(hex(chapResponse(5, 1, Secret.from('abcdefghijklmnoq'), challenge)));
    expect(hex(a)).not.toBe(hex(chapResponse(5, 1, secret, challenge.slice().reverse())));
  });

  it('rejects identifiers outside 0..255, unknown algorithms and empty challenges', () => {
    const secret = Secret.from('abcdefghijklmnop');
    const c = Uint8Array.of(1);
    for (const id of [-1, 256, 1.5, Number.NaN]) {
      expect(() => chapResponse(5, id, secret, c)).toThrow(InvalidArgumentError);
    }
    expect(() => chapResponse(4, 0, secret, c)).toThrow(InvalidArgumentError);
    expect(() => chapResponse(5, 0, secret, new Uint8Array(0))).toThrow(InvalidArgumentError);
  });

  it('does not modify its inputs', () => {
    const secretBytes = utf8('do-not-touch-me!');
    const secret = Secret.from(secretBytes);
    const challenge = fromHex('00ff00ff00ff00ff');
    const copy = challenge.slice();
    chapResponse(8, 9, secret, challenge);
    expect(challenge).toEqual(copy);
    expect(hex(secretBytes)).toBe(hex(utf8('do-not-touch-me!')));
  });
});

describePeers(['openssl'], 'chapResponse against openssl dgst (independent implementation)', () => {
  for (const algorithm of [5, 6, 7, 8]) {
    it(`${chapAlgorithmName(algorithm)}: random ids, secrets and challenges agree with openssl`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 255 }),
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.uint8Array({ minLength: 1, maxLength: 1024 }),
          (id, secretBytes, challenge) => {
            const ours = chapResponse(algorithm, id, Secret.from(secretBytes), challenge);
            expect(hex(ours)).toBe(hex(opensslResponse(algorithm, id, secretBytes, challenge)));
          },
        ),
        { numRuns: 25 },
      );
    });
  }

  it('the 1024-byte maximum challenge and a 255 identifier agree with openssl for every algorithm', () => {
    const secret = randomBytes(32);
    const challenge = randomBytes(1024);
    for (const algorithm of [5, 6, 7, 8]) {
      expect(hex(chapResponse(algorithm, 255, Secret.from(secret), challenge))).toBe(
        hex(opensslResponse(algorithm, 255, secret, challenge)),
      );
    }
  });
});
