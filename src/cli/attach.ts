/**
 * `iscsi-ts attach <url|portal --target iqn>`: `login --kernel` that stays. It logs in in userspace, hands the
 * session to the kernel's iscsi_tcp, prints the disks, then supervises the session in the foreground until SIGINT or
 * SIGTERM: when the connection fails it logs in again and rebinds the same kernel session (kernel/supervisor.ts), so
 * the same /dev/sdX carries on. On exit the kernel session stays, unless `--logout-on-exit`. Needs root and koffi.
 * @module
 */
import {
  ensureKernelModules,
  IscsiNetlink,
  type KernelSessionTunables,
  KernelSupervisor,
  kernelLogout,
  loginAndHandOff,
  type SupervisorEvent,
  supervisedSession,
} from '../index.js';
import { kernelLoginReport, printKernelLogin } from './kernel-commands.js';
import { makeLogger } from './log.js';
import { common, ExitCode, type Io, report, type SessionCliOptions } from './session-commands.js';

/** Options of `iscsi-ts attach`. */
export interface AttachCliOptions extends SessionCliOptions {
  /** Log the session out (disks removed) when a signal ends the command. */
  readonly logoutOnExit?: boolean;
  /** SESS_RECOVERY_TMO, seconds: how long the kernel holds I/O after a failure, and how long reconnecting is tried. */
  readonly recoveryTimeout?: number;
}

/** One readable line for a supervisor event. */
export function formatSupervisorEvent(e: SupervisorEvent): string {
  switch (e.event) {
    case 'kernel-supervise':
      return `session ${e.sid}: supervising connection ${e.sid}:${e.cid} (host ${e.hostNo})`;
    case 'kernel-conn-error':
      return `session ${e.sid}: connection ${e.sid}:${e.cid} failed (${e.name ?? 'error'} ${e.error}); recovering`;
    case 'kernel-session-gone':
      return e.why === 'released'
        ? `session ${e.sid}: no longer supervised`
        : `session ${e.sid}: logged out by someone else (${e.why}); no longer supervised`;
    case 'kernel-recovery':
      switch (e.phase) {
        case 'attempt':
          return `session ${e.sid}: reconnect attempt ${e.attempt} with CmdSN ${e.cmdSN} (${e.ms} ms after the failure)`;
        case 'failure':
          return `session ${e.sid}: attempt ${e.attempt} failed: ${e.message} (${e.code}); next in ${e.delayMs} ms`;
        case 'success':
          return `session ${e.sid}: recovered in ${e.ms} ms (attempt ${e.attempt}, TSIH ${e.tsih}); same disks`;
        case 'gave-up':
          return `session ${e.sid}: recovery gave up after ${e.ms} ms: ${e.message} (${e.code})`;
      }
  }
}

/**
 * Runs `attach` until `stop` is aborted (the signals), the session is logged out by someone else (exit 0), or its
 * recovery gives up (exit {@link ExitCode}.Network; the kernel session stays, its I/O failed, unless
 * `--logout-on-exit`).
 */
export async function runAttach(where: string, o: AttachCliOptions, io: Io, stop: AbortSignal): Promise<number> {
  let netlink: IscsiNetlink | undefined;
  let supervisor: KernelSupervisor | undefined;
  let closeTrace = (): unknown => undefined;
  try {
    const { options, close } = await common(where, o, io);
    closeTrace = close;
    if (!options.targetName) {
      io.err('iscsi-ts: attach needs a target: an iscsi://host/iqn/lun URL or --target <iqn>');
      return ExitCode.Other;
    }
    const logger = makeLogger(o, io.err);
    const line = (event: object) => io.out(JSON.stringify({ time: new Date().toISOString(), ...event }));
    let gaveUp = false;
    const onEvent = (e: SupervisorEvent) => {
      if (e.event === 'kernel-recovery' && e.phase === 'gave-up') gaveUp = true;
      if (o.json) line(e);
      else io.out(formatSupervisorEvent(e));
    };
    const tunables: KernelSessionTunables = { recoveryTimeout: o.recoveryTimeout ?? 120 };
    // The modules first (NETLINK_ISCSI exists only with scsi_transport_iscsi), then the socket and the supervisor,
    // which listens from before the hand-off: a connection error during the LUN scan is not missed.
    await ensureKernelModules({ transport: 'tcp' });
    netlink = await IscsiNetlink.open();
    supervisor = new KernelSupervisor({ kernel: netlink, ...(logger ? { logger } : {}), onEvent });
    const result = await loginAndHandOff(options, {
      ...(logger ? { logger } : {}),
      ...tunables,
      netlink,
      modprobe: false,
    });
    const r = kernelLoginReport(result);
    if (o.json) line({ event: 'attached', ...r });
    else printKernelLogin(r, false, io);
    supervisor.supervise(supervisedSession(result, options, tunables));
    const stopped = new Promise<'signal'>((resolve) => {
      if (stop.aborted) resolve('signal');
      else stop.addEventListener('abort', () => resolve('signal'), { once: true });
    });
    const why = await Promise.race([stopped, supervisor.whenEmpty().then(() => 'empty' as const)]);
    await supervisor.stop();
    // Logged out by someone else: nothing is left to do. Given up: the kernel session stays (its I/O failed) unless
    // --logout-on-exit, which then stops and removes it.
    if (why === 'empty' && !(gaveUp && o.logoutOnExit)) return gaveUp ? ExitCode.Network : ExitCode.Ok;
    if (!o.logoutOnExit) {
      if (o.json) line({ event: 'detached', sid: result.sid });
      else io.out(`session ${result.sid}: left in the kernel (iscsi-ts logout ${result.sid} removes it)`);
      return ExitCode.Ok;
    }
    const out = await kernelLogout(result.sid, { netlink, ...(logger ? { logger } : {}) });
    if (o.json) line({ event: 'logout', sid: out.sid, logoutResponse: out.logoutResponse, disks: out.disks });
    else {
      const how = out.logoutResponse === undefined ? 'stopped' : `logged out (response ${out.logoutResponse})`;
      io.out(`session ${out.sid}: ${how}; removed ${out.disks.map((d) => `/dev/${d}`).join(' ') || 'no disks'}`);
    }
    return gaveUp ? ExitCode.Network : ExitCode.Ok;
  } catch (error) {
    return report(error, io);
  } finally {
    await supervisor?.stop();
    netlink?.close();
    closeTrace();
  }
}
