/**
 * The target's login as a sans-IO state machine (RFC 7143 §6.3, §11.12, §11.13), the mirror of the initiator's
 * `LoginMachine`: it consumes Login Requests and produces Login Responses, owns no socket and keeps no global
 * state, so an embedded target, a test target and property tests drive the same code. One instance per connection.
 *
 * - The first request's text names the initiator, the session type and (Normal sessions) the target (§13.4,
 *   §13.5, §13.21); the first answer declares TargetPortalGroupTag (§13.9) and TargetAlias.
 * - Security stage (CSG 0): AuthMethod, then CHAP through a `ChapResponder` (see `login-security.ts`).
 * - Operational stage (CSG 1): a `Negotiator` with role `'target'` answers the initiator's offers and offers
 *   what this target's limits cannot leave at the default.
 * - The target moves to the next stage only when the request has T=1 (§11.13.6), and never with offers still
 *   waiting for an answer. The final response carries the TSIH of a new session (§11.13).
 * - Continued requests (C=1) are acknowledged with empty responses; text longer than `maxSendSegment` goes out
 *   in responses with C=1 that the initiator pulls with empty requests (§6.1).
 * - Every peer mistake becomes a `reject` step with a Login status (§11.13.5); only programming errors throw.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { AuthError, InvalidArgumentError, IscsiError, NegotiationError, ProtocolError } from '../errors.js';
import { encodeText, splitText, type TextPair, TextReassembler } from '../pdu/text.js';
import type { LoginRequestPdu, LoginResponsePdu, Pdu } from '../pdu/types.js';
import { isAuthenticationKey } from '../session/keys.js';
import { Stage } from '../session/login.js';
import { Negotiator } from '../session/negotiate.js';
import { identify, type LoginSession } from './login-identify.js';
import { LoginRefusal } from './login-security.js';
import {
  LoginStatus,
  type TargetLoginOptions,
  type TargetLoginResult,
  type TargetLoginStep,
  type TargetRedirect,
} from './login-types.js';

export * from './login-types.js';

/** The iSCSI version this target speaks (RFC 7143 §11.12.4: 0x00). */
const VERSION = 0;
const EMPTY = new Uint8Array(0);

/** Fields fixed by the first request: later requests of the login must repeat them (§11.12). */
interface FirstRequest {
  readonly isid: number;
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSN: number;
  readonly versionMax: number;
  readonly versionMin: number;
}

/** How the response to the current request ends: its T bit, NSG, and the result when it is the final one. */
interface Plan {
  readonly transit: boolean;
  readonly nextStage: number;
  readonly final?: Omit<TargetLoginResult, 'tsih' | 'statSN'>;
}

/** The fields a response copies from its request. */
type Echo = Pick<LoginRequestPdu, 'isid' | 'tsih' | 'initiatorTaskTag' | 'currentStage' | 'cmdSN'>;

/** The target side of one login. See the module documentation. */
export class TargetLoginMachine {
  readonly #o: TargetLoginOptions;
  readonly #incoming = new TextReassembler({ repeatableKeys: [] });
  readonly #window: number;
  readonly #maxSend: number;
  readonly #maxRequests: number;
  #statSN: number;
  #requests = 0;
  #over = false;
  #first: FirstRequest | undefined;
  #stage = -1;
  #session: LoginSession | undefined;
  #outgoing: Uint8Array[] = [];
  #plan: Plan = { transit: false, nextStage: 0 };
  #needsOperational: boolean | undefined;

  constructor(options: TargetLoginOptions) {
    const tpgt = options.portalGroupTag;
    if (!Number.isInteger(tpgt) || tpgt < 0 || tpgt > 0xffff) {
      throw new InvalidArgumentError(`portalGroupTag must be 0..65535, got ${tpgt}`);
    }
    if (typeof options.tsih !== 'function') throw new InvalidArgumentError('TargetLoginMachine needs a tsih allocator');
    this.#window = integer(options.commandWindow ?? 32, 1, 2 ** 31, 'commandWindow');
    this.#maxSend = integer(options.maxSendSegment ?? 8192, 1, 2 ** 24 - 1, 'maxSendSegment');
    this.#maxRequests = integer(options.maxRequests ?? 256, 1, 2 ** 31, 'maxRequests');
    const statSN = options.statSN ?? randomStatSN(options.random);
    this.#statSN = integer(statSN, 0, 0xffffffff, 'statSN');
    // Validates the offer now (a configuration error), rather than at the first login.
    new Negotiator({ role: 'target', sessionType: 'Normal', local: options.offer });
    this.#o = options;
  }

  /** Whether the login is over: a `done` or `reject` step was returned. */
  get finished(): boolean {
    return this.#over;
  }

  /**
   * Handles one PDU from the initiator. Anything but a Login Request during login is refused with 0x020b.
   * @throws InvalidArgumentError when called after the login ended, or when the configuration (a callback, the
   *   TSIH allocator, a TargetAlias) is at fault
   */
  receive(pdu: Pdu): TargetLoginStep {
    if (this.#over) throw new InvalidArgumentError('TargetLoginMachine.receive() after the login ended');
    let step: TargetLoginStep;
    try {
      step =
        pdu.kind === 'login-request'
          ? this.#step(pdu)
          : this.#refusal(this.#echo(pdu), LoginStatus.InvalidDuringLogin, `a ${pdu.kind} PDU during login`);
    } catch (error) {
      const status = refusalStatus(error);
      if (status === undefined) throw error;
      const echo = pdu.kind === 'login-request' ? pdu : this.#echo(pdu);
      step = this.#refusal(echo, status, (error as Error).message);
    }
    if (step.kind !== 'send') this.#over = true;
    return step;
  }

  #step(req: LoginRequestPdu): TargetLoginStep {
    if (++this.#requests > this.#maxRequests) {
      throw new LoginRefusal(LoginStatus.InitiatorError, `more than ${this.#maxRequests} Login Requests`);
    }
    this.#checkHeader(req);
    // Our text continues: the initiator pulls each piece with an empty request (§6.1).
    if (this.#outgoing.length > 0) {
      if (req.data.length > 0 || req.continue) {
        throw new LoginRefusal(LoginStatus.InvalidDuringLogin, 'expected an empty request for the rest of our text');
      }
      return this.#nextPiece(req);
    }
    const text = this.#incoming.push(req.data, req.continue);
    // The initiator's text continues: acknowledge the piece with an empty response (§6.1, §11.12.2).
    if (text === undefined) return { kind: 'send', pdu: this.#response(req, EMPTY, { transit: false, nextStage: 0 }) };
    let declarations: readonly TextPair[] = [];
    let session = this.#session;
    let fresh: readonly TextPair[] = text;
    if (session === undefined) {
      const identified = identify(this.#o, req, text);
      if ('redirect' in identified) return this.#redirect(req, identified.redirect);
      session = this.#session = identified;
      declarations = identified.declarations;
    } else fresh = withoutRepeatedIdentity(session, text);
    const stage = req.currentStage;
    const answer =
      stage === Stage.Security ? this.#security(session, req, fresh) : this.#operational(session, req, fresh);
    const sent = [...declarations, ...answer.keys];
    this.#o.onExchange?.({ stage, received: text, sent });
    this.#outgoing = splitText(encodeOurs(sent), this.#maxSend);
    this.#plan = answer.plan;
    return this.#nextPiece(req);
  }

  /** RFC 7143 §11.12: the checks every Login Request gets before its text is read. */
  #checkHeader(req: LoginRequestPdu): void {
    const first = this.#first;
    if (first === undefined) {
      // §11.12.4: Version-min above what we speak leaves no common version.
      if (req.versionMin > VERSION) {
        throw new LoginRefusal(LoginStatus.UnsupportedVersion, `iSCSI version ${req.versionMin} or later asked`);
      }
      this.#first = {
        isid: req.isid,
        tsih: req.tsih,
        cid: req.cid,
        cmdSN: req.cmdSN,
        versionMax: req.versionMax,
        versionMin: req.versionMin,
      };
    } else {
      for (const field of ['isid', 'tsih', 'cid', 'versionMax', 'versionMin'] as const) {
        if (req[field] !== first[field]) {
          throw new LoginRefusal(LoginStatus.InvalidDuringLogin, `${field} changed during the login`);
        }
      }
    }
    if (req.currentStage !== Stage.Security && req.currentStage !== Stage.Operational) {
      throw new LoginRefusal(LoginStatus.InvalidDuringLogin, `CSG ${req.currentStage} is not a login stage`);
    }
    // §11.12.2: T and C are exclusive. §11.12.3: the next stage lies ahead, and 2 is reserved.
    if (req.transit && req.continue) throw new LoginRefusal(LoginStatus.InvalidDuringLogin, 'T and C both set');
    if (req.transit && (req.nextStage <= req.currentStage || req.nextStage === 2)) {
      throw new LoginRefusal(
        LoginStatus.InvalidDuringLogin,
        `transit from stage ${req.currentStage} to ${req.nextStage}`,
      );
    }
    if (this.#stage >= 0 && req.currentStage !== this.#stage) {
      throw new LoginRefusal(
        LoginStatus.InvalidDuringLogin,
        `Login Request in stage ${req.currentStage}, but the login is in stage ${this.#stage}`,
      );
    }
    this.#stage = req.currentStage;
  }

  #security(session: LoginSession, req: LoginRequestPdu, text: readonly TextPair[]): { keys: TextPair[]; plan: Plan } {
    const answers = session.negotiator.receive(this.#forNegotiator(text, true), 'security');
    const keys = [...session.security.step(text, req.transit), ...answers];
    if (!req.transit || !session.security.done) return { keys, plan: { transit: false, nextStage: 0 } };
    // Straight to the Full Feature Phase only when the operational stage has nothing this target must offer.
    if (req.nextStage === Stage.FullFeature && !this.#operationalNeeded(session)) {
      return { keys, plan: { transit: true, nextStage: Stage.FullFeature, final: this.#final(session) } };
    }
    return { keys, plan: { transit: true, nextStage: Stage.Operational } };
  }

  #operational(
    session: LoginSession,
    req: LoginRequestPdu,
    text: readonly TextPair[],
  ): { keys: TextPair[]; plan: Plan } {
    const { negotiator } = session;
    const keys = negotiator.receive(this.#forNegotiator(text, false), 'operational');
    keys.push(...negotiator.offers());
    // §11.13.6: a response with T=1 must not carry keys that need an answer in this stage.
    if (!req.transit || negotiator.pending().length > 0) return { keys, plan: { transit: false, nextStage: 0 } };
    return { keys, plan: { transit: true, nextStage: Stage.FullFeature, final: this.#final(session) } };
  }

  /**
   * The pairs the negotiator checks: everything but the authentication keys (ours to handle). On a connection
   * joining a session, SessionType is dropped: it is leading-only (§13.21), yet initiators commonly repeat it.
   */
  #forNegotiator(text: readonly TextPair[], security: boolean): TextPair[] {
    const leading = this.#first!.tsih === 0;
    return text.filter(([k]) => !(security && isAuthenticationKey(k)) && (leading || k !== 'SessionType'));
  }

  /** Whether this target has operational keys to offer (its limits differ from the defaults). */
  #operationalNeeded(session: LoginSession): boolean {
    if (this.#needsOperational === undefined) {
      const probe = new Negotiator({ role: 'target', sessionType: session.sessionType, local: this.#o.offer });
      probe.offers();
      this.#needsOperational = probe.pending().length > 0;
    }
    return this.#needsOperational;
  }

  /** The result of the login, checked now so that a failing negotiation is refused before anything is sent. */
  #final(session: LoginSession): Omit<TargetLoginResult, 'tsih' | 'statSN'> {
    const first = this.#first!;
    const chap = session.security.chap;
    return {
      params: session.negotiator.result(),
      initiatorName: session.initiatorName,
      targetName: session.targetName,
      sessionType: session.sessionType,
      isid: first.isid,
      newSession: first.tsih === 0,
      cid: first.cid,
      expCmdSN: first.cmdSN,
      maxCmdSN: this.#maxCmdSN(first.cmdSN),
      ...(chap ? { chap } : {}),
    };
  }

  #nextPiece(req: LoginRequestPdu): TargetLoginStep {
    const piece = this.#outgoing.shift()!;
    const last = this.#outgoing.length === 0;
    const { nextStage, final } = this.#plan;
    if (!last) return { kind: 'send', pdu: this.#response(req, piece, { transit: false, nextStage: 0, cont: true }) };
    // §11.13.6: T=1 only in answer to T=1. An initiator that pulled our text with T=0 gets T=0 and asks again.
    const transit = this.#plan.transit && req.transit;
    if (!transit || final === undefined) {
      const pdu = this.#response(req, piece, { transit, nextStage });
      if (transit) this.#stage = nextStage;
      return { kind: 'send', pdu };
    }
    // §11.13: a new session's TSIH goes in the final response only, so it is allocated here.
    const tsih = this.#first!.tsih === 0 ? this.#allocateTsih() : this.#first!.tsih;
    const response = this.#response(req, piece, { transit: true, nextStage: Stage.FullFeature, tsih });
    return { kind: 'done', response, result: { ...final, tsih, statSN: this.#statSN } };
  }

  #allocateTsih(): number {
    const tsih = this.#o.tsih();
    if (tsih === undefined) throw new LoginRefusal(LoginStatus.OutOfResources, 'no TSIH left for a new session');
    if (!Number.isInteger(tsih) || tsih < 1 || tsih > 0xffff) {
      throw new InvalidArgumentError(`the TSIH allocator returned ${tsih}; TSIHs are 1..65535`);
    }
    return tsih;
  }

  #redirect(req: LoginRequestPdu, redirect: TargetRedirect): TargetLoginStep {
    const status = redirect.permanent ? LoginStatus.MovedPermanently : LoginStatus.MovedTemporarily;
    const data = encodeOurs([['TargetAddress', redirect.targetAddress]]);
    const response = this.#response(req, data, { transit: false, nextStage: 0, status });
    return { kind: 'reject', response, reason: `redirected to ${redirect.targetAddress}` };
  }

  #refusal(echo: Echo, status: number, reason: string): TargetLoginStep {
    const response = this.#response(echo, EMPTY, { transit: false, nextStage: 0, status });
    return { kind: 'reject', response, reason };
  }

  /** What a response to a PDU that is not a Login Request echoes. */
  #echo(pdu: Pdu): Echo {
    const first = this.#first;
    return {
      isid: first?.isid ?? 0,
      tsih: first?.tsih ?? 0,
      initiatorTaskTag: pdu.initiatorTaskTag,
      currentStage: Math.max(this.#stage, 0),
      cmdSN: first?.cmdSN ?? ('cmdSN' in pdu ? pdu.cmdSN : 0),
    };
  }

  #maxCmdSN(cmdSN: number): number {
    return (cmdSN + this.#window - 1) >>> 0;
  }

  #response(
    echo: Echo,
    data: Uint8Array,
    f: { transit: boolean; nextStage: number; cont?: boolean; tsih?: number; status?: number },
  ): LoginResponsePdu {
    const status = f.status ?? LoginStatus.Success;
    // §11.12.8: the login's CmdSN is that of the first request; login requests do not advance it.
    const cmdSN = this.#first?.cmdSN ?? echo.cmdSN;
    const statSN = this.#statSN;
    // §11.13.4: each response, login ones included, takes the next StatSN.
    this.#statSN = (statSN + 1) >>> 0;
    return {
      kind: 'login-response',
      transit: f.transit,
      continue: f.cont ?? false,
      // A refused request's reserved CSG 2 is not echoed (found by `iscsi-ts fuzz`): the login's own stage instead.
      currentStage: echo.currentStage === 2 ? Math.max(this.#stage, 0) : echo.currentStage & 3,
      nextStage: f.transit ? f.nextStage : 0,
      versionMax: VERSION,
      versionActive: VERSION,
      isid: echo.isid,
      tsih: f.tsih ?? echo.tsih,
      initiatorTaskTag: echo.initiatorTaskTag,
      statSN,
      expCmdSN: cmdSN,
      maxCmdSN: this.#maxCmdSN(cmdSN),
      statusClass: status >> 8,
      statusDetail: status & 0xff,
      ahs: [],
      data,
    };
  }
}

/** The Login status for a peer mistake, or `undefined` for an error that is ours (it is rethrown). */
function refusalStatus(error: unknown): number | undefined {
  if (error instanceof LoginRefusal) return error.status;
  if (error instanceof AuthError) return LoginStatus.AuthenticationFailure;
  // Malformed text (§6.1), a key negotiation that broke §6 or §13: "initiator error".
  if (error instanceof ProtocolError || error instanceof NegotiationError) return LoginStatus.InitiatorError;
  return undefined;
}

/** Encodes our own keys; a failure is a configuration error (e.g. a TargetAlias too long), not the peer's. */
function encodeOurs(pairs: readonly TextPair[]): Uint8Array {
  try {
    return encodeText(pairs, { repeatableKeys: [] });
  } catch (error) {
    if (!(error instanceof IscsiError)) throw error;
    throw new InvalidArgumentError(`cannot encode the target's login keys: ${error.message}`);
  }
}

function integer(n: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be ${min}..${max}`);
  return n;
}

function randomStatSN(random: TargetLoginOptions['random']): number {
  const bytes = random === undefined ? randomBytes(4) : random(4);
  if (bytes.length !== 4) throw new InvalidArgumentError('the random source returned something other than 4 bytes');
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/**
 * The text of a later request without the identity keys the first request declared, when they are repeated with
 * the same value: libiscsi sends InitiatorName again after `AuthMethod=None` is chosen. Declaring a key twice
 * breaks §6.3 in the letter, but a repeat that changes nothing is harmless and accepted (as tgtd does); a repeat
 * with another value is still refused as an initiator error.
 */
function withoutRepeatedIdentity(session: LoginSession, text: readonly TextPair[]): readonly TextPair[] {
  const declared: Readonly<Record<string, string | undefined>> = {
    InitiatorName: session.initiatorName,
    TargetName: session.targetName,
    SessionType: session.sessionType,
  };
  return text.filter(([key, value]) => {
    if (!(key in declared)) return true;
    if (declared[key] === value) return false;
    throw new LoginRefusal(LoginStatus.InitiatorError, `${key} changed during the login`);
  });
}
