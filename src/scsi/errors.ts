/**
 * {@link ScsiError}: a SCSI command that completed at the iSCSI level (SCSI Response, Response 0x00) with a
 * status other than GOOD / CONDITION MET, with its sense data decoded to names.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';
import { additionalSenseName, scsiCommandName, scsiStatusName, senseKeyName } from './names.js';
import type { SenseData } from './sense.js';
import { parseSense, senseFromSegment } from './sense.js';

/** Options of the {@link ScsiError} constructor. */
export interface ScsiErrorOptions {
  /** Decoded sense data (CHECK CONDITION carries it; BUSY, RESERVATION CONFLICT … usually not). */
  readonly sense?: SenseData;
  /** The command's CDB, to name it in the message and keep its operation code. */
  readonly cdb?: Uint8Array;
  /** Why the sense data is missing, when it could not be parsed. */
  readonly cause?: unknown;
}

/**
 * A SCSI command failed with a status (SAM-5 §5.3). Sense fields are undefined when no sense data came with it.
 * The message names the command, status, sense key and additional sense code; it never holds data bytes.
 */
export class ScsiError extends IscsiError {
  override name = 'ScsiError';
  /** SCSI status byte (0x02 CHECK CONDITION, 0x08 BUSY, …). */
  readonly status: number;
  /** Name of {@link ScsiError.status}. */
  readonly statusName: string;
  /** The decoded sense data, when there was any and it parsed. */
  readonly sense: SenseData | undefined;
  readonly senseKey: number | undefined;
  /** ADDITIONAL SENSE CODE. */
  readonly asc: number | undefined;
  /** ADDITIONAL SENSE CODE QUALIFIER. */
  readonly ascq: number | undefined;
  readonly senseKeyName: string | undefined;
  /** Name of ASC/ASCQ, e.g. `INVALID FIELD IN CDB`. */
  readonly additionalSenseName: string | undefined;
  /** Operation code of the failed command, when the CDB was given. */
  readonly opcode: number | undefined;

  constructor(status: number, options: ScsiErrorOptions = {}) {
    const { sense, cdb } = options;
    const statusName = scsiStatusName(status);
    const command = cdb && cdb.length > 0 ? scsiCommandName(cdb) : 'SCSI command';
    let message = `${command}: ${statusName}`;
    if (sense) {
      message +=
        `, ${senseKeyName(sense.senseKey)}, ${additionalSenseName(sense.asc, sense.ascq)}` +
        ` (0x${hex2(sense.asc)}/0x${hex2(sense.ascq)})${sense.current ? '' : ', deferred error'}`;
    }
    super(ErrorCode.Scsi, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.statusName = statusName;
    this.sense = sense;
    this.senseKey = sense?.senseKey;
    this.asc = sense?.asc;
    this.ascq = sense?.ascq;
    this.senseKeyName = sense && senseKeyName(sense.senseKey);
    this.additionalSenseName = sense && additionalSenseName(sense.asc, sense.ascq);
    this.opcode = cdb?.[0];
  }
}

/**
 * The error for a SCSI Response with a failing `status` and data segment `segment` (SenseLength + sense data,
 * RFC 7143 §11.4.7.2). Never throws: sense data that does not parse is left out and kept as `cause`.
 */
export function scsiErrorFromResponse(status: number, segment?: Uint8Array, cdb?: Uint8Array): ScsiError {
  const options: { sense?: SenseData; cdb?: Uint8Array; cause?: unknown } = {};
  if (cdb) options.cdb = cdb;
  try {
    const bytes = segment && senseFromSegment(segment);
    if (bytes) options.sense = parseSense(bytes);
  } catch (err) {
    options.cause = err;
  }
  return new ScsiError(status, options);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
