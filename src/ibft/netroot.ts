/**
 * dracut's `netroot=iscsi:` / `root=iscsi:` argument: RFC 4173's iSCSI root path as dracut extends it, written and
 * read back the way dracut's `parse_iscsi_root` (modules.d/40network/net-lib.sh) splits it:
 *
 * ```
 * iscsi:[<user>:<secret>[:<reverse user>:<reverse secret>]@]<server>:[<protocol>]:[<port>][:[<iface>]:[<netdev>]]:[<LUN>]:<target name>
 * ```
 *
 * How dracut splits it, and what follows for the values it can carry:
 * - The auth part is everything before the first `@`, taken only when at least four `:` follow that `@`; it is split
 *   on every `:`. So user names and secrets can hold neither `:` nor `@`; {@link formatNetroot} rejects them.
 *   An empty auth part (`iscsi:@server…`, which Anaconda always writes) lets a target name hold `@`.
 * - An IPv6 server must be in brackets; the server ends at the first `]` (or the first `:` without brackets).
 * - The target name starts at the last `:iqn.` (else the last `:eui.`, else `:naa.`), so the colons of an IQN are
 *   safe but an IQN holding `:iqn.` again is split in the wrong place; {@link formatNetroot} rejects it.
 * - The rest is `protocol:port[:iface:netdev]:LUN` (two fields before the LUN are iface and netdev, one is netdev);
 *   the LUN is the decimal Linux LUN (dracut only uses it for the `/dev/root` by-path rule, RFC 4173 writes hex).
 * @module
 */
import { revealSecret, Secret } from '../chap/secret.js';
import { BootConfigError } from './boot-error.js';
import {
  checkCmdlineField,
  clip,
  type HostFamily,
  hostFamily,
  isInterfaceName,
  lunToBigInt,
  parseDecimalLun,
  parsePort,
} from './values.js';

/** The IANA iSCSI port, dracut's default. */
export const DRACUT_DEFAULT_PORT = 3260;

/** What a redacted secret is printed as. */
export const REDACTED = '<redacted>';

/** Where dracut connects: host as written (IPv6 without brackets), TCP port (default 3260). */
export interface BootPortal {
  readonly host: string;
  /** TCP port; 3260 when absent. Parsers always fill it in. */
  readonly port?: number;
  readonly family: HostFamily;
}

/** A CHAP user name with its secret. */
export interface BootChap {
  readonly user: string;
  readonly secret: Secret;
}

/** A disk the installed system must log in to at boot. */
export interface BootTarget {
  readonly portal: BootPortal;
  /** iSCSI target name (`iqn.…`, `eui.…` or `naa.…`). */
  readonly targetName: string;
  /** The Linux LUN number (the `L` of `H:C:T:L`; equal to the target's LUN below 256). */
  readonly lun: number | bigint;
  /** One-way CHAP: the initiator's user name and secret. */
  readonly chap?: BootChap;
  /** Mutual CHAP: the target's user name and secret (needs {@link BootTarget.chap}). */
  readonly reverseChap?: BootChap;
  /** open-iscsi iface record name to log in through. */
  readonly iface?: string;
  /** Network interface the iface is bound to. */
  readonly netdev?: string;
  /** Initiator name of the session (written once as `rd.iscsi.initiator=`). */
  readonly initiatorName?: string;
  /** The disk was reached through the iBFT: dracut logs in with `rd.iscsi.firmware=1`, not a netroot. */
  readonly firmware?: boolean;
}

/**
 * How to write the optional fields:
 * - `'full'` (default): `@` always, port always, LUN always — every field of the target survives a round trip;
 * - `'anaconda'`: exactly what Anaconda's storage library (blivet) writes: `@` always, port always, the LUN field
 *   empty (dracut logs in to the whole target) and no iface pair for the `default` iface;
 * - `'dracut'`: what dracut's own hostonly mode writes: no `@` without CHAP, port empty when 3260, LUN empty when 0.
 */
export type NetrootStyle = 'full' | 'anaconda' | 'dracut';

/** Options of {@link formatNetroot}. */
export interface FormatNetrootOptions {
  /** Write the CHAP secrets in clear (needed for a bootable argument); default: each secret as `<redacted>`. */
  readonly includeSecrets?: boolean;
  /** See {@link NetrootStyle}; default `'full'`. */
  readonly style?: NetrootStyle;
  /** The argument name: `'netroot'` (default) or `'root'`. */
  readonly key?: 'netroot' | 'root';
}

const EUI_RE = /^eui\.[0-9A-Fa-f]{16}$/;
const NAA_RE = /^naa\.(?:[0-9A-Fa-f]{16}|[0-9A-Fa-f]{32})$/;
const NAME_CHARS_RE = /^[^\s\p{Cc}"]+$/u;
const encoder = new TextEncoder();

/**
 * Checks an iSCSI name (RFC 7143 §4.2.7: `iqn.`, `eui.` or `naa.`, at most 223 bytes) as a kernel command line
 * can carry it. With `dracutSplit`, also rejects an IQN holding `:iqn.`, which dracut's netroot parser would cut.
 */
export function checkIscsiName(name: string, field: string, dracutSplit = false): void {
  if (typeof name !== 'string' || name.length === 0) throw new BootConfigError('the iSCSI name is empty', field);
  if (encoder.encode(name).length > 223) throw new BootConfigError('the iSCSI name is longer than 223 bytes', field);
  if (!NAME_CHARS_RE.test(name)) {
    throw new BootConfigError("the iSCSI name contains white space, a control character or '\"'", field);
  }
  if (name.startsWith('iqn.') && name.length > 4) {
    if (dracutSplit && name.includes(':iqn.')) {
      throw new BootConfigError("dracut would split a target name containing ':iqn.' in the wrong place", field);
    }
    return;
  }
  if (!EUI_RE.test(name) && !NAA_RE.test(name)) {
    throw new BootConfigError(`'${clip(name)}' is not an iqn., eui. (16 hex) or naa. (16/32 hex) name`, field);
  }
}

function secretText(secret: Secret, field: string): string {
  if (!(secret instanceof Secret)) throw new BootConfigError('a CHAP secret must be a Secret', field);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(revealSecret(secret));
  } catch {
    throw new BootConfigError('the CHAP secret is not valid UTF-8', field);
  }
  checkCmdlineField(text, field, 'the CHAP secret');
  return text;
}

function authPart(t: BootTarget, includeSecrets: boolean): string {
  if (t.chap === undefined) {
    if (t.reverseChap !== undefined) throw new BootConfigError('reverse CHAP needs one-way CHAP', 'netroot.auth');
    return '';
  }
  const parts: string[] = [];
  for (const [chap, side] of [
    [t.chap, 'user'],
    [t.reverseChap, 'reverse'],
  ] as const) {
    if (chap === undefined) continue;
    checkCmdlineField(chap.user, `netroot.${side}`, 'the CHAP user name');
    const secret = secretText(chap.secret, `netroot.${side}Secret`);
    parts.push(chap.user, includeSecrets ? secret : REDACTED);
  }
  return parts.join(':');
}

function checkPortal(portal: BootPortal): number {
  const family = hostFamily(portal.host);
  if (family === undefined || family !== portal.family) {
    throw new BootConfigError(`'${clip(portal.host)}' is not a valid family-${portal.family} host`, 'netroot.server');
  }
  const port = portal.port ?? DRACUT_DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BootConfigError(`the port ${port} is not in 1..65535`, 'netroot.port');
  }
  return port;
}

function checkIfaceField(value: string | undefined, field: 'iface' | 'netdev'): void {
  if (value === undefined) return;
  checkCmdlineField(value, `netroot.${field}`, `the ${field} name`);
  if (field === 'netdev' && !isInterfaceName(value)) {
    throw new BootConfigError(`'${clip(value)}' is not a Linux interface name`, 'netroot.netdev');
  }
}

/**
 * Writes `netroot=iscsi:…` for one target (see {@link NetrootStyle} for the optional fields). Secrets are written
 * as `<redacted>` unless `includeSecrets` is set: the only place iscsi-ts prints a CHAP secret.
 * Throws {@link BootConfigError} for a value dracut would read back differently.
 */
export function formatNetroot(t: BootTarget, options: FormatNetrootOptions = {}): string {
  const style = options.style ?? 'full';
  const port = checkPortal(t.portal);
  checkIscsiName(t.targetName, 'netroot.targetName', true);
  const lun = lunToBigInt(t.lun, 'netroot.lun');
  checkIfaceField(t.iface, 'iface');
  checkIfaceField(t.netdev, 'netdev');
  const auth = authPart(t, options.includeSecrets === true);
  // Without an '@' prefix, an '@' in the target name followed by four ':' would be read as the auth separator.
  const at = style !== 'dracut' || auth !== '' || t.targetName.includes('@') ? `${auth}@` : '';
  const host = t.portal.family === 6 ? `[${t.portal.host}]` : t.portal.host;
  const portText = style === 'dracut' && port === DRACUT_DEFAULT_PORT ? '' : String(port);
  let ifaces = '';
  if (style === 'anaconda' && t.iface === 'default') {
    // blivet writes the iface pair only for a non-default iface.
  } else if (t.iface !== undefined) {
    ifaces = `${t.iface}:${t.netdev ?? ''}:`;
  } else if (t.netdev !== undefined) {
    ifaces = `${t.netdev}:`;
  }
  const lunText = style === 'anaconda' || (style === 'dracut' && lun === 0n) ? '' : lun.toString();
  return `${options.key ?? 'netroot'}=iscsi:${at}${host}::${portText}:${ifaces}${lunText}:${t.targetName}`;
}

function parseAuth(auth: string): Pick<BootTarget, 'chap' | 'reverseChap'> {
  const fields = auth.split(':');
  if (fields.length !== 2 && fields.length !== 4) {
    throw new BootConfigError(
      `the auth part has ${fields.length} ':'-separated fields; expected user:secret[:user:secret]`,
      'netroot.auth',
    );
  }
  const chaps: BootChap[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const side = i === 0 ? 'user' : 'reverse';
    const user = fields[i]!;
    const secret = fields[i + 1]!;
    checkCmdlineField(user, `netroot.${side}`, 'the CHAP user name');
    checkCmdlineField(secret, `netroot.${side}Secret`, 'the CHAP secret');
    if (secret === REDACTED) {
      throw new BootConfigError('the CHAP secret is redacted; format with includeSecrets', `netroot.${side}Secret`);
    }
    chaps.push({ user, secret: Secret.from(secret) });
  }
  return chaps.length === 2 ? { chap: chaps[0]!, reverseChap: chaps[1]! } : { chap: chaps[0]! };
}

function countColons(text: string): number {
  let n = 0;
  for (const c of text) if (c === ':') n++;
  return n;
}

function splitServer(rest: string): { host: string; family: HostFamily; tail: string } {
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') {
      throw new BootConfigError("a bracketed server must be followed by ']:'", 'netroot.server');
    }
    const host = rest.slice(1, close);
    if (hostFamily(host) !== 6) throw new BootConfigError(`'[${clip(host)}]' is not an IPv6 address`, 'netroot.server');
    return { host, family: 6, tail: rest.slice(close + 2) };
  }
  const colon = rest.indexOf(':');
  if (colon < 0) throw new BootConfigError('the root path has no fields after the server', 'netroot.server');
  const host = rest.slice(0, colon);
  if (host === '') throw new BootConfigError('the server is empty (discovery is not supported)', 'netroot.server');
  const family = hostFamily(host);
  if (family === undefined || family === 6) {
    throw new BootConfigError(
      `'${clip(host)}' is not an IPv4 address or host name (IPv6 needs brackets)`,
      'netroot.server',
    );
  }
  return { host, family, tail: rest.slice(colon + 1) };
}

/**
 * Reads a `netroot=iscsi:…` / `root=iscsi:…` value (with or without the `netroot=` / `root=` key) the way dracut
 * splits it. Stricter than dracut: the server, CHAP pairs, protocol (empty or 6), port, LUN and target name must be
 * valid. The result always has a port (3260 when empty) and a LUN (0 when empty).
 * Throws {@link BootConfigError} (never echoing the auth part).
 */
export function parseNetroot(value: string): BootTarget {
  if (typeof value !== 'string') throw new BootConfigError('the root path must be a string', 'netroot');
  const text = value.replace(/^(?:netroot|root)=/, '');
  if (!text.startsWith('iscsi:')) throw new BootConfigError("the root path does not start with 'iscsi:'", 'netroot');
  let rest = text.slice('iscsi:'.length);
  let auth: Pick<BootTarget, 'chap' | 'reverseChap'> = {};
  // dracut: `case "$v" in *@*:*:*:*:*)` — an '@' with at least four ':' after it starts the server.
  const at = rest.indexOf('@');
  if (at >= 0 && countColons(rest.slice(at + 1)) >= 4) {
    if (at > 0) auth = parseAuth(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  const { host, family, tail } = splitServer(rest);
  let cut = tail.lastIndexOf(':iqn.');
  if (cut < 0) cut = tail.lastIndexOf(':eui.');
  if (cut < 0) cut = tail.lastIndexOf(':naa.');
  if (cut < 0) {
    throw new BootConfigError("no target name ('iqn.', 'eui.' or 'naa.' after a ':') found", 'netroot.targetName');
  }
  const targetName = tail.slice(cut + 1);
  checkIscsiName(targetName, 'netroot.targetName');
  const fields = tail.slice(0, cut).split(':');
  if (fields.length < 2 || fields.length > 5) {
    throw new BootConfigError(
      `expected protocol:port[:iface:netdev]:LUN before the target name, found ${fields.length} fields`,
      'netroot',
    );
  }
  const [protocol, portText] = fields as [string, string];
  if (protocol !== '' && protocol !== '6') {
    throw new BootConfigError(`the protocol '${clip(protocol)}' is not 6 (TCP)`, 'netroot.protocol');
  }
  const port = portText === '' ? DRACUT_DEFAULT_PORT : parsePort(portText, 'netroot.port');
  const middle = fields.slice(2, -1);
  const lunText = fields.length > 2 ? fields[fields.length - 1]! : '';
  const [iface, netdev] = middle.length === 2 ? middle : [undefined, middle[0]];
  const result: BootTarget = {
    portal: { host, port, family },
    targetName,
    lun: lunText === '' ? 0 : parseDecimalLun(lunText, 'netroot.lun'),
    ...auth,
  };
  const ifaceValue = iface === '' ? undefined : iface;
  const netdevValue = netdev === '' ? undefined : netdev;
  checkIfaceField(ifaceValue, 'iface');
  checkIfaceField(netdevValue, 'netdev');
  return {
    ...result,
    ...(ifaceValue === undefined ? {} : { iface: ifaceValue }),
    ...(netdevValue === undefined ? {} : { netdev: netdevValue }),
  };
}
