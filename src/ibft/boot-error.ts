/**
 * The error thrown by the boot modules: dracut boot arguments, udev identification and sysfs disk discovery.
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';

/**
 * A dracut boot argument, udev `ID_PATH` / by-path name or udev database text that does not parse, or a value that
 * cannot be written so that dracut or udev would read it back unchanged. `field` names the part at fault
 * (`netroot.port`, `ip.netmask`, `udev-db line 12`). Messages never contain CHAP secrets.
 */
export class BootConfigError extends IscsiError {
  override name = 'BootConfigError';

  constructor(
    message: string,
    /** The part of the input at fault. */
    readonly field: string,
  ) {
    super(ErrorCode.BootConfig, message);
  }
}
