/**
 * iSCSI names (RFC 7143 §4.2.7): `iqn.` names with a date and a reversed domain name, `eui.` EUI-64 names and
 * `naa.` NAA names. Validation is deliberately loose about the part after the naming authority, which vendors fill
 * in freely, but strict about the characters RFC 3722 forbids and about the length limit.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';

/** RFC 7143 §4.2.7.1: an iSCSI name is at most 223 bytes (UTF-8), not counting any terminator. */
export const ISCSI_NAME_MAX_BYTES = 223;

/** The three iSCSI name formats of RFC 7143 §4.2.7.2. */
export type IscsiNameType = 'iqn' | 'eui' | 'naa';

const encoder = new TextEncoder();
// iqn.yyyy-mm.<reversed domain name>[:<anything>] (RFC 7143 §4.2.7.2). Domain labels are loose: letters
// (ASCII or not), digits and hyphens; the optional part after ':' may hold any allowed name character.
const IQN_RE = /^iqn\.[0-9]{4}-(?:0[1-9]|1[0-2])\.[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*(?::.+)?$/u;
// eui. + 16 hex digits (EUI-64); naa. + 16 or 32 hex digits (64- or 128-bit NAA identifier).
const EUI_RE = /^eui\.[0-9a-f]{16}$/;
const NAA_RE = /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
// RFC 3722 §6 prohibits ASCII 0x00-0x2C, 0x2F, 0x3B-0x40, 0x5B-0x60 and 0x7B-0x7F: what is left is
// '-', '.', '0'-'9', ':', letters (upper case maps to lower). Outside ASCII, reject controls, spaces,
// surrogates and private-use or unassigned code points as a loose stand-in for the full stringprep tables.
const PROHIBITED_RE =
  /[\u0020-\u002c\u002f\u003b-\u0040\u005b-\u0060\u007b-\u007e\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Z}]/u;

/**
 * Checks an iSCSI name and returns its normalised form. iSCSI names are case-insensitive (RFC 3722 maps them to
 * lower case and NFKC); this lower-cases the name and applies NFKC to names outside ASCII, a subset of the RFC 3722
 * stringprep profile that is exact for ASCII names.
 * @throws {IscsiError} `ERR_ISCSI_ADDRESS` when the name is not an `iqn.`, `eui.` or `naa.` name, contains a
 *   character RFC 3722 prohibits, or is longer than {@link ISCSI_NAME_MAX_BYTES} bytes.
 */
export function validateIscsiName(name: string): string {
  const fail = (reason: string): IscsiError =>
    new IscsiError(ErrorCode.Address, `invalid iSCSI name ${preview(name)}: ${reason}`);
  if (name.length === 0) throw fail('it is empty');
  // Cheap bound before any normalisation: 223 bytes of UTF-8 are at most 223 UTF-16 code units.
  if (name.length > ISCSI_NAME_MAX_BYTES) throw fail(`longer than ${ISCSI_NAME_MAX_BYTES} bytes`);
  const normal = normaliseIscsiName(name);
  if (PROHIBITED_RE.test(normal)) {
    throw fail('only letters, digits, "-", "." and ":" are allowed (RFC 3722 §6)');
  }
  if (encoder.encode(normal).length > ISCSI_NAME_MAX_BYTES) throw fail(`longer than ${ISCSI_NAME_MAX_BYTES} bytes`);
  switch (iscsiNameType(normal)) {
    case 'iqn':
      if (!IQN_RE.test(normal)) throw fail('expected iqn.yyyy-mm.reversed.domain[:identifier] (RFC 7143 §4.2.7.2)');
      break;
    case 'eui':
      if (!EUI_RE.test(normal)) throw fail('expected eui. followed by 16 hex digits');
      break;
    case 'naa':
      if (!NAA_RE.test(normal)) throw fail('expected naa. followed by 16 or 32 hex digits');
      break;
    default:
      throw fail('an iSCSI name starts with iqn., eui. or naa.');
  }
  return normal;
}

/** Whether `name` is a valid iSCSI name in any letter case (see {@link validateIscsiName}). */
export function isIscsiName(name: string): boolean {
  try {
    validateIscsiName(name);
    return true;
  } catch {
    return false;
  }
}

/** The format of an iSCSI name by its prefix (any letter case), without validating the rest. */
export function iscsiNameType(name: string): IscsiNameType | undefined {
  const prefix = name.slice(0, 4).toLowerCase();
  if (prefix === 'iqn.') return 'iqn';
  if (prefix === 'eui.') return 'eui';
  if (prefix === 'naa.') return 'naa';
  return undefined;
}

/** Lower case (RFC 3722 §3 case folding) and, outside ASCII, NFKC (RFC 3722 §4). */
function normaliseIscsiName(name: string): string {
  if (/^[\u0020-\u007e]*$/.test(name)) return name.toLowerCase();
  return name.toLowerCase().normalize('NFKC');
}

function preview(value: string, max = 64): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}
