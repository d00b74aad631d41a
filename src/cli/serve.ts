/**
 * `iscsi-ts serve`: the embedded target from the command line. Portals, one target and its LUNs come from flags
 * (or everything from `--config target.json`); CHAP secrets only from a `--chap-file` (mode 600) or the
 * environment, never from the command line. Logs readable lines or JSON; SIGINT/SIGTERM stop it gracefully.
 * @module
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import {
  createTarget,
  InvalidArgumentError,
  type IscsiTarget,
  type LunConfig,
  type LunStorage,
  PcapTrace,
  Secret,
  type TargetAuth,
  type TargetDefinition,
  type TargetServerConfig,
} from '../index.js';
import { type PartialCredentials, readChapFile } from './credentials.js';
import { makeLogger } from './log.js';
import type { Io } from './session-commands.js';

/** The flags of `iscsi-ts serve`. */
export interface ServeCliOptions {
  readonly portal: readonly string[];
  readonly target: string;
  readonly lun: readonly string[];
  readonly blockSize: number;
  readonly chapFile?: string;
  readonly config?: string;
  readonly trace?: string;
  readonly verbose?: boolean;
  readonly logJson?: boolean;
  readonly nopInterval?: number;
}

/** A started server and how to stop it. */
export interface Served {
  readonly target: IscsiTarget;
  /** Stops the target and closes the trace file. */
  stop(): Promise<void>;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `64M`, `1G`, `4096`: a byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(text.trim());
  const n = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${JSON.stringify(text)} is not a size`);
  return n;
}

/**
 * A `--lun` value: `mem:SIZE`, or `file:PATH` with optional `,ro` and `,size=SIZE` (creates or extends the file).
 */
export function parseLunSpec(spec: string): LunStorage {
  if (spec.startsWith('mem:')) return { type: 'memory', size: parseSize(spec.slice(4)) };
  if (spec.startsWith('file:')) {
    const [path, ...flags] = spec.slice(5).split(',');
    if (!path) throw new InvalidArgumentError(`--lun ${spec}: a path is missing`);
    let readOnly = false;
    let size: number | undefined;
    for (const flag of flags) {
      if (flag === 'ro') readOnly = true;
      else if (flag.startsWith('size=')) size = parseSize(flag.slice(5));
      else throw new InvalidArgumentError(`--lun ${spec}: unknown option ${flag} (ro, size=SIZE)`);
    }
    return { type: 'file', path, ...(readOnly ? { readOnly } : {}), ...(size !== undefined ? { size } : {}) };
  }
  throw new InvalidArgumentError(`--lun ${spec}: expected mem:SIZE or file:PATH[,ro][,size=SIZE]`);
}

/**
 * Target-side CHAP from a credentials file: `user`/`secret` is the account initiators log in with, and
 * `target_user`/`target_secret` the target's own identity for mutual CHAP.
 */
export function authFromCredentials(c: PartialCredentials): TargetAuth {
  if (!c.user || !c.secret) throw new InvalidArgumentError('CHAP needs user= and secret=');
  const user = c.user;
  const secret = c.secret;
  const mutual = c.targetUser && c.targetSecret ? { user: c.targetUser, secret: c.targetSecret } : undefined;
  return { lookup: (name) => (name === user ? secret : undefined), ...(mutual ? { targetCredentials: mutual } : {}) };
}

/** Credentials from the environment: ISCSI_TS_TARGET_CHAP_{USER,SECRET,MUTUAL_USER,MUTUAL_SECRET}. */
function credentialsFromEnv(env: NodeJS.ProcessEnv): PartialCredentials | undefined {
  const user = env.ISCSI_TS_TARGET_CHAP_USER;
  const secret = env.ISCSI_TS_TARGET_CHAP_SECRET;
  if (!user || !secret) return undefined;
  const mutualUser = env.ISCSI_TS_TARGET_CHAP_MUTUAL_USER;
  const mutualSecret = env.ISCSI_TS_TARGET_CHAP_MUTUAL_SECRET;
  return {
    user,
    secret: Secret.from(secret),
    ...(mutualUser && mutualSecret ? { targetUser: mutualUser, targetSecret: Secret.from(mutualSecret) } : {}),
  };
}

/** The JSON of `--config`: {@link TargetServerConfig} with LUNs as specs and CHAP as credential files. */
type JsonLun = string | { readonly spec: string; readonly blockSize?: number; readonly lun?: number };

interface JsonConfig {
  readonly portals?: readonly string[];
  readonly targets: readonly {
    readonly name: string;
    readonly alias?: string;
    readonly luns: readonly JsonLun[];
    /** A credentials file for this target (`false`: no authentication even with a default). */
    readonly chapFile?: string | false;
    readonly allow?: readonly string[];
  }[];
  /** Credentials file for discovery and for targets without their own. */
  readonly chapFile?: string;
  readonly nopIntervalMs?: number;
  readonly maxSessions?: number;
}

function fromJson(path: string, blockSize: number): Omit<TargetServerConfig, 'logger' | 'trace'> {
  let json: JsonConfig;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as JsonConfig;
  } catch (err) {
    throw new InvalidArgumentError(`${path}: ${(err as Error).message}`);
  }
  if (!Array.isArray(json.targets)) throw new InvalidArgumentError(`${path}: "targets" must be a list`);
  const targets: TargetDefinition[] = json.targets.map((t) => ({
    name: t.name,
    ...(t.alias ? { alias: t.alias } : {}),
    ...(t.allow ? { allow: t.allow } : {}),
    ...(t.chapFile === false
      ? { auth: false as const }
      : t.chapFile
        ? { auth: authFromCredentials(readChapFile(t.chapFile)) }
        : {}),
    luns: t.luns.map(
      (l: JsonLun): LunConfig =>
        typeof l === 'string'
          ? { storage: parseLunSpec(l), blockSize }
          : {
              storage: parseLunSpec(l.spec),
              blockSize: l.blockSize ?? blockSize,
              ...(l.lun !== undefined ? { lun: l.lun } : {}),
            },
    ),
  }));
  return {
    portals: json.portals ?? ['127.0.0.1:3260'],
    targets,
    ...(json.chapFile ? { auth: authFromCredentials(readChapFile(json.chapFile)) } : {}),
    ...(json.nopIntervalMs !== undefined ? { nopIntervalMs: json.nopIntervalMs } : {}),
    ...(json.maxSessions !== undefined ? { maxSessions: json.maxSessions } : {}),
  };
}

/** The configuration the flags describe. */
export function serveConfig(o: ServeCliOptions, env: NodeJS.ProcessEnv): Omit<TargetServerConfig, 'logger' | 'trace'> {
  if (o.config) return fromJson(o.config, o.blockSize);
  const credentials = o.chapFile ? readChapFile(o.chapFile) : credentialsFromEnv(env);
  const luns = o.lun.length > 0 ? o.lun : ['mem:64M'];
  return {
    portals: o.portal.length > 0 ? o.portal : ['127.0.0.1:3260'],
    targets: [{ name: o.target, luns: luns.map((l) => ({ storage: parseLunSpec(l), blockSize: o.blockSize })) }],
    ...(credentials ? { auth: authFromCredentials(credentials) } : {}),
    ...(o.nopInterval !== undefined ? { nopIntervalMs: o.nopInterval } : {}),
  };
}

/** Starts the target the options describe and prints its URLs. */
export async function startServe(o: ServeCliOptions, io: Io): Promise<Served> {
  const config = serveConfig(o, io.env);
  const logger = makeLogger(o, io.err, true);
  const fd = o.trace ? openSync(o.trace, 'w', 0o600) : undefined;
  const target = createTarget({
    ...config,
    ...(logger ? { logger } : {}),
    ...(fd !== undefined ? { trace: new PcapTrace((chunk) => writeSync(fd, chunk)) } : {}),
  });
  await target.start();
  for (const t of config.targets) {
    for (const [i, lun] of t.luns.entries()) {
      for (const portal of target.portals) io.out(target.url(t.name, lun.lun ?? i, portal));
    }
  }
  return {
    target,
    stop: async () => {
      await target.stop();
      if (fd !== undefined) closeSync(fd);
    },
  };
}
