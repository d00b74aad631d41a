/**
 * The initiator's login as a sans-IO state machine (RFC 7143 §6.3, §11.12, §11.13): it consumes Login Responses
 * and produces Login Requests, and owns no socket, so the TCP initiator, tests with a scripted target and the
 * kernel hand-off drive the same code.
 *
 * Stages: SecurityNegotiation (CSG 0, only with CHAP) → LoginOperationalNegotiation (CSG 1) → FullFeaturePhase.
 * Text that does not fit in one PDU is sent with C=1 piece by piece (each piece acknowledged by an empty response),
 * and continued responses are asked for with empty requests (§6.1, §11.12.2).
 * @module
 */
import { type ChapCredentials, ChapInitiator, type ChapInitiatorOptions } from '../chap/chap.js';
import { AuthError, ErrorCode, NegotiationError, ProtocolError } from '../errors.js';
import { encodeText, splitText, type TextPair, TextReassembler } from '../pdu/text.js';
import type { LoginRequestPdu, Pdu } from '../pdu/types.js';
import { loginError, StatusClass } from './login-status.js';
import { type LocalOffer, Negotiator } from './negotiate.js';
import type { NegotiatedParameters } from './params.js';

/** Login stages (CSG/NSG values, §11.12.3). */
export const Stage = { Security: 0, Operational: 1, FullFeature: 3 } as const;

/** CHAP settings of a login. */
export interface LoginChap extends Omit<ChapInitiatorOptions, 'credentials' | 'targetCredentials'> {
  readonly credentials: ChapCredentials;
  /** The target's credentials: asks for mutual CHAP. */
  readonly targetCredentials?: ChapCredentials;
}

/** What the login machine needs. */
export interface LoginMachineOptions {
  readonly initiatorName: string;
  readonly initiatorAlias?: string;
  readonly sessionType: 'Normal' | 'Discovery';
  /** Required for Normal sessions. */
  readonly targetName?: string;
  /** The ISID (see isid.ts); the session keeps it across reconnects so the target can reinstate. */
  readonly isid: number;
  /** 0 for a new session, the target's TSIH to reinstate or add a connection. */
  readonly tsih?: number;
  readonly cid?: number;
  /** CmdSN of the login; the first command of the session uses it too. */
  readonly cmdSN?: number;
  readonly initiatorTaskTag?: number;
  /** CHAP credentials: the login then goes through the security stage with AuthMethod=CHAP. */
  readonly chap?: LoginChap;
  /** Operational values to offer. */
  readonly offer?: Partial<LocalOffer>;
  /** Largest data segment to send during login (default 8192, RFC 7143 §13.12). */
  readonly maxSendSegment?: number;
  /** Called with each completed exchange, for logs (keys are not redacted here). */
  readonly onExchange?: (exchange: LoginExchange) => void;
}

/** One request/response text exchange, reported to {@link LoginMachineOptions.onExchange}. */
export interface LoginExchange {
  readonly stage: number;
  readonly received: readonly TextPair[];
  readonly sent: readonly TextPair[];
}

/** The outcome of a successful login. */
export interface LoginResult {
  readonly params: NegotiatedParameters;
  readonly isid: number;
  /** The target's session handle. */
  readonly tsih: number;
  /** CmdSN for the first command. */
  readonly cmdSN: number;
  /** StatSN expected next. */
  readonly expStatSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
  /** The CHAP algorithm used (CHAP_A), when CHAP ran. */
  readonly chapAlgorithm?: number;
}

/** What to do next. */
export type LoginStep =
  | { readonly kind: 'send'; readonly pdu: LoginRequestPdu }
  | { readonly kind: 'done'; readonly result: LoginResult }
  | { readonly kind: 'redirect'; readonly targetAddress: string; readonly permanent: boolean };

type Security = 'auth-method' | 'chap-a' | 'chap-response' | 'done';

/** A stage handler's outcome: a request to send, or the negotiated parameters when the target entered FFP. */
type Inner =
  | Extract<LoginStep, { kind: 'send' }>
  | { readonly kind: 'finished'; readonly params: NegotiatedParameters };

/** The initiator side of one login. See the module documentation. */
export class LoginMachine {
  readonly #o: LoginMachineOptions;
  readonly #negotiator: Negotiator;
  readonly #chap: ChapInitiator | undefined;
  readonly #incoming = new TextReassembler({ allowDuplicates: false });
  #stage: number;
  #security: Security = 'auth-method';
  #outgoing: Uint8Array[] = [];
  #transit = false;
  #nextStage = 0;
  #sentKeys: readonly TextPair[] = [];
  #expStatSN = 0;
  #started = false;
  readonly #itt: number;
  readonly #cmdSN: number;

  constructor(options: LoginMachineOptions) {
    if (options.sessionType === 'Normal' && !options.targetName) {
      throw new NegotiationError('a Normal session needs a TargetName', 'TargetName');
    }
    this.#o = options;
    this.#itt = options.initiatorTaskTag ?? 0;
    this.#cmdSN = options.cmdSN ?? 0;
    // A connection joining a session (TSIH ≠ 0) offers no leading-only keys (§13, LO).
    this.#negotiator = new Negotiator({
      role: 'initiator',
      sessionType: options.sessionType,
      leadingConnection: (options.tsih ?? 0) === 0,
      ...(options.offer ? { local: options.offer } : {}),
    });
    this.#chap = options.chap && new ChapInitiator(options.chap);
    this.#stage = options.chap ? Stage.Security : Stage.Operational;
  }

  /** The CHAP algorithm the target chose (CHAP_A), once it has; also after a failure. */
  get chapAlgorithm(): number | undefined {
    return this.#chap?.chosenAlgorithm;
  }

  /** The first Login Request. */
  start(): LoginStep {
    if (this.#started) throw new ProtocolError(ErrorCode.InvalidArgument, 'login already started');
    this.#started = true;
    const identity: TextPair[] = [['InitiatorName', this.#o.initiatorName]];
    if (this.#o.initiatorAlias) identity.push(['InitiatorAlias', this.#o.initiatorAlias]);
    identity.push(['SessionType', this.#o.sessionType]);
    if (this.#o.targetName) identity.push(['TargetName', this.#o.targetName]);
    if (this.#chap) return this.#send([...identity, ['AuthMethod', 'CHAP']], true, Stage.Operational);
    return this.#send([...identity, ...this.#negotiator.offers()], true, Stage.FullFeature);
  }

  /** Handles the target's answer. */
  receive(pdu: Pdu): LoginStep {
    if (pdu.kind !== 'login-response') {
      throw new ProtocolError(ErrorCode.PduField, `expected a Login Response during login, got ${pdu.kind}`);
    }
    if (pdu.initiatorTaskTag !== this.#itt) {
      throw new ProtocolError(ErrorCode.PduField, 'Login Response for another login (its ITT differs)');
    }
    this.#expStatSN = (pdu.statSN + 1) >>> 0;
    const text = this.#incoming.push(pdu.data, pdu.continue);
    if (pdu.statusClass !== StatusClass.Success) {
      if (pdu.statusClass === StatusClass.Redirection) {
        const address = text?.find(([k]) => k === 'TargetAddress')?.[1];
        if (!address) throw new NegotiationError('redirect without a TargetAddress', 'TargetAddress');
        return { kind: 'redirect', targetAddress: address, permanent: pdu.statusDetail === 2 };
      }
      throw loginError(pdu.statusClass, pdu.statusDetail, this.#o.targetName);
    }
    // Checked after the status: targets answer refusals with ISID 0 (tgtd does).
    if (pdu.isid !== this.#o.isid)
      throw new ProtocolError(ErrorCode.PduField, 'Login Response for another session (its ISID differs)');
    // Our text continues: the target acknowledges each piece with an empty response (§6.1).
    if (this.#outgoing.length > 0) return this.#nextPiece();
    // The target's text continues: ask for the rest with an empty request.
    if (text === undefined) return this.#request(new Uint8Array(0), false, false);
    if (pdu.currentStage !== this.#stage) {
      throw new ProtocolError(
        ErrorCode.PduField,
        `Login Response in stage ${pdu.currentStage}, expected ${this.#stage}`,
      );
    }
    const step =
      this.#stage === Stage.Security
        ? this.#securityStep(pdu.transit, pdu.nextStage, text)
        : this.#operationalStep(pdu.transit, pdu.nextStage, text);
    this.#o.onExchange?.({ stage: pdu.currentStage, received: text, sent: step.kind === 'send' ? this.#sentKeys : [] });
    if (step.kind === 'finished') {
      return {
        kind: 'done',
        result: {
          params: step.params,
          isid: this.#o.isid,
          tsih: pdu.tsih,
          cmdSN: this.#cmdSN,
          expStatSN: this.#expStatSN,
          expCmdSN: pdu.expCmdSN,
          maxCmdSN: pdu.maxCmdSN,
          ...(this.#chap?.chosenAlgorithm !== undefined ? { chapAlgorithm: this.#chap.chosenAlgorithm } : {}),
        },
      };
    }
    return step;
  }

  #securityStep(transit: boolean, nextStage: number, keys: readonly TextPair[]): Inner {
    const chap = this.#chap!;
    const chapKeys = keys.filter(([k]) => k === 'AuthMethod' || k.startsWith('CHAP_'));
    const other = keys.filter(([k]) => !(k === 'AuthMethod' || k.startsWith('CHAP_')));
    if (other.length > 0) this.#negotiator.receive(other, 'security');
    switch (this.#security) {
      case 'auth-method': {
        const method = chapKeys.find(([k]) => k === 'AuthMethod')?.[1];
        if (method !== 'CHAP') {
          throw new AuthError(`the target answered AuthMethod=${method ?? '(nothing)'} to our CHAP offer`, 'target');
        }
        this.#security = 'chap-a';
        // As libiscsi does (and tgtd expects): CHAP_A goes with T=0.
        return this.#send(chap.offer(), false, Stage.Operational);
      }
      case 'chap-a':
        this.#security = 'chap-response';
        return this.#send(chap.respond(chapKeys), true, Stage.Operational);
      case 'chap-response':
        if (this.#o.chap?.targetCredentials) chap.verify(chapKeys);
        this.#security = 'done';
        return this.#leaveSecurity(transit, nextStage);
      case 'done':
        return this.#leaveSecurity(transit, nextStage);
    }
  }

  #leaveSecurity(transit: boolean, nextStage: number): Inner {
    if (!transit) return this.#send([], true, Stage.Operational);
    if (nextStage === Stage.FullFeature) return { kind: 'finished', params: this.#negotiator.result() };
    this.#stage = Stage.Operational;
    return this.#send(this.#negotiator.offers(), true, Stage.FullFeature);
  }

  #operationalStep(transit: boolean, nextStage: number, keys: readonly TextPair[]): Inner {
    const answers = this.#negotiator.receive(keys);
    if (transit && nextStage === Stage.FullFeature) {
      if (answers.length > 0) {
        throw new NegotiationError('the target moved to full feature phase with keys still to answer', answers[0]![0]);
      }
      return { kind: 'finished', params: this.#negotiator.result() };
    }
    return this.#send(answers, true, Stage.FullFeature);
  }

  #send(keys: readonly TextPair[], transit: boolean, nextStage: number): Extract<LoginStep, { kind: 'send' }> {
    this.#sentKeys = keys;
    this.#transit = transit;
    this.#nextStage = nextStage;
    const pieces = splitText(encodeText(keys), this.#o.maxSendSegment ?? 8192);
    this.#outgoing = pieces;
    return this.#nextPiece();
  }

  #nextPiece(): Extract<LoginStep, { kind: 'send' }> {
    const piece = this.#outgoing.shift()!;
    return this.#request(piece, this.#outgoing.length === 0 && this.#transit, this.#outgoing.length > 0);
  }

  #request(data: Uint8Array, transit: boolean, cont: boolean): Extract<LoginStep, { kind: 'send' }> {
    return {
      kind: 'send',
      pdu: {
        kind: 'login-request',
        transit,
        continue: cont,
        currentStage: this.#stage,
        nextStage: transit ? this.#nextStage : 0,
        versionMax: 0,
        versionMin: 0,
        isid: this.#o.isid,
        tsih: this.#o.tsih ?? 0,
        initiatorTaskTag: this.#itt,
        cid: this.#o.cid ?? 0,
        cmdSN: this.#cmdSN,
        expStatSN: this.#expStatSN,
        ahs: [],
        data,
      },
    };
  }
}
