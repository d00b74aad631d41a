/**
 * Configuration of an embedded target ({@link createTarget}): portals, targets, LUNs and their storage,
 * authentication, limits, logging and tracing.
 * @module
 */
import type { PcapTrace } from '../pdu/pcap-write.js';
import type { Logger } from '../session/events.js';
import type { LocalOffer } from '../session/params.js';
import type { BlockBackend } from './backend/types.js';
import type { TargetAuth, TargetRedirect } from './login-types.js';

/** Where a LUN keeps its blocks. */
export type LunStorage =
  /** Memory, allocated as written (sparse) and never more than `size` bytes. */
  | { readonly type: 'memory'; readonly size: number }
  /**
   * A file or block device, read and written in place. `size` creates or extends the file to that size; without
   * it the file's size is used.
   */
  | { readonly type: 'file'; readonly path: string; readonly readOnly?: boolean; readonly size?: number }
  /** Any other backend. */
  | { readonly type: 'backend'; readonly backend: BlockBackend };

/** One logical unit. */
export interface LunConfig {
  /** LUN number, 0..16383 (default: its index in the list). */
  readonly lun?: number;
  readonly storage: LunStorage;
  /** Logical block length in bytes (default 512). */
  readonly blockSize?: number;
  /** Refuse writes (DATA PROTECT) even when the storage allows them. */
  readonly readOnly?: boolean;
  /** VPD 0x80 unit serial number (default: derived from the target name and LUN). */
  readonly serial?: string;
  /** INQUIRY vendor, up to 8 characters (default `ISCSI-TS`). */
  readonly vendor?: string;
  /** INQUIRY product, up to 16 characters (default `VIRTUAL-DISK`). */
  readonly product?: string;
}

/** One iSCSI target: a name, its LUNs, and who may log in. */
export interface TargetDefinition {
  /** The iSCSI name (`iqn.…`, `eui.…`, `naa.…`). */
  readonly name: string;
  /** Declared as TargetAlias (§13.6). */
  readonly alias?: string;
  readonly luns: readonly LunConfig[];
  /** CHAP for this target; `false` turns authentication off even when the target server has a default `auth`. */
  readonly auth?: TargetAuth | false;
  /** Initiator names allowed to log in (default: all), or a predicate. */
  readonly allow?: readonly string[] | ((initiatorName: string) => boolean);
  /** Redirect every login to this target elsewhere (status class 1, §11.13.5). */
  readonly redirect?: TargetRedirect;
  /** Portal group tags serving this target (default: every portal group). */
  readonly portalGroups?: readonly number[];
}

/** One listening address. */
export interface PortalConfig {
  /** Address to listen on: an IPv4 or IPv6 literal (`::` and `0.0.0.0` listen on all). */
  readonly host: string;
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /** Target Portal Group Tag, 1..65535 (default 1). */
  readonly tpgt?: number;
}

/** Options of {@link createTarget}. */
export interface TargetServerConfig {
  /** Where to listen: `host[:port]` strings (`[::1]:3260`) or {@link PortalConfig}s. */
  readonly portals: readonly (string | PortalConfig)[];
  readonly targets: readonly TargetDefinition[];
  /** CHAP for discovery sessions and for targets without their own `auth`. */
  readonly auth?: TargetAuth;
  /** Accept Discovery sessions (default true). */
  readonly discovery?: boolean;
  /** Operational limits offered at login (§13); the rest from the defaults. */
  readonly offer?: Partial<LocalOffer>;
  /** Sessions at once, all targets together (default 64); more logins get 0x0302 "out of resources". */
  readonly maxSessions?: number;
  /** TCP connections at once, logins included (default 256); more are closed on accept. */
  readonly maxConnections?: number;
  /** Commands each session may have outstanding (default 128): MaxCmdSN follows it. */
  readonly commandWindow?: number;
  /** Largest transfer of one command in bytes (default 8 MiB): Block Limits MAXIMUM TRANSFER LENGTH. */
  readonly maxTransferLength?: number;
  /** Idle time before a NOP-In ping in ms (default 0: no pings). */
  readonly nopIntervalMs?: number;
  /** Time to answer a ping before the connection is dropped, in ms (default 10 000). */
  readonly nopTimeoutMs?: number;
  /** Time a login may take, in ms (default 15 000). */
  readonly loginTimeoutMs?: number;
  readonly logger?: Logger;
  /** Every connection's PDUs are recorded in this pcap trace. */
  readonly trace?: PcapTrace;
  /** TEST ONLY: planted bugs for showing that `iscsi-ts fuzz` finds them. Never set outside tests. */
  readonly faults?: TargetFaults;
}

/**
 * TEST ONLY: bugs planted in the embedded target so the fuzzer (src/fuzz) can be shown to find and minimise them.
 * Unset (the default), the target behaves normally; nothing else reads these.
 */
export interface TargetFaults {
  /**
   * A PDU whose TotalAHSLength field (BHS byte 4, in 4-byte words) is this value "crashes the process": the target
   * stops listening and drops every connection, so reconnecting is refused.
   */
  readonly crashOnAhsLength?: number;
  /** A PDU with this opcode makes its connection stop reading and answering, without closing it (a hang). */
  readonly hangOnOpcode?: number;
  /**
   * A PDU with this opcode wedges the whole target: from then on every Login Request goes unanswered (the
   * connection stays open), until the target is restarted. A leak of sessions or threads looks like this.
   */
  readonly wedgeOnOpcode?: number;
  /** Every Data-In carries a DataSN one too high (RFC 7143 §11.7.5: they start at 0 for each command). */
  readonly wrongDataSN?: boolean;
}
