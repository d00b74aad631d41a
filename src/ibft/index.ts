/**
 * iSCSI Boot Firmware Table (iBFT): one typed model, three sources (raw ACPI table, physical memory scan, the
 * kernel's `/sys/firmware/ibft` tree) and one writer. Stands alone: no session or PDU code.
 * @module
 */
export { addressFromBytes, addressToBytes, normaliseAddress } from './address.js';
// Boot configuration: dracut arguments, udev identification, the disks of a running system.
export { BootConfigError } from './boot-error.js';
export * from './dracut.js';
export { IbftError } from './errors.js';
export {
  findIbftInMemory,
  IBFT_SCAN_END,
  IBFT_SCAN_START,
  readIbftFromMemoryFile,
  readIbftFromSysfsAcpi,
  VGA_HOLE,
} from './find.js';
export {
  IbftChapType,
  type IbftInitiator,
  type IbftJson,
  type IbftNic,
  type IbftNicSpec,
  IbftOrigin,
  type IbftSignature,
  type IbftTable,
  type IbftTableSpec,
  type IbftTarget,
  type IbftTargetSpec,
  ibftToJson,
  isDhcpNic,
  lunNumberOf,
  nicOfTarget,
  pciAddressOf,
  REDACTED,
  redactIbft,
  subnetMaskOf,
} from './model.js';
export { parseIbft } from './parse-acpi.js';
export { parseSysfsLun, readIbftSysfs } from './sysfs.js';
export * from './sysfs-disks.js';
export * from './udev.js';
export type { HostFamily } from './values.js';
export { type IbftWriteOptions, writeIbft } from './write-acpi.js';
