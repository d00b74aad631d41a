/**
 * Running one SCSI command on a {@link Session} and turning anything but success into a typed error: the shared
 * step of the block-device layer and the I/O commands of the CLI.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';
import { buildReadCapacity16Cdb, READ_CAPACITY_16_DATA_LENGTH } from '../scsi/cdb/read-capacity.js';
import type { ScsiCommand } from '../scsi/command.js';
import { ScsiError } from '../scsi/errors.js';
import { isScsiStatusSuccess, SenseKey } from '../scsi/names.js';
import { parseReadCapacity16, type ReadCapacity16 } from '../scsi/parse/read-capacity.js';
import { parseSense } from '../scsi/sense.js';
import type { Session } from '../session/session.js';
import type { ScsiResult } from '../session/task.js';

/** Options of {@link runScsi}. */
export interface RunScsiOptions {
  /** Buffer to read into (its length must equal the command's transfer length). */
  readonly into?: Uint8Array;
  /** Data-Out bytes, when the command builder did not produce them itself. */
  readonly write?: Uint8Array;
  readonly signal?: AbortSignal;
  /** Per-command timeout in ms; default the session's. */
  readonly timeoutMs?: number;
  /** Accept a read shorter than asked (residual underflow), e.g. for INQUIRY and REPORT LUNS. Default false. */
  readonly allowShortRead?: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * The typed error for a completed command that did not succeed: an iSCSI service response other than "command
 * completed at target" (RFC 7143 §11.4.3), or a SCSI status other than GOOD / CONDITION MET as a {@link ScsiError}
 * with its sense data decoded. Returns undefined when the result is a success.
 */
export function resultError(result: ScsiResult, cdb: Uint8Array): IscsiError | undefined {
  if (result.response !== 0) {
    // §11.4.3: with a response other than 0x00 the status field is not valid.
    return new IscsiError(
      ErrorCode.Scsi,
      `SCSI command failed at the target (iSCSI response 0x${hex(result.response)})`,
    );
  }
  if (isScsiStatusSuccess(result.status)) return undefined;
  if (!result.sense || result.sense.length === 0) return new ScsiError(result.status, { cdb });
  try {
    return new ScsiError(result.status, { cdb, sense: parseSense(result.sense) });
  } catch (err) {
    return new ScsiError(result.status, { cdb, cause: err });
  }
}

/** Whether `err` is a CHECK CONDITION with sense key UNIT ATTENTION (SPC-4 §5.14). */
export function isUnitAttention(err: unknown): boolean {
  return err instanceof ScsiError && err.senseKey === SenseKey.UnitAttention;
}

/**
 * Executes `command` on LUN `lun` and returns the data read (empty for commands without Data-In).
 * @throws {ScsiError} for a failing SCSI status; {@link IscsiError} (ERR_ISCSI_SCSI) for a failed service response
 * or a short read; whatever `Session.execute` rejects with (ConnectionError, TimeoutError, …).
 */
export async function runScsi(
  session: Session,
  lun: number | bigint,
  command: ScsiCommand,
  options: RunScsiOptions = {},
): Promise<Uint8Array> {
  const write = options.write ?? command.data;
  const reads = command.direction === 'read' && command.transferLength > 0;
  const result = await session.execute({
    lun,
    cdb: command.cdb,
    ...(reads ? { read: options.into ? { into: options.into } : { length: command.transferLength } } : {}),
    ...(command.direction === 'write' && write ? { write } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  const error = resultError(result, command.cdb);
  if (error) throw error;
  if (!reads) return EMPTY;
  const data = result.data ?? EMPTY;
  if (!options.allowShortRead && data.length < command.transferLength) {
    throw new IscsiError(
      ErrorCode.Scsi,
      `short read: ${data.length} of ${command.transferLength} bytes (residual underflow)`,
    );
  }
  return data;
}

/**
 * {@link runScsi}, retried while it fails with UNIT ATTENTION, at most `retries` times. Each UNIT ATTENTION
 * reports (and clears) one pending condition such as POWER ON / RESET or a capacity change (SAM-5 §5.14), so the
 * first command of a new I_T nexus commonly gets one.
 */
export async function runScsiRetryingUnitAttention(
  session: Session,
  lun: number | bigint,
  command: ScsiCommand,
  retries: number,
  options: RunScsiOptions = {},
): Promise<Uint8Array> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runScsi(session, lun, command, options);
    } catch (err) {
      if (attempt >= retries || !isUnitAttention(err)) throw err;
    }
  }
}

/** How many UNIT ATTENTIONs a command is retried through by default (tgtd sends one on each new session). */
export const DEFAULT_UNIT_ATTENTION_RETRIES = 5;

/** READ CAPACITY(16), retried through UNIT ATTENTION: the LUN's size and block length. */
export async function readCapacity(
  session: Session,
  lun: number | bigint,
  retries: number = DEFAULT_UNIT_ATTENTION_RETRIES,
  options: RunScsiOptions = {},
): Promise<ReadCapacity16> {
  const command = buildReadCapacity16Cdb({ allocationLength: READ_CAPACITY_16_DATA_LENGTH });
  return parseReadCapacity16(await runScsiRetryingUnitAttention(session, lun, command, retries, options));
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
