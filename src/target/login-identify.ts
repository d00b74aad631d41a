/**
 * The leading keys of a login on the target side (RFC 7143 §13.4, §13.5, §13.21): who logs in, to which target,
 * in which kind of session, and what that implies (authentication, negotiator, the first declarations).
 * @module
 */
import type { TextPair } from '../pdu/text.js';
import { isIscsiName } from '../session/iscsi-name.js';
import { Stage } from '../session/login.js';
import { Negotiator } from '../session/negotiate.js';
import type { SessionType } from '../session/params.js';
import { LoginRefusal, TargetSecurity } from './login-security.js';
import { LoginStatus, type TargetConfig, type TargetLoginOptions, type TargetRedirect } from './login-types.js';

/** What the first complete request of a login established. */
export interface LoginSession {
  readonly initiatorName: string;
  readonly sessionType: SessionType;
  /** `undefined` for a discovery session. */
  readonly targetName: string | undefined;
  readonly negotiator: Negotiator;
  readonly security: TargetSecurity;
  /** Keys the first response declares: TargetPortalGroupTag (§13.9) and TargetAlias (§13.6). */
  readonly declarations: readonly TextPair[];
}

/** The header fields of the first request that identification needs. */
export interface FirstRequestFields {
  readonly isid: number;
  readonly tsih: number;
  readonly currentStage: number;
}

/**
 * Reads the leading keys of the first request's text and looks the target up.
 * @returns the session, or the redirect configured for the target
 * @throws LoginRefusal with 0x0207 (InitiatorName or TargetName missing), 0x0200 (InitiatorName not an iSCSI
 *   name), 0x0209 (session type), 0x0203 (unknown
 *   target), 0x0202 (initiator not allowed), 0x020a (no such session), 0x0201 (security stage skipped)
 */
export function identify(
  options: TargetLoginOptions,
  first: FirstRequestFields,
  text: readonly TextPair[],
): LoginSession | { readonly redirect: TargetRedirect } {
  const value = (key: string) => text.find(([k]) => k === key)?.[1];
  const initiatorName = value('InitiatorName');
  if (!initiatorName) {
    throw new LoginRefusal(LoginStatus.MissingParameter, 'the first Login Request has no InitiatorName');
  }
  // §4.2.7: a worldwide unique iqn., eui. or naa. name of at most 223 bytes; ACLs and reinstatement key on it.
  if (!isIscsiName(initiatorName)) {
    throw new LoginRefusal(LoginStatus.InitiatorError, 'InitiatorName is not a valid iSCSI name');
  }
  const type = value('SessionType') ?? 'Normal'; // §13.21: the default is Normal
  if ((type !== 'Normal' && type !== 'Discovery') || (type === 'Discovery' && options.discovery === false)) {
    throw new LoginRefusal(LoginStatus.SessionTypeNotSupported, `SessionType ${type} is not served here`);
  }
  let targetName: string | undefined;
  let config: TargetConfig | undefined;
  if (type === 'Normal') {
    targetName = value('TargetName');
    if (!targetName) throw new LoginRefusal(LoginStatus.MissingParameter, 'a Normal session needs a TargetName');
    config = options.targets?.(targetName) ?? (targetName === options.targetName ? {} : undefined);
    if (config === undefined) throw new LoginRefusal(LoginStatus.NotFound, 'no such target on this portal');
    if (config.redirect) return { redirect: config.redirect };
    if (config.allow && !config.allow(initiatorName)) {
      throw new LoginRefusal(LoginStatus.AuthorizationFailure, 'this initiator may not access the target');
    }
  }
  const query = { initiatorName, targetName, isid: first.isid, tsih: first.tsih };
  if (first.tsih !== 0 && options.sessionExists && !options.sessionExists(query)) {
    throw new LoginRefusal(LoginStatus.SessionDoesNotExist, `no session with TSIH ${first.tsih}`);
  }
  const auth = config?.auth === false ? undefined : (config?.auth ?? options.auth);
  const security = new TargetSecurity(auth, options.random);
  // §6.3: an initiator that skips the security stage of a target requiring it fails authentication.
  if (first.currentStage === Stage.Operational && security.required) {
    throw new LoginRefusal(LoginStatus.AuthenticationFailure, 'the target requires authentication');
  }
  // A non-zero TSIH adds a connection to a session: leading-only keys are refused on it (§13).
  const negotiator = new Negotiator({
    role: 'target',
    sessionType: type,
    local: options.offer,
    leadingConnection: first.tsih === 0,
  });
  const declarations: TextPair[] = [];
  if (type === 'Normal') {
    // §13.9: returned in the first Login Response when the initiator names the target.
    declarations.push(['TargetPortalGroupTag', String(options.portalGroupTag)]);
    if (config?.alias) declarations.push(['TargetAlias', config.alias]);
  }
  return { initiatorName, sessionType: type, targetName, negotiator, security, declarations };
}
