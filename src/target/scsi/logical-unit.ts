/**
 * A logical unit of the embedded target (SAM-5 §4.6.4): its command table, unit attentions, reservations and mode
 * pages, and {@link LogicalUnit.execute}, the device server's path for one command: nexus bookkeeping, command
 * lookup, unit attention, reservation conflict, then the handler, whose failures become HARDWARE ERROR.
 * @module
 */

import { InvalidArgumentError } from '../../errors.js';
import { SenseKey } from '../../scsi/names.js';
import type { BlockBackend } from '../backend/types.js';
import { ModeState } from './mode-pages.js';
import { nexusKey } from './nexus-key.js';
import { PersistentReservations } from './persistent-reservations.js';
import { reservationConflicts, Spc2Reservation } from './reservations.js';
import { Asc, checkCondition, illegalRequest, invalidFieldInCdb, reservationConflict } from './result.js';
import { SPC_COMMANDS } from './spc-commands.js';
import { internalTargetFailure, SPC_STATE, type SpcHost, type SpcState } from './spc-state.js';
import type { CommandEntry, LuIdentity, LuLimits, Nexus, ScsiRequest, ScsiResult } from './types.js';
import { UnitAttentions } from './unit-attention.js';

/** Options of {@link LogicalUnit}. */
export interface LogicalUnitOptions {
  /** Flat LUN, 0..16383. */
  readonly lun: number;
  readonly backend: BlockBackend;
  /** Logical block length, a power of two 512..65536 (default 512); `backend.size` must be a multiple. */
  readonly blockSize?: number;
  readonly identity: LuIdentity;
  /** Block limits; missing fields take {@link defaultLuLimits}. */
  readonly limits?: Partial<LuLimits>;
  /** Refuse writes even when the backend accepts them. */
  readonly readOnly?: boolean;
  /**
   * Commands beyond {@link SPC_COMMANDS} (the SBC block commands). The SPC table is always included; an entry here
   * with the same opcode (and service action) replaces the SPC one.
   */
  readonly commands: readonly CommandEntry[];
  /** Initial Caching page WCE (default true). */
  readonly writeCacheEnabled?: boolean;
  /** Receives log-safe messages (handler failures); never sees data or CDB contents. */
  readonly log?: (message: string) => void;
}

/** Default limits for a block size: 8 MiB transfers, 1 MiB optimal, 32 MiB WRITE SAME, 1-block COMPARE AND WRITE. */
export function defaultLuLimits(blockSize: number): LuLimits {
  const blocks = (bytes: number): number => Math.max(1, Math.floor(bytes / blockSize));
  return {
    maxTransferBlocks: blocks(8 << 20),
    optimalTransferBlocks: blocks(1 << 20),
    maxUnmapBlocks: blocks(1 << 30),
    maxUnmapDescriptors: 256,
    maxWriteSameBlocks: blocks(32 << 20),
    maxCompareAndWriteBlocks: 1,
  };
}

/** Opcodes whose service action (CDB byte 1 bits 4-0) selects the command, as seen in a command table. */
type Lookup = Map<number, CommandEntry | Map<number, CommandEntry>>;

function buildLookup(commands: readonly CommandEntry[]): { lookup: Lookup; table: CommandEntry[] } {
  const byKey = new Map<string, CommandEntry>();
  for (const c of commands) byKey.set(`${c.opcode}/${c.serviceAction ?? ''}`, c);
  const table = [...byKey.values()];
  const lookup: Lookup = new Map();
  for (const c of table) {
    if (c.serviceAction === undefined) {
      lookup.set(c.opcode, c);
      continue;
    }
    let m = lookup.get(c.opcode);
    if (!(m instanceof Map)) {
      m = new Map();
      lookup.set(c.opcode, m);
    }
    m.set(c.serviceAction, c);
  }
  return { lookup, table };
}

/** UNMAP operation code (SBC-3 §5.28). */
const UNMAP = 0x42;

/** Shortest CDB handed to handlers: shorter ones are zero-padded so every field of a 16-byte CDB reads. */
const MIN_CDB = 16;

/** A disk logical unit: implements the handlers' {@link LuContext}. */
export class LogicalUnit implements SpcHost {
  readonly lun: number;
  readonly backend: BlockBackend;
  readonly blockSize: number;
  readonly blocks: bigint;
  readonly identity: LuIdentity;
  readonly limits: LuLimits;
  readonly readOnly: boolean;
  readonly [SPC_STATE]: SpcState;
  readonly #lookup: Lookup;
  readonly #table: readonly CommandEntry[];
  readonly #ua = new UnitAttentions();
  readonly #spc2 = new Spc2Reservation();
  readonly #pr: PersistentReservations;
  readonly #modes: ModeState;
  readonly #log: (message: string) => void;
  #inventory: () => readonly number[];

  constructor(options: LogicalUnitOptions) {
    const blockSize = options.blockSize ?? 512;
    if (!Number.isInteger(options.lun) || options.lun < 0 || options.lun > 16383) {
      throw new InvalidArgumentError(`lun ${options.lun} out of range 0..16383`);
    }
    if (!Number.isInteger(blockSize) || blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0) {
      throw new InvalidArgumentError(`blockSize ${blockSize} is not a power of two 512..65536`);
    }
    this.lun = options.lun;
    this.backend = options.backend;
    this.blockSize = blockSize;
    this.blocks = BigInt(Math.floor(options.backend.size / blockSize));
    this.identity = options.identity;
    this.limits = { ...defaultLuLimits(blockSize), ...options.limits };
    this.readOnly = options.readOnly === true || options.backend.readOnly;
    // UNMAP needs a thin backend; without one it is not a command of this LU at all (INVALID COMMAND OPERATION
    // CODE, and not listed by REPORT SUPPORTED OPERATION CODES).
    const extra = options.backend.thin ? options.commands : options.commands.filter((c) => c.opcode !== UNMAP);
    const { lookup, table } = buildLookup([...SPC_COMMANDS, ...extra]);
    this.#lookup = lookup;
    this.#table = table;
    this.#modes = new ModeState({ writeCacheEnabled: options.writeCacheEnabled ?? true });
    this.#pr = new PersistentReservations((key, asc) => this.#ua.addTo(key, asc));
    this.#log = options.log ?? (() => {});
    const lun = this.lun;
    this.#inventory = () => [lun];
    this[SPC_STATE] = {
      unitAttentions: this.#ua,
      spc2: this.#spc2,
      persistent: this.#pr,
      modes: this.#modes,
      preventing: new Set(),
      commands: () => this.#table,
      luns: () => this.#inventory(),
      notifyOthers: (asc, exceptKey) => this.#ua.addAll(asc, exceptKey),
    };
  }

  /** The Caching mode page's WCE bit. */
  get writeCacheEnabled(): boolean {
    return this.#modes.writeCacheEnabled;
  }

  /** The command table in use (SPC plus the commands given), one entry per opcode and service action. */
  get commands(): readonly CommandEntry[] {
    return this.#table;
  }

  /** Lets REPORT LUNS list the whole target (set by {@link DeviceServer}); by default it lists this LUN alone. */
  attachInventory(luns: () => readonly number[]): void {
    this.#inventory = luns;
  }

  /**
   * Runs one command. Never rejects: an unknown command is ILLEGAL REQUEST, a handler that throws gives
   * HARDWARE ERROR / INTERNAL TARGET FAILURE (and a log line).
   */
  async execute(request: ScsiRequest): Promise<ScsiResult> {
    let name = 'command';
    try {
      const cdb = request.cdb.length >= MIN_CDB ? request.cdb : padCdb(request.cdb);
      const req = cdb === request.cdb ? request : { ...request, cdb };
      const key = nexusKey(request.nexus);
      // SAM-5 §5.14: a nexus the LU has not seen learns of the power-on/reset first.
      this.#ua.see(key);
      const found = this.#find(cdb, request.cdb.length);
      if (found.entry) name = found.entry.name;
      // SAM-5 §5.14: a pending unit attention ends the command, one condition per command, except for the commands
      // that must work through it (INQUIRY, REPORT LUNS, REQUEST SENSE).
      if (!found.entry?.ignoresUnitAttention) {
        const ua = this.#ua.take(key);
        if (ua) {
          return checkCondition(SenseKey.UnitAttention, ua.asc, {
            ...(ua.overflow ? { senseKeySpecific: { kind: 'unit-attention-queue', overflow: true } } : {}),
          });
        }
      }
      const entry = found.entry;
      if (!entry) return found.error;
      if (reservationConflicts(entry, key, this.#spc2, this.#pr)) return reservationConflict();
      // SAM-5 §5.11: NACA=1 without ACA support (NORMACA=0) is INVALID FIELD IN CDB.
      const control = entry.cdbLength - 1;
      if ((cdb[control]! & 0x04) !== 0) return invalidFieldInCdb(control, 2);
      const result = await entry.handler(this, req);
      if (typeof result !== 'object' || result === null || typeof result.status !== 'number') {
        this.#log(`LUN ${this.lun}: ${name} handler returned no result`);
        return internalTargetFailure();
      }
      return result;
    } catch (err) {
      this.#log(`LUN ${this.lun}: ${name} handler failed: ${describeError(err)}`);
      return internalTargetFailure();
    }
  }

  /**
   * LOGICAL UNIT RESET (SAM-5 §6.3.3, task aborts aside): releases the RESERVE(6) reservation, forgets PREVENT
   * state, returns mode pages to their defaults (nothing is saved), keeps persistent reservations, and establishes
   * BUS DEVICE RESET FUNCTION OCCURRED for every other nexus. SAM-5 asks for the condition on every I_T nexus; the
   * issuing one is left out because it learns of the reset from the task management response (LIO and tgtd do
   * the same), so its next command is not failed for a reset it asked for.
   */
  reset(nexus?: Nexus, asc: number = Asc.BusDeviceResetFunctionOccurred): void {
    this.#spc2.clear();
    this[SPC_STATE].preventing.clear();
    this.#modes.resetToDefaults();
    this.#ua.addAll(asc, nexus ? nexusKey(nexus) : undefined);
  }

  /**
   * I_T nexus loss (SAM-5 §6.3.4): the nexus's RESERVE(6) reservation and PREVENT state go, its pending conditions
   * are replaced by I_T NEXUS LOSS OCCURRED for when it comes back; persistent registrations stay (SPC-4 §5.9.1).
   */
  nexusLost(nexus: Nexus): void {
    const key = nexusKey(nexus);
    this.#spc2.release(key);
    this[SPC_STATE].preventing.delete(key);
    if (this.#ua.knows(key)) this.#ua.replace(key, Asc.ItNexusLoss);
  }

  /** Establishes `asc` (`asc << 8 | ascq`) for every nexus seen, except `except`. */
  addUnitAttention(asc: number, except?: Nexus): void {
    this.#ua.addAll(asc, except ? nexusKey(except) : undefined);
  }

  #find(
    cdb: Uint8Array,
    length: number,
  ):
    | { entry: CommandEntry; error?: undefined }
    | {
        entry?: undefined;
        error: ScsiResult;
      } {
    const row = length === 0 ? undefined : this.#lookup.get(cdb[0]!);
    if (row === undefined) return { error: illegalRequest(Asc.InvalidOpcode) };
    if (!(row instanceof Map)) return { entry: row };
    const entry = row.get(cdb[1]! & 0x1f);
    // SPC-4 §4.2.5.1: an unsupported service action is INVALID FIELD IN CDB at the SERVICE ACTION field.
    return entry ? { entry } : { error: invalidFieldInCdb(1, 4) };
  }
}

function padCdb(cdb: Uint8Array): Uint8Array {
  const out = new Uint8Array(MIN_CDB);
  out.set(cdb);
  return out;
}

/** Names an error without its message (which might quote data). */
function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name} (${code})` : err.name;
  }
  return typeof err;
}
