/**
 * Network addresses of iSCSI portals: user-typed portals (`host[:port]`), the TargetAddress key of
 * RFC 7143 §13.8 and the options `net.connect` needs. IP literals are parsed and normalised with `ip-address`;
 * host names are checked against RFC 1123.
 *
 * Every parse failure is an {@link IscsiError} with {@link ErrorCode.Address}.
 * @module
 */
import { Address4, Address6 } from 'ip-address';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../errors.js';

/** The IANA-assigned iSCSI port (RFC 7143 §13.8: used when a TargetAddress gives no port). */
export const DEFAULT_ISCSI_PORT = 3260;

/** How a portal's host was given: an IPv4 literal, an IPv6 literal or a host name to resolve. */
export type PortalFamily = 4 | 6 | 'name';

/** An iSCSI portal: a TCP endpoint of a network portal, in normalised form. */
export interface Portal {
  /**
   * IPv4 in dotted-decimal form, IPv6 in RFC 5952 compressed lower-case form without brackets or zone (IPv4-mapped
   * addresses as `::ffff:a.b.c.d`, RFC 5952 §5),
   * or a lower-cased host name.
   */
  readonly host: string;
  /** TCP port, 1..65535. */
  readonly port: number;
  /** Kind of {@link Portal.host}. */
  readonly family: PortalFamily;
  /** IPv6 zone id (RFC 4007 §11), e.g. `eth0` for `fe80::1%eth0`; only with `family: 6`. */
  readonly zone?: string;
}

/** A parsed TargetAddress value (RFC 7143 §13.8). */
export interface TargetAddress {
  /** Where to connect. */
  readonly portal: Portal;
  /** The portal group tag after the comma, 0..65535, when the target sent one. */
  readonly tpgt?: number;
}

/** Options for `net.connect` / `net.createConnection` built by {@link connectOptions}. */
export interface PortalConnectOptions {
  /** IP literal (IPv6 with `%zone` appended when the portal has one) or host name. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** 4 or 6 for literals; for host names 0 (any), or the family of `localAddress` when one is given. */
  readonly family: 4 | 6 | 0;
  /** Normalised local IP literal to bind to, when given. */
  readonly localAddress?: string;
}

/**
 * How {@link parseHostPort} reads its input. Used by this module and the iscsi:// URL parser.
 * @internal
 */
export interface HostPortSyntax {
  /** Port used when none is given. */
  readonly defaultPort: number;
  /** Whether an unbracketed IPv6 literal (which can carry no port) is accepted. */
  readonly bareIpv6: boolean;
  /**
   * How a zone id inside brackets is written: `'uri'` — RFC 6874 `%25zone` (a raw `%zone` is tolerated, as RFC 6874
   * §4 allows); `'either'` — `%zone`, or `%25zone` when something follows the `25`; `'raw'` — `%zone` only.
   */
  readonly zoneEncoding: 'uri' | 'either' | 'raw';
  /**
   * Builds the error message from the reason and the input. Callers parsing text that may sit next to a secret
   * (URLs) leave the input out.
   */
  readonly message: (reason: string, text: string) => string;
}

// Longest text worth looking at: a 253-character host name with a port, or a zoned IPv6 literal, fits easily.
const MAX_INPUT = 512;
// RFC 1123 §2.1 / RFC 1035 §2.3.4: labels of at most 63 octets, a name of at most 253 characters (without the
// trailing dot). RFC 1123 allows a leading digit.
const MAX_HOST_NAME = 253;
const LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// A last label that getaddrinfo/inet_aton would read as a number (decimal, octal or 0x-hex): a host name like
// `1.2.3` or `0x7f.1` would silently connect to an IPv4 address, so such names are rejected.
const NUMERIC_LABEL_RE = /^(?:[0-9]+|0x[0-9a-f]*)$/;
// RFC 6874 ZoneID characters (unreserved); interface names and numeric indices fit. Bounded for sanity.
const ZONE_RE = /^[A-Za-z0-9._~-]{1,64}$/;
const MAPPED_PREFIX = '0000:0000:0000:0000:0000:ffff:';
const IPV6_CHARS_RE = /^[0-9A-Fa-f:.]+$/;
const IPV4_CHARS_RE = /^[0-9.]+$/;
const PORT_RE = /^[0-9]{1,5}$/;
// RFC 7143 §6.1: decimal-constant (no leading zeros) or hex-constant.
const TPGT_RE = /^(?:0|[1-9][0-9]{0,4}|0[xX][0-9A-Fa-f]{1,4})$/;

const PORTAL_SYNTAX: Omit<HostPortSyntax, 'defaultPort'> = {
  bareIpv6: true,
  zoneEncoding: 'either',
  message: (reason, text) => `invalid portal ${preview(text)}: ${reason}`,
};
const TARGET_ADDRESS_SYNTAX: HostPortSyntax = {
  defaultPort: DEFAULT_ISCSI_PORT,
  // RFC 7143 §13.8: an IPv6 domainname is bracketed; `fe80::1:3260` would otherwise be ambiguous.
  bareIpv6: false,
  zoneEncoding: 'raw',
  message: (reason, text) => `invalid TargetAddress ${preview(text)}: ${reason}`,
};

/**
 * Parses a portal as a user gives it: `host`, `host:port`, `1.2.3.4[:port]`, `[ipv6][:port]`,
 * `[fe80::1%eth0][:port]` (also `%25eth0`, RFC 6874), or a bare IPv6 literal such as `::1` or `fe80::1%eth0`
 * (which cannot carry a port). Host names follow RFC 1123 and are lower-cased; IP literals are normalised.
 * @throws {IscsiError} `ERR_ISCSI_ADDRESS` when the text is not a portal.
 * @throws {InvalidArgumentError} when `defaultPort` is not in 1..65535.
 */
export function parsePortal(text: string, defaultPort: number = DEFAULT_ISCSI_PORT): Portal {
  checkPort(defaultPort, 'defaultPort');
  return parseHostPort(text, { ...PORTAL_SYNTAX, defaultPort });
}

/**
 * Formats a portal as `1.2.3.4:3260`, `[::1]:3260`, `[fe80::1%eth0]:3260` or `name:3260`;
 * {@link parsePortal} reads the result back to an equal portal.
 * @throws {InvalidArgumentError} when the portal is malformed.
 */
export function formatPortal(portal: Portal): string {
  checkPortalObject(portal);
  // A zone id that itself starts with "25" is written as %25<zone>, so it is not read back as an encoded '%'.
  return `${formatHost(portal, portal.zone?.startsWith('25') ? '%25' : '%')}:${portal.port}`;
}

/**
 * The host part of a portal as it appears before `:port`: IPv6 in brackets with the zone after `zoneSeparator`
 * (`%` for portals, `%25` inside URLs, RFC 6874).
 * @internal
 */
export function formatHost(portal: Portal, zoneSeparator: '%' | '%25'): string {
  if (portal.family !== 6) return portal.host;
  return portal.zone === undefined ? `[${portal.host}]` : `[${portal.host}${zoneSeparator}${portal.zone}]`;
}

/**
 * Parses a TargetAddress value, `domainname[:port][,portal-group-tag]` (RFC 7143 §13.8), as sent in SendTargets
 * answers and login redirections: `10.0.0.1:3260,1`, `[2001:db8::1]:3260,1`, `target.example`. An IPv6 address
 * must be in brackets. The portal group tag is a decimal- or hex-constant (RFC 7143 §6.1) in 0..65535.
 * @throws {IscsiError} `ERR_ISCSI_ADDRESS` when the value does not parse.
 */
export function parseTargetAddress(value: string): TargetAddress {
  const comma = value.indexOf(',');
  if (comma < 0) return { portal: parseHostPort(value, TARGET_ADDRESS_SYNTAX) };
  if (comma !== value.lastIndexOf(',')) {
    throw addressError(`invalid TargetAddress ${preview(value)}: more than one portal group tag`);
  }
  const tag = value.slice(comma + 1);
  if (!TPGT_RE.test(tag) || Number(tag) > 0xffff) {
    throw addressError(`invalid TargetAddress ${preview(value)}: the portal group tag must be a number in 0..65535`);
  }
  return { portal: parseHostPort(value.slice(0, comma), TARGET_ADDRESS_SYNTAX), tpgt: Number(tag) };
}

/**
 * Builds `net.connect` options for a portal. An IPv6 zone id is appended to the host (`fe80::1%eth0`), which Node
 * passes to the kernel as the scope id. `localAddress` binds the socket to one local IP (an interface's address);
 * it must be an IP literal of the portal's family. For a host-name portal it sets the family DNS resolves to.
 * @throws {IscsiError} `ERR_ISCSI_ADDRESS` when `localAddress` is not an IP literal or has the wrong family.
 * @throws {InvalidArgumentError} when the portal is malformed.
 */
export function connectOptions(portal: Portal, localAddress?: string): PortalConnectOptions {
  checkPortalObject(portal);
  const host = portal.zone === undefined ? portal.host : `${portal.host}%${portal.zone}`;
  const family = portal.family === 'name' ? 0 : portal.family;
  if (localAddress === undefined) return { host, port: portal.port, family };
  const local = parseLocalAddress(localAddress);
  if (family !== 0 && local.family !== family) {
    throw addressError(`local address ${preview(localAddress)} is IPv${local.family} but the portal is IPv${family}`);
  }
  return { host, port: portal.port, family: local.family, localAddress: local.address };
}

/**
 * Parses `host[:port]`, `[ipv6[%zone]][:port]` or (when allowed) a bare IPv6 literal.
 * @internal
 */
export function parseHostPort(text: string, syntax: HostPortSyntax): Portal {
  const fail = (reason: string): IscsiError => addressError(syntax.message(reason, text));
  if (text.length === 0) throw fail('it is empty');
  if (text.length > MAX_INPUT) throw fail(`it is longer than ${MAX_INPUT} characters`);

  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw fail("missing ']'");
    const port = parsePortSuffix(text.slice(close + 1), syntax.defaultPort, fail);
    const literal = text.slice(1, close);
    if (literal.length === 0) throw fail('empty host between brackets');
    if (IPV4_CHARS_RE.test(literal)) throw fail('brackets are only for IPv6 addresses');
    return ipv6Portal(literal, port, syntax.zoneEncoding, fail);
  }
  if (text.includes('[') || text.includes(']')) throw fail("'[' or ']' outside an IPv6 literal");

  const firstColon = text.indexOf(':');
  if (firstColon >= 0 && firstColon !== text.lastIndexOf(':')) {
    // Two or more colons and no brackets: only an IPv6 literal fits, and it cannot carry a port.
    if (!syntax.bareIpv6) throw fail('an IPv6 address must be in brackets, e.g. [2001:db8::1]:3260');
    return ipv6Portal(text, syntax.defaultPort, 'raw', (reason) =>
      fail(`${reason} (write [address]:port to give an IPv6 port)`),
    );
  }
  const host = firstColon < 0 ? text : text.slice(0, firstColon);
  const port = firstColon < 0 ? syntax.defaultPort : parsePort(text.slice(firstColon + 1), fail);
  if (host.length === 0) throw fail('the host is empty');
  if (IPV4_CHARS_RE.test(host)) {
    if (!Address4.isValid(host)) throw fail('not a valid dotted-decimal IPv4 address (four numbers 0..255)');
    return freezePortal(new Address4(host).correctForm(), port, 4);
  }
  return freezePortal(checkHostName(host, fail), port, 'name');
}

function parsePortSuffix(rest: string, defaultPort: number, fail: (reason: string) => IscsiError): number {
  if (rest.length === 0) return defaultPort;
  if (!rest.startsWith(':')) throw fail("expected ':port' after ']'");
  return parsePort(rest.slice(1), fail);
}

function parsePort(text: string, fail: (reason: string) => IscsiError): number {
  if (text.length === 0) throw fail('the port after ":" is empty');
  if (!PORT_RE.test(text)) throw fail('the port must be a decimal number in 1..65535');
  const port = Number(text);
  if (port < 1 || port > 65535) throw fail(`port ${port} is outside 1..65535`);
  return port;
}

function ipv6Portal(
  literal: string,
  port: number,
  zoneEncoding: HostPortSyntax['zoneEncoding'],
  fail: (reason: string) => IscsiError,
): Portal {
  const percent = literal.indexOf('%');
  const address = percent < 0 ? literal : literal.slice(0, percent);
  let zone = percent < 0 ? undefined : literal.slice(percent + 1);
  // RFC 6874 §2: inside a URI the '%' before a zone id is itself percent-encoded as "%25".
  if (zone?.startsWith('25') && (zoneEncoding === 'uri' || (zoneEncoding === 'either' && zone.length > 2))) {
    zone = zone.slice(2);
  }
  if (zone !== undefined && !ZONE_RE.test(zone)) {
    throw fail('the IPv6 zone id must be 1..64 letters, digits, ".", "_", "~" or "-"');
  }
  const normalised = normaliseIpv6(address);
  if (normalised === undefined) throw fail('not a valid IPv6 address');
  return freezePortal(normalised, port, 6, zone);
}

/** RFC 5952 form of an IPv6 literal (no zone, no prefix), or undefined when it is not one. */
function normaliseIpv6(address: string): string | undefined {
  // ip-address also accepts "/prefix" and "%zone" suffixes; only bare literals are addresses here.
  if (!IPV6_CHARS_RE.test(address) || !Address6.isValid(address)) return undefined;
  const parsed = new Address6(address);
  const canonical = parsed.canonicalForm();
  // RFC 5952 §5: IPv4-mapped addresses are written with the IPv4 part in dotted decimal, as Node reports them in
  // socket.remoteAddress.
  if (canonical.startsWith(MAPPED_PREFIX)) {
    return `::ffff:${Address4.fromHex(canonical.slice(MAPPED_PREFIX.length).replace(':', '')).correctForm()}`;
  }
  return parsed.correctForm();
}

function checkHostName(host: string, fail: (reason: string) => IscsiError): string {
  const name = host.toLowerCase();
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length > MAX_HOST_NAME) throw fail(`a host name is at most ${MAX_HOST_NAME} characters`);
  const labels = bare.split('.');
  for (const label of labels) {
    if (!LABEL_RE.test(label)) {
      throw fail('not a valid host name (RFC 1123: dot-separated labels of 1..63 letters, digits and inner hyphens)');
    }
  }
  if (NUMERIC_LABEL_RE.test(labels[labels.length - 1]!)) {
    throw fail('a host name cannot end in a numeric label; IPv4 addresses are four decimal numbers 0..255');
  }
  return name;
}

function parseLocalAddress(text: string): { address: string; family: 4 | 6 } {
  if (IPV4_CHARS_RE.test(text) && Address4.isValid(text))
    return { address: new Address4(text).correctForm(), family: 4 };
  const percent = text.indexOf('%');
  const zone = percent < 0 ? undefined : text.slice(percent + 1);
  const address = normaliseIpv6(percent < 0 ? text : text.slice(0, percent));
  if (address === undefined || (zone !== undefined && !ZONE_RE.test(zone))) {
    throw addressError(`local address ${preview(text)} is not an IPv4 or IPv6 address`);
  }
  return { address: zone === undefined ? address : `${address}%${zone}`, family: 6 };
}

function freezePortal(host: string, port: number, family: PortalFamily, zone?: string): Portal {
  return Object.freeze(zone === undefined ? { host, port, family } : { host, port, family, zone });
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`${what} must be an integer in 1..65535`);
  }
}

function checkPortalObject(portal: Portal): void {
  checkPort(portal.port, 'portal port');
  const ok =
    typeof portal.host === 'string' &&
    portal.host.length > 0 &&
    (portal.family === 4 || portal.family === 6 || portal.family === 'name') &&
    (portal.zone === undefined || (portal.family === 6 && ZONE_RE.test(portal.zone)));
  if (!ok)
    throw new InvalidArgumentError(
      'malformed portal: needs a host, a family of 4, 6 or "name", and a zone only for IPv6',
    );
}

function addressError(message: string): IscsiError {
  return new IscsiError(ErrorCode.Address, message);
}

/** A short quoted preview of user input for messages. */
function preview(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
