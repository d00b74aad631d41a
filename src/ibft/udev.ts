/**
 * udev identification of iSCSI disks: the `ID_PATH` that systemd's `path_id` builtin (udev-builtin-path_id.c)
 * gives a disk of a session, its `ID_PATH_TAG` and `/dev/disk/by-path/` link, and the reverse.
 *
 * `ID_PATH` of an iSCSI disk: `[<host path>-]ip-<persistent_address>:<persistent_port>-iscsi-<targetname>-lun-<n>`,
 * where the host path is `pci-<bdf>` for an offload HBA (software hosts sit under /devices/platform and add nothing),
 * the address is what the initiator handed the kernel (IPv6 without brackets, in whatever form it was given) and
 * `<n>` is the Linux LUN: decimal below 256, else `0x` + the low and high 16 bits as `%04x` + `00000000`.
 *
 * Where Anaconda's storage library (blivet, `udev.py`) splits `ID_PATH` on `-` and gets it wrong, and this parser
 * does not: a host name holding `-` (`ip-my-host:3260-…`, or AWS-style `ip-10-0-0-1.ec2.internal`) fails blivet's
 * "part 2 is `iscsi`" test, so the disk is not seen as iSCSI at all; any extra host-path component before `ip-`
 * shifts the fields. This parser anchors on the first `:<digits>-iscsi-` after the `ip-` (host names hold no `:`,
 * IPv6 addresses no `-`) and on a `-lun-<n>` suffix at the very end, so target names may hold `-`, `:`, `-lun-`
 * and `-iscsi-`.
 * @module
 */
import { BootConfigError } from './boot-error.js';
import { clip, type HostFamily, hostFamily, lunToBigInt, lunValue, parseDecimalLun } from './values.js';

/** How a disk is reached: the kernel's iscsi_tcp/iser (software), an HBA with iscsid doing the login (partial
 * offload: bnx2i, qedi, cxgb4i, be2iscsi), or an HBA doing the login in firmware (full offload: qla4xxx). */
export type IscsiDiskKind = 'software' | 'partial-offload' | 'full-offload';

/** What {@link idPath} needs: the session's persistent portal and target name, the disk's Linux LUN. */
export interface IdPathInput {
  /** PERSISTENT_ADDRESS / PERSISTENT_PORT as the kernel holds them (`/sys/class/iscsi_connection/…/persistent_*`). */
  readonly portal: { readonly host: string; readonly port: number };
  readonly targetName: string;
  /** Linux LUN (the `L` of `H:C:T:L`). udev keeps only its low 32 bits. */
  readonly lun: number | bigint;
  /** PCI address of an offload HBA (`0000:05:00.1`); absent for software hosts. */
  readonly pciAddress?: string;
}

/** An `ID_PATH` or by-path name read back. */
export interface ParsedIdPath {
  /** `'software'`, or `'partial-offload'` for any host path: `ID_PATH` cannot tell full offload apart (blivet calls
   * every `pci-` form partial offload); {@link identifyDisk} refines it from the transport. */
  readonly kind: IscsiDiskKind;
  /** The components before `ip-` (`pci-0000:05:00.1`), when there are any. */
  readonly hostPath?: string;
  /** The PCI address when the host path is `pci-<bdf>`. */
  readonly pciAddress?: string;
  readonly portal: { readonly host: string; readonly port: number; readonly family: HostFamily };
  readonly targetName: string;
  /** Linux LUN (at most 32 bits when written in udev's hex form). */
  readonly lun: number | bigint;
  /** Partition number of a `-part<N>` by-path link. */
  readonly partition?: number;
}

/** The iSCSI facts udev properties give about a disk, from {@link identifyDisk}. */
export interface UdevIscsiDisk extends Partial<Omit<ParsedIdPath, 'kind'>> {
  readonly kind: IscsiDiskKind;
  /** Session number from a `session<N>` component of DEVPATH. */
  readonly session?: number;
  readonly idPath?: string;
  readonly devName?: string;
  /** What proved it: a parseable iSCSI `ID_PATH`, a `session<N>` ancestor in DEVPATH, or both. */
  readonly evidence: readonly ('ID_PATH' | 'DEVPATH')[];
}

const PCI_RE = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const REST_RE = /^(.+?):(\d{1,5})-iscsi-(.+)-lun-(\d{1,20}|0x[0-9a-fA-F]{16})$/s;
const BY_PATH_PREFIX_RE = /^(?:\/dev\/)?disk\/by-path\//;
const PART_RE = /^(.*-lun-(?:\d{1,20}|0x[0-9a-fA-F]{16}))-part([1-9]\d{0,5})$/s;
const CAP_DATA_PATH_OFFLOAD = 0x800;
const CAP_LOGIN_OFFLOAD = 0x4000;
/** CAP_DIGEST_OFFLOAD | CAP_PADDING_OFFLOAD: cxgb3i/cxgb4i offload digests and padding, not the data path. */
const CAP_DIGEST_PADDING_OFFLOAD = 0x1000 | 0x2000;

/** udev's LUN component: `lun-<n>` below 256, else `lun-0x%04x%04x00000000` of the low and high 16 bits. */
export function formatIdPathLun(lun: number | bigint): string {
  const value = lunToBigInt(lun, 'lun');
  if (value < 256n) return `lun-${value}`;
  const hex4 = (v: bigint): string => v.toString(16).padStart(4, '0');
  return `lun-0x${hex4(value & 0xffffn)}${hex4((value >> 16n) & 0xffffn)}00000000`;
}

/** The `ID_PATH` udev gives a disk of the session. Throws {@link BootConfigError} for an unusable input. */
export function idPath(session: IdPathInput): string {
  const { host, port } = session.portal;
  if (hostFamily(host) === undefined)
    throw new BootConfigError(`'${clip(host)}' is not an address or host name`, 'host');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BootConfigError(`bad port ${port}`, 'port');
  if (session.targetName.length === 0 || /[\s\p{Cc}]/u.test(session.targetName)) {
    throw new BootConfigError('the target name is empty or holds white space or control characters', 'targetName');
  }
  let prefix = '';
  if (session.pciAddress !== undefined) {
    if (!PCI_RE.test(session.pciAddress)) {
      throw new BootConfigError(`'${clip(session.pciAddress)}' is not a PCI address`, 'pciAddress');
    }
    prefix = `pci-${session.pciAddress}-`;
  }
  return `${prefix}ip-${host}:${port}-iscsi-${session.targetName}-${formatIdPathLun(session.lun)}`;
}

/** `ID_PATH_TAG`: characters outside `[0-9A-Za-z-]` become one `_` per run, with no `_` at either end. */
export function idPathTag(value: string): string {
  return value
    .replace(/[^0-9A-Za-z-]+/g, '_')
    .replace(/^_+/, '')
    .replace(/_+$/, '');
}

/**
 * The name udev gives the `/dev/disk/by-path/` link (append `-part<N>` for a partition): white space is trimmed and
 * each run becomes `_`, then every character outside `[0-9A-Za-z#+-.:=@_/]` becomes `_`, except non-ASCII
 * characters and `\x` escapes (udev's SYMLINK escaping). Iqn-style names pass unchanged; others make the link lossy.
 */
export function byPathName(value: string, partition?: number): string {
  const name = partition === undefined ? value : `${value}-part${partition}`;
  // udev_replace_whitespace: C isspace() only, trimmed at both ends, each run becomes one '_'.
  const collapsed = name.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '').replace(/[ \t\n\v\f\r]+/g, '_');
  return collapsed.replace(/\\x|[^0-9A-Za-z#+\-.:=@_/\u0080-\uD7FF\uE000-\u{10FFFF}]/gu, (m) =>
    m === '\\x' ? m : '_',
  );
}

/** `/dev/disk/by-path/<name>` for an `ID_PATH`. */
export function byPathLink(value: string, partition?: number): string {
  return `/dev/disk/by-path/${byPathName(value, partition)}`;
}

function decodeLun(text: string): number | bigint {
  if (!text.startsWith('0x')) return parseDecimalLun(text, 'lun');
  if (!/^0{8}$/.test(text.slice(10))) throw new BootConfigError('udev writes 0x<low><high>00000000 LUNs', 'lun');
  const low = BigInt(`0x${text.slice(2, 6)}`);
  const high = BigInt(`0x${text.slice(6, 10)}`);
  return lunValue(low | (high << 16n));
}

function tryParse(value: string): ParsedIdPath | undefined {
  for (let at = value.indexOf('ip-'); at >= 0; at = value.indexOf('ip-', at + 1)) {
    if (at > 0 && value[at - 1] !== '-') continue;
    const m = REST_RE.exec(value.slice(at + 3));
    if (m === null) continue;
    const [, host, portText, targetName, lunText] = m as unknown as [string, string, string, string, string];
    const family = hostFamily(host);
    if (family === undefined) continue;
    const hostPath = at === 0 ? undefined : value.slice(0, at - 1);
    const pci = hostPath === undefined ? undefined : /^pci-(.+)$/.exec(hostPath)?.[1];
    const port = Number(portText);
    if (port > 65535) continue;
    return {
      kind: hostPath === undefined ? 'software' : 'partial-offload',
      ...(hostPath === undefined ? {} : { hostPath }),
      ...(pci !== undefined && PCI_RE.test(pci) ? { pciAddress: pci } : {}),
      portal: { host, port, family },
      targetName,
      lun: decodeLun(lunText),
    };
  }
  return undefined;
}

function checkText(value: string, field: string): void {
  if (typeof value !== 'string') throw new BootConfigError(`the ${field} must be a string`, field);
  if (value.length > 4096 || /[\n\r\0]/.test(value)) {
    throw new BootConfigError(`the ${field} is too long or holds line breaks`, field);
  }
}

/** Reads an iSCSI `ID_PATH`. Throws {@link BootConfigError} when it is not one. */
export function parseIdPath(value: string): ParsedIdPath {
  checkText(value, 'ID_PATH');
  const parsed = tryParse(value);
  if (parsed === undefined) {
    throw new BootConfigError(
      `'${clip(value)}' is not an iSCSI ID_PATH ([<host>-]ip-<addr>:<port>-iscsi-<target>-lun-<n>)`,
      'ID_PATH',
    );
  }
  return parsed;
}

/** Reads a `/dev/disk/by-path/` name (with or without the directory, with an optional `-part<N>`). */
export function parseByPath(name: string): ParsedIdPath {
  checkText(name, 'by-path name');
  const bare = name.replace(BY_PATH_PREFIX_RE, '');
  const m = PART_RE.exec(bare);
  const parsed = parseIdPath(m === null ? bare : m[1]!);
  return m === null ? parsed : { ...parsed, partition: Number(m[2]) };
}

/**
 * The disk kind of an iSCSI transport: from its capability bits when known (`/sys/class/iscsi_transport/<name>/caps`:
 * CAP_LOGIN_OFFLOAD 0x4000 = full; CAP_DATA_PATH_OFFLOAD 0x800, CAP_DIGEST_OFFLOAD 0x1000 or CAP_PADDING_OFFLOAD
 * 0x2000 = partial, since cxgb3i/cxgb4i (caps 0x30b9) offload only digests and padding yet need an HBA), else from
 * its name (`tcp`, `iser` = software, `qla4xxx` = full, any other = partial).
 */
export function classifyTransport(name: string | undefined, caps?: number): IscsiDiskKind {
  if (caps !== undefined) {
    if (caps & CAP_LOGIN_OFFLOAD) return 'full-offload';
    return caps & (CAP_DATA_PATH_OFFLOAD | CAP_DIGEST_PADDING_OFFLOAD) ? 'partial-offload' : 'software';
  }
  if (name === 'tcp' || name === 'iser' || name === undefined) return 'software';
  return name === 'qla4xxx' ? 'full-offload' : 'partial-offload';
}

/** Options of {@link identifyDisk}: the transport, when the caller knows it from sysfs or the HBA's driver. */
export interface IdentifyOptions {
  readonly transport?: string;
  readonly caps?: number;
}

/**
 * Says whether udev properties (`udevadm info` E: lines) describe an iSCSI disk or partition, and which kind.
 * `ID_BUS`, when present, must be `scsi` (a precondition shared by every SCSI disk, never proof); proof is an iSCSI
 * `ID_PATH` or a `session<N>` component in `DEVPATH`. Returns `undefined` for anything else; never throws.
 */
export function identifyDisk(
  properties: Readonly<Record<string, string>>,
  options: IdentifyOptions = {},
): UdevIscsiDisk | undefined {
  const get = (key: string): string | undefined =>
    Object.hasOwn(properties, key) && typeof properties[key] === 'string' ? properties[key] : undefined;
  const bus = get('ID_BUS');
  if (bus !== undefined && bus !== 'scsi') return undefined;
  const value = get('ID_PATH');
  const devPath = get('DEVPATH');
  let parsed: ParsedIdPath | undefined;
  try {
    parsed = value === undefined ? undefined : parseIdPath(value);
  } catch {
    parsed = undefined;
  }
  const session = devPath === undefined ? null : /\/session(\d{1,9})\//.exec(devPath);
  if (parsed === undefined && session === null) return undefined;
  let kind: IscsiDiskKind;
  if (options.transport !== undefined || options.caps !== undefined)
    kind = classifyTransport(options.transport, options.caps);
  else if (parsed !== undefined) kind = parsed.kind;
  else kind = devPath?.startsWith('/devices/platform/') ? 'software' : 'partial-offload';
  const evidence: ('ID_PATH' | 'DEVPATH')[] = [];
  if (parsed !== undefined) evidence.push('ID_PATH');
  if (session !== null) evidence.push('DEVPATH');
  const partn = get('DEVTYPE') === 'partition' ? get('PARTN') : undefined;
  const devName = get('DEVNAME');
  const { kind: _kind, ...fields } = parsed ?? { kind };
  return {
    ...fields,
    kind,
    ...(session === null ? {} : { session: Number(session[1]) }),
    ...(value === undefined || parsed === undefined ? {} : { idPath: value }),
    ...(devName === undefined ? {} : { devName }),
    ...(partn !== undefined && /^[1-9]\d{0,5}$/.test(partn) ? { partition: Number(partn) } : {}),
    evidence,
  };
}
