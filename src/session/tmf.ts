/**
 * Task Management (RFC 7143 §11.5, §11.6): function and response codes, the request PDU and the error that ends an
 * aborted command. No I/O: the session sends, routes, and applies the rules on the affected tasks (§10.6).
 * @module
 */
import { ErrorCode, IscsiError } from '../errors.js';
import type { TaskManagementRequestPdu } from '../pdu/types.js';
import { RESERVED_TAG } from './data-out.js';

/** Task management function codes (§11.5.1) that a session sends. */
export const TmfFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
} as const;

/** One of the {@link TmfFunction} values. */
export type TmfFunctionCode = (typeof TmfFunction)[keyof typeof TmfFunction];

/** Task Management Function Response codes (§11.6.1). */
export const TmfResponse = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  ReassignmentNotSupported: 4,
  NotSupported: 5,
  AuthorizationFailed: 6,
  Rejected: 255,
} as const;

/** The names of the {@link TmfResponse} codes, for logs and messages. */
export const TMF_RESPONSE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'function complete',
  1: 'task does not exist',
  2: 'LUN does not exist',
  3: 'task still allegiant',
  4: 'task allegiance reassignment not supported',
  5: 'task management function not supported',
  6: 'function authorization failed',
  255: 'function rejected',
});

/** The names of the {@link TmfFunction} codes. */
export const TMF_FUNCTION_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'ABORT TASK',
  2: 'ABORT TASK SET',
  5: 'LOGICAL UNIT RESET',
  6: 'TARGET WARM RESET',
  7: 'TARGET COLD RESET',
});

/** Fields of a TMF request that vary. */
export interface TmfRequestFields {
  readonly fn: TmfFunctionCode;
  readonly lun: bigint;
  readonly itt: number;
  /** ITT of the task to abort (ABORT TASK), 0xffffffff otherwise. */
  readonly referencedTaskTag: number;
  /** CmdSN of the task to abort (ABORT TASK), 0 otherwise. */
  readonly refCmdSN: number;
  readonly cmdSN: number;
  readonly expStatSN: number;
}

/**
 * A Task Management Function Request, always immediate: §11.5 and §3.2.2.1 let it carry the next CmdSN without
 * taking it, so it overtakes the commands it is about. ExpDataSN is only for TASK REASSIGN (not sent), so 0.
 */
export function tmfRequest(f: TmfRequestFields): TaskManagementRequestPdu {
  const reset = f.fn === TmfFunction.TargetWarmReset || f.fn === TmfFunction.TargetColdReset;
  return {
    kind: 'task-management-request',
    immediate: true,
    function: f.fn,
    // §11.5.3: the LUN field is reserved for the target-wide functions.
    lun: reset ? 0n : f.lun,
    initiatorTaskTag: f.itt,
    referencedTaskTag: f.fn === TmfFunction.AbortTask ? f.referencedTaskTag : RESERVED_TAG,
    cmdSN: f.cmdSN,
    expStatSN: f.expStatSN,
    refCmdSN: f.fn === TmfFunction.AbortTask ? f.refCmdSN : 0,
    expDataSN: 0,
    ahs: [],
    data: new Uint8Array(0),
  };
}

/** The error a command ends with when a task management function aborted it (code ERR_ISCSI_ABORTED). */
export class TaskAbortedError extends IscsiError {
  override name = 'TaskAbortedError';

  constructor(
    /** The function that aborted it (see {@link TmfFunction}). */
    readonly tmfFunction: number,
  ) {
    super(ErrorCode.Aborted, `the SCSI command was aborted by ${TMF_FUNCTION_NAMES[tmfFunction] ?? 'a TMF'}`);
  }
}

/** True when a TMF response means the affected tasks are gone at the target. */
export function tmfCleared(fn: number, response: number): boolean {
  // §11.6.1: "task does not exist" to ABORT TASK means the target has nothing left of it (it completed, or the
  // command never arrived); either way it will not answer any more.
  return response === TmfResponse.FunctionComplete || (fn === TmfFunction.AbortTask && response === 1);
}
