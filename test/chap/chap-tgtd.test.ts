/**
 * ChapInitiator against a real target (tgtd 1.0.85) through a minimal hand-written security stage: Login Request
 * with AuthMethod=CHAP, then CHAP_A, then the response (RFC 7143 §12.1.3). It shows which algorithm tgtd picks
 * for each offer, that its challenges and responses verify with our code, and the CHAP_A=7 numbering quirk:
 * tgt selects 7 from the default offer 8,7,6,5 but means SHA-1 by it, so that offer fails against tgt.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChapAlgorithm, ChapInitiator, type ChapInitiatorOptions, chapResponse } from '../../src/chap/chap.js';
import { Secret } from '../../src/chap/secret.js';
import { AuthError } from '../../src/errors.js';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import { decodeText, encodeText, type TextPair } from '../../src/pdu/text.js';
import { formatBinary, parseBinary, parseNumber } from '../../src/pdu/text-values.js';
import type { LoginResponsePdu } from '../../src/pdu/types.js';
import { describePeers } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const IQN = {
  oneWay: 'iqn.2024-01.test.iscsi-ts:chap.oneway',
  mutual: 'iqn.2024-01.test.iscsi-ts:chap.mutual',
} as const;
// Throw-away credentials for a private loopback target.
const ONE_WAY = { user: 'chapunituser', secret: 'chapunitsecret1' } as const;
const MUTUAL = { user: 'chapmutualuser', secret: 'chapmutualsecr2' } as const;
const TARGET = { user: 'chapmutualtgt', secret: 'chapmutualtgts3' } as const;
const creds = (c: { user: string; secret: string }) => ({ user: c.user, secret: Secret.from(c.secret) });

/** What the security stage ended with. */
interface Outcome {
  /** The algorithm tgtd answered in CHAP_A. */
  chapA: string | undefined;
  /** Status-Class << 8 | Status-Detail of the last Login Response. */
  status: number;
  /** CHAP keys of the last Login Response (the target's CHAP_N/CHAP_R in mutual CHAP). */
  last: TextPair[];
}

/** A tiny login client: sends one Login Request per call and waits for one Login Response. */
class LoginWire {
  readonly #framer = new Framer();
  readonly #socket: Socket;
  #statSN = 0;
  #waiting: ((pdu: LoginResponsePdu) => void) | undefined;
  #queue: LoginResponsePdu[] = [];

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#framer.push(chunk);
      for (let f = this.#framer.next(); f; f = this.#framer.next()) {
        if (f.pdu.kind !== 'login-response') throw new Error(`unexpected ${f.pdu.kind}`);
        this.#queue.push(f.pdu);
      }
      if (this.#waiting && this.#queue.length > 0) this.#waiting(this.#queue.shift()!);
    });
  }

  async exchange(pairs: readonly TextPair[], transit: boolean): Promise<LoginResponsePdu> {
    const bytes = encodePduBytes({
      kind: 'login-request',
      ahs: [],
      data: encodeText(pairs),
      initiatorTaskTag: 1,
      transit,
      continue: false,
      currentStage: 0,
      nextStage: transit ? 1 : 0,
      versionMax: 0,
      versionMin: 0,
      isid: 0x80_00_12_34_56_78,
      tsih: 0,
      cid: 0,
      cmdSN: 1,
      expStatSN: this.#statSN,
    });
    this.#socket.write(bytes);
    const pdu = await new Promise<LoginResponsePdu>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no Login Response within 5 s')), 5000);
      this.#waiting = (p) => {
        clearTimeout(timer);
        resolve(p);
      };
      if (this.#queue.length > 0) this.#waiting(this.#queue.shift()!);
    });
    this.#waiting = undefined;
    this.#statSN = (pdu.statSN + 1) >>> 0;
    return pdu;
  }
}

/** Runs the security stage with `options` against target `iqn`; returns the final status and keys. */
async function securityStage(port: number, iqn: string, options: ChapInitiatorOptions): Promise<Outcome> {
  const chap = new ChapInitiator(options);
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  try {
    const wire = new LoginWire(socket);
    const status = (p: LoginResponsePdu): number => (p.statusClass << 8) | p.statusDetail;
    const identity: TextPair[] = [
      ['InitiatorName', 'iqn.2024-01.test.iscsi-ts:chap-unit'],
      ['SessionType', 'Normal'],
      ['TargetName', iqn],
      ['AuthMethod', 'CHAP'],
    ];
    const first = await wire.exchange(identity, true);
    expect(decodeText(first.data)).toContainEqual(['AuthMethod', 'CHAP']);
    // As libiscsi does: CHAP_A goes with T=0.
    const second = await wire.exchange(chap.offer(), false);
    if (status(second) !== 0) return { chapA: undefined, status: status(second), last: [] };
    const challengeKeys = decodeText(second.data);
    const chapA = challengeKeys.find(([k]) => k === 'CHAP_A')?.[1];
    const third = await wire.exchange(chap.respond(challengeKeys), true);
    const last = decodeText(third.data).filter(([k]) => k.startsWith('CHAP_'));
    if (status(third) === 0 && options.targetCredentials !== undefined) chap.verify(last);
    return { chapA, status: status(third), last };
  } finally {
    socket.destroy();
  }
}

describePeers(
  ['tgtd', 'tgtadm'],
  'ChapInitiator against tgtd (RFC 7143 §12.1.3)',
  () => {
    let tgtd: Tgtd | undefined;

    beforeAll(async () => {
      tgtd = await startTgtd({
        targets: [
          { iqn: IQN.oneWay, luns: [{ sizeBytes: 1024 * 1024 }], chap: ONE_WAY },
          { iqn: IQN.mutual, luns: [{ sizeBytes: 1024 * 1024 }], chap: MUTUAL, mutual: TARGET },
        ],
      });
    }, 60_000);

    afterAll(async () => {
      await tgtd?.stop();
    });

    it('one-way CHAP with MD5 (CHAP_A=5): tgtd accepts our response', async () => {
      const r = await securityStage(tgtd!.port, IQN.oneWay, { credentials: creds(ONE_WAY), algorithms: [5] });
      expect(r).toMatchObject({ chapA: '5', status: 0 });
    });

    it('mutual CHAP with MD5: tgtd accepts our response and its answer verifies', async () => {
      const r = await securityStage(tgtd!.port, IQN.mutual, {
        credentials: creds(MUTUAL),
        targetCredentials: creds(TARGET),
        algorithms: [5],
      });
      expect(r.chapA).toBe('5');
      expect(r.status).toBe(0);
      expect(r.last.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R']);
    });

    it('a wrong secret is refused by tgtd with 0x0201 (authentication failure)', async () => {
      const r = await securityStage(tgtd!.port, IQN.oneWay, {
        credentials: { user: ONE_WAY.user, secret: Secret.from('notthesecret12') },
        algorithms: [5],
      });
      expect(r.status).toBe(0x0201);
    });

    it('a wrong target secret fails verify() with side "target"', async () => {
      const err = await securityStage(tgtd!.port, IQN.mutual, {
        credentials: creds(MUTUAL),
        targetCredentials: { user: TARGET.user, secret: Secret.from('wrongtargetsecret') },
        algorithms: [5],
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).side).toBe('target');
    });

    it('offer 8,6,5 (no 7): tgtd, which knows only 5 and its own 7, picks 5 and accepts', async () => {
      const r = await securityStage(tgtd!.port, IQN.mutual, {
        credentials: creds(MUTUAL),
        targetCredentials: creds(TARGET),
        algorithms: [8, 6, 5],
      });
      expect(r).toMatchObject({ chapA: '5', status: 0 });
    });

    it('the CHAP_A=7 quirk: tgtd answers the default offer 8,7,6,5 with 7 and refuses our SHA-256 response', async () => {
      const r = await securityStage(tgtd!.port, IQN.oneWay, { credentials: creds(ONE_WAY) });
      // tgt maps CHAP_A=7 to SHA-1 and cannot even decode a 32-byte CHAP_R: Login reject 0x0200 (initiator error).
      expect(r.chapA).toBe('7');
      expect(r.status).toBe(0x0200);
    });

    it('the CHAP_A=7 quirk: under CHAP_A=7 tgtd accepts a SHA-1 response (so its 7 means SHA-1)', async () => {
      const socket = connect({ host: '127.0.0.1', port: tgtd!.port });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      try {
        const wire = new LoginWire(socket);
        await wire.exchange(
          [
            ['InitiatorName', 'iqn.2024-01.test.iscsi-ts:chap-unit'],
            ['SessionType', 'Normal'],
            ['TargetName', IQN.oneWay],
            ['AuthMethod', 'CHAP'],
          ],
          true,
        );
        const keys = decodeText((await wire.exchange([['CHAP_A', '7']], false)).data);
        const get = (k: string): string => keys.find(([key]) => key === k)![1];
        expect(get('CHAP_A')).toBe('7');
        const id = parseNumber(get('CHAP_I'), { max: 255 });
        const challenge = parseBinary(get('CHAP_C'));
        const sha1 = chapResponse(ChapAlgorithm.SHA1, id, Secret.from(ONE_WAY.secret), challenge);
        const done = await wire.exchange(
          [
            ['CHAP_N', ONE_WAY.user],
            ['CHAP_R', formatBinary(sha1)],
          ],
          true,
        );
        expect((done.statusClass << 8) | done.statusDetail).toBe(0);
      } finally {
        socket.destroy();
      }
    });
  },
  { root: true },
);
