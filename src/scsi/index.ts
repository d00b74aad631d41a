/**
 * SCSI helpers: CDB builders and decoders, parsers for the data the commands return, sense data, names and
 * {@link ScsiError}. Transport-free (like libiscsi's scsi-lowlevel): nothing here imports the PDU or session layers.
 * @module
 */
export type { DecodedCdb, UnknownCdb } from './cdb/decode.js';
export { cdbLength, decodeCdb } from './cdb/decode.js';
export type { InquiryCdb, InquiryOptions } from './cdb/inquiry.js';
export { buildInquiryCdb } from './cdb/inquiry.js';
export type { ModePageControl, ModeSenseCdb, ModeSenseOptions } from './cdb/mode-sense.js';
export { ALL_MODE_PAGES, buildModeSense6Cdb, buildModeSense10Cdb } from './cdb/mode-sense.js';
export type { ReadCapacity10Cdb, ReadCapacity16Cdb, ReadCapacity16Options } from './cdb/read-capacity.js';
export {
  buildReadCapacity10Cdb,
  buildReadCapacity16Cdb,
  READ_CAPACITY_10_DATA_LENGTH,
  READ_CAPACITY_16_DATA_LENGTH,
} from './cdb/read-capacity.js';
export type { ReadWriteCdb, ReadWriteOptions } from './cdb/read-write.js';
export {
  buildRead10Cdb,
  buildRead16Cdb,
  buildReadCdb,
  buildWrite10Cdb,
  buildWrite16Cdb,
  buildWriteCdb,
  fitsCdb10,
} from './cdb/read-write.js';
export type { ReportLunsCdb, ReportLunsOptions } from './cdb/report-luns.js';
export { buildReportLunsCdb, ReportLunsSelect } from './cdb/report-luns.js';
export type { RequestSenseCdb, RequestSenseOptions } from './cdb/request-sense.js';
export { buildRequestSenseCdb } from './cdb/request-sense.js';
export type { SynchronizeCacheCdb, SynchronizeCacheOptions } from './cdb/synchronize-cache.js';
export { buildSynchronizeCache10Cdb, buildSynchronizeCache16Cdb } from './cdb/synchronize-cache.js';
export type { TestUnitReadyCdb } from './cdb/test-unit-ready.js';
export { buildTestUnitReadyCdb } from './cdb/test-unit-ready.js';
export type { UnmapCdb, UnmapDescriptor, UnmapOptions, UnmapRange } from './cdb/unmap.js';
export {
  buildUnmapCdb,
  buildUnmapParameterList,
  MAX_UNMAP_DESCRIPTORS,
  parseUnmapParameterList,
} from './cdb/unmap.js';
export type { WriteSame16Cdb, WriteSame16Options } from './cdb/write-same.js';
export { buildWriteSame16Cdb } from './cdb/write-same.js';
export type { ScsiCommand, ScsiDirection } from './command.js';
export { MAX_TRANSFER_LENGTH, READ_CAPACITY_16_SERVICE_ACTION, ScsiOpcode } from './command.js';
export type { ScsiErrorOptions } from './errors.js';
export { ScsiError, scsiErrorFromResponse } from './errors.js';
export {
  additionalSenseName,
  isScsiStatusSuccess,
  peripheralDeviceTypeName,
  ScsiStatus,
  SenseKey,
  scsiCommandName,
  scsiStatusName,
  senseKeyName,
} from './names.js';
export type { StandardInquiry } from './parse/inquiry-standard.js';
export { parseStandardInquiry } from './parse/inquiry-standard.js';
export type { CachingPage, ControlPage, ModeBlockDescriptor, ModePage, ModeParameters } from './parse/mode-sense.js';
export {
  findCachingPage,
  findControlPage,
  ModePageCode,
  parseModeSense6,
  parseModeSense10,
} from './parse/mode-sense.js';
export type { ReadCapacity10, ReadCapacity16 } from './parse/read-capacity.js';
export { parseReadCapacity10, parseReadCapacity16 } from './parse/read-capacity.js';
export type { ReportLuns } from './parse/report-luns.js';
export { parseReportLuns } from './parse/report-luns.js';
export type {
  BlockLimitsPage,
  LogicalBlockProvisioningPage,
  OtherVpdPage,
  ProvisioningType,
  SupportedVpdPages,
  UnitSerialNumberPage,
  VpdPageData,
} from './parse/vpd.js';
export {
  parseBlockLimits,
  parseLogicalBlockProvisioning,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseVpdPage,
} from './parse/vpd.js';
export type {
  Designator,
  DesignatorAssociation,
  DesignatorBase,
  DeviceIdentificationPage,
} from './parse/vpd-device-id.js';
export {
  parseDesignator,
  parseDeviceIdentification,
  preferredLogicalUnitDesignator,
  protocolIdentifierName,
} from './parse/vpd-device-id.js';
export type { VpdHeader } from './parse/vpd-header.js';
export { VpdPage } from './parse/vpd-header.js';
export type { SenseData, SenseDescriptor, SenseKeySpecific } from './sense.js';
export { decodeSenseKeySpecific, parseSense, senseFromSegment } from './sense.js';
export type { SenseInput } from './sense-encode.js';
export { encodeSense, encodeSenseKeySpecific, senseSegment } from './sense-encode.js';
