/**
 * Login Response status (RFC 7143 §11.13.5): Status-Class and Status-Detail to a readable message and a typed error.
 * @module
 */
import { LoginError } from '../errors.js';

/** Status-Class values. */
export const StatusClass = { Success: 0, Redirection: 1, InitiatorError: 2, TargetError: 3 } as const;

// RFC 7143 §11.13.5, status class << 8 | detail.
const messages: ReadonlyMap<number, string> = new Map([
  [0x0000, 'login succeeded'],
  [0x0101, 'target moved temporarily'],
  [0x0102, 'target moved permanently'],
  [0x0200, 'initiator error'],
  [0x0201, 'authentication failed'],
  [0x0202, 'authorization failure: the initiator may not access this target'],
  [0x0203, 'target not found'],
  [0x0204, 'target removed'],
  [0x0205, 'unsupported iSCSI version'],
  [0x0206, 'too many connections in the session'],
  [0x0207, 'missing parameter'],
  [0x0208, 'cannot include this connection in the session'],
  [0x0209, 'session type not supported by the target'],
  [0x020a, 'session does not exist'],
  [0x020b, 'invalid request during login'],
  [0x0300, 'target error'],
  [0x0301, 'service unavailable'],
  [0x0302, 'target out of resources'],
]);

/** A readable message for a login status; unknown codes are named by class. */
export function loginStatusMessage(statusClass: number, statusDetail: number): string {
  const code = (statusClass << 8) | statusDetail;
  const known = messages.get(code);
  const hex = `0x${code.toString(16).padStart(4, '0')}`;
  if (known) return `${known} (status ${hex})`;
  const kind = ['success', 'redirection', 'initiator error', 'target error'][statusClass] ?? 'unknown status class';
  return `${kind} (status ${hex})`;
}

/** The typed error for a failed login (class 2 or 3, or an unknown class). */
export function loginError(statusClass: number, statusDetail: number, targetName?: string): LoginError {
  const where = targetName ? ` for ${targetName}` : '';
  return new LoginError(
    `login${where} refused: ${loginStatusMessage(statusClass, statusDetail)}`,
    statusClass,
    statusDetail,
  );
}
