/**
 * runScsi and its UNIT ATTENTION retry against a scripted session: status and response mapping to typed errors,
 * short reads, and the bounded retry.
 */
import { describe, expect, it } from 'vitest';
import { isUnitAttention, resultError, runScsi, runScsiRetryingUnitAttention } from '../../src/block/command.js';
import { ErrorCode, IscsiError } from '../../src/errors.js';
import { buildReadCapacity16Cdb } from '../../src/scsi/cdb/read-capacity.js';
import { buildTestUnitReadyCdb } from '../../src/scsi/cdb/test-unit-ready.js';
import { ScsiError } from '../../src/scsi/errors.js';
import { SenseKey } from '../../src/scsi/names.js';
import { encodeSense } from '../../src/scsi/sense-encode.js';
import type { Session } from '../../src/session/session.js';
import type { ScsiRequest, ScsiResult } from '../../src/session/task.js';

const GOOD: ScsiResult = { response: 0, status: 0, bytesIn: 0, bytesOut: 0 };
const ua = (): ScsiResult => ({
  response: 0,
  status: 2,
  sense: encodeSense({ senseKey: SenseKey.UnitAttention, asc: 0x29, ascq: 0x00 }),
  bytesIn: 0,
  bytesOut: 0,
});

/** A session that answers each command with the next scripted result. */
function scripted(results: ScsiResult[]): Session & { requests: ScsiRequest[] } {
  const requests: ScsiRequest[] = [];
  return {
    requests,
    execute: async (r: ScsiRequest) => {
      requests.push(r);
      const next = results.shift();
      if (!next) throw new Error('no more results');
      return next;
    },
  } as unknown as Session & { requests: ScsiRequest[] };
}

describe('resultError', () => {
  const cdb = buildTestUnitReadyCdb().cdb;
  it('is undefined for GOOD and CONDITION MET', () => {
    expect(resultError(GOOD, cdb)).toBeUndefined();
    expect(resultError({ ...GOOD, status: 4 }, cdb)).toBeUndefined();
  });
  it('decodes CHECK CONDITION sense into a ScsiError', () => {
    const err = resultError(ua(), cdb);
    expect(err).toBeInstanceOf(ScsiError);
    expect((err as ScsiError).senseKey).toBe(SenseKey.UnitAttention);
    expect((err as ScsiError).asc).toBe(0x29);
    expect(isUnitAttention(err)).toBe(true);
  });
  it('gives a ScsiError without sense for BUSY, and keeps unparsable sense as the cause', () => {
    expect((resultError({ ...GOOD, status: 8 }, cdb) as ScsiError).status).toBe(8);
    const bad = resultError({ ...GOOD, status: 2, sense: new Uint8Array([1, 2]) }, cdb) as ScsiError;
    expect(bad.sense).toBeUndefined();
    expect(bad.cause).toBeDefined();
  });
  it('maps a failed iSCSI service response to ERR_ISCSI_SCSI', () => {
    const err = resultError({ ...GOOD, response: 1 }, cdb);
    expect(err).toBeInstanceOf(IscsiError);
    expect(err).not.toBeInstanceOf(ScsiError);
    expect(err?.code).toBe(ErrorCode.Scsi);
  });
});

describe('runScsi', () => {
  it('returns the data read and refuses a short read unless allowed', async () => {
    const cmd = buildReadCapacity16Cdb({ allocationLength: 32 });
    const full = scripted([{ ...GOOD, data: new Uint8Array(32).fill(7) }]);
    expect((await runScsi(full, 1, cmd))[0]).toBe(7);
    expect(full.requests[0]?.read).toEqual({ length: 32 });
    await expect(runScsi(scripted([{ ...GOOD, data: new Uint8Array(8) }]), 1, cmd)).rejects.toThrow(/short read/);
    const short = await runScsi(scripted([{ ...GOOD, data: new Uint8Array(8) }]), 1, cmd, { allowShortRead: true });
    expect(short.length).toBe(8);
  });

  it('retries UNIT ATTENTION a bounded number of times', async () => {
    const cmd = buildTestUnitReadyCdb();
    const twice = scripted([ua(), ua(), GOOD]);
    await runScsiRetryingUnitAttention(twice, 0, cmd, 2);
    expect(twice.requests).toHaveLength(3);
    const always = scripted([ua(), ua(), ua(), GOOD]);
    await expect(runScsiRetryingUnitAttention(always, 0, cmd, 2)).rejects.toBeInstanceOf(ScsiError);
    expect(always.requests).toHaveLength(3);
    const other = scripted([{ ...GOOD, status: 0x18 }, GOOD]);
    await expect(runScsiRetryingUnitAttention(other, 0, cmd, 5)).rejects.toBeInstanceOf(ScsiError);
    expect(other.requests).toHaveLength(1);
  });
});
