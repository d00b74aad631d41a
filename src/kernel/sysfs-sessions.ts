/**
 * The kernel's iSCSI state as sysfs shows it (drivers/scsi/scsi_transport_iscsi.c): sessions, their connections,
 * hosts and transports, each session's disks, and the offload interfaces. For `iscsi-ts sessions` and for the
 * hand-off (the transport handle, the session a hand-off created).
 *
 * Layout read (software hosts under /devices/platform, offload hosts under their PCI function):
 * ```
 * class/iscsi_session/session<sid>     -> …/host<H>/session<sid>/iscsi_session/session<sid>
 * class/iscsi_connection/connection<sid>:<cid> -> …/session<sid>/connection<sid>:<cid>/iscsi_connection/…
 * class/iscsi_host/host<H>             -> …/host<H>/iscsi_host/host<H>   (netdev, hwaddress, ipaddress, initiatorname)
 * class/scsi_host/host<H>/proc_name    iscsi_tcp, iscsi_iser, bnx2i, qla4xxx, …
 * class/iscsi_transport/<name>/{handle,caps}
 * class/iscsi_iface/ipv4-iface-<H>-<n>, ipv6-iface-<H>-<n>  -> …/host<H>/iscsi_iface/…
 * …/session<sid>/target<H>:0:<T>/<H>:0:<T>:<L>/block/sd<X>   (size: 512-byte sectors)
 * ```
 * CHAP passwords (`password`, `password_in`) are never read. Attributes the kernel prints as `(null)` and
 * attributes that are absent or unreadable (several need CAP_SYS_ADMIN) are left out.
 * @module
 */
import { readdir, readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IscsiError } from '../errors.js';
import { readIscsiBlockDevice } from '../ibft/sysfs-disks.js';
import { classifyTransport, type IscsiDiskKind } from '../ibft/udev.js';
import { KernelError } from './errors.js';
import { TransportCap } from './uevent-types.js';

/** Where sysfs is mounted (default `/sys`); tests point it at a fixture tree. */
export interface KernelSysfsOptions {
  readonly sysRoot?: string;
}

/** A registered iSCSI transport (`/sys/class/iscsi_transport/<name>`). */
export interface KernelTransport {
  /** `tcp`, `iser`, `bnx2i`, `qla4xxx`, … */
  readonly name: string;
  /** Capability bits ({@link TransportCap}). */
  readonly caps?: number;
  /** The kernel address NETLINK_ISCSI requests carry; readable only with CAP_SYS_ADMIN. */
  readonly handle?: bigint;
  readonly kind: IscsiDiskKind;
}

/** An iSCSI SCSI host (`iscsi_host/host<N>` and `scsi_host/host<N>`). */
export interface KernelHost {
  readonly number: number;
  /** The transport name: `proc_name` without an `iscsi_` prefix, as open-iscsi derives it. */
  readonly transport?: string;
  readonly procName?: string;
  /** PCI function the host hangs under (offload HBAs). */
  readonly pciAddress?: string;
  readonly netdev?: string;
  readonly hwAddress?: string;
  readonly ipAddress?: string;
  readonly initiatorName?: string;
  readonly portState?: string;
  readonly portSpeed?: string;
}

/** A connection of a session (`iscsi_connection/connection<sid>:<cid>`). */
export interface KernelConnection {
  readonly sid: number;
  readonly cid: number;
  readonly state?: string;
  readonly persistentAddress?: string;
  readonly persistentPort?: number;
  /** The address and port actually connected to (IPv6 uncompressed, as the kernel prints it). */
  readonly address?: string;
  readonly port?: number;
  readonly localPort?: number;
  readonly headerDigest?: boolean;
  readonly dataDigest?: boolean;
  readonly maxRecvDataSegmentLength?: number;
  readonly maxXmitDataSegmentLength?: number;
  readonly expStatSn?: number;
  readonly pingTimeout?: number;
  readonly recvTimeout?: number;
}

/** A block device of a session. */
export interface KernelDisk {
  /** Kernel name (`sda`). */
  readonly name: string;
  readonly hctl: {
    readonly host: number;
    readonly channel: number;
    readonly target: number;
    /** Linux LUN; a bigint only above 2^53. */
    readonly lun: number | bigint;
  };
  /** Size in 512-byte sectors (`/sys/block/<name>/size`). */
  readonly sectors?: number;
  /** Size in bytes. */
  readonly sizeBytes?: number;
  /** The `ID_PATH` udev computes; absent when the session lacks its persistent portal or target name. */
  readonly idPath?: string;
  /** `/dev/disk/by-path/ip-<portal>:<port>-iscsi-<target>-lun-<lun>` (with a `pci-…-` prefix on offload HBAs). */
  readonly byPath?: string;
}

/** One kernel iSCSI session with its connections, host, transport and disks. */
export interface KernelSession {
  readonly sid: number;
  readonly targetName?: string;
  readonly tpgt?: number;
  /** `LOGGED_IN`, `FAILED`, `FREE`. */
  readonly state?: string;
  readonly targetState?: string;
  /** Netlink port id of the creator; -1 for sessions the kernel or firmware made. */
  readonly creator?: number;
  /** Seconds I/O is held after a connection failure; -1 = off. */
  readonly recoveryTimeout?: number;
  readonly ifaceName?: string;
  readonly initiatorName?: string;
  readonly targetAlias?: string;
  /** CHAP user names (needs CAP_SYS_ADMIN on recent kernels); passwords are never read. */
  readonly username?: string;
  readonly usernameIn?: string;
  readonly isid?: string;
  readonly tsid?: number;
  readonly erl?: number;
  readonly firstBurstLength?: number;
  readonly maxBurstLength?: number;
  readonly immediateData?: boolean;
  readonly initialR2t?: boolean;
  readonly maxOutstandingR2t?: number;
  readonly dataPduInOrder?: boolean;
  readonly dataSequenceInOrder?: boolean;
  readonly fastAbort?: boolean;
  readonly abortTimeout?: number;
  readonly luResetTimeout?: number;
  readonly targetResetTimeout?: number;
  readonly discoverySession?: boolean;
  readonly host?: KernelHost;
  readonly transport?: KernelTransport;
  readonly connections: readonly KernelConnection[];
  readonly disks: readonly KernelDisk[];
}

/** An iSCSI interface of an offload host (`/sys/class/iscsi_iface/ipv4-iface-<host>-<n>`). */
export interface KernelIface {
  readonly name: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly hostNo: number;
  readonly ifaceNum: number;
  readonly enabled?: string;
  readonly ipAddress?: string;
  readonly subnet?: string;
  readonly gateway?: string;
  readonly bootproto?: string;
  readonly linkLocalAddress?: string;
  readonly routerAddress?: string;
  readonly ipAddressAutoconfig?: string;
  readonly linkLocalAutoconfig?: string;
  readonly ipAddressState?: string;
  readonly vlanId?: number;
  readonly vlanPriority?: number;
  readonly vlanEnabled?: string;
  readonly mtu?: number;
  readonly port?: number;
  readonly initiatorName?: string;
}

const MAX_ATTRIBUTE = 4096;
const PCI_RE = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const SECRET_ATTRIBUTES = new Set(['password', 'password_in']);

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isAbsent(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM' || code === 'EINVAL';
}

function sysfsError(what: string, cause: unknown): KernelError {
  return new KernelError('sysfs', `cannot read ${what}: ${errnoOf(cause) ?? 'I/O error'}`, { cause });
}

/** An attribute without its newline; `undefined` when absent, unreadable, empty or `(null)`. */
async function attr(dir: string, name: string): Promise<string | undefined> {
  // Secrets stay unread, whatever a caller passes.
  if (SECRET_ATTRIBUTES.has(name)) return undefined;
  let text: string;
  try {
    text = await readFile(join(dir, name), 'utf8');
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw sysfsError(name, error);
  }
  if (text.length > MAX_ATTRIBUTE) throw new KernelError('sysfs', `${name} is longer than a page`);
  const value = text.replace(/\n$/, '');
  return value === '' || value === '(null)' ? undefined : value;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isAbsent(error)) return [];
    throw sysfsError(dir, error);
  }
}

async function resolve(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw sysfsError(path, error);
  }
}

function uint(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,10}$/.test(text) && Number(text) <= 0xffffffff ? Number(text) : undefined;
}

function int(text: string | undefined): number | undefined {
  return text !== undefined && /^-?\d{1,10}$/.test(text) && Math.abs(Number(text)) <= 0x80000000
    ? Number(text)
    : undefined;
}

function bool(text: string | undefined): boolean | undefined {
  if (text === '1' || text === 'CRC32C' || text === 'Yes') return true;
  if (text === '0' || text === 'None' || text === 'No') return false;
  return undefined;
}

/** Drops `undefined` values so optional properties are absent, not present-and-undefined. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function bySuffix(a: string, b: string): number {
  const na = a.match(/\d+/g)?.map(Number) ?? [];
  const nb = b.match(/\d+/g)?.map(Number) ?? [];
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = (na[i] ?? -1) - (nb[i] ?? -1);
    if (d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The disk kind of a transport, from its capability flags or its name (see `classifyTransport` in src/ibft). */
export const transportKind = classifyTransport;

async function readTransportDir(root: string, name: string): Promise<KernelTransport | undefined> {
  const dir = join(root, 'class', 'iscsi_transport', name);
  const [capsText, handleText] = await Promise.all([attr(dir, 'caps'), attr(dir, 'handle')]);
  if (capsText === undefined && handleText === undefined && (await resolve(dir)) === undefined) return undefined;
  const caps = capsText !== undefined && /^0x[0-9a-fA-F]{1,8}$/.test(capsText) ? Number(capsText) : undefined;
  const handle = handleText !== undefined && /^\d{1,20}$/.test(handleText) ? BigInt(handleText) : undefined;
  return defined({
    name,
    caps,
    handle: handle !== undefined && handle <= 0xffffffffffffffffn ? handle : undefined,
    kind: transportKind(name, caps),
  });
}

/** Every registered iSCSI transport, by name. */
export async function readKernelTransports(options: KernelSysfsOptions = {}): Promise<KernelTransport[]> {
  const root = options.sysRoot ?? '/sys';
  const names = (await entries(join(root, 'class', 'iscsi_transport'))).sort();
  const all = await Promise.all(names.map((n) => readTransportDir(root, n)));
  return all.filter((t): t is KernelTransport => t !== undefined);
}

/**
 * The NETLINK_ISCSI handle of a transport (`/sys/class/iscsi_transport/<name>/handle`, a decimal u64 larger than
 * 2^53). Throws {@link KernelError} (`sysfs`) when the transport is not registered (module not loaded) or the
 * handle cannot be read (it needs CAP_SYS_ADMIN).
 */
export async function readTransportHandle(name: string, options: KernelSysfsOptions = {}): Promise<bigint> {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(name)) throw new KernelError('sysfs', 'a transport name is a single word');
  const path = join(options.sysRoot ?? '/sys', 'class', 'iscsi_transport', name, 'handle');
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') {
      throw new KernelError('sysfs', `iSCSI transport '${name}' is not registered (is its module loaded?)`, {
        cause: error,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new KernelError('sysfs', `reading the '${name}' transport handle needs CAP_SYS_ADMIN`, {
        errno: code === 'EPERM' ? 1 : 13,
        cause: error,
      });
    }
    throw sysfsError(path, error);
  }
  if (!/^\d{1,20}$/.test(text) || BigInt(text) > 0xffffffffffffffffn || BigInt(text) === 0n) {
    throw new KernelError('sysfs', `the '${name}' transport handle is not a u64`);
  }
  return BigInt(text);
}

async function readHost(root: string, hostNo: number): Promise<KernelHost | undefined> {
  const iscsiDir = await resolve(join(root, 'class', 'iscsi_host', `host${hostNo}`));
  const scsiDir = await resolve(join(root, 'class', 'scsi_host', `host${hostNo}`));
  if (iscsiDir === undefined && scsiDir === undefined) return undefined;
  const hostDir = dirname(dirname((iscsiDir ?? scsiDir)!));
  const parent = hostDir.split('/').at(-2);
  const procName = scsiDir === undefined ? undefined : await attr(scsiDir, 'proc_name');
  const read = (name: string) => (iscsiDir === undefined ? Promise.resolve(undefined) : attr(iscsiDir, name));
  const [netdev, hwAddress, ipAddress, initiatorName, portState, portSpeed] = await Promise.all(
    ['netdev', 'hwaddress', 'ipaddress', 'initiatorname', 'port_state', 'port_speed'].map(read),
  );
  return defined({
    number: hostNo,
    // open-iscsi iscsi_sysfs_get_transport_by_hba: proc_name minus an "iscsi_" prefix (iscsi_tcp -> tcp).
    transport: procName?.startsWith('iscsi_') ? procName.slice('iscsi_'.length) : procName,
    procName,
    pciAddress: parent !== undefined && PCI_RE.test(parent) ? parent : undefined,
    netdev,
    hwAddress,
    ipAddress,
    initiatorName,
    portState,
    portSpeed,
  });
}

/** Every iSCSI host (`/sys/class/iscsi_host`), by number. */
export async function readKernelHosts(options: KernelSysfsOptions = {}): Promise<KernelHost[]> {
  const root = options.sysRoot ?? '/sys';
  const numbers = (await entries(join(root, 'class', 'iscsi_host')))
    .map((n) => /^host(\d{1,9})$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const hosts = await Promise.all(numbers.map((n) => readHost(root, n)));
  return hosts.filter((h): h is KernelHost => h !== undefined);
}

async function readConnection(dir: string, sid: number, cid: number): Promise<KernelConnection> {
  const names = [
    'state',
    'persistent_address',
    'persistent_port',
    'address',
    'port',
    'local_port',
    'header_digest',
    'data_digest',
    'max_recv_dlength',
    'max_xmit_dlength',
    'exp_statsn',
    'ping_tmo',
    'recv_tmo',
  ] as const;
  const v = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await attr(dir, n)] as const))) as Record<
    (typeof names)[number],
    string | undefined
  >;
  const port = (text: string | undefined) => {
    const n = uint(text);
    return n !== undefined && n <= 65535 ? n : undefined;
  };
  return defined({
    sid,
    cid,
    state: v.state,
    persistentAddress: v.persistent_address,
    persistentPort: port(v.persistent_port),
    address: v.address,
    port: port(v.port),
    localPort: port(v.local_port),
    headerDigest: bool(v.header_digest),
    dataDigest: bool(v.data_digest),
    maxRecvDataSegmentLength: uint(v.max_recv_dlength),
    maxXmitDataSegmentLength: uint(v.max_xmit_dlength),
    expStatSn: uint(v.exp_statsn),
    pingTimeout: uint(v.ping_tmo),
    recvTimeout: uint(v.recv_tmo),
  });
}

async function readDisks(root: string, sessionDevice: string): Promise<KernelDisk[]> {
  const disks: KernelDisk[] = [];
  for (const target of (await entries(sessionDevice)).filter((e) => /^target\d{1,9}:\d{1,9}:\d{1,9}$/.test(e))) {
    const targetDir = join(sessionDevice, target);
    for (const lunDir of (await entries(targetDir)).filter((e) => /^\d{1,9}:\d{1,9}:\d{1,9}:\d{1,20}$/.test(e))) {
      for (const name of await entries(join(targetDir, lunDir, 'block'))) {
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) continue;
        const [h, c, t, lunText] = lunDir.split(':') as [string, string, string, string];
        const lun = BigInt(lunText) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(lunText) : BigInt(lunText);
        const sectors = uint(await attr(join(targetDir, lunDir, 'block', name), 'size'));
        let ids: { idPath?: string; byPath?: string } = {};
        try {
          const found = await readIscsiBlockDevice(name, { sysRoot: root });
          if (found !== undefined) ids = { idPath: found.idPath, byPath: found.byPath };
        } catch (error) {
          // A session without persistent portal or target name has no by-path name; anything else is a fault.
          if (!(error instanceof IscsiError)) throw sysfsError(`block/${name}`, error);
        }
        disks.push(
          defined({
            name,
            hctl: { host: Number(h), channel: Number(c), target: Number(t), lun },
            sectors,
            sizeBytes: sectors === undefined ? undefined : sectors * 512,
            ...ids,
          }),
        );
      }
    }
  }
  return disks.sort((a, b) => a.name.length - b.name.length || (a.name < b.name ? -1 : 1));
}

async function readSession(
  root: string,
  sid: number,
  transports: ReadonlyMap<string, KernelTransport>,
): Promise<KernelSession | undefined> {
  const dir = await resolve(join(root, 'class', 'iscsi_session', `session${sid}`));
  if (dir === undefined) return undefined;
  // …/host<H>/session<sid>/iscsi_session/session<sid>: the session device is two levels up, its host one more.
  const sessionDevice = dirname(dirname(dir));
  const hostMatch = /^host(\d{1,9})$/.exec(dirname(sessionDevice).split('/').at(-1) ?? '');
  const names = [
    'targetname',
    'tpgt',
    'state',
    'target_state',
    'creator',
    'recovery_tmo',
    'ifacename',
    'initiatorname',
    'targetalias',
    'username',
    'username_in',
    'isid',
    'tsid',
    'erl',
    'first_burst_len',
    'max_burst_len',
    'immediate_data',
    'initial_r2t',
    'max_outstanding_r2t',
    'data_pdu_in_order',
    'data_seq_in_order',
    'fast_abort',
    'abort_tmo',
    'lu_reset_tmo',
    'tgt_reset_tmo',
    'discovery_session',
  ] as const;
  const v = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await attr(dir, n)] as const))) as Record<
    (typeof names)[number],
    string | undefined
  >;

  const connectionNames = (await entries(join(root, 'class', 'iscsi_connection')))
    .filter((n) => new RegExp(`^connection${sid}:\\d{1,9}$`).test(n))
    .sort(bySuffix);
  const connections = await Promise.all(
    connectionNames.map(async (n) => {
      const cdir = await resolve(join(root, 'class', 'iscsi_connection', n));
      return cdir === undefined ? undefined : readConnection(cdir, sid, Number(n.slice(n.indexOf(':') + 1)));
    }),
  );
  const host = hostMatch === null ? undefined : await readHost(root, Number(hostMatch[1]));
  const transport = host?.transport === undefined ? undefined : transports.get(host.transport);
  return defined({
    sid,
    targetName: v.targetname,
    tpgt: uint(v.tpgt),
    state: v.state,
    targetState: v.target_state,
    creator: int(v.creator),
    recoveryTimeout: int(v.recovery_tmo),
    ifaceName: v.ifacename,
    initiatorName: v.initiatorname,
    targetAlias: v.targetalias,
    username: v.username,
    usernameIn: v.username_in,
    isid: v.isid,
    tsid: uint(v.tsid),
    erl: uint(v.erl),
    firstBurstLength: uint(v.first_burst_len),
    maxBurstLength: uint(v.max_burst_len),
    immediateData: bool(v.immediate_data),
    initialR2t: bool(v.initial_r2t),
    maxOutstandingR2t: uint(v.max_outstanding_r2t),
    dataPduInOrder: bool(v.data_pdu_in_order),
    dataSequenceInOrder: bool(v.data_seq_in_order),
    fastAbort: bool(v.fast_abort),
    abortTimeout: uint(v.abort_tmo),
    luResetTimeout: uint(v.lu_reset_tmo),
    targetResetTimeout: uint(v.tgt_reset_tmo),
    discoverySession: bool(v.discovery_session),
    host,
    transport:
      transport ??
      (host?.transport === undefined ? undefined : { name: host.transport, kind: transportKind(host.transport) }),
    connections: connections.filter((c): c is KernelConnection => c !== undefined),
    disks: await readDisks(root, sessionDevice),
  });
}

/** One session by number, or `undefined` when the kernel has no such session. */
export async function readKernelSession(
  sid: number,
  options: KernelSysfsOptions = {},
): Promise<KernelSession | undefined> {
  if (!Number.isInteger(sid) || sid < 0 || sid > 0xffffffff) throw new KernelError('sysfs', `bad session id ${sid}`);
  const transports = new Map((await readKernelTransports(options)).map((t) => [t.name, t]));
  return readSession(options.sysRoot ?? '/sys', sid, transports);
}

/**
 * Every kernel iSCSI session (`/sys/class/iscsi_session`), by number, with connections, host, transport and disks.
 * An empty list when the iSCSI transport class is not loaded. Throws {@link KernelError} (`sysfs`) for I/O errors
 * other than absent or permission-denied attributes.
 */
export async function readKernelSessions(options: KernelSysfsOptions = {}): Promise<KernelSession[]> {
  const root = options.sysRoot ?? '/sys';
  const transports = new Map((await readKernelTransports(options)).map((t) => [t.name, t]));
  const sids = (await entries(join(root, 'class', 'iscsi_session')))
    .map((n) => /^session(\d{1,10})$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const sessions = await Promise.all(sids.map((sid) => readSession(root, sid, transports)));
  return sessions.filter((s): s is KernelSession => s !== undefined);
}

/** Every iSCSI interface of an offload host (`/sys/class/iscsi_iface`), by host and number. */
export async function readKernelIfaces(options: KernelSysfsOptions = {}): Promise<KernelIface[]> {
  const root = options.sysRoot ?? '/sys';
  const out: KernelIface[] = [];
  for (const name of await entries(join(root, 'class', 'iscsi_iface'))) {
    const m = /^(ipv4|ipv6)-iface-(\d{1,9})-(\d{1,9})$/.exec(name);
    if (m === null) continue;
    const dir = await resolve(join(root, 'class', 'iscsi_iface', name));
    if (dir === undefined) continue;
    const names = [
      'enabled',
      'ipaddress',
      'subnet',
      'gateway',
      'bootproto',
      'link_local_addr',
      'router_addr',
      'ipaddr_autocfg',
      'link_local_autocfg',
      'ipaddress_state',
      'vlan_id',
      'vlan_priority',
      'vlan_enabled',
      'mtu',
      'port',
      'initiator_name',
    ] as const;
    const v = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await attr(dir, n)] as const))) as Record<
      (typeof names)[number],
      string | undefined
    >;
    out.push(
      defined({
        name,
        family: m[1] as 'ipv4' | 'ipv6',
        hostNo: Number(m[2]),
        ifaceNum: Number(m[3]),
        enabled: v.enabled,
        ipAddress: v.ipaddress,
        subnet: v.subnet,
        gateway: v.gateway,
        bootproto: v.bootproto,
        linkLocalAddress: v.link_local_addr,
        routerAddress: v.router_addr,
        ipAddressAutoconfig: v.ipaddr_autocfg,
        linkLocalAutoconfig: v.link_local_autocfg,
        ipAddressState: v.ipaddress_state,
        vlanId: uint(v.vlan_id),
        vlanPriority: uint(v.vlan_priority),
        vlanEnabled: v.vlan_enabled,
        mtu: uint(v.mtu),
        port: uint(v.port),
        initiatorName: v.initiator_name,
      }),
    );
  }
  return out.sort((a, b) => a.hostNo - b.hostNo || a.ifaceNum - b.ifaceNum || (a.family < b.family ? -1 : 1));
}
