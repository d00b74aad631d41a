/**
 * The typed error of the iBFT module.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';

/**
 * A malformed iSCSI Boot Firmware Table: raw ACPI bytes that break the layout, or a `/sys/firmware/ibft` tree
 * whose attributes cannot be read or parsed. Messages name fields and numbers, never string or secret contents.
 */
export class IbftError extends IscsiError {
  override name = 'IbftError';

  constructor(
    message: string,
    /** The field at fault: `header.checksum`, `control.nic1Offset`, `target0.chapSecret`, `ethernet0/vlan`, … */
    readonly field: string,
    /** Byte offset of the field from the first byte of the table; undefined for sysfs trees. */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(
      ErrorCode.Ibft,
      offset === undefined ? `iBFT ${field}: ${message}` : `iBFT ${field} at 0x${hex(offset)}: ${message}`,
      options,
    );
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(3, '0');
}
