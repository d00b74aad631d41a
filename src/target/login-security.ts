/**
 * The target's security stage (RFC 7143 §6.3, §12.1): the AuthMethod answer, then the CHAP exchange through a
 * {@link ChapResponder}. Sans-IO: it takes the pairs of one reassembled Login Request and returns the pairs to
 * answer with, or throws a {@link LoginRefusal} naming the Login Response status.
 * @module
 */
import { ChapResponder, type RandomSource } from '../chap/chap.js';
import { AuthError, NegotiationError, ProtocolError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { parseList, preview } from '../pdu/text-values.js';
import { isAuthenticationKey } from '../session/keys.js';
import { LoginStatus, type TargetAuth, type TargetChapResult } from './login-types.js';

/**
 * A login the target refuses: `status` is Status-Class << 8 | Status-Detail (RFC 7143 §11.13.5). Thrown inside
 * the target's login code and turned into a `reject` step; it never leaves the login machine.
 */
export class LoginRefusal extends Error {
  override name = 'LoginRefusal';

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type State = 'method' | 'chap-a' | 'chap-response' | 'done';

/** The security stage of one login on the target side. */
export class TargetSecurity {
  readonly #auth: TargetAuth | undefined;
  readonly #random: RandomSource | undefined;
  #responder: ChapResponder | undefined;
  #state: State = 'method';

  /** @param auth - the authentication this login needs; `undefined` accepts only AuthMethod=None */
  constructor(auth: TargetAuth | undefined, random: RandomSource | undefined) {
    this.#auth = auth;
    this.#random = random;
  }

  /** Whether the login must authenticate with CHAP before leaving the security stage. */
  get required(): boolean {
    return this.#auth !== undefined && this.#auth.required !== false;
  }

  /** Whether the security stage has nothing left to do: the initiator may move on when it asks to. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** The CHAP outcome, once the initiator has authenticated. */
  get chap(): TargetChapResult | undefined {
    const r = this.#responder;
    if (r?.user === undefined || r.chosenAlgorithm === undefined) return undefined;
    return { user: r.user, algorithm: r.chosenAlgorithm, mutual: r.mutual };
  }

  /**
   * Handles AuthMethod and the authentication keys (CHAP_*, SRP_*, KRB_*, SPKM_*) of one request segment; other
   * keys are ignored (the negotiator checks them). `transit` is the request's T bit.
   * @returns the answers: AuthMethod, the CHAP challenge, or the target's mutual CHAP response
   * @throws LoginRefusal 0x0201 for anything wrong with the authentication
   */
  step(pairs: readonly TextPair[], transit: boolean): TextPair[] {
    const method = pairs.find(([k]) => k === 'AuthMethod')?.[1];
    const auth = pairs.filter(([k]) => isAuthenticationKey(k));
    const out: TextPair[] = [];
    if (this.#state === 'method') {
      if (auth.length > 0) throw refuse('authentication keys came before AuthMethod was negotiated');
      if (method === undefined) {
        // No AuthMethod and a request to move on: nothing to authenticate, which only an open target accepts.
        if (transit) {
          if (this.required) throw refuse('the initiator left the security stage without authenticating');
          this.#state = 'done';
        }
        return out;
      }
      const chosen = this.#select(method);
      out.push(['AuthMethod', chosen]);
      this.#state = chosen === 'CHAP' ? 'chap-a' : 'done';
      // CHAP_A usually comes in the next request; some initiators send it along with AuthMethod.
      if (auth.length === 0) return out;
    } else if (method !== undefined) {
      throw refuse('AuthMethod was sent twice (RFC 7143 §6.3)');
    }
    switch (this.#state) {
      case 'chap-a': {
        const offer = auth.find(([k]) => k === 'CHAP_A')?.[1];
        if (offer === undefined || auth.length !== 1) throw refuse('expected CHAP_A alone to start CHAP');
        this.#responder = new ChapResponder({ ...this.#auth!, ...(this.#random ? { random: this.#random } : {}) });
        out.push(...chapCall(() => this.#responder!.challenge(offer)));
        this.#state = 'chap-response';
        return out;
      }
      case 'chap-response': {
        const other = auth.find(([k]) => !k.startsWith('CHAP_'));
        if (other) throw refuse(`${preview(other[0])} is not a CHAP key`);
        out.push(...chapCall(() => this.#responder!.check(auth)));
        this.#state = 'done';
        return out;
      }
      default:
        if (auth.length > 0) throw refuse('authentication keys after the authentication was over');
        return out;
    }
  }

  /** RFC 7143 §6.2: the first method of the initiator's list that this target accepts. */
  #select(offer: string): 'CHAP' | 'None' {
    const accepted = this.#auth === undefined ? ['None'] : this.required ? ['CHAP'] : ['CHAP', 'None'];
    let offered: string[];
    try {
      offered = parseList(offer);
    } catch {
      throw refuse(`AuthMethod ${preview(offer)} is not a list of values`);
    }
    const chosen = offered.find((m) => accepted.includes(m));
    if (chosen === 'CHAP' || chosen === 'None') return chosen;
    // RFC 7143 §11.13.5: 0x0201 also covers "target authentication is not supported".
    throw refuse(
      this.required
        ? `CHAP is required, and the initiator offered only AuthMethod=${preview(offer)}`
        : `none of AuthMethod=${preview(offer)} is supported (accepted: ${accepted.join(',')})`,
    );
  }
}

function refuse(message: string): LoginRefusal {
  return new LoginRefusal(LoginStatus.AuthenticationFailure, message);
}

/**
 * Runs a ChapResponder call. RFC 7143 §12.1.3: a CHAP exchange that fails for any reason (a wrong response,
 * malformed or missing keys, a target without credentials for mutual CHAP) is an authentication failure.
 */
function chapCall(call: () => TextPair[]): TextPair[] {
  try {
    return call();
  } catch (error) {
    if (error instanceof AuthError || error instanceof NegotiationError || error instanceof ProtocolError) {
      throw refuse(error.message);
    }
    throw error;
  }
}
