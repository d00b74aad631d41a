/**
 * dracut's `ip=` argument (dracut.cmdline(7)), written and read back the way dracut's `ip_to_var`
 * (modules.d/40network/net-lib.sh) splits it: on `:`, except inside `[…]` holding at least two `:` (IPv6).
 *
 * ```
 * ip={dhcp|on|any|dhcp6|auto6|either6|link6|single-dhcp|ibft}
 * ip=<netdev>:{dhcp|on|any|dhcp6|auto6|link6}[:[<mtu>][:<mac>]]
 * ip=<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:<netdev>:{none|off}[:[<mtu>][:<mac>]]
 * ip=<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:<netdev>:{none|off}[:<dns1>[:<dns2>]]
 * ```
 *
 * IPv6 addresses are bracketed; the netmask field holds the prefix length for IPv6 (dracut's iBFT form), or the
 * prefix rides in the address (`[fd00::5/64]` with an empty netmask, Anaconda's form). dracut reads the 8th field
 * as a DNS server only when it starts with a digit, so an IPv6 DNS server must be bracketed and start with a digit
 * (dracut's own iBFT code writes unbracketed IPv6 DNS servers, which it then misreads).
 * @module
 */
import { BootConfigError } from './boot-error.js';
import { clip, hostFamily, isInterfaceName, isIpv4, isIpv6, isMac } from './values.js';

/** The address-less `ip=` modes. */
export type IpAutoMode = 'dhcp' | 'on' | 'any' | 'dhcp6' | 'auto6' | 'either6' | 'link6' | 'single-dhcp';

/** `ip=<mode>` or `ip=<netdev>:<mode>[:<mtu>[:<mac>]]`. */
export interface IpAutoConfig {
  readonly method: 'auto';
  readonly mode: IpAutoMode;
  /** Interface; absent = every interface (only `dhcp`, `on`, `any`, `dhcp6`, `auto6`, `link6` take one). */
  readonly netdev?: string;
  readonly mtu?: number;
  /** MAC address to set, lower case. */
  readonly mac?: string;
}

/** A static address: `ip=<client-IP>:[<peer>]:<gateway>:<netmask>:<hostname>:<netdev>:{none|off}[:…]`. */
export interface IpStaticConfig {
  readonly method: 'static';
  /** IPv4 or IPv6 literal, without brackets or prefix. */
  readonly address: string;
  /** Prefix length: 0–32 (IPv4, written as a dotted netmask) or 0–128 (IPv6). */
  readonly prefixLength: number;
  readonly peer?: string;
  readonly gateway?: string;
  readonly hostname?: string;
  readonly netdev?: string;
  /** `none` (default) or `off`; parsers always fill it in. */
  readonly autoconf?: 'none' | 'off';
  /** Up to two DNS servers (not together with `mtu`/`mac`). */
  readonly dns?: readonly string[];
  readonly mtu?: number;
  readonly mac?: string;
}

/** `ip=ibft`: the network settings come from the iBFT (same as `rd.iscsi.ibft=1`). */
export interface IpIbftConfig {
  readonly method: 'ibft';
}

/** One `ip=` argument. */
export type NetworkConfig = IpAutoConfig | IpStaticConfig | IpIbftConfig;

/** Options of {@link formatIpArg}. */
export interface FormatIpOptions {
  /** IPv6 static form: `'dracut'` (default) `[addr]:…:<prefix>` or `'anaconda'` `[addr/prefix]:…:` (empty netmask). */
  readonly ipv6Form?: 'dracut' | 'anaconda';
}

const AUTO_MODES: readonly IpAutoMode[] = ['dhcp', 'on', 'any', 'dhcp6', 'auto6', 'either6', 'link6', 'single-dhcp'];
const NETDEV_MODES: readonly string[] = ['dhcp', 'on', 'any', 'dhcp6', 'auto6', 'link6'];

function fail(message: string, field: string): never {
  throw new BootConfigError(message, `ip.${field}`);
}

function familyOf(address: string, field: string): 4 | 6 {
  if (isIpv4(address)) return 4;
  if (isIpv6(address) && !address.includes('%')) return 6;
  return fail(`'${clip(address)}' is not an IP address`, field);
}

function ipField(address: string | undefined, family: 4 | 6, field: string): string {
  if (address === undefined) return '';
  if (familyOf(address, field) !== family) fail(`the ${field} is not of the address's family`, field);
  return family === 6 ? `[${address}]` : address;
}

function maskOf(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

function checkNumber(value: number | undefined, min: number, max: number, field: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
    fail(`the ${field} ${value} is not in ${min}..${max}`, field);
  }
}

function checkNetdev(netdev: string | undefined): void {
  if (netdev !== undefined && !isInterfaceName(netdev))
    fail(`'${clip(netdev)}' is not a Linux interface name`, 'netdev');
}

function mtuMacTail(mtu: number | undefined, mac: string | undefined): string {
  checkNumber(mtu, 1, 65535, 'mtu');
  if (mac !== undefined && !isMac(mac)) fail(`'${clip(mac)}' is not a MAC address`, 'mac');
  if (mac !== undefined) return `:${mtu ?? ''}:${mac.toLowerCase()}`;
  return mtu === undefined ? '' : `:${mtu}`;
}

/** Writes one `ip=` argument. Throws {@link BootConfigError} for a value dracut would read back differently. */
export function formatIpArg(config: NetworkConfig, options: FormatIpOptions = {}): string {
  if (config.method === 'ibft') return 'ip=ibft';
  if (config.method === 'auto') {
    if (!AUTO_MODES.includes(config.mode)) fail(`unknown mode '${clip(String(config.mode))}'`, 'mode');
    if (config.netdev === undefined) {
      if (config.mtu !== undefined || config.mac !== undefined) fail('mtu and mac need a netdev', 'netdev');
      return `ip=${config.mode}`;
    }
    checkNetdev(config.netdev);
    if (!NETDEV_MODES.includes(config.mode)) fail(`mode '${config.mode}' takes no interface`, 'mode');
    return `ip=${config.netdev}:${config.mode}${mtuMacTail(config.mtu, config.mac)}`;
  }
  const family = familyOf(config.address, 'address');
  checkNumber(config.prefixLength, 0, family === 4 ? 32 : 128, 'prefixLength');
  if (config.prefixLength === undefined) fail('a static address needs a prefix length', 'prefixLength');
  if (config.hostname !== undefined && hostFamily(config.hostname) !== 'name') {
    fail(`'${clip(config.hostname)}' is not a host name`, 'hostname');
  }
  checkNetdev(config.netdev);
  const autoconf = config.autoconf ?? 'none';
  if (autoconf !== 'none' && autoconf !== 'off') fail('autoconf must be none or off', 'autoconf');
  const anaconda = family === 6 && options.ipv6Form === 'anaconda';
  const address =
    family === 4 ? config.address : anaconda ? `[${config.address}/${config.prefixLength}]` : `[${config.address}]`;
  const mask = family === 4 ? maskOf(config.prefixLength) : anaconda ? '' : String(config.prefixLength);
  const peer = ipField(config.peer, family, 'peer');
  const gateway = ipField(config.gateway, family, 'gateway');
  let tail: string;
  const dns = config.dns ?? [];
  if (dns.length > 0) {
    if (dns.length > 2) fail('at most two DNS servers fit in ip=', 'dns');
    if (config.mtu !== undefined || config.mac !== undefined) fail('ip= holds either DNS servers or mtu/mac', 'dns');
    tail = dns
      .map((server) => {
        const f = familyOf(server, 'dns');
        // dracut: `case "$8" in [0-9]*:*|[0-9]*.[0-9]*.[0-9]*.[0-9]*)` — anything else is not read as a DNS server.
        if (f === 6 && !/^\d/.test(server))
          fail('dracut reads an IPv6 DNS server only when it starts with a digit', 'dns');
        return f === 6 ? `:[${server}]` : `:${server}`;
      })
      .join('');
  } else {
    tail = mtuMacTail(config.mtu, config.mac);
  }
  return `ip=${address}:${peer}:${gateway}:${mask}:${config.hostname ?? ''}:${config.netdev ?? ''}:${autoconf}${tail}`;
}

interface Field {
  readonly text: string;
  readonly bracketed: boolean;
}

/** dracut's `ip_to_var` split: `:` separates fields, except inside `[…]` holding at least two `:`. */
function splitFields(value: string): Field[] {
  const out: Field[] = [];
  let v = `${value}:`;
  while (v.length > 0) {
    if (v.startsWith('[')) {
      const end = v.indexOf(']:');
      const inner = end > 0 ? v.slice(1, end) : '';
      if (inner.split(':').length >= 3) {
        out.push({ text: inner, bracketed: true });
        v = v.slice(end + 2);
        continue;
      }
    }
    const colon = v.indexOf(':');
    out.push({ text: v.slice(0, colon), bracketed: false });
    v = v.slice(colon + 1);
  }
  return out;
}

function parseMtuMac(fields: readonly Field[], field: string): { mtu?: number; mac?: string } {
  const out: { mtu?: number; mac?: string } = {};
  const [mtu, ...mac] = fields.map((f) => f.text);
  if (mtu !== undefined && mtu !== '') {
    if (!/^\d{1,5}$/.test(mtu) || Number(mtu) < 1 || Number(mtu) > 65535) fail(`'${clip(mtu)}' is not an MTU`, field);
    out.mtu = Number(mtu);
  }
  if (mac.length === 0) return out;
  const text = mac.join(':');
  if (mac.length !== 6 || !isMac(text)) fail(`'${clip(text)}' is not a MAC address`, 'mac');
  out.mac = text.toLowerCase();
  return out;
}

function parseIpValue(f: Field | undefined, family: 4 | 6, field: string): string | undefined {
  if (f === undefined || f.text === '') return undefined;
  if (familyOf(f.text, field) !== family || f.bracketed !== (family === 6)) {
    fail(
      `the ${field} must be ${family === 6 ? 'a bracketed IPv6' : 'an IPv4'} address like the client address`,
      field,
    );
  }
  return f.text;
}

function parsePrefix(address: string, mask: string, family: 4 | 6): { address: string; prefixLength: number } {
  const slash = address.indexOf('/');
  const base = slash < 0 ? address : address.slice(0, slash);
  const prefixes: number[] = [];
  const max = family === 4 ? 32 : 128;
  if (slash >= 0) prefixes.push(/^\d{1,3}$/.test(address.slice(slash + 1)) ? Number(address.slice(slash + 1)) : -1);
  if (mask !== '') {
    if (/^\d{1,3}$/.test(mask)) prefixes.push(Number(mask));
    else if (family === 4 && isIpv4(mask)) {
      const bits = mask.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
      const ones = bits.toString(2).replace(/0+$/, '');
      prefixes.push(bits === 0 ? 0 : /^1+$/.test(ones) && bits.toString(2).length === 32 ? ones.length : -1);
    } else prefixes.push(-1);
  }
  if (prefixes.length === 0) fail('a static address needs a netmask or prefix length', 'netmask');
  if (prefixes.some((p) => p < 0 || p > max)) fail(`'${clip(mask)}' is not a valid netmask or prefix`, 'netmask');
  if (prefixes.length === 2 && prefixes[0] !== prefixes[1]) fail('the address prefix and netmask disagree', 'netmask');
  return { address: base, prefixLength: prefixes[0]! };
}

function parseStatic(f: readonly Field[]): IpStaticConfig {
  if (f.length < 7) fail(`a static ip= needs 7 fields, found ${f.length}`, 'address');
  const [ip, , , mask, host, dev, auto] = f as [Field, Field, Field, Field, Field, Field, Field];
  const family = ip.bracketed ? 6 : 4;
  const { address, prefixLength } = parsePrefix(ip.text, mask.text, family);
  if (familyOf(address, 'address') !== family) fail('an IPv6 client address must be bracketed', 'address');
  if (auto.text !== 'none' && auto.text !== 'off') fail(`autoconf '${clip(auto.text)}' is not none or off`, 'autoconf');
  const out: {
    -readonly [K in keyof IpStaticConfig]: IpStaticConfig[K];
  } = { method: 'static', address, prefixLength, autoconf: auto.text };
  const peer = parseIpValue(f[1], family, 'peer');
  const gateway = parseIpValue(f[2], family, 'gateway');
  if (peer !== undefined) out.peer = peer;
  if (gateway !== undefined) out.gateway = gateway;
  if (host.text !== '') {
    if (hostFamily(host.text) !== 'name') fail(`'${clip(host.text)}' is not a host name`, 'hostname');
    out.hostname = host.text;
  }
  if (dev.text !== '') {
    checkNetdev(dev.text);
    out.netdev = dev.text;
  }
  const tail = f.slice(7);
  const first = tail[0]?.text ?? '';
  if (/^\d/.test(first) && (first.includes(':') || isIpv4(first))) {
    if (tail.length > 2) fail('more than two DNS servers', 'dns');
    const dns = tail.map((d) => d.text).filter((d) => d !== '');
    for (const server of dns) familyOf(server, 'dns');
    out.dns = dns;
  } else if (tail.length > 0) {
    if (first !== '' && !/^\d/.test(first)) {
      fail('dracut ignores this field (an IPv6 DNS server must be bracketed and start with a digit)', 'dns');
    }
    Object.assign(out, parseMtuMac(tail, 'mtu'));
  }
  return out;
}

/**
 * Reads one `ip=` value (with or without the `ip=` key) the way dracut splits it, checking every address, prefix,
 * interface name, MTU and MAC. Parsed static configurations always carry `autoconf`.
 * Throws {@link BootConfigError}. The Anaconda-style `ip=<address>` with separate `netmask=`/`gateway=` arguments
 * is not supported.
 */
export function parseIpArg(value: string): NetworkConfig {
  if (typeof value !== 'string') fail('the ip= value must be a string', 'value');
  const text = value.startsWith('ip=') ? value.slice(3) : value;
  if (text === '') fail('the ip= value is empty', 'value');
  const f = splitFields(text);
  const [first, second] = f as [Field, Field | undefined];
  if (second === undefined) {
    if (first.text === 'ibft') return { method: 'ibft' };
    if ((AUTO_MODES as readonly string[]).includes(first.text))
      return { method: 'auto', mode: first.text as IpAutoMode };
    if (isIpv4(first.text)) fail('ip=<address> with separate gateway=/netmask= arguments is not supported', 'value');
    fail(`'${clip(first.text)}' is not an ip= mode`, 'mode');
  }
  if (!second.bracketed && NETDEV_MODES.includes(second.text)) {
    const netdev = first.text === '' ? undefined : first.text;
    checkNetdev(netdev);
    return {
      method: 'auto',
      mode: second.text as IpAutoMode,
      ...(netdev === undefined ? {} : { netdev }),
      ...parseMtuMac(f.slice(2), 'mtu'),
    };
  }
  return parseStatic(f);
}
