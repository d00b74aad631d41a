/**
 * From a block device to its iSCSI session, connection, host and transport by walking sysfs, and the installer's
 * list of iSCSI disks from sysfs or from udev database text.
 *
 * Layout (Linux scsi_transport_iscsi; software hosts hang under /devices/platform, offload HBAs under their PCI
 * function):
 * ```
 * /sys/block/sda -> ../devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda
 * …/host0/scsi_host/host0/proc_name                              iscsi_tcp (transport tcp)
 * …/host0/iscsi_host/host0/{ipaddress,hwaddress,netdev,initiatorname}
 * …/host0/session1/iscsi_session/session1/{targetname,tpgt,initiatorname,ifacename,state}
 * …/host0/session1/connection1:0/iscsi_connection/connection1:0/{persistent_address,persistent_port,address,port,state}
 * /sys/class/iscsi_transport/tcp/caps                              0x39
 * ```
 * CHAP user names and passwords in the session directory are never read.
 * @module
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { BootConfigError } from './boot-error.js';
import { byPathLink, classifyTransport, type IscsiDiskKind, identifyDisk, idPath, parseByPath } from './udev.js';
import { parseUdevDb, type UdevRecord } from './udev-db.js';
import { type HostFamily, hostFamily, lunValue } from './values.js';

export { parseUdevDb, parseUdevProperties, type UdevRecord } from './udev-db.js';

/** Where sysfs is mounted (default `/sys`); tests point it at a fixture tree. */
export interface SysfsOptions {
  readonly sysRoot?: string;
}

/** The iSCSI session a disk belongs to (`iscsi_session/session<N>`). */
export interface SysfsSession {
  readonly number: number;
  readonly targetName: string;
  readonly tpgt?: number;
  readonly initiatorName?: string;
  readonly ifaceName?: string;
  readonly state?: string;
}

/** The session's connection (`iscsi_connection/connection<N>:<cid>`). */
export interface SysfsConnection {
  readonly name: string;
  readonly persistentAddress: string;
  readonly persistentPort: number;
  readonly address?: string;
  readonly port?: number;
  readonly state?: string;
}

/** The SCSI host of the session (`iscsi_host/host<N>`, `scsi_host/host<N>`). */
export interface SysfsHost {
  readonly number: number;
  /** open-iscsi transport name: `proc_name` without its `iscsi_` prefix (`tcp`, `bnx2i`, `qla4xxx`). */
  readonly transport?: string;
  /** `/sys/class/iscsi_transport/<transport>/caps`. */
  readonly caps?: number;
  readonly kind: IscsiDiskKind;
  /** PCI function the host hangs under (offload HBAs). */
  readonly pciAddress?: string;
  readonly ipAddress?: string;
  readonly hwAddress?: string;
  readonly netdev?: string;
  readonly initiatorName?: string;
}

/** A block device of an iSCSI session, as sysfs shows it. */
export interface SysfsIscsiDisk {
  /** Kernel name (`sda`). */
  readonly name: string;
  /** Devpath under /sys (`/devices/platform/host0/session1/target0:0:0/0:0:0:1/block/sda`). */
  readonly devPath: string;
  readonly hctl: {
    readonly host: number;
    readonly channel: number;
    readonly target: number;
    readonly lun: number | bigint;
  };
  readonly host: SysfsHost;
  readonly session: SysfsSession;
  readonly connection: SysfsConnection;
  /** The ID_PATH udev computes for it. */
  readonly idPath: string;
  /** `/dev/disk/by-path/…`. */
  readonly byPath: string;
}

/** One iSCSI disk in the installer's view, from sysfs or from the udev database. */
export interface IscsiDisk {
  readonly name: string;
  readonly kind: IscsiDiskKind;
  readonly portal: { readonly host: string; readonly port: number; readonly family: HostFamily };
  readonly targetName: string;
  /** Linux LUN. */
  readonly lun: number | bigint;
  readonly session?: number;
  readonly transport?: string;
  readonly idPath: string;
  readonly byPath: string;
  readonly source: 'sysfs' | 'udev';
}

const PCI_RE = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const HCTL_RE = /^(\d{1,10}):(\d{1,10}):(\d{1,10}):(\d{1,20})$/;

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM';
}

/** A sysfs attribute without its trailing newline; `undefined` when absent, unreadable or `(null)`. */
async function attr(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).replace(/\n$/, '');
    return text === '(null)' ? undefined : text;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function required(path: string, what: string): Promise<string> {
  const value = await attr(path);
  if (value === undefined || value === '') throw new BootConfigError(`sysfs has no ${what}`, `sysfs ${what}`);
  return value;
}

function int(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

async function readConnection(sessionDir: string, sid: number): Promise<SysfsConnection> {
  // path_id reads connection<sid>:0; fall back to the first connection directory for other CIDs.
  let name = `connection${sid}:0`;
  const entries = await readdir(sessionDir).catch(() => [] as string[]);
  if (!entries.includes(name)) {
    const other = entries.filter((e) => e.startsWith(`connection${sid}:`)).sort()[0];
    if (other === undefined) throw new BootConfigError(`session${sid} has no connection`, 'sysfs connection');
    name = other;
  }
  const dir = join(sessionDir, name, 'iscsi_connection', name);
  const persistentAddress = await required(join(dir, 'persistent_address'), 'persistent_address');
  const persistentPort = int(await required(join(dir, 'persistent_port'), 'persistent_port'));
  if (persistentPort === undefined || persistentPort > 65535) {
    throw new BootConfigError('persistent_port is not a port number', 'sysfs persistent_port');
  }
  const [address, port, state] = await Promise.all(['address', 'port', 'state'].map((a) => attr(join(dir, a))));
  const portNumber = int(port);
  return {
    name,
    persistentAddress,
    persistentPort,
    ...(address === undefined ? {} : { address }),
    ...(portNumber === undefined ? {} : { port: portNumber }),
    ...(state === undefined ? {} : { state }),
  };
}

async function readSession(sessionDir: string, sid: number): Promise<SysfsSession> {
  const dir = join(sessionDir, 'iscsi_session', `session${sid}`);
  const targetName = await required(join(dir, 'targetname'), 'targetname');
  const [tpgt, initiatorName, ifaceName, state] = await Promise.all(
    ['tpgt', 'initiatorname', 'ifacename', 'state'].map((a) => attr(join(dir, a))),
  );
  const tpgtNumber = int(tpgt);
  return {
    number: sid,
    targetName,
    ...(tpgtNumber === undefined ? {} : { tpgt: tpgtNumber }),
    ...(initiatorName === undefined ? {} : { initiatorName }),
    ...(ifaceName === undefined ? {} : { ifaceName }),
    ...(state === undefined ? {} : { state }),
  };
}

async function readHost(root: string, hostDir: string, hostNo: number, parent: string | undefined): Promise<SysfsHost> {
  const procName = await attr(join(hostDir, 'scsi_host', `host${hostNo}`, 'proc_name'));
  // open-iscsi iscsi_sysfs_get_transport_by_hba: proc_name minus an "iscsi_" prefix (iscsi_tcp -> tcp).
  const transport = procName?.startsWith('iscsi_') ? procName.slice('iscsi_'.length) : procName;
  const capsText =
    transport === undefined ? undefined : await attr(join(root, 'class', 'iscsi_transport', transport, 'caps'));
  const caps =
    capsText !== undefined && /^(?:0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(capsText) ? Number(capsText) : undefined;
  const dir = join(hostDir, 'iscsi_host', `host${hostNo}`);
  const [ipAddress, hwAddress, netdev, initiatorName] = await Promise.all(
    ['ipaddress', 'hwaddress', 'netdev', 'initiatorname'].map((a) => attr(join(dir, a))),
  );
  return {
    number: hostNo,
    ...(transport === undefined ? {} : { transport }),
    ...(caps === undefined ? {} : { caps }),
    kind: classifyTransport(transport, caps),
    ...(parent !== undefined && PCI_RE.test(parent) ? { pciAddress: parent } : {}),
    ...(ipAddress === undefined ? {} : { ipAddress }),
    ...(hwAddress === undefined ? {} : { hwAddress }),
    ...(netdev === undefined ? {} : { netdev }),
    ...(initiatorName === undefined ? {} : { initiatorName }),
  };
}

/**
 * Maps `/sys/block/<name>` to its iSCSI session, connection, host and transport, walking up from the device to a
 * `session<N>` directory holding `iscsi_session/` (as dracut does). Returns `undefined` for a device that does not
 * exist or is not under an iSCSI session; throws {@link BootConfigError} when the session lacks the attributes
 * udev needs (targetname, persistent_address, persistent_port).
 */
export async function readIscsiBlockDevice(
  name: string,
  options: SysfsOptions = {},
): Promise<SysfsIscsiDisk | undefined> {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(name) || name === '.' || name === '..') {
    throw new BootConfigError('a block device name is a single path component', 'name');
  }
  const root = await realpath(options.sysRoot ?? '/sys');
  let real: string;
  try {
    real = await realpath(join(root, 'block', name));
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  if (!real.startsWith(`${root}/`)) return undefined;
  const devPath = real.slice(root.length);
  const parts = devPath.split('/');
  for (let i = parts.length - 1; i > 0; i--) {
    const sid = /^session(\d{1,9})$/.exec(parts[i]!);
    const hostNo = /^host(\d{1,9})$/.exec(parts[i - 1]!);
    if (sid === null || hostNo === null) continue;
    const sessionDir = join(root, ...parts.slice(0, i + 1));
    if ((await attr(join(sessionDir, 'iscsi_session', `session${sid[1]}`, 'targetname'))) === undefined) continue;
    const hctl = parts
      .slice(i + 1)
      .map((p) => HCTL_RE.exec(p))
      .find((m) => m !== null);
    if (hctl === undefined) return undefined;
    const hostDir = join(root, ...parts.slice(0, i));
    const parent = parts[i - 2];
    const [session, connection, host] = await Promise.all([
      readSession(sessionDir, Number(sid[1])),
      readConnection(sessionDir, Number(sid[1])),
      readHost(root, hostDir, Number(hostNo[1]), parent),
    ]);
    const lun = lunValue(BigInt(hctl[4]!));
    const value = idPath({
      portal: { host: connection.persistentAddress, port: connection.persistentPort },
      targetName: session.targetName,
      lun,
      ...(host.pciAddress === undefined ? {} : { pciAddress: host.pciAddress }),
    });
    return {
      name,
      devPath,
      hctl: { host: Number(hctl[1]), channel: Number(hctl[2]), target: Number(hctl[3]), lun },
      host,
      session,
      connection,
      idPath: value,
      byPath: byPathLink(value),
    };
  }
  return undefined;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name.length - b.name.length || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Every iSCSI block device under `<sysRoot>/block`, in kernel name order (sda … sdz, sdaa …). */
export async function listSysfsIscsiDisks(options: SysfsOptions = {}): Promise<SysfsIscsiDisk[]> {
  const root = options.sysRoot ?? '/sys';
  const names = await readdir(join(root, 'block'));
  const disks = await Promise.all(names.map((n) => readIscsiBlockDevice(n, options)));
  return disks.filter((d): d is SysfsIscsiDisk => d !== undefined).sort(byName);
}

// Drivers of the PCI function under an offload host, mapped to the open-iscsi transport they carry.
const DRIVER_TRANSPORT: ReadonlyMap<string, string> = new Map([
  ['qla4xxx', 'qla4xxx'],
  ['bnx2', 'bnx2i'],
  ['bnx2x', 'bnx2i'],
  ['qedi', 'qedi'],
  ['cxgb3', 'cxgb3i'],
  ['cxgb4', 'cxgb4i'],
  ['be2iscsi', 'be2iscsi'],
]);

function fromUdev(record: UdevRecord, byDevPath: ReadonlyMap<string, UdevRecord>): IscsiDisk | undefined {
  const props = record.properties;
  if (props.SUBSYSTEM !== 'block' || props.DEVTYPE !== 'disk') return undefined;
  const hostMatch = /^(.*)\/host\d{1,9}\/session\d{1,9}\//.exec(record.devPath);
  const driver = hostMatch === null ? undefined : byDevPath.get(hostMatch[1]!)?.properties.DRIVER;
  const transport = driver === undefined ? undefined : DRIVER_TRANSPORT.get(driver);
  const found = identifyDisk(props, transport === undefined ? {} : { transport });
  if (found?.portal === undefined || found.idPath === undefined) return undefined;
  const link = record.symlinks.find((s) => s.startsWith('disk/by-path/') && !/-part\d+$/.test(s));
  let byPath = byPathLink(found.idPath);
  if (link !== undefined) {
    try {
      if (parseByPath(link).targetName === found.targetName) byPath = `/dev/${link}`;
    } catch {
      // a by-path link that is not the iSCSI one: keep the computed name
    }
  }
  return {
    name: record.devNode ?? record.sysName ?? record.devPath.slice(record.devPath.lastIndexOf('/') + 1),
    kind: found.kind,
    portal: found.portal,
    targetName: found.targetName!,
    lun: found.lun!,
    ...(found.session === undefined ? {} : { session: found.session }),
    ...(transport === undefined ? {} : { transport }),
    idPath: found.idPath,
    byPath,
    source: 'udev',
  };
}

/**
 * The installer's view: every iSCSI disk with its kind, portal, target, LUN, session and by-path name. With
 * `udevDbText` (the text of `udevadm info --export-db`), from that text alone (disks whose ID_PATH is not an iSCSI
 * one are left out; offload kinds come from the HBA's PCI driver when the text holds its record); otherwise from
 * sysfs at `sysRoot` (default `/sys`). With both, from sysfs, taking by-path links from the udev records.
 */
export async function listIscsiDisks(
  options: SysfsOptions & { readonly udevDbText?: string } = {},
): Promise<IscsiDisk[]> {
  const records = options.udevDbText === undefined ? undefined : parseUdevDb(options.udevDbText);
  const byDevPath = new Map((records ?? []).map((r) => [r.devPath, r]));
  if (records !== undefined && options.sysRoot === undefined) {
    return records
      .map((r) => fromUdev(r, byDevPath))
      .filter((d): d is IscsiDisk => d !== undefined)
      .sort(byName);
  }
  const disks = await listSysfsIscsiDisks(options);
  return disks.map((d) => {
    const link = byDevPath.get(d.devPath)?.symlinks.find((s) => s.startsWith('disk/by-path/') && s.includes('-iscsi-'));
    const family = hostFamily(d.connection.persistentAddress) ?? 'name';
    return {
      name: d.name,
      kind: d.host.kind,
      portal: { host: d.connection.persistentAddress, port: d.connection.persistentPort, family },
      targetName: d.session.targetName,
      lun: d.hctl.lun,
      session: d.session.number,
      ...(d.host.transport === undefined ? {} : { transport: d.host.transport }),
      idPath: d.idPath,
      byPath: link === undefined ? d.byPath : `/dev/${link}`,
      source: 'sysfs' as const,
    };
  });
}
