/**
 * CHAP credentials for the command line, from (in order of precedence) the URL, `--chap-file`, the environment
 * (`ISCSI_TS_CHAP_*`, then libiscsi's `LIBISCSI_CHAP_*`), and an interactive prompt. Secrets stay in `Secret`
 * objects; a secret typed on the command line (in a URL) works but is warned about, since other users can read
 * command lines.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { type ChapCredentials, InvalidArgumentError, type IscsiUrl, Secret } from '../index.js';

/** Credentials as gathered: each part may be missing. */
export interface PartialCredentials {
  user?: string;
  secret?: Secret;
  targetUser?: string;
  targetSecret?: Secret;
}

/** Where credentials may come from. */
export interface CredentialSources {
  readonly fromUrl?: PartialCredentials;
  readonly chapFile?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Ask on the terminal for the secrets still missing. */
  readonly prompt?: boolean;
}

/** The credentials an iscsi:// URL carries (`user%secret@…?target_user=…&target_password=…`). */
export function credentialsFromUrl(url: IscsiUrl): PartialCredentials {
  return {
    ...(url.credentials?.user ? { user: url.credentials.user } : {}),
    ...(url.credentials?.secret ? { secret: url.credentials.secret } : {}),
    ...(url.targetCredentials?.user ? { targetUser: url.targetCredentials.user } : {}),
    ...(url.targetCredentials?.secret ? { targetSecret: url.targetCredentials.secret } : {}),
  };
}

/** Reads a `--chap-file`: `user=`, `secret=`, `target_user=`, `target_secret=` lines; refuses group/world access. */
export function readChapFile(path: string): PartialCredentials {
  const mode = statSync(path).mode;
  if (mode & 0o077) {
    throw new InvalidArgumentError(
      `${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  }
  const out: PartialCredentials = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0)
      throw new InvalidArgumentError(
        `${path}: a line without '=' (expected user=, secret=, target_user=, target_secret=)`,
      );
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'user') out.user = value;
    else if (key === 'secret') out.secret = Secret.from(value);
    else if (key === 'target_user') out.targetUser = value;
    else if (key === 'target_secret') out.targetSecret = Secret.from(value);
    else throw new InvalidArgumentError(`${path}: unknown key ${key}`);
  }
  return out;
}

/** Credentials from the environment: ISCSI_TS_CHAP_* first, LIBISCSI_CHAP_* as libiscsi names them. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv): PartialCredentials {
  const pick = (ours: string, theirs: string) => env[`ISCSI_TS_CHAP_${ours}`] ?? env[`LIBISCSI_CHAP_${theirs}`];
  const out: PartialCredentials = {};
  const user = pick('USER', 'USERNAME');
  const secret = pick('SECRET', 'PASSWORD');
  const targetUser = pick('TARGET_USER', 'TARGET_USERNAME');
  const targetSecret = pick('TARGET_SECRET', 'TARGET_PASSWORD');
  if (user) out.user = user;
  if (secret) out.secret = Secret.from(secret);
  if (targetUser) out.targetUser = targetUser;
  if (targetSecret) out.targetSecret = Secret.from(targetSecret);
  return out;
}

/** Merges the sources; returns one-way and (when a target user is known) mutual credentials, or none. */
export async function gatherCredentials(
  sources: CredentialSources,
): Promise<{ credentials?: ChapCredentials; targetCredentials?: ChapCredentials }> {
  const layers = [
    sources.fromUrl ?? {},
    sources.chapFile ? readChapFile(sources.chapFile) : {},
    credentialsFromEnv(sources.env),
  ];
  const merged: PartialCredentials = {};
  for (const layer of layers) {
    merged.user ??= layer.user;
    merged.secret ??= layer.secret;
    merged.targetUser ??= layer.targetUser;
    merged.targetSecret ??= layer.targetSecret;
  }
  if (sources.prompt) {
    if (merged.user && !merged.secret)
      merged.secret = Secret.from(await promptSecret(`CHAP secret for ${merged.user}: `));
    if (merged.targetUser && !merged.targetSecret) {
      merged.targetSecret = Secret.from(await promptSecret(`target CHAP secret for ${merged.targetUser}: `));
    }
  }
  const out: { credentials?: ChapCredentials; targetCredentials?: ChapCredentials } = {};
  if (merged.user) {
    if (!merged.secret)
      throw new InvalidArgumentError(
        `no CHAP secret for user ${merged.user} (use --chap-file, ISCSI_TS_CHAP_SECRET or --chap-prompt)`,
      );
    out.credentials = { user: merged.user, secret: merged.secret };
  }
  if (merged.targetUser) {
    if (!merged.targetSecret) throw new InvalidArgumentError(`no target CHAP secret for ${merged.targetUser}`);
    if (!out.credentials) throw new InvalidArgumentError('mutual CHAP needs the initiator credentials too');
    out.targetCredentials = { user: merged.targetUser, secret: merged.targetSecret };
  }
  return out;
}

/** Reads a line from the terminal without echoing it. */
function promptSecret(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _enc, cb) => cb() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  return new Promise((resolve) => {
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}
