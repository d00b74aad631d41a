/**
 * iscsi:// URLs as libiscsi and QEMU write them:
 * `iscsi://[user[%secret]@]host[:port][/target-name[/lun]][?target_user=…&target_password=…&header_digest=…]`.
 *
 * Secrets are wrapped in {@link Secret} as soon as they are decoded, and error messages never quote the part of the
 * URL that can hold them (the user information, the host that follows it, and the query).
 * @module
 */
import { revealSecret, Secret } from '../chap/secret.js';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../errors.js';
import { DEFAULT_ISCSI_PORT, formatHost, formatPortal, type Portal, parseHostPort } from './address.js';
import { isIscsiName, validateIscsiName } from './iscsi-name.js';

/** A CHAP user name with an optional secret, as an iscsi:// URL carries them. */
export interface IscsiUrlCredentials {
  /** CHAP name (CHAP_N). */
  readonly user: string;
  /** CHAP secret, when the URL gave one; otherwise the caller must supply it. */
  readonly secret?: Secret;
}

/** Header digest preference given by the `header_digest` URL argument (libiscsi). */
export type IscsiUrlHeaderDigest = 'None' | 'CRC32C';

/** A parsed iscsi:// URL. */
export interface IscsiUrl {
  /** Where to connect (port 3260 when the URL names none). */
  readonly portal: Portal;
  /** Target name, validated and lower-cased; absent in portal-only (discovery) URLs. */
  readonly targetName?: string;
  /** LUN, 0..2^24-1; absent when the URL stops after the target name or at the portal. */
  readonly lun?: number;
  /** The initiator's CHAP credentials (`user[%secret]@`). */
  readonly credentials?: IscsiUrlCredentials;
  /** The target's CHAP credentials for mutual CHAP (`target_user`, `target_password`). */
  readonly targetCredentials?: IscsiUrlCredentials;
  /** The `header_digest` argument, when given. */
  readonly headerDigest?: IscsiUrlHeaderDigest;
  /** Whether the URL itself held a secret, so a command line tool can warn that others may see it. */
  readonly secretInUrl: boolean;
}

/** Options for {@link formatIscsiUrl}. */
export interface FormatIscsiUrlOptions {
  /**
   * Write secrets percent-encoded instead of `<redacted>` (default false). Only for handing the URL to another
   * program; never log the result.
   */
  readonly includeSecrets?: boolean;
}

/** Largest LUN an iscsi:// URL may name: 24 bits (SAM extended flat space addressing). */
export const MAX_URL_LUN = 0xffffff;

const MAX_URL = 4096;
const REDACTED = '<redacted>';
const QUERY_KEYS = ['target_user', 'target_password', 'header_digest'] as const;
type QueryKey = (typeof QUERY_KEYS)[number];
// C0 and C1 controls and DEL.
const CONTROL_RE = /\p{Cc}/u;
const BAD_ESCAPE_RE = /%(?![0-9A-Fa-f]{2})/;
const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const LUN_RE = /^[0-9]{1,8}$/;
const UNRESERVED_RE = /^[A-Za-z0-9._~-]$/;
const NAME_CHAR_RE = /^[A-Za-z0-9.:-]$/;
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses an iscsi:// URL (libiscsi syntax). Portal-only URLs (`iscsi://10.0.0.1:3261`, with or without a final `/`)
 * are valid and used for discovery; `iscsi://host/target` without a LUN is accepted too. IPv6 hosts are bracketed
 * (`iscsi://[::1]:3261/…`, zone ids as `[fe80::1%25eth0]`).
 *
 * As in libiscsi, the user and secret are split at the first `%` of the user information (or at the first `:` when
 * there is no `%`), so a user name may contain `:` (an IQN) but not `%`. Unlike libiscsi 1.19, the secret, the
 * target name and the query values are percent-decoded, so any secret can be written (`%25` for `%`, `%40` for `@`);
 * a `%` not followed by two hex digits is an error. `user%@host` gives a user without a secret.
 * @throws {IscsiError} `ERR_ISCSI_ADDRESS` when the URL does not parse; the message never contains a secret.
 */
export function parseIscsiUrl(url: string): IscsiUrl {
  if (url.length > MAX_URL) throw urlError(`longer than ${MAX_URL} characters`);
  if (CONTROL_RE.test(url)) throw urlError('contains control characters');
  const scheme = SCHEME_RE.exec(url);
  if (scheme === null) throw urlError('expected iscsi://[user[%secret]@]host[:port]/target-name/lun');
  const schemeName = scheme[1]!.toLowerCase();
  if (schemeName === 'iser') throw urlError('iSER (iser://) is not supported; use iscsi://');
  if (schemeName !== 'iscsi') throw urlError('the scheme must be iscsi://');

  // libiscsi order: the query is cut off first, then the user information, then the path.
  const rest = url.slice(scheme[0].length);
  const question = rest.indexOf('?');
  const main = question < 0 ? rest : rest.slice(0, question);
  // The last '@' ends the user information: host names, target names and LUNs never contain '@', so a secret with
  // a raw '@' or '/' still splits correctly.
  const at = main.lastIndexOf('@');
  const hostAndPath = main.slice(at + 1);
  const slash = hostAndPath.indexOf('/');
  const authority = slash < 0 ? hostAndPath : hostAndPath.slice(0, slash);
  if (authority.length === 0) throw urlError('the host is missing');
  const portal = parseHostPort(authority, {
    defaultPort: DEFAULT_ISCSI_PORT,
    bareIpv6: false,
    zoneEncoding: 'uri',
    // Never quote the host: when a secret holds a raw '?', its head ends up here.
    message: (reason) => `invalid iscsi:// URL: bad host: ${reason}`,
  });

  const credentials = at < 0 ? undefined : parseUserInfo(main.slice(0, at));
  // An '@' after the '?' may mean that a secret with a raw '?' was cut in two and its head is now read as host and
  // path; then the path is not quoted in messages either.
  const quotePath = question < 0 || !rest.includes('@', question);
  const { targetName, lun } = parsePath(slash < 0 ? '' : hostAndPath.slice(slash), quotePath);
  const query = question < 0 ? new Map<QueryKey, string>() : parseQuery(rest.slice(question + 1));

  let targetCredentials: IscsiUrlCredentials | undefined;
  const targetUser = query.get('target_user');
  const targetPassword = query.get('target_password');
  if (targetPassword !== undefined && targetUser === undefined) throw urlError('target_password needs target_user');
  if (targetUser !== undefined) {
    const user = decodeText(targetUser, 'target_user');
    if (user.length === 0) throw urlError('target_user is empty');
    if (targetPassword !== undefined && targetPassword.length === 0) throw urlError('target_password is empty');
    const secret = targetPassword === undefined ? undefined : decodeSecret(targetPassword, 'target_password');
    targetCredentials = Object.freeze(secret === undefined ? { user } : { user, secret });
  }
  const digest = query.get('header_digest');
  let headerDigest: IscsiUrlHeaderDigest | undefined;
  if (digest !== undefined) {
    const lower = digest.toLowerCase();
    if (lower !== 'crc32c' && lower !== 'none') throw urlError('header_digest must be crc32c or none');
    headerDigest = lower === 'crc32c' ? 'CRC32C' : 'None';
  }

  return Object.freeze({
    portal,
    ...(targetName === undefined ? {} : { targetName }),
    ...(lun === undefined ? {} : { lun }),
    ...(credentials === undefined ? {} : { credentials }),
    ...(targetCredentials === undefined ? {} : { targetCredentials }),
    ...(headerDigest === undefined ? {} : { headerDigest }),
    secretInUrl: credentials?.secret !== undefined || targetCredentials?.secret !== undefined,
  });
}

/**
 * Formats an iscsi:// URL that {@link parseIscsiUrl} reads back. Secrets are written as `<redacted>`
 * (`iscsi://user%<redacted>@10.0.0.1:3260/iqn…/1`) unless `includeSecrets` is set. The port is always written.
 * @throws {InvalidArgumentError} when a field cannot be written in a URL (a user name holding `%` or `?`, a LUN out
 *   of range or without a target name, an invalid target name).
 */
export function formatIscsiUrl(u: IscsiUrl, options: FormatIscsiUrlOptions = {}): string {
  const includeSecrets = options.includeSecrets === true;
  let out = 'iscsi://';
  if (u.credentials !== undefined) {
    const { user, secret } = u.credentials;
    // The first '%' (or ':') splits user from secret, so '%' cannot appear in a user name, and '?' would start the
    // query. A user with ':' and no secret is written as `user%@` so the ':' is not read as a separator.
    if (user.length === 0 || /[%?]/.test(user) || CONTROL_RE.test(user)) {
      throw new InvalidArgumentError('this CHAP user name cannot be written in an iscsi:// URL');
    }
    const secretText = secret === undefined ? '' : includeSecrets ? encodeBytes(revealSecret(secret)) : REDACTED;
    out += secret === undefined && !user.includes(':') ? `${user}@` : `${user}%${secretText}@`;
  }
  formatPortal(u.portal); // validates the portal object
  out += `${formatHost(u.portal, '%25')}:${u.portal.port}`;
  if (u.targetName !== undefined) {
    out += `/${encodeName(validateName(u.targetName))}`;
    if (u.lun !== undefined) {
      if (!Number.isInteger(u.lun) || u.lun < 0 || u.lun > MAX_URL_LUN) {
        throw new InvalidArgumentError(`lun must be an integer in 0..${MAX_URL_LUN}`);
      }
      out += `/${u.lun}`;
    }
  } else if (u.lun !== undefined) {
    throw new InvalidArgumentError('a LUN needs a target name');
  }
  const query: string[] = [];
  if (u.targetCredentials !== undefined) {
    const { user, secret } = u.targetCredentials;
    if (user.length === 0) throw new InvalidArgumentError('the target CHAP user name is empty');
    query.push(`target_user=${encodeBytes(encoder.encode(user))}`);
    if (secret !== undefined) {
      query.push(`target_password=${includeSecrets ? encodeBytes(revealSecret(secret)) : REDACTED}`);
    }
  }
  if (u.headerDigest !== undefined) query.push(`header_digest=${u.headerDigest === 'CRC32C' ? 'crc32c' : 'none'}`);
  return query.length === 0 ? out : `${out}?${query.join('&')}`;
}

function parseUserInfo(userInfo: string): IscsiUrlCredentials {
  // libiscsi: the first '%' separates user and password; failing that, the first ':'.
  const percent = userInfo.indexOf('%');
  const split = percent >= 0 ? percent : userInfo.indexOf(':');
  const user = split < 0 ? userInfo : userInfo.slice(0, split);
  if (user.length === 0) throw urlError('the user name before "@" is empty');
  const secretText = split < 0 ? '' : userInfo.slice(split + 1);
  if (secretText.length === 0) return Object.freeze({ user });
  return Object.freeze({ user, secret: decodeSecret(secretText, 'password') });
}

function parsePath(path: string, quote: boolean): { targetName?: string; lun?: number } {
  if (path === '' || path === '/') return {};
  const segments = path.slice(1).split('/');
  if (segments.length > 2) throw urlError('expected /target-name/lun after the host; there are more path segments');
  const [rawName = '', rawLun] = segments;
  if (rawName.length === 0) throw urlError('the target name is empty');
  const targetName = parseTargetName(rawName, quote);
  if (rawLun === undefined) return { targetName };
  if (rawLun.length === 0) throw urlError('the LUN after the target name is empty');
  if (!LUN_RE.test(rawLun) || Number(rawLun) > MAX_URL_LUN) {
    const got = quote ? ` (got ${JSON.stringify(rawLun.slice(0, 16))})` : '';
    throw urlError(`the LUN must be a decimal number in 0..${MAX_URL_LUN}${got}`);
  }
  return { targetName, lun: Number(rawLun) };
}

function parseQuery(query: string): Map<QueryKey, string> {
  const result = new Map<QueryKey, string>();
  for (const part of query.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    // Keys and values are never quoted: a secret with a raw '?' would leave its tail here.
    if (eq < 0) throw urlError('a query argument has no "="');
    const key = part.slice(0, eq);
    if (key === 'iser') throw urlError('iSER is not supported');
    if (!isQueryKey(key)) throw urlError(`unknown query argument (supported: ${QUERY_KEYS.join(', ')})`);
    if (result.has(key)) throw urlError(`query argument ${key} is given twice`);
    result.set(key, part.slice(eq + 1));
  }
  return result;
}

function isQueryKey(key: string): key is QueryKey {
  return (QUERY_KEYS as readonly string[]).includes(key);
}

function parseTargetName(raw: string, quote: boolean): string {
  const name = decodeText(raw, 'target name');
  try {
    return validateIscsiName(name);
  } catch (error) {
    if (!(error instanceof IscsiError)) throw error;
    throw urlError(quote ? error.message : 'the target name is not a valid iSCSI name');
  }
}

/** The normalised target name for formatting; an invalid one is the caller's error. */
function validateName(name: string): string {
  if (!isIscsiName(name)) throw new InvalidArgumentError('targetName is not a valid iSCSI name');
  return validateIscsiName(name);
}

/** Percent-decodes to bytes: raw characters as UTF-8, `%XX` as one byte. */
function decodeBytes(text: string, what: string): Uint8Array {
  if (BAD_ESCAPE_RE.test(text)) throw urlError(`the ${what} has a "%" not followed by two hex digits`);
  const raw = encoder.encode(text);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x25) {
      out[n++] = Number.parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16);
      i += 2;
    } else {
      out[n++] = raw[i]!;
    }
  }
  raw.fill(0);
  return out.subarray(0, n);
}

function decodeText(text: string, what: string): string {
  const bytes = decodeBytes(text, what);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw urlError(`the ${what} is not valid UTF-8 after percent-decoding`);
  }
}

function decodeSecret(text: string, what: string): Secret {
  const bytes = decodeBytes(text, what);
  const secret = Secret.from(bytes); // copies; wipe the scratch buffer so only the Secret holds the bytes
  bytes.fill(0);
  return secret;
}

/** Percent-encodes every byte outside the RFC 3986 unreserved set. */
function encodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && UNRESERVED_RE.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Writes an iSCSI name into a path: ASCII name characters as they are, anything else percent-encoded. */
function encodeName(name: string): string {
  let out = '';
  for (const ch of name) out += NAME_CHAR_RE.test(ch) ? ch : encodeBytes(encoder.encode(ch));
  return out;
}

function urlError(reason: string): IscsiError {
  return new IscsiError(ErrorCode.Address, `invalid iscsi:// URL: ${reason}`);
}
