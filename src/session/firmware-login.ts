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

/** One firmware target made ready to log in: the login options the table gives it, or why it cannot be used. */
export type FirmwareTargetPlan =
  | {
      readonly target: IbftTarget;
      readonly portal: Portal;
      readonly ok: true;
      /** What {@link login} needs for this target (portal, name, CHAP, initiator name, NIC address). */
      readonly loginOptions: LoginOptions;
      readonly lun?: number;
    }
  | { readonly target: IbftTarget; readonly ok: false; readonly error: IscsiError };

/**
 * The valid targets of the table, boot-selected first, each with the login options the table gives it (its CHAP
 * and reverse CHAP, the table's initiator name, its NIC's static address). Shared by {@link loginFromFirmware}
 * and the kernel hand-off of firmware targets, which log in differently but must read the table alike.
 */
export function planFirmwareLogins(table: IbftTable, options: FirmwareLoginOptions = {}): FirmwareTargetPlan[] {
  const { bindToNic, ...rest } = options;
  return table.targets
    .filter((t) => t.valid)
    .sort((a, b) => Number(b.bootSelected) - Number(a.bootSelected) || a.index - b.index)
    .map((target): FirmwareTargetPlan => {
      if (!target.name || !target.ip) {
        return {
          target,
          ok: false,
          error: new IscsiError(ErrorCode.Ibft, `firmware target ${target.index} has no name or address`),
        };
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
                ? {
                    targetCredentials: {
                      user: target.reverseChapName,
                      secret: Secret.from(target.reverseChapSecret),
                    },
                  }
                : {}),
            }
          : undefined;
      const loginOptions: LoginOptions = {
        ...rest,
        portal,
        targetName: target.name,
        ...(table.initiator?.name ? { initiatorName: table.initiator.name } : {}),
        ...(chap ? { chap } : {}),
        ...(bindToNic !== false && nic?.ip && !nic.dhcp ? { localAddress: nic.ip } : {}),
      };
      const lun = lunNumberOf(target.lun);
      return { target, portal, ok: true, loginOptions, ...(lun !== undefined ? { lun } : {}) };
    });
}

/**
 * Logs in to every valid target of the table, boot-selected targets first, and reports each outcome. Failures
 * do not stop the others; an unusable entry (no name or address) is reported as a failure.
 */
export async function loginFromFirmware(
  table: IbftTable,
  options: FirmwareLoginOptions = {},
): Promise<FirmwareLoginOutcome[]> {
  const outcomes: FirmwareLoginOutcome[] = [];
  for (const plan of planFirmwareLogins(table, options)) {
    if (!plan.ok) {
      outcomes.push(plan);
      continue;
    }
    const { target, portal, lun } = plan;
    try {
      const session = await login(plan.loginOptions);
      outcomes.push({ target, portal, ok: true, session, ...(lun !== undefined ? { lun } : {}) });
    } catch (err) {
      if (!(err instanceof IscsiError)) throw err;
      outcomes.push({ target, portal, ok: false, error: err });
    }
  }
  return outcomes;
}
