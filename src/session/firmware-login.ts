/**
 * Logging in to the targets an iSCSI Boot Firmware Table describes, as an installer does before it looks for the
 * root disk: every valid target (boot-selected first), with its CHAP and reverse CHAP, bound to its NIC's address.
 * @module
 */
import { Secret } from '../chap/secret.js';
import { ErrorCode, IscsiError } from '../errors.js';
import { type IbftTable, type IbftTarget, lunNumberOf, nicOfTarget } from '../ibft/index.js';
import { type Portal, parsePortal } from './address.js';
import { type LoggedIn, type LoginOptions, login } from './initiator.js';

/** What happened to one firmware target. */
export type FirmwareLoginOutcome =
  | {
      readonly target: IbftTarget;
      readonly portal: Portal;
      readonly ok: true;
      readonly session: LoggedIn;
      readonly lun?: number;
    }
  | { readonly target: IbftTarget; readonly portal?: Portal; readonly ok: false; readonly error: IscsiError };

/** Options passed on to each {@link login}, except what the table decides. */
export type FirmwareLoginOptions = Omit<
  LoginOptions,
  'portal' | 'targetName' | 'chap' | 'initiatorName' | 'localAddress'
> & {
  /** Bind each connection to its NIC's address from the table (default true). */
  readonly bindToNic?: boolean;
};

/**
 * Logs in to every valid target of the table, boot-selected targets first, and reports each outcome. Failures
 * do not stop the others; an unusable entry (no name or address) is reported as a failure.
 */
export async function loginFromFirmware(
  table: IbftTable,
  options: FirmwareLoginOptions = {},
): Promise<FirmwareLoginOutcome[]> {
  const targets = table.targets
    .filter((t) => t.valid)
    .sort((a, b) => Number(b.bootSelected) - Number(a.bootSelected) || a.index - b.index);
  const outcomes: FirmwareLoginOutcome[] = [];
  for (const target of targets) {
    if (!target.name || !target.ip) {
      outcomes.push({
        target,
        ok: false,
        error: new IscsiError(ErrorCode.Ibft, `firmware target ${target.index} has no name or address`),
      });
      continue;
    }
    const portal = parsePortal(
      target.ip.includes(':') ? `[${target.ip}]:${target.port}` : `${target.ip}:${target.port}`,
    );
    const nic = nicOfTarget(table, target);
    const chap =
      target.chapName && target.chapSecret
        ? {
            credentials: { user: target.chapName, secret: Secret.from(target.chapSecret) },
            ...(target.reverseChapName && target.reverseChapSecret
              ? { targetCredentials: { user: target.reverseChapName, secret: Secret.from(target.reverseChapSecret) } }
              : {}),
          }
        : undefined;
    try {
      const session = await login({
        ...options,
        portal,
        targetName: target.name,
        ...(table.initiator?.name ? { initiatorName: table.initiator.name } : {}),
        ...(chap ? { chap } : {}),
        ...(options.bindToNic !== false && nic?.ip && !nic.dhcp ? { localAddress: nic.ip } : {}),
      });
      const lun = lunNumberOf(target.lun);
      outcomes.push({ target, portal, ok: true, session, ...(lun !== undefined ? { lun } : {}) });
    } catch (err) {
      if (!(err instanceof IscsiError)) throw err;
      outcomes.push({ target, portal, ok: false, error: err });
    }
  }
  return outcomes;
}
