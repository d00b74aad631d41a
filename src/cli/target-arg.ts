/**
 * The target a tool is pointed at (`iscsi-ts conform`, `iscsi-ts fuzz`): an iscsi:// URL or a bare portal, the
 * CHAP credentials from every source, and the target name from `--target`, the URL, or SendTargets.
 * @module
 */
import { type ConformChap, discover, InvalidArgumentError, type Portal, parseIscsiUrl, parsePortal } from '../index.js';
import { credentialsFromUrl, gatherCredentials, type PartialCredentials } from './credentials.js';
import type { Io } from './session-commands.js';

/** The flags that locate the target. */
export interface TargetArgOptions {
  readonly target?: string;
  readonly chapFile?: string;
  readonly initiatorName?: string;
}

/** A located target. */
export interface ResolvedTarget {
  readonly portal: Portal;
  readonly targetName: string;
  readonly lun?: number;
  readonly chap?: ConformChap;
}

/**
 * Resolves `where`: a URL gives portal, target, LUN and credentials; a portal needs `--target` or is asked with
 * SendTargets for its first target.
 */
export async function resolveTargetArg(where: string, o: TargetArgOptions, io: Io): Promise<ResolvedTarget> {
  let portal: Portal;
  let targetName = o.target;
  let lun: number | undefined;
  let fromUrl: PartialCredentials = {};
  if (where.startsWith('iscsi://')) {
    const url = parseIscsiUrl(where);
    portal = url.portal;
    targetName ??= url.targetName;
    lun = url.lun;
    fromUrl = credentialsFromUrl(url);
  } else portal = parsePortal(where);
  const { credentials, targetCredentials } = await gatherCredentials({
    fromUrl,
    ...(o.chapFile ? { chapFile: o.chapFile } : {}),
    env: io.env,
  });
  const chap = credentials ? { credentials, ...(targetCredentials ? { targetCredentials } : {}) } : undefined;
  if (!targetName) {
    const targets = await discover({
      portal,
      ...(chap ? { chap } : {}),
      ...(o.initiatorName ? { initiatorName: o.initiatorName } : {}),
    });
    targetName = targets[0]?.name;
    if (!targetName) throw new InvalidArgumentError('the portal reports no target; give one with --target or a URL');
  }
  return { portal, targetName, ...(lun !== undefined ? { lun } : {}), ...(chap ? { chap } : {}) };
}
