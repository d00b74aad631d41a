/**
 * The fuzzer's model: a case is a phase to reach (with a valid login, mid-login or mid-transfer) and a short
 * sequence of steps, each the exact bytes of one (usually mutated) PDU and how to write them. Cases are concrete
 * bytes so a finding can be saved and replayed without the generator.
 * @module
 */
import type { ConformChap } from '../conform/types.js';
import type { Portal } from '../session/address.js';

/** Where the mutated PDUs are sent. */
export type FuzzPhase = 'full-feature' | 'mid-login' | 'mid-transfer';

/** Every phase, in the order the generator cycles through them. */
export const FUZZ_PHASES: readonly FuzzPhase[] = ['full-feature', 'mid-transfer', 'mid-login'];

/** One write of the sequence. */
export interface FuzzStep {
  /** The bytes sent (a whole PDU, a truncated one, or anything else). */
  readonly bytes: Uint8Array;
  /** What the mutation did, for people. */
  readonly note: string;
  /** The encoding before mutation, for minimising over bytes. */
  readonly base?: Uint8Array;
  /** Written in pieces of these sizes (split writes), `delayMs` apart (slow writes). */
  readonly chunks?: readonly number[];
  readonly delayMs?: number;
  /** After this step the target may read the stream out of step (lengths disagree, truncation, junk). */
  readonly desync?: boolean;
  /** A header digest follows the BHS (and AHS) and was valid: recomputed when fields are rebased on replay. */
  readonly headerDigest?: boolean;
}

/** Values of the session a case was generated in, so a replay can move them to the new session's. */
export interface SessionMarks {
  /** CmdSN of the first step. */
  readonly cmdSN: number;
  readonly expStatSN: number;
  /** Target Transfer Tag of the outstanding R2T (mid-transfer). */
  readonly ttt?: number;
}

/** One fuzz case. */
export interface FuzzCase {
  readonly phase: FuzzPhase;
  /** HeaderDigest and DataDigest CRC32C offered at login. */
  readonly digests: boolean;
  /** Seed of the iteration that generated it. */
  readonly seed: number;
  readonly steps: readonly FuzzStep[];
  readonly marks?: SessionMarks;
}

/** What an oracle saw. */
export type FindingKind =
  /** The target stopped accepting TCP connections. */
  | 'refused'
  /** No NOP-In for a NOP-Out ping within the hang timeout. */
  | 'hang'
  /** The target sent a PDU our strict decoder refuses. */
  | 'invalid-pdu'
  /** The target answered with an Initiator Task Tag we never sent (RFC 7143 §11.2.1.8). */
  | 'unknown-itt'
  /** Data-In DataSN out of sequence (RFC 7143 §11.7.5: 0, 1, 2, … per command). */
  | 'bad-datasn'
  /** A fresh session could not log in afterwards. */
  | 'login-broken';

/** An oracle's verdict on a case. */
export interface Observation {
  readonly kind: FindingKind;
  readonly message: string;
}

/** The target under fuzz. */
export interface FuzzTarget {
  readonly portal: Portal;
  /** The iSCSI name to log in to. */
  readonly targetName: string;
  /** LUN the SCSI templates use (default 0). The fuzzer writes to it: use a scratch LUN. */
  readonly lun?: number;
  readonly initiatorName?: string;
  readonly chap?: ConformChap;
}

/** Timeouts of the executor, in ms. */
export interface FuzzTimeouts {
  /** Connecting (default 2000). */
  readonly connectMs: number;
  /** A reply that must come during setup (default 2000). */
  readonly replyMs: number;
  /** A NOP-Out ping must be answered within this, or it is a hang (default 2000). */
  readonly hangMs: number;
  /** Silence that ends the wait when no ping can be sent (default 5). */
  readonly quietMs: number;
}

/** The default {@link FuzzTimeouts}. */
export const DEFAULT_FUZZ_TIMEOUTS: FuzzTimeouts = { connectMs: 2000, replyMs: 2000, hangMs: 2000, quietMs: 5 };
