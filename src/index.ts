/**
 * iscsi-ts: a pure-TypeScript userspace iSCSI protocol stack (RFC 7143).
 *
 * This is the one public entry point; everything documented is exported from here.
 * @packageDocumentation
 */

// Block devices over iSCSI
export type { RunScsiOptions } from './block/command.js';
export {
  DEFAULT_UNIT_ATTENTION_RETRIES,
  isUnitAttention,
  readCapacity,
  resultError,
  runScsi,
  runScsiRetryingUnitAttention,
} from './block/command.js';
export type { BlockDevice, LunLocation, OpenLunOptions } from './block/device.js';
export { MAX_TRANSFER_BYTES, openLun } from './block/device.js';
export type { ReadStreamOptions, WriteStreamOptions } from './block/streams.js';
// CHAP (RFC 1994, RFC 7143 §12.1.3)
export type {
  ChapAlgorithmNumber,
  ChapCredentials,
  ChapInitiatorOptions,
  ChapResponderOptions,
  RandomSource,
} from './chap/chap.js';
export {
  CHAP_ALGORITHMS,
  CHAP_MIN_SECRET_BYTES,
  ChallengeLog,
  ChapAlgorithm,
  ChapInitiator,
  ChapResponder,
  chapAlgorithmName,
  chapDigestLength,
  chapResponse,
  isChapAlgorithm,
  Secret,
} from './chap/chap.js';
// Conformance testing (RFC 7143 rules against a target)
export type {
  CaseContext,
  CaseResult,
  ConformCase,
  ConformChap,
  ConformReport,
  ConformTarget,
  ConformTimeouts,
  Evidence,
  ProbeOptions,
  Received,
  RunOptions,
  Strength,
  Totals,
  Verdict,
  VerdictStatus,
} from './conform/conform.js';
export {
  builtinCases,
  describePdu,
  formatSummary,
  Probe,
  runConformance,
  toJson,
  toJunitXml,
  totals,
} from './conform/conform.js';
export * from './errors.js';
// The stateful target fuzzer (`iscsi-ts fuzz`)
export * from './fuzz/fuzz.js';
// iBFT firmware tables (stands alone)
export * from './ibft/index.js';
// Kernel hand-off (NETLINK_ISCSI, iscsi_tcp): needs Linux, root and the optional dependency koffi
export { KernelError, type KernelErrorDetails, type KernelErrorReason } from './kernel/errors.js';
export {
  bindAndStart,
  type HandOffDisk,
  type HandOffOptions,
  type HandOffResult,
  handOff,
  type KernelConnectionIds,
  type KernelLogin,
  type KernelLogoutOptions,
  type KernelLogoutResult,
  type KernelParam,
  type KernelParamOptions,
  type KernelRequester,
  type KernelSessionTunables,
  kernelLogout,
  kernelParams,
  type LoginAndHandOffOptions,
  loginAndHandOff,
  loginWithSocket,
} from './kernel/handoff.js';
export type { Libc, SyscallResult } from './kernel/libc.js';
export { ensureKernelModules, type KernelModulesOptions, type Modprobe } from './kernel/modules.js';
export * from './kernel/netlink-codec.js';
export {
  IscsiNetlink,
  type IscsiNetlinkOptions,
  type KernelEventListener,
  type NetlinkChannel,
  type NetlinkChannelOptions,
  openNetlinkChannel,
} from './kernel/netlink-socket.js';
export * from './kernel/params.js';
export {
  KernelSupervisor,
  type Reconnect,
  type Reconnected,
  type ReconnectRequest,
  realClock,
  type SupervisedSession,
  type SupervisedState,
  type SupervisorClock,
  type SupervisorEvent,
  type SupervisorKernel,
  type SupervisorOptions,
  supervisedSession,
  userspaceReconnect,
} from './kernel/supervisor.js';
export {
  type KernelConnection,
  type KernelDisk,
  type KernelHost,
  type KernelIface,
  type KernelSession,
  type KernelSysfsOptions,
  type KernelTransport,
  readKernelHosts,
  readKernelIfaces,
  readKernelSession,
  readKernelSessions,
  readKernelTransports,
  readTransportHandle,
} from './kernel/sysfs-sessions.js';
export * from './kernel/uevent-types.js';
export type { Ahs, BidiReadLengthAhs, ExtendedCdbAhs, RawAhs } from './pdu/ahs.js';
export { AhsType } from './pdu/ahs.js';
export { BHS_LENGTH, MAX_DATA_SEGMENT_LENGTH, RESERVED_TAG } from './pdu/bhs.js';
export type { CapturePacket, CaptureWarning, TcpEndpoint } from './pdu/capture-types.js';
export { LinkType, TcpFlag } from './pdu/capture-types.js';
export type { Crc32cFunction } from './pdu/crc32c.js';
export {
  crc32c,
  crc32cBackend,
  crc32cIov,
  crc32cNative,
  crc32cPure,
  NATIVE_MIN_BYTES,
  readDigest,
  writeDigest,
} from './pdu/crc32c.js';
export type { DecodeOptions, LenientDecodeResult } from './pdu/decode.js';
export { decodePdu, decodePduLenient, pduWireLength } from './pdu/decode.js';
export type { EncodeOptions } from './pdu/encode.js';
export { encodePdu, encodePduBytes } from './pdu/encode.js';
export type { FramedPdu, FramerOptions, LenientFramedPdu, PlacementHook } from './pdu/framer.js';
export { DEFAULT_MAX_DATA_SEGMENT_LENGTH, Framer, framePdus } from './pdu/framer.js';
export type { IsidFields } from './pdu/isid.js';
export { formatIsid, IsidType, isidFields, makeIsid } from './pdu/isid.js';
export type { LunAddress } from './pdu/lun.js';
export { decodeLun, formatLun, lunFromNumber, lunToNumber, wellKnownLun } from './pdu/lun.js';
export type { OpcodeValue, Sender } from './pdu/opcodes.js';
export { isOpcode, Opcode, opcodeNames, senderOf } from './pdu/opcodes.js';
export type { ReadCaptureOptions } from './pdu/pcap-read.js';
export { iterateCapture, readCapture } from './pdu/pcap-read.js';
export type { PcapWriterOptions, TraceDirection } from './pdu/pcap-write.js';
export { PcapTrace, PcapWriter } from './pdu/pcap-write.js';
export {
  serialAdd,
  serialDiff,
  serialGt,
  serialGte,
  serialInWindow,
  serialLt,
  serialLte,
} from './pdu/serial.js';
export type {
  ReassembleOptions,
  StreamData,
  StreamGap,
  StreamItem,
  TcpConversation,
  TcpDirection,
} from './pdu/tcp-reassembly.js';
export { reassemble } from './pdu/tcp-reassembly.js';
export type { LenientTextResult, TextOptions, TextPair, TextReassemblerOptions } from './pdu/text.js';
export {
  CHAP_BINARY_MAX_BYTES,
  DEFAULT_REPEATABLE_KEYS,
  decodeText,
  decodeTextLenient,
  encodeText,
  isSecretKey,
  isValidKeyName,
  redactTextPair,
  splitText,
  TEXT_KEY_MAX_BYTES,
  TEXT_REASSEMBLY_MAX_BYTES,
  TEXT_VALUE_MAX_BYTES,
  TextReassembler,
} from './pdu/text.js';
export type { BinaryEncoding, NumberRange, NumericRange, ReservedValueString } from './pdu/text-values.js';
export {
  binaryByteLength,
  formatBinary,
  formatBoolean,
  formatList,
  formatNumber,
  isReservedValue,
  parseBigNumber,
  parseBinary,
  parseBoolean,
  parseList,
  parseNumber,
  parseNumericRange,
  ReservedValue,
} from './pdu/text-values.js';
export type { DecodeCaptureOptions, DecodedCapture, TracedPdu, TraceProblem } from './pdu/trace-decode.js';
export { decodeCapture } from './pdu/trace-decode.js';
export type * from './pdu/types.js';
export { TaskAttribute } from './pdu/types.js';
// SCSI: CDB builders, data parsers, sense (no transport)
export * from './scsi/index.js';
// Session: addresses, negotiation, login, discovery
export type { Portal, PortalConnectOptions, PortalFamily, TargetAddress } from './session/address.js';
export {
  connectOptions,
  DEFAULT_ISCSI_PORT,
  formatPortal,
  parsePortal,
  parseTargetAddress,
} from './session/address.js';
export type { AsyncAction, AsyncMessage } from './session/async-event.js';
export { AsyncEvent, readAsyncMessage } from './session/async-event.js';
// Full Feature Phase: the session engine
export type { CmdWindowState } from './session/cmd-window.js';
export { CmdWindow } from './session/cmd-window.js';
export type { ConnectionOptions, PduHandler, SocketFactory } from './session/connection.js';
export { Connection } from './session/connection.js';
export type { DiscoveredPortal, DiscoveredTarget, DiscoverOptions } from './session/discovery.js';
export { discover, parseSendTargets } from './session/discovery.js';
export type { Logger, SessionEvent } from './session/events.js';
export { emit, loggableKeys, silentLogger } from './session/events.js';
export type { FirmwareLoginOptions, FirmwareLoginOutcome, FirmwareTargetPlan } from './session/firmware-login.js';
export { loginFromFirmware, planFirmwareLogins } from './session/firmware-login.js';
export type { LoggedIn, LoginOptions } from './session/initiator.js';
export { DEFAULT_INITIATOR_NAME, login, logout, randomIsid, textExchange } from './session/initiator.js';
export type { IscsiNameType } from './session/iscsi-name.js';
export { ISCSI_NAME_MAX_BYTES, iscsiNameType, isIscsiName, validateIscsiName } from './session/iscsi-name.js';
export type {
  BooleanField,
  BooleanKeyDefinition,
  KeyBase,
  KeyDefinition,
  KeyHandler,
  KeyScope,
  KeySenders,
  KeyUse,
  ListField,
  ListKeyDefinition,
  NumberField,
  NumberKeyDefinition,
  ObsoleteKeyDefinition,
  ResultFunction,
  TextKeyDefinition,
} from './session/keys.js';
export { isAuthenticationKey, isExtensionKey, KEYS, keyDefinition } from './session/keys.js';
export type { LoginChap, LoginExchange, LoginMachineOptions, LoginResult, LoginStep } from './session/login.js';
export { LoginMachine, Stage } from './session/login.js';
export { loginStatusMessage, StatusClass } from './session/login-status.js';
export type { NegotiationRole, NegotiationStage, NegotiatorOptions } from './session/negotiate.js';
export { Negotiator } from './session/negotiate.js';
export type {
  DigestName,
  LocalOffer,
  NegotiatedParameters,
  SessionType,
  TaskReportingValue,
} from './session/params.js';
export { DEFAULT_LOCAL_OFFER, DEFAULT_PARAMETERS } from './session/params.js';
export type { ReconnectOptions, RecoverableSessionOptions } from './session/recovery.js';
export { openSession, RecoverableSession } from './session/recovery.js';
export type { LogoutOptions, SessionOptions } from './session/session.js';
export { Session } from './session/session.js';
export type { ScsiRequest, ScsiResult } from './session/task.js';
export { MAX_CDB_LENGTH } from './session/task.js';
export type { TmfFunctionCode } from './session/tmf.js';
export { TaskAbortedError, TMF_FUNCTION_NAMES, TMF_RESPONSE_NAMES, TmfFunction, TmfResponse } from './session/tmf.js';
export type { FormatIscsiUrlOptions, IscsiUrl, IscsiUrlCredentials, IscsiUrlHeaderDigest } from './session/url.js';
export { formatIscsiUrl, parseIscsiUrl } from './session/url.js';
// The embedded target
export { FileBackend, FileBackendError, type FileBackendOptions } from './target/backend/file.js';
export { MemoryBackend, type MemoryBackendOptions } from './target/backend/memory.js';
export type { BlockBackend } from './target/backend/types.js';
export type {
  LunConfig,
  LunStorage,
  PortalConfig,
  TargetDefinition,
  TargetFaults,
  TargetServerConfig,
} from './target/config.js';
export type { TargetEvent } from './target/events.js';
export * from './target/login.js';
export { createTarget, IscsiTarget, type ListeningPortal } from './target/target.js';
