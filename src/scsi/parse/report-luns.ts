/**
 * REPORT LUNS parameter data (SPC-4 §6.33.2): LUN LIST LENGTH, then 8-byte LUNs (SAM-5 §4.7), kept as bigints
 * like the LUN field of the iSCSI BHS.
 * @module
 */
import { need, scsiDataError, u32, u64 } from '../bytes.js';

/** Parsed REPORT LUNS data. */
export interface ReportLuns {
  /** The LUNs present in the data, in order. */
  readonly luns: readonly bigint[];
  /** LUN LIST LENGTH: bytes of LUN list the device has (8 per LUN). */
  readonly listLength: number;
  /** Bytes the whole response needs (listLength + 8): the allocation length to ask for all of it. */
  readonly availableLength: number;
  /** True when fewer LUNs came than listLength announces (cut by the allocation length). */
  readonly truncated: boolean;
}

/**
 * Parses REPORT LUNS data; the 8-byte header is required and a LUN LIST LENGTH that is not a multiple of 8 is a
 * ProtocolError (`ERR_ISCSI_SCSI_DATA`). A partial LUN at the end of cut data is ignored.
 */
export function parseReportLuns(data: Uint8Array): ReportLuns {
  need(data, 8, 'REPORT LUNS data');
  const listLength = u32(data, 0);
  if (listLength % 8 !== 0) {
    throw scsiDataError('LUN LIST LENGTH is not a multiple of 8', { offset: 0, got: listLength });
  }
  const availableLength = listLength + 8;
  const end = Math.min(data.length, availableLength);
  const luns: bigint[] = [];
  for (let o = 8; o + 8 <= end; o += 8) luns.push(u64(data, o));
  return { luns, listLength, availableLength, truncated: luns.length < listLength / 8 };
}
