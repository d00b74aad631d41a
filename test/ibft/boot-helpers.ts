import { expect } from 'vitest';
import { revealSecret } from '../../src/chap/secret.js';
import { ErrorCode } from '../../src/errors.js';
import { BootConfigError } from '../../src/ibft/boot-error.js';
import type { BootTarget } from '../../src/ibft/netroot.js';

/** Runs `f` and returns the BootConfigError it throws (failing the test on anything else or on no throw). */
export function bootErrorOf(f: () => unknown, field?: string): BootConfigError {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(BootConfigError);
    expect((error as BootConfigError).code).toBe(ErrorCode.BootConfig);
    if (field !== undefined) expect((error as BootConfigError).field).toBe(field);
    return error as BootConfigError;
  }
  throw new Error('expected an ERR_ISCSI_BOOT_CONFIG error');
}

/** Calls `f`; anything it throws must be a BootConfigError. */
export function onlyBootErrors(f: () => unknown): void {
  try {
    f();
  } catch (error) {
    if (!(error instanceof BootConfigError)) throw error;
  }
}

const decoder = new TextDecoder();

/** A BootTarget with secrets as text, port filled in and the LUN normalised, for deep equality. */
export function plain(t: BootTarget): Record<string, unknown> {
  const lun = BigInt(t.lun);
  const out: Record<string, unknown> = {
    portal: { host: t.portal.host, port: t.portal.port ?? 3260, family: t.portal.family },
    targetName: t.targetName,
    lun: lun <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(lun) : lun,
  };
  for (const key of ['chap', 'reverseChap'] as const) {
    const c = t[key];
    if (c !== undefined) out[key] = { user: c.user, secret: decoder.decode(revealSecret(c.secret)) };
  }
  if (t.iface !== undefined) out.iface = t.iface;
  if (t.netdev !== undefined) out.netdev = t.netdev;
  return out;
}
