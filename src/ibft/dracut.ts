/**
 * dracut boot arguments for iSCSI root disks, written as Anaconda's storage library (blivet) and dracut write them,
 * and read back from a kernel command line into typed form, so a boot configuration can be checked before it is
 * written. Grammar: dracut.cmdline(7) and dracut's modules.d/40network/net-lib.sh and 95iscsi (dracut-ng 74iscsi);
 * the `netroot=` details are in ./netroot.ts, the `ip=` details in ./ip-arg.ts.
 *
 * What the installed system gets, per disk:
 * - a disk the firmware logged in to (iBFT): `rd.iscsi.firmware=1` (dracut logs in to every iBFT target);
 * - any other disk: `netroot=iscsi:…` plus one `rd.iscsi.initiator=<name>` (dracut supports one initiator name);
 * - its network: `ip=…` per interface, `ifname=<name>:<mac>`, `vlan=<name>:<parent>`, `rd.iscsi.ibft=1` to take the
 *   NIC settings from the iBFT (Anaconda adds it for the NIC of an iBFT disk), optionally `rd.neednet=1`.
 * @module
 */
import { BootConfigError } from './boot-error.js';
import { type FormatIpOptions, formatIpArg, type NetworkConfig, parseIpArg } from './ip-arg.js';
import { type BootTarget, checkIscsiName, formatNetroot, type NetrootStyle, parseNetroot } from './netroot.js';
import { clip, isInterfaceName, isMac } from './values.js';

export type {
  FormatIpOptions,
  IpAutoConfig,
  IpAutoMode,
  IpIbftConfig,
  IpStaticConfig,
  NetworkConfig,
} from './ip-arg.js';
export { formatIpArg, parseIpArg } from './ip-arg.js';
export type { BootChap, BootPortal, BootTarget, FormatNetrootOptions, NetrootStyle } from './netroot.js';
export { checkIscsiName, DRACUT_DEFAULT_PORT, formatNetroot, parseNetroot } from './netroot.js';

/** `ifname=<name>:<mac>`: gives the interface with that MAC a fixed name in the initramfs. */
export interface InterfaceNameArg {
  readonly name: string;
  /** MAC address, written in lower case (udev matches lower case). */
  readonly mac: string;
}

/** `vlan=<name>:<parent>`: a VLAN interface on a physical one (`vlan=ibft0.100:ibft0`). */
export interface VlanArg {
  readonly name: string;
  readonly parent: string;
}

/** Options of {@link bootArgs}. */
export interface BootArgsOptions {
  /** Initiator name for `rd.iscsi.initiator=`; else taken from the targets (they must agree). */
  readonly initiatorName?: string;
  /** `ip=` arguments, one per interface. */
  readonly network?: NetworkConfig | readonly NetworkConfig[];
  /** `ifname=` arguments. */
  readonly interfaces?: readonly InterfaceNameArg[];
  /** `vlan=` arguments. */
  readonly vlans?: readonly VlanArg[];
  /** Add `rd.iscsi.firmware=1` even when no target is marked `firmware`. */
  readonly firmware?: boolean;
  /** Add `rd.iscsi.ibft=1`: network settings from the iBFT. */
  readonly ibft?: boolean;
  /** Add `rd.neednet=1` (dracut's hostonly mode always does for software iSCSI; Anaconda does not). */
  readonly neednet?: boolean;
  /** Write CHAP secrets in clear; default `<redacted>` (then the arguments do not boot). */
  readonly includeSecrets?: boolean;
  /** netroot style, see {@link NetrootStyle}. */
  readonly style?: NetrootStyle;
  /** IPv6 static `ip=` form. */
  readonly ipv6Form?: FormatIpOptions['ipv6Form'];
}

/** A kernel command line read by {@link parseBootArgs}. */
export interface ParsedBootArgs {
  /** `netroot=iscsi:…` targets, in order. */
  readonly targets: readonly BootTarget[];
  /** `root=iscsi:…` (dracut prefers it over `netroot=` and makes that LUN `/dev/root`). */
  readonly root?: BootTarget;
  /** `rd.iscsi.initiator=` (legacy `iscsi_initiator=`). */
  readonly initiatorName?: string;
  /** `rd.iscsi.firmware` (legacy `iscsi_firmware`). */
  readonly firmware: boolean;
  /** `rd.iscsi.ibft` or `ip=ibft`. */
  readonly ibft: boolean;
  /** `rd.neednet`. */
  readonly neednet: boolean;
  /** `ip=` arguments, in order. */
  readonly network: readonly NetworkConfig[];
  readonly interfaces: readonly InterfaceNameArg[];
  readonly vlans: readonly VlanArg[];
  /** Every other argument, verbatim. */
  readonly other: readonly string[];
}

const MAX_CMDLINE = 65536;

function checkIfname(name: string, field: string): void {
  if (!isInterfaceName(name)) throw new BootConfigError(`'${clip(name)}' is not a Linux interface name`, field);
}

/**
 * The dracut arguments that make the installed system log in to `targets` at boot: `netroot=` per target (deduplicated)
 * or `rd.iscsi.firmware=1` for firmware-booted ones, then `rd.iscsi.ibft=1`, `rd.iscsi.initiator=`, `ifname=`,
 * `vlan=`, `ip=` and `rd.neednet=1` as asked. Throws {@link BootConfigError} when a value cannot be written so that
 * dracut reads it back unchanged, when targets disagree on the initiator name, or when a netroot target has none.
 */
export function bootArgs(targets: readonly BootTarget[], options: BootArgsOptions = {}): string[] {
  const args: string[] = [];
  let initiator = options.initiatorName;
  let firmware = options.firmware === true;
  let software = false;
  for (const t of targets) {
    if (t.firmware === true) {
      firmware = true;
      continue;
    }
    software = true;
    if (t.initiatorName !== undefined && initiator !== undefined && t.initiatorName !== initiator) {
      throw new BootConfigError('dracut takes one initiator name and the targets disagree', 'rd.iscsi.initiator');
    }
    initiator ??= t.initiatorName;
    const arg = formatNetroot(t, {
      ...(options.includeSecrets === undefined ? {} : { includeSecrets: options.includeSecrets }),
      ...(options.style === undefined ? {} : { style: options.style }),
    });
    if (!args.includes(arg)) args.push(arg);
  }
  if (firmware) args.push('rd.iscsi.firmware=1');
  if (options.ibft === true) args.push('rd.iscsi.ibft=1');
  if (software && initiator === undefined) {
    // Without it dracut falls back to a random iscsi-iname, which the target's ACLs would refuse.
    throw new BootConfigError('netroot targets need an initiator name', 'rd.iscsi.initiator');
  }
  if (initiator !== undefined) {
    checkIscsiName(initiator, 'rd.iscsi.initiator');
    args.push(`rd.iscsi.initiator=${initiator}`);
  }
  for (const { name, mac } of options.interfaces ?? []) {
    checkIfname(name, 'ifname');
    if (!isMac(mac)) throw new BootConfigError(`'${clip(mac)}' is not a MAC address`, 'ifname');
    args.push(`ifname=${name}:${mac.toLowerCase()}`);
  }
  for (const { name, parent } of options.vlans ?? []) {
    checkIfname(name, 'vlan');
    checkIfname(parent, 'vlan');
    args.push(`vlan=${name}:${parent}`);
  }
  const network =
    options.network === undefined ? [] : Array.isArray(options.network) ? options.network : [options.network];
  for (const config of network as readonly NetworkConfig[]) {
    args.push(formatIpArg(config, options.ipv6Form === undefined ? {} : { ipv6Form: options.ipv6Form }));
  }
  if (options.neednet === true) args.push('rd.neednet=1');
  return args;
}

/**
 * Splits a kernel command line into arguments: white space separates them, double quotes group (`a="b c"`) and are
 * removed, as the kernel's `next_arg` does for the usual forms.
 */
export function splitKernelCmdline(cmdline: string): string[] {
  if (typeof cmdline !== 'string') throw new BootConfigError('the command line must be a string', 'cmdline');
  if (cmdline.length > MAX_CMDLINE) throw new BootConfigError('the command line is longer than 64 KiB', 'cmdline');
  const args: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (const c of cmdline) {
    if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (!quoted && /\s/.test(c)) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (quoted) throw new BootConfigError('the command line has an unbalanced double quote', 'cmdline');
  if (started) args.push(current);
  return args;
}

/** dracut's getargbool: a bare flag is true; `0`, `no` and `off` are false. */
function flag(value: string | undefined): boolean {
  return value === undefined || !['0', 'no', 'off'].includes(value);
}

/**
 * Reads the iSCSI-related dracut arguments of a kernel command line (a string, or arguments already split) into
 * typed form; every other argument lands in `other`. Throws {@link BootConfigError} for a malformed `netroot=iscsi:`,
 * `root=iscsi:`, `ip=`, `ifname=`, `vlan=` or initiator name, and for two different initiator names.
 */
export function parseBootArgs(cmdline: string | readonly string[]): ParsedBootArgs {
  const args = typeof cmdline === 'string' ? splitKernelCmdline(cmdline) : cmdline;
  const targets: BootTarget[] = [];
  const network: NetworkConfig[] = [];
  const interfaces: InterfaceNameArg[] = [];
  const vlans: VlanArg[] = [];
  const other: string[] = [];
  let root: BootTarget | undefined;
  let initiatorName: string | undefined;
  let firmware = false;
  let ibft = false;
  let neednet = false;
  for (const arg of args) {
    if (typeof arg !== 'string') throw new BootConfigError('every argument must be a string', 'cmdline');
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (key === 'netroot' && value?.startsWith('iscsi:')) targets.push(parseNetroot(value));
    else if (key === 'root' && value?.startsWith('iscsi:')) root = parseNetroot(value);
    else if ((key === 'rd.iscsi.initiator' || key === 'iscsi_initiator') && value !== undefined) {
      checkIscsiName(value, 'rd.iscsi.initiator');
      if (initiatorName !== undefined && initiatorName !== value) {
        throw new BootConfigError('two different initiator names', 'rd.iscsi.initiator');
      }
      initiatorName = value;
    } else if (key === 'rd.iscsi.firmware' || key === 'iscsi_firmware') firmware = flag(value);
    else if (key === 'rd.iscsi.ibft') ibft = flag(value);
    else if (key === 'rd.neednet') neednet = flag(value);
    else if (key === 'ip' && value !== undefined) {
      const config = parseIpArg(value);
      if (config.method === 'ibft') ibft = true;
      network.push(config);
    } else if ((key === 'ifname' || key === 'vlan') && value !== undefined) {
      const colon = value.indexOf(':');
      const name = colon < 0 ? value : value.slice(0, colon);
      const rest = colon < 0 ? '' : value.slice(colon + 1);
      checkIfname(name, key);
      if (key === 'vlan') {
        checkIfname(rest, key);
        vlans.push({ name, parent: rest });
      } else {
        if (!isMac(rest)) throw new BootConfigError(`'${clip(rest)}' is not a MAC address`, key);
        interfaces.push({ name, mac: rest.toLowerCase() });
      }
    } else other.push(arg);
  }
  return {
    targets,
    ...(root === undefined ? {} : { root }),
    ...(initiatorName === undefined ? {} : { initiatorName }),
    firmware,
    ibft,
    neednet,
    network,
    interfaces,
    vlans,
    other,
  };
}

/** The dracut modules an iSCSI root needs: `network` and `iscsi` (which pulls in `rootfs-block` itself). */
export function requiredDracutModules(): readonly string[] {
  return ['network', 'iscsi'];
}

/**
 * The packages the installed system needs for dracut to log in at boot: on Fedora/RHEL what blivet adds
 * (`iscsi-initiator-utils`, `dracut-network`); on Debian `open-iscsi` and `dracut-network`.
 */
export function requiredPackages(distribution: 'fedora' | 'debian' = 'fedora'): readonly string[] {
  return distribution === 'debian' ? ['open-iscsi', 'dracut-network'] : ['iscsi-initiator-utils', 'dracut-network'];
}

const TRANSPORT_MODULES: ReadonlyMap<string, string> = new Map([
  ['tcp', 'iscsi_tcp'],
  ['iser', 'ib_iser'],
  ['bnx2i', 'bnx2i'],
  ['qedi', 'qedi'],
  ['cxgb3i', 'cxgb3i'],
  ['cxgb4i', 'cxgb4i'],
  ['be2iscsi', 'be2iscsi'],
  ['qla4xxx', 'qla4xxx'],
]);

/**
 * The kernel modules dracut's iscsi module puts in the initramfs (`iscsi_tcp iscsi_ibft crc32c iscsi_boot_sysfs
 * 8021q`), plus the driver of each offload transport named (open-iscsi transport names: `bnx2i`, `qla4xxx`, …).
 */
export function requiredKernelModules(transports: readonly string[] = []): readonly string[] {
  const modules = ['iscsi_tcp', 'iscsi_ibft', 'crc32c', 'iscsi_boot_sysfs', '8021q'];
  for (const transport of transports) {
    const module = TRANSPORT_MODULES.get(transport);
    if (module === undefined) throw new BootConfigError(`unknown iSCSI transport '${clip(transport)}'`, 'transport');
    if (!modules.includes(module)) modules.push(module);
  }
  return modules;
}
