/**
 * The configuration, steps and result of the target's login machine ({@link TargetLoginMachine} in `login.ts`),
 * and the Login Response status codes it answers with (RFC 7143 §11.13.5).
 * @module
 */
import type { ChapResponderOptions, RandomSource } from '../chap/chap.js';
import type { LoginResponsePdu } from '../pdu/types.js';
import type { LoginExchange } from '../session/login.js';
import type { LocalOffer, NegotiatedParameters } from '../session/negotiate.js';
import type { SessionType } from '../session/params.js';

/** Status-Class << 8 | Status-Detail values a target answers with (RFC 7143 §11.13.5). */
export const LoginStatus = {
  Success: 0x0000,
  MovedTemporarily: 0x0101,
  MovedPermanently: 0x0102,
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  NotFound: 0x0203,
  UnsupportedVersion: 0x0205,
  MissingParameter: 0x0207,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  OutOfResources: 0x0302,
} as const;

/** How a target authenticates initiators: CHAP through a `ChapResponder` (RFC 7143 §12.1.3). */
export interface TargetAuth extends Omit<ChapResponderOptions, 'random'> {
  /**
   * Refuse logins that do not authenticate with CHAP (default true): an initiator that offers only
   * `AuthMethod=None`, or skips the security stage, gets status 0x0201. With false, `None` is accepted too.
   */
  readonly required?: boolean;
}

/** A login redirection (status class 1, RFC 7143 §11.13.5), e.g. to test an initiator's redirect handling. */
export interface TargetRedirect {
  /** The TargetAddress value sent back: `host:port[,tpgt]`, an IPv6 host in brackets (§13.8). */
  readonly targetAddress: string;
  /** Answer 0x0102 "moved permanently" instead of 0x0101 "moved temporarily". */
  readonly permanent?: boolean;
}

/** What the target side knows about one iSCSI target served on this portal. */
export interface TargetConfig {
  /**
   * Authentication for logins to this target; `false` turns it off even when the portal has an `auth`.
   * When absent, the portal's {@link TargetLoginOptions.auth} applies.
   */
  readonly auth?: TargetAuth | false;
  /** Declared as TargetAlias (§13.6) in the first Login Response. */
  readonly alias?: string;
  /** Which initiators may log in; `false` answers 0x0202 "authorization failure". Default: everyone. */
  readonly allow?: (initiatorName: string) => boolean;
  /** Redirect every login to this target elsewhere instead of serving it. */
  readonly redirect?: TargetRedirect;
}

/** The session a connection with a non-zero TSIH wants to join, for {@link TargetLoginOptions.sessionExists}. */
export interface ExistingSessionQuery {
  readonly initiatorName: string;
  readonly targetName: string | undefined;
  readonly isid: number;
  readonly tsih: number;
}

/** Options of a {@link TargetLoginMachine}: one per incoming connection. */
export interface TargetLoginOptions {
  /** The Target Portal Group Tag of this portal, 0..65535, declared to Normal sessions (§13.9). */
  readonly portalGroupTag: number;
  /** Looks up a target by TargetName; `undefined` answers 0x0203 "not found". */
  readonly targets?: (name: string) => TargetConfig | undefined;
  /**
   * Shorthand for a portal serving one target with the portal's `auth`: logins naming it succeed even without
   * `targets`. With neither, the portal serves discovery sessions only.
   */
  readonly targetName?: string;
  /** Authentication for discovery sessions and for targets whose config has none of its own. */
  readonly auth?: TargetAuth;
  /** Accept Discovery sessions (default true); false answers 0x0209. */
  readonly discovery?: boolean;
  /** This target's operational limits (§13); anything left out comes from `DEFAULT_LOCAL_OFFER`. */
  readonly offer?: Partial<LocalOffer>;
  /**
   * Allocates the TSIH of a new session, 1..65535 (RFC 7143 §11.13: TSIH 0 is reserved), called once when the final
   * response is built; `undefined` answers 0x0302 "out of resources".
   */
  readonly tsih: () => number | undefined;
  /**
   * Whether the session a connection with a non-zero TSIH names exists; `false` answers 0x020a. Without it, the
   * TSIH is echoed unchecked (this machine keeps no session table).
   */
  readonly sessionExists?: (query: ExistingSessionQuery) => boolean;
  /** StatSN of the first response (default: random). */
  readonly statSN?: number;
  /** Commands the initiator may queue: MaxCmdSN = CmdSN + commandWindow - 1 (default 32, at least 1). */
  readonly commandWindow?: number;
  /** Largest data segment sent during login (default 8192, the §13.12 default); longer text is continued. */
  readonly maxSendSegment?: number;
  /** Login Requests accepted before the login is refused with 0x0200 (default 256): bounds a chatty peer. */
  readonly maxRequests?: number;
  /** Random bytes for the initial StatSN and the CHAP identifiers and challenges (default a CSPRNG). */
  readonly random?: RandomSource;
  /** Called with each completed exchange, for logs (keys are not redacted here). */
  readonly onExchange?: (exchange: LoginExchange) => void;
}

/** The CHAP outcome of a login that authenticated. */
export interface TargetChapResult {
  /** The initiator's CHAP_N. */
  readonly user: string;
  /** The CHAP_A the target chose. */
  readonly algorithm: number;
  /** Whether the target authenticated itself too (mutual CHAP). */
  readonly mutual: boolean;
}

/** A successful login, as the target's session layer needs it. */
export interface TargetLoginResult {
  readonly params: NegotiatedParameters;
  readonly initiatorName: string;
  /** The target logged in to; `undefined` for a discovery session. */
  readonly targetName: string | undefined;
  readonly sessionType: SessionType;
  readonly isid: number;
  /** The session's TSIH: newly allocated, or the one the initiator sent. */
  readonly tsih: number;
  /** Whether the request carried TSIH 0: a new session, this connection its leading one. */
  readonly newSession: boolean;
  readonly cid: number;
  /** ExpCmdSN: the login's CmdSN, which the first command reuses (login requests are immediate). */
  readonly expCmdSN: number;
  /** MaxCmdSN sent in the final response. */
  readonly maxCmdSN: number;
  /** The StatSN of the connection's next response. */
  readonly statSN: number;
  /** Present when the initiator authenticated with CHAP. */
  readonly chap?: TargetChapResult;
}

/** What to do with a Login Request's outcome. */
export type TargetLoginStep =
  /** Send the response and wait for the next request. */
  | { readonly kind: 'send'; readonly pdu: LoginResponsePdu }
  /** Send the final response; the connection is in the Full Feature Phase. */
  | { readonly kind: 'done'; readonly response: LoginResponsePdu; readonly result: TargetLoginResult }
  /**
   * Send the response (a redirect, status class 1, or a refusal, class 2 or 3) and close the connection.
   * `reason` explains it for logs; it never holds a secret.
   */
  | { readonly kind: 'reject'; readonly response: LoginResponsePdu; readonly reason: string };
