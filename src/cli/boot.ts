/**
 * `iscsi-ts boot-args` (dracut arguments for a target or for the firmware's targets) and `iscsi-ts disks` (the
 * iSCSI disks of this system, from sysfs and the udev database).
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  type BootTarget,
  bootArgs,
  DEFAULT_INITIATOR_NAME,
  InvalidArgumentError,
  type IscsiDisk,
  listIscsiDisks,
  lunNumberOf,
  parseIscsiUrl,
  requiredDracutModules,
  requiredPackages,
} from '../index.js';
import { loadIbft } from './ibft.js';

/** Options of boot-args. */
export interface BootArgsCliOptions {
  readonly json?: boolean;
  readonly firmware?: boolean;
  readonly ibftFile?: string;
  readonly initiatorName?: string;
  readonly showSecrets?: boolean;
}

/** The targets the arguments are for: from an iscsi:// URL, or the valid targets of the iBFT. */
function targetsFor(where: string | undefined, o: BootArgsCliOptions): BootTarget[] {
  if (o.firmware) {
    const table = loadIbft(o.ibftFile, {});
    if (!table) throw new InvalidArgumentError('no iSCSI Boot Firmware Table found');
    return table.targets
      .filter((t) => t.valid && t.name && t.ip)
      .map((t) => ({
        portal: { host: t.ip!, port: t.port, family: t.ip!.includes(':') ? 6 : 4 },
        targetName: t.name!,
        lun: lunNumberOf(t.lun) ?? 0,
        firmware: true,
        ...(table.initiator?.name ? { initiatorName: table.initiator.name } : {}),
      }));
  }
  if (!where) throw new InvalidArgumentError('boot-args needs an iscsi:// URL or --firmware');
  const url = parseIscsiUrl(where);
  if (!url.targetName) throw new InvalidArgumentError('the URL names no target');
  const chap = url.credentials?.secret ? { user: url.credentials.user, secret: url.credentials.secret } : undefined;
  const reverse = url.targetCredentials?.secret
    ? { user: url.targetCredentials.user, secret: url.targetCredentials.secret }
    : undefined;
  return [
    {
      portal: { host: url.portal.host, port: url.portal.port, family: url.portal.family },
      targetName: url.targetName,
      lun: url.lun ?? 0,
      ...(chap ? { chap } : {}),
      ...(reverse ? { reverseChap: reverse } : {}),
    },
  ];
}

/** `iscsi-ts boot-args`: prints the dracut arguments, modules and packages. */
export function runBootArgs(where: string | undefined, o: BootArgsCliOptions, out: (line: string) => void): number {
  const targets = targetsFor(where, o);
  const args = bootArgs(targets, {
    initiatorName: o.initiatorName ?? targets[0]?.initiatorName ?? DEFAULT_INITIATOR_NAME,
    includeSecrets: o.showSecrets === true,
  });
  const modules = requiredDracutModules();
  const packages = { fedora: requiredPackages('fedora'), debian: requiredPackages('debian') };
  if (o.json) out(JSON.stringify({ args, dracutModules: modules, packages }, null, 2));
  else {
    out(args.join(' '));
    out(
      `# dracut modules: ${modules.join(' ')}; packages: ${packages.fedora.join(' ')} (Fedora), ${packages.debian.join(' ')} (Debian)`,
    );
  }
  return 0;
}

/** `iscsi-ts disks`: every iSCSI disk of the system. */
export async function runDisks(
  o: { json?: boolean; udevDb?: string; sysRoot?: string },
  out: (line: string) => void,
): Promise<number> {
  const disks: IscsiDisk[] = await listIscsiDisks({
    ...(o.sysRoot ? { sysRoot: o.sysRoot } : {}),
    ...(o.udevDb ? { udevDbText: readFileSync(o.udevDb, 'utf8') } : {}),
  });
  if (o.json) {
    out(JSON.stringify(disks, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
    return 0;
  }
  for (const d of disks) {
    const host = d.portal.family === 6 ? `[${d.portal.host}]` : d.portal.host;
    out(
      `${d.name}  ${d.kind}  ${host}:${d.portal.port}  ${d.targetName}  lun ${d.lun}${d.session !== undefined ? `  session ${d.session}` : ''}  ${d.byPath}`,
    );
  }
  if (disks.length === 0) out('no iSCSI disks');
  return 0;
}
