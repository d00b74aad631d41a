/**
 * The conformance case model: a case is a plain object tagged with its RFC 7143 section and the strength of the
 * rule it checks, and its `run` gives a {@link Verdict}. Cases live in `cases/<area>.ts` as exported arrays; anyone
 * can write more and hand them to the runner.
 * @module
 */
import type { ChapCredentials } from '../chap/chap.js';
import type { Portal } from '../session/address.js';
import type { Probe } from './probe.js';

/** How binding the rule is (RFC 2119 keyword of the sentence the case checks). */
export type Strength = 'MUST' | 'SHOULD' | 'MAY';

/** One PDU (or a stream event) shown as evidence of a verdict. */
export interface Evidence {
  /** Who sent it; `target` also for a close or a PDU our strict decoder refused. */
  readonly direction: 'initiator' | 'target';
  /** One readable line: kind and the fields that matter. */
  readonly summary: string;
  /** The BHS (first 48 bytes) in hex, when there were bytes. */
  readonly bhs?: string;
}

/** The outcome of one case. */
export type Verdict =
  | { readonly status: 'pass'; readonly note?: string }
  | { readonly status: 'fail'; readonly message: string; readonly evidence: readonly Evidence[] }
  | { readonly status: 'not-applicable'; readonly reason: string }
  | { readonly status: 'skipped'; readonly reason: string };

/** The verdict status strings. */
export type VerdictStatus = Verdict['status'];

/** CHAP settings the CHAP cases need; without them those cases are not applicable. */
export interface ConformChap {
  readonly credentials: ChapCredentials;
  /** The target's credentials, for the mutual-CHAP cases. */
  readonly targetCredentials?: ChapCredentials;
}

/** The target under test. */
export interface ConformTarget {
  readonly portal: Portal;
  /** The iSCSI name of the target to log in to (Normal sessions). */
  readonly targetName: string;
  /** The LUN the SCSI-level cases use (default 0). */
  readonly lun?: number;
  /** Our initiator name (default a fixed iqn of iscsi-ts). */
  readonly initiatorName?: string;
  /** Credentials; when given, logins authenticate with CHAP and the CHAP cases run. */
  readonly chap?: ConformChap;
}

/** Timeouts of the probes, in milliseconds. */
export interface ConformTimeouts {
  /** How long to wait for an answer that must come (default 2000). */
  readonly replyMs: number;
  /** How long silence must last to count as "no answer" (default 300). */
  readonly silenceMs: number;
}

/** What a case gets to work with. */
export interface CaseContext {
  readonly target: ConformTarget;
  readonly timeouts: ConformTimeouts;
  /** Aborted when the case's time is up. */
  readonly signal: AbortSignal;
  /** Opens a new TCP connection to the portal, recorded in this case's pcap. Closed by the runner. */
  open(): Promise<Probe>;
  /** A fresh random ISID (type 2, random) for a new session. */
  newIsid(): number;
}

/** One conformance case. */
export interface ConformCase {
  /** Unique, dotted: `<area>.<name>`. */
  readonly id: string;
  /** The area it belongs to (`login`, `negotiation`, …), used by `--suite`. */
  readonly area: string;
  /** The RFC 7143 section the rule is in, e.g. `11.12.2`. */
  readonly section: string;
  readonly strength: Strength;
  /** What is checked, quoting the RFC sentence. */
  readonly description: string;
  run(ctx: CaseContext): Promise<Verdict>;
}
