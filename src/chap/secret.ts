/**
 * An opaque holder for CHAP secrets: it never shows its bytes in `String()`, JSON, `util.inspect` or error
 * messages. Only the CHAP code reads the bytes, through {@link revealSecret}.
 * @module
 */
import { inspect } from 'node:util';
import { InvalidArgumentError } from '../errors.js';

const encoder = new TextEncoder();
const bytesOf = new WeakMap<Secret, Uint8Array>();

/** A CHAP secret. Create with {@link Secret.from}; compare and hash only through the CHAP module. */
export class Secret {
  /** Length of the secret in bytes (RFC 7143 §12.1.3 asks for at least 12). */
  readonly length: number;

  private constructor(bytes: Uint8Array) {
    bytesOf.set(this, bytes);
    this.length = bytes.length;
  }

  /** Wraps a secret given as text (UTF-8) or bytes; the bytes are copied. */
  static from(value: string | Uint8Array): Secret {
    const bytes = typeof value === 'string' ? encoder.encode(value) : Uint8Array.from(value);
    if (bytes.length === 0) throw new InvalidArgumentError('a CHAP secret cannot be empty');
    return new Secret(bytes);
  }

  /** Whether two secrets hold the same bytes (RFC 7143 §12.1.3 forbids one secret for both directions). */
  equals(other: Secret): boolean {
    const a = bytesOf.get(this)!;
    const b = bytesOf.get(other)!;
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  }

  toString(): string {
    return '[Secret]';
  }

  toJSON(): string {
    return '[Secret]';
  }

  [inspect.custom](): string {
    return 'Secret(<redacted>)';
  }
}

/** The secret's bytes, for computing CHAP responses. Never log or store the result. */
export function revealSecret(secret: Secret): Uint8Array {
  return bytesOf.get(secret)!;
}

/** A CHAP user name with its secret. */
export interface ChapCredentials {
  readonly user: string;
  readonly secret: Secret;
}
