/**
 * The target's SCSI device server front (SAM-5 §4.6): routes each command to its logical unit and answers for
 * LUNs that do not exist the way SAM-5 and SPC-4 ask (incorrect logical unit selection).
 * @module
 */

import { InvalidArgumentError } from '../../errors.js';
import { SenseKey } from '../../scsi/names.js';
import { encodeSense } from '../../scsi/sense-encode.js';
import { limitToAllocation } from './allocation-length.js';
import { standardInquiry } from './inquiry.js';
import type { LogicalUnit } from './logical-unit.js';
import { reportLuns } from './report-luns.js';
import { Asc, good, illegalRequest, invalidFieldInCdb } from './result.js';
import type { Nexus, ScsiRequest, ScsiResult } from './types.js';

/** Options of {@link DeviceServer}. */
export interface DeviceServerOptions {
  /** The logical units, with distinct LUNs. */
  readonly units: readonly LogicalUnit[];
}

const INQUIRY = 0x12;
const REQUEST_SENSE = 0x03;
const REPORT_LUNS = 0xa0;

/** Routes commands by LUN to {@link LogicalUnit}s. */
export class DeviceServer {
  readonly #units = new Map<number, LogicalUnit>();
  readonly #luns: readonly number[];

  constructor(options: DeviceServerOptions) {
    for (const unit of options.units) {
      if (this.#units.has(unit.lun)) throw new InvalidArgumentError(`LUN ${unit.lun} given twice`);
      this.#units.set(unit.lun, unit);
    }
    this.#luns = Object.freeze([...this.#units.keys()].sort((a, b) => a - b));
    const luns = this.#luns;
    for (const unit of this.#units.values()) unit.attachInventory(() => luns);
  }

  /** Whether `lun` exists. */
  hasLun(lun: number): boolean {
    return this.#units.has(lun);
  }

  /** The logical unit at `lun`. */
  unit(lun: number): LogicalUnit | undefined {
    return this.#units.get(lun);
  }

  /** LUNs, ascending. */
  luns(): readonly number[] {
    return this.#luns;
  }

  /** Runs one command; never rejects. */
  execute(request: ScsiRequest): Promise<ScsiResult> {
    const unit = this.#units.get(request.lun);
    if (unit) return unit.execute(request).then((r) => limitToAllocation(request.cdb, r));
    return Promise.resolve(limitToAllocation(request.cdb, this.#noSuchLun(request)));
  }

  /** LOGICAL UNIT RESET of `lun` (SAM-5 §7.7): see {@link LogicalUnit.reset}; a LUN that does not exist is ignored. */
  resetLun(lun: number, nexus?: Nexus): void {
    this.#units.get(lun)?.reset(nexus);
  }

  /**
   * TARGET RESET (SAM-5 §6.3.2 / §7.12): a logical unit reset of every LU; each other nexus gets BUS DEVICE RESET
   * FUNCTION OCCURRED (the issuer learns of it from the task management response).
   */
  resetTarget(nexus?: Nexus): void {
    for (const unit of this.#units.values()) unit.reset(nexus, Asc.BusDeviceResetFunctionOccurred);
  }

  /** I_T nexus loss on every LU (SAM-5 §6.3.4). */
  nexusLost(nexus: Nexus): void {
    for (const unit of this.#units.values()) unit.nexusLost(nexus);
  }

  /**
   * A LUN the target does not have (SAM-5 "incorrect logical unit selection"; SPC-4 §6.6.2): INQUIRY returns
   * standard data with PERIPHERAL QUALIFIER 011b and DEVICE TYPE 0x1F, REPORT LUNS works as on any LUN, REQUEST
   * SENSE returns GOOD with ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED sense data (SPC-4 §6.39), and every other
   * command is CHECK CONDITION with that sense.
   */
  #noSuchLun(request: ScsiRequest): ScsiResult {
    const cdb = request.cdb;
    switch (cdb[0]) {
      case INQUIRY: {
        if (((cdb[1] ?? 0) & 0x03) !== 0) {
          // VPD pages describe a logical unit; there is none here.
          return illegalRequest(Asc.LogicalUnitNotSupported);
        }
        if ((cdb[2] ?? 0) !== 0) return invalidFieldInCdb(2);
        const first = this.#units.values().next().value;
        const identity = first?.identity ?? { vendor: '', product: '', revision: '' };
        return good(standardInquiry(identity, false));
      }
      case REPORT_LUNS:
        return reportLuns(padded(cdb, 12), this.#luns);
      case REQUEST_SENSE:
        return good(
          encodeSense({
            format: ((cdb[1] ?? 0) & 0x01) !== 0 ? 'descriptor' : 'fixed',
            senseKey: SenseKey.IllegalRequest,
            asc: Asc.LogicalUnitNotSupported >>> 8,
            ascq: Asc.LogicalUnitNotSupported & 0xff,
          }),
        );
      default:
        return illegalRequest(Asc.LogicalUnitNotSupported);
    }
  }
}

function padded(cdb: Uint8Array, length: number): Uint8Array {
  if (cdb.length >= length) return cdb;
  const out = new Uint8Array(length);
  out.set(cdb);
  return out;
}
