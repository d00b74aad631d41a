/**
 * The kernel commands: `iscsi-ts login --kernel` (log in in userspace, hand the session to the kernel's iscsi_tcp,
 * print the block devices), `iscsi-ts sessions [--json] [--ifaces]` (the kernel's sessions from sysfs) and
 * `iscsi-ts logout <sid|target>` (log out and remove kernel sessions). They need root and, for login and logout, the
 * optional dependency koffi.
 * @module
 */
import {
  IscsiError,
  type KernelHost,
  type KernelIface,
  type KernelSession,
  kernelLogout,
  loginAndHandOff,
  planFirmwareLogins,
  readKernelHosts,
  readKernelIfaces,
  readKernelSessions,
} from '../index.js';
import { loadIbft } from './ibft.js';
import { makeLogger } from './log.js';
import { common, ExitCode, exitCodeFor, type Io, report, type SessionCliOptions } from './session-commands.js';

type KernelLogin = Awaited<ReturnType<typeof loginAndHandOff>>;

/** What `login --kernel` (and `attach`) reports of one handed-off session. */
export function kernelLoginReport(result: KernelLogin) {
  return {
    sid: result.sid,
    hostNo: result.hostNo,
    target: result.loggedIn.targetName,
    portal: result.loggedIn.portal,
    tsih: result.loggedIn.tsih,
    isid: result.loggedIn.isid.toString(16).padStart(12, '0'),
    handOffMs: result.handOffMs,
    disks: result.disks.map((d) => ({
      name: d.name,
      path: d.path,
      lun: typeof d.lun === 'bigint' ? d.lun.toString() : d.lun,
      ...(d.sizeBytes === undefined ? {} : { sizeBytes: d.sizeBytes }),
      ...(d.byPath === undefined ? {} : { byPath: d.byPath }),
    })),
  };
}

/** Prints a {@link kernelLoginReport} as readable lines: the session, then one line per disk. */
export function printKernelLogin(r: ReturnType<typeof kernelLoginReport>, bindFirst: boolean, io: Io): void {
  io.out(
    `kernel session ${r.sid} (host ${r.hostNo}): ${r.target} ${bindFirst ? 'logged in through' : 'handed to'} the kernel in ${r.handOffMs} ms`,
  );
  if (r.disks.length === 0) io.out('  no block devices appeared');
  for (const d of r.disks) {
    io.out(`  ${d.path}  lun ${d.lun}  ${d.sizeBytes ?? '?'} bytes${d.byPath ? `  ${d.byPath}` : ''}`);
  }
}

/** `iscsi-ts login --kernel <url|portal> [--target iqn]`: the session stays in the kernel; prints its disks. */
export async function runKernelLogin(
  where: string,
  o: SessionCliOptions & { readonly bindFirst?: boolean },
  io: Io,
): Promise<number> {
  const { options, close } = await common(where, o, io);
  try {
    if (!options.targetName) {
      io.err('iscsi-ts: login needs a target: an iscsi://host/iqn/lun URL or --target <iqn>');
      return ExitCode.Other;
    }
    const logger = makeLogger(o, io.err);
    const result = await loginAndHandOff(options, { ...(logger ? { logger } : {}), bindFirst: o.bindFirst === true });
    const r = kernelLoginReport(result);
    if (o.json) io.out(JSON.stringify(r, null, 2));
    else printKernelLogin(r, o.bindFirst === true, io);
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  } finally {
    close();
  }
}

/**
 * `iscsi-ts login --kernel --firmware`: what an installer does at boot with an iBFT: every valid firmware target
 * (boot-selected first, with the table's CHAP, initiator name and NIC address) is logged in and handed to the
 * kernel; prints each one's disks. A target that fails is reported and the others still come up; the exit code is
 * the first failure's.
 */
export async function runKernelFirmwareLogin(
  o: SessionCliOptions & { readonly bindFirst?: boolean; readonly ibftFile?: string },
  io: Io,
): Promise<number> {
  const table = loadIbft(o.ibftFile, {});
  if (!table) {
    io.err('iscsi-ts: no iSCSI Boot Firmware Table found');
    return ExitCode.Other;
  }
  const logger = makeLogger(o, io.err);
  const loginOptions = {
    ...(logger ? { logger } : {}),
    ...(o.timeout ? { connectTimeoutMs: o.timeout, stepTimeoutMs: o.timeout } : {}),
  };
  let code: number = ExitCode.Ok;
  const results: object[] = [];
  for (const plan of planFirmwareLogins(table, loginOptions)) {
    const name = plan.target.name ?? `target ${plan.target.index}`;
    let error = plan.ok ? undefined : plan.error;
    if (plan.ok) {
      try {
        const result = await loginAndHandOff(plan.loginOptions, {
          ...(logger ? { logger } : {}),
          bindFirst: o.bindFirst === true,
        });
        const r = kernelLoginReport(result);
        results.push({ ok: true, ...r });
        if (!o.json) printKernelLogin(r, o.bindFirst === true, io);
      } catch (err) {
        if (!(err instanceof IscsiError)) throw err;
        error = err;
      }
    }
    if (error) {
      if (code === ExitCode.Ok) code = exitCodeFor(error);
      results.push({ ok: false, target: name, code: error.code, message: error.message });
      if (!o.json) io.out(`${name}: ${error.message} (${error.code})`);
    }
  }
  if (o.json) io.out(JSON.stringify(results, null, 2));
  return code;
}

/** Options of `iscsi-ts sessions`. */
export interface SessionsCliOptions {
  readonly json?: boolean;
  readonly ifaces?: boolean;
  readonly sysRoot?: string;
}

function portalOf(s: KernelSession): string {
  const c = s.connections[0];
  const host = c?.persistentAddress ?? c?.address;
  if (host === undefined) return '?';
  return `${host.includes(':') ? `[${host}]` : host}:${c?.persistentPort ?? c?.port ?? '?'}`;
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** `iscsi-ts sessions [--json] [--ifaces]`: every kernel iSCSI session from sysfs (and the interfaces). */
export async function runSessions(o: SessionsCliOptions, io: Io): Promise<number> {
  try {
    const sysfs = o.sysRoot === undefined ? {} : { sysRoot: o.sysRoot };
    const sessions = await readKernelSessions(sysfs);
    let hosts: KernelHost[] = [];
    let ifaces: KernelIface[] = [];
    if (o.ifaces) [hosts, ifaces] = await Promise.all([readKernelHosts(sysfs), readKernelIfaces(sysfs)]);
    if (o.json) {
      io.out(JSON.stringify(jsonSafe(o.ifaces ? { sessions, hosts, ifaces } : sessions), null, 2));
      return ExitCode.Ok;
    }
    if (sessions.length === 0) io.out('no kernel iSCSI sessions');
    for (const s of sessions) {
      const creator = s.creator === undefined ? '' : s.creator === -1 ? ', kernel/firmware' : `, creator ${s.creator}`;
      io.out(
        `session ${s.sid}: ${s.targetName ?? '?'} at ${portalOf(s)}${s.tpgt === undefined ? '' : `,${s.tpgt}`} ` +
          `[${s.state ?? '?'}; ${s.transport?.name ?? '?'} (${s.transport?.kind ?? '?'}); host ${s.host?.number ?? '?'}${creator}]`,
      );
      for (const c of s.connections) {
        io.out(
          `  connection ${c.sid}:${c.cid} ${c.state ?? '?'}  local port ${c.localPort ?? '?'}  ` +
            `MaxRecv/MaxXmit ${c.maxRecvDataSegmentLength ?? '?'}/${c.maxXmitDataSegmentLength ?? '?'}`,
        );
      }
      for (const d of s.disks) {
        io.out(
          `  /dev/${d.name}  lun ${String(d.hctl.lun)}  ${d.sizeBytes ?? '?'} bytes${d.byPath ? `  ${d.byPath}` : ''}`,
        );
      }
    }
    if (o.ifaces) {
      for (const h of hosts) {
        io.out(
          `host ${h.number}: ${h.transport ?? '?'}  netdev ${h.netdev ?? '-'}  hwaddress ${h.hwAddress ?? '-'}  ipaddress ${h.ipAddress ?? '-'}${h.initiatorName ? `  ${h.initiatorName}` : ''}`,
        );
      }
      if (ifaces.length === 0) io.out('no offload iSCSI interfaces (/sys/class/iscsi_iface)');
      for (const i of ifaces) {
        io.out(`iface ${i.name}: host ${i.hostNo}  ${i.ipAddress ?? '-'}  ${i.enabled ?? ''}`.trimEnd());
      }
    }
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  }
}

/** Options of `iscsi-ts logout`. */
export interface KernelLogoutCliOptions {
  readonly json?: boolean;
  /** Stop and destroy without sending a Logout Request. */
  readonly noLogout?: boolean;
  readonly sysRoot?: string;
}

/** `iscsi-ts logout <sid|target>`: logs out and removes the kernel session(s) with that sid or target name. */
export async function runKernelLogout(which: string, o: KernelLogoutCliOptions, io: Io): Promise<number> {
  try {
    const sysfs = o.sysRoot === undefined ? {} : { sysRoot: o.sysRoot };
    const sessions = await readKernelSessions(sysfs);
    const chosen = /^\d+$/.test(which)
      ? sessions.filter((s) => s.sid === Number(which))
      : sessions.filter((s) => s.targetName === which);
    if (chosen.length === 0) {
      io.err(`iscsi-ts: no kernel iSCSI session ${/^\d+$/.test(which) ? which : `for ${which}`}`);
      return ExitCode.NotFound;
    }
    const results = [];
    for (const s of chosen) {
      const r = await kernelLogout(s.sid, { ...sysfs, mode: o.noLogout ? 'stop' : 'logout' });
      results.push({ sid: r.sid, target: s.targetName, logoutResponse: r.logoutResponse, disks: r.disks });
      if (!o.json) {
        const how = r.logoutResponse === undefined ? 'stopped' : `logged out (response ${r.logoutResponse})`;
        io.out(
          `session ${r.sid} (${s.targetName ?? '?'}): ${how}; removed ${r.disks.map((d) => `/dev/${d}`).join(' ') || 'no disks'}`,
        );
      }
    }
    if (o.json) io.out(JSON.stringify(results, null, 2));
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  }
}
