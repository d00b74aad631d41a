import { describe, expect, it } from 'vitest';
import { u16, u32, u64 } from '../../../src/scsi/bytes.js';
import { ScsiStatus, SenseKey } from '../../../src/scsi/names.js';
import { Asc } from '../../../src/target/scsi/result.js';
import {
  A,
  B,
  C,
  clearUa,
  expectCheck,
  expectGood,
  makeLu,
  prinCdb,
  proutCdb,
  proutParams,
  run,
  STUB_COMMANDS,
  STUB_READ,
  STUB_WRITE,
} from './spc-fixture.js';

const REGISTER = 0;
const RESERVE = 1;
const RELEASE = 2;
const CLEAR = 3;
const PREEMPT = 4;
const PREEMPT_ABORT = 5;
const REGISTER_IGNORE = 6;
const WE = 1;
const EA = 3;
const WERO = 5;
const EARO = 6;
const WEAR = 7;
const EAAR = 8;

async function fresh() {
  const lu = makeLu({ commands: STUB_COMMANDS });
  for (const n of [A, B, C]) await clearUa(lu, n);
  return lu;
}

type Lu = Awaited<ReturnType<typeof fresh>>;

const register = (lu: Lu, n = A, key = 0xa1n) => run(lu, proutCdb(REGISTER), n, proutParams(0n, key));
const reserve = (lu: Lu, n: typeof A, key: bigint, type: number) =>
  run(lu, proutCdb(RESERVE, type), n, proutParams(key));

async function readKeys(lu: Lu, n = A) {
  const d = expectGood(await run(lu, prinCdb(0), n));
  const keys: bigint[] = [];
  for (let o = 8; o < 8 + u32(d, 4); o += 8) keys.push(u64(d, o));
  return { generation: u32(d, 0), keys };
}

async function readReservation(lu: Lu, n = A) {
  const d = expectGood(await run(lu, prinCdb(1), n));
  if (u32(d, 4) === 0) return undefined;
  return { key: u64(d, 8), type: d[21]! & 0x0f, scope: d[21]! >> 4 };
}

describe('PERSISTENT RESERVE IN', () => {
  it('reads no keys and no reservation at first, generation 0', async () => {
    const lu = await fresh();
    expect(await readKeys(lu)).toEqual({ generation: 0, keys: [] });
    expect(await readReservation(lu)).toBeUndefined();
  });

  it('accepts service actions 0-3 and rejects 4-31 with INVALID FIELD IN CDB at byte 1', async () => {
    const lu = await fresh();
    for (let sa = 0; sa < 32; sa++) {
      const r = await run(lu, prinCdb(sa), A);
      if (sa < 4) expectGood(r);
      else {
        const s = expectCheck(r, SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        expect(s.senseKeySpecific).toMatchObject({ kind: 'field-pointer', inCdb: true, fieldPointer: 1 });
      }
    }
  });

  it('REPORT CAPABILITIES advertises the six types, CRH and TMV, no PTPL', async () => {
    const lu = await fresh();
    const d = expectGood(await run(lu, prinCdb(2), A));
    expect(u16(d, 0)).toBe(8);
    expect(d[2]! & 0x10).toBe(0x10);
    expect(d[2]! & 0x0d).toBe(0); // SIP_C, ATP_C, PTPL_C
    expect(d[3]! & 0x80).toBe(0x80);
    expect(u16(d, 4)).toBe(0xea01);
  });

  it('READ FULL STATUS lists each registration with an iSCSI TransportID and the holder', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x11n));
    expectGood(await register(lu, B, 0x22n));
    expectGood(await reserve(lu, A, 0x11n, WE));
    const d = expectGood(await run(lu, prinCdb(3), B));
    expect(u32(d, 0)).toBe(2);
    const seen: { key: bigint; holder: boolean; type: number; name: string; port: number }[] = [];
    for (let o = 8; o < 8 + u32(d, 4); ) {
      const tidLength = u32(d, o + 20);
      const tid = d.subarray(o + 24, o + 24 + tidLength);
      expect(tid[0]).toBe(0x05); // format 00b, iSCSI
      expect(tidLength % 4).toBe(0);
      expect(tidLength).toBeGreaterThanOrEqual(20);
      expect(u16(tid, 2)).toBe(tidLength - 4);
      const nameBytes = tid.subarray(4);
      const name = new TextDecoder().decode(nameBytes.subarray(0, nameBytes.indexOf(0)));
      seen.push({ key: u64(d, o), holder: (d[o + 12]! & 1) === 1, type: d[o + 13]!, name, port: u16(d, o + 18) });
      o += 24 + tidLength;
    }
    expect(seen).toEqual([
      { key: 0x11n, holder: true, type: WE, name: A.initiatorName, port: 1 },
      { key: 0x22n, holder: false, type: 0, name: B.initiatorName, port: 1 },
    ]);
  });
});

describe('PERSISTENT RESERVE OUT REGISTER', () => {
  it('registers, re-keys, unregisters and bumps PRgeneration', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1234n));
    expect(await readKeys(lu)).toEqual({ generation: 1, keys: [0x1234n] });
    expectGood(await run(lu, proutCdb(REGISTER), A, proutParams(0x1234n, 0x5678n)));
    expect(await readKeys(lu)).toEqual({ generation: 2, keys: [0x5678n] });
    expectGood(await run(lu, proutCdb(REGISTER), A, proutParams(0x5678n, 0n)));
    expect(await readKeys(lu)).toEqual({ generation: 3, keys: [] });
  });

  it('rejects a wrong reservation key with RESERVATION CONFLICT', async () => {
    const lu = await fresh();
    expect((await run(lu, proutCdb(REGISTER), A, proutParams(0x99n, 0x1n))).status).toBe(
      ScsiStatus.ReservationConflict,
    );
    expectGood(await register(lu, A, 0x1n));
    expect((await run(lu, proutCdb(REGISTER), A, proutParams(0x2n, 0x3n))).status).toBe(ScsiStatus.ReservationConflict);
    expect((await readKeys(lu)).keys).toEqual([0x1n]);
  });

  it('REGISTER AND IGNORE EXISTING KEY replaces whatever key is there', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await run(lu, proutCdb(REGISTER_IGNORE), A, proutParams(0xdeadn, 0x7n)));
    expect((await readKeys(lu)).keys).toEqual([0x7n]);
  });

  it('keeps one registration per I_T nexus, so the same key from two nexuses is listed twice', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x5n));
    expectGood(await register(lu, B, 0x5n));
    expect((await readKeys(lu)).keys).toEqual([0x5n, 0x5n]);
  });

  it('checks the parameter list: length 24, no APTPL, SPEC_I_PT or ALL_TG_PT', async () => {
    const lu = await fresh();
    expectCheck(
      await run(lu, proutCdb(REGISTER, 0, 20), A, proutParams(0n, 1n)),
      SenseKey.IllegalRequest,
      Asc.ParameterListLengthError,
    );
    for (const [flags, bit] of [
      [0x01, 0],
      [0x04, 2],
      [0x08, 3],
    ] as const) {
      const s = expectCheck(
        await run(lu, proutCdb(REGISTER), A, proutParams(0n, 1n, flags)),
        SenseKey.IllegalRequest,
        Asc.InvalidFieldInParameterList,
      );
      expect(s.senseKeySpecific).toMatchObject({ inCdb: false, fieldPointer: 20, bitPointer: bit });
    }
    expect((await readKeys(lu)).keys).toEqual([]);
  });

  it('rejects REGISTER AND MOVE and service actions past it with INVALID FIELD IN CDB', async () => {
    const lu = await fresh();
    for (const sa of [7, 8, 0x1f]) {
      expectCheck(await run(lu, proutCdb(sa), A, proutParams(0n)), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }
  });
});

describe('PERSISTENT RESERVE OUT RESERVE and access', () => {
  it('needs a registration and the right key', async () => {
    const lu = await fresh();
    expect((await reserve(lu, A, 0x1n, WE)).status).toBe(ScsiStatus.ReservationConflict);
    expectGood(await register(lu, A, 0x1n));
    expect((await reserve(lu, A, 0x2n, WE)).status).toBe(ScsiStatus.ReservationConflict);
    expectCheck(await reserve(lu, A, 0x1n, 2), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    expectCheck(await reserve(lu, A, 0x1n, 0x11), SenseKey.IllegalRequest, Asc.InvalidFieldInCdb); // scope 1
    expectGood(await reserve(lu, A, 0x1n, WE));
    expectGood(await reserve(lu, A, 0x1n, WE)); // same holder, same type
    expect((await reserve(lu, A, 0x1n, EA)).status).toBe(ScsiStatus.ReservationConflict);
    expect(await readReservation(lu, B)).toEqual({ key: 0x1n, type: WE, scope: 0 });
    expect((await readKeys(lu)).generation).toBe(1); // RESERVE leaves PRgeneration alone
  });

  // SPC-4 §5.9.1 table 47 as reads and writes from the holder, another registrant and a non-registrant.
  const table: [number, string, [boolean, boolean], [boolean, boolean]][] = [
    // type, name, [registrant read, write ok], [non-registrant read, write ok]
    [WE, 'WE', [true, false], [true, false]],
    [EA, 'EA', [false, false], [false, false]],
    [WERO, 'WERO', [true, true], [true, false]],
    [EARO, 'EARO', [true, true], [false, false]],
    [WEAR, 'WEAR', [true, true], [true, false]],
    [EAAR, 'EAAR', [true, true], [false, false]],
  ];
  for (const [type, name, registrant, other] of table) {
    it(`${name}: holder, registrant and non-registrant access`, async () => {
      const lu = await fresh();
      expectGood(await register(lu, A, 0xan));
      expectGood(await register(lu, B, 0xbn));
      expectGood(await reserve(lu, A, 0xan, type));
      const ok = async (n: typeof A, op: number) => (await run(lu, [op], n)).status === ScsiStatus.Good;
      expect([await ok(A, STUB_READ), await ok(A, STUB_WRITE)]).toEqual([true, true]);
      expect([await ok(B, STUB_READ), await ok(B, STUB_WRITE)]).toEqual(registrant);
      expect([await ok(C, STUB_READ), await ok(C, STUB_WRITE)]).toEqual(other);
      // Conflicts are plain RESERVATION CONFLICT; INQUIRY and TEST UNIT READY always pass.
      if (!other[1]) expect((await run(lu, [STUB_WRITE], C)).status).toBe(ScsiStatus.ReservationConflict);
      expectGood(await run(lu, [0x12, 0, 0, 0, 96], C));
      expectGood(await run(lu, [0x00], C));
      const rr = await readReservation(lu, C);
      expect(rr).toEqual({ key: type >= WEAR ? 0n : 0xan, type, scope: 0 });
    });
  }

  // libiscsi ProutReserve.Ownership*: unregistering the holder ends a reservation unless it is all-registrants.
  for (const [type, shared] of [
    [WE, false],
    [EA, false],
    [WERO, false],
    [EARO, false],
    [WEAR, true],
    [EAAR, true],
  ] as const) {
    it(`type ${type}: the holder unregistering ${shared ? 'keeps' : 'ends'} the reservation`, async () => {
      const lu = await fresh();
      expectGood(await run(lu, proutCdb(REGISTER_IGNORE), A, proutParams(0n, 0x1n)));
      expectGood(await run(lu, proutCdb(REGISTER_IGNORE), B, proutParams(0n, 0x2n)));
      expectGood(await reserve(lu, A, 0x1n, type));
      expectGood(await run(lu, proutCdb(REGISTER), A, proutParams(0x1n, 0n)));
      // PR IN from the unregistered initiator works without a unit attention.
      const rr = await readReservation(lu, A);
      if (shared) {
        expect(rr).toEqual({ key: 0n, type, scope: 0 });
        // The remaining registrant releases it; nobody is left to notify.
        expectGood(await run(lu, proutCdb(RELEASE, type), B, proutParams(0x2n)));
        expect(await readReservation(lu, A)).toBeUndefined();
        expect(await clearUa(lu, B)).toEqual([]);
      } else {
        expect(rr).toBeUndefined();
        // Registrants-only types tell the remaining registrants; WE and EA do not.
        expect(await clearUa(lu, B)).toEqual(type === WERO || type === EARO ? [Asc.ReservationsReleased] : []);
      }
      expect(await clearUa(lu, A)).toEqual([]);
      expectGood(await run(lu, proutCdb(REGISTER), B, proutParams(0x2n, 0n)));
      expect((await readKeys(lu)).keys).toEqual([]);
    });
  }
});

describe('PERSISTENT RESERVE OUT RELEASE, CLEAR, PREEMPT', () => {
  it('RELEASE by a registered non-holder is GOOD and changes nothing; a wrong type is INVALID RELEASE', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await reserve(lu, A, 0x1n, EA));
    expectGood(await run(lu, proutCdb(RELEASE, EA), B, proutParams(0x2n)));
    expect(await readReservation(lu)).toMatchObject({ type: EA });
    expect((await run(lu, proutCdb(RELEASE, EA), C, proutParams(0x0n))).status).toBe(ScsiStatus.ReservationConflict);
    expectCheck(
      await run(lu, proutCdb(RELEASE, WE), A, proutParams(0x1n)),
      SenseKey.IllegalRequest,
      Asc.InvalidReleaseOfPersistentReservation,
    );
    expectGood(await run(lu, proutCdb(RELEASE, EA), A, proutParams(0x1n)));
    expect(await readReservation(lu)).toBeUndefined();
    expect(await clearUa(lu, B)).toEqual([]); // EA release: no unit attention
  });

  it('RELEASE of a registrants-only reservation sends RESERVATIONS RELEASED to the other registrants', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await reserve(lu, A, 0x1n, WERO));
    expectGood(await run(lu, proutCdb(RELEASE, WERO), A, proutParams(0x1n)));
    expectCheck(await run(lu, [0x00], B), SenseKey.UnitAttention, Asc.ReservationsReleased);
    expect(await clearUa(lu, A)).toEqual([]);
    expect(await clearUa(lu, C)).toEqual([]);
  });

  it('CLEAR drops everything and sends RESERVATIONS PREEMPTED to the other registrants', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await reserve(lu, A, 0x1n, EA));
    expect((await run(lu, proutCdb(CLEAR), B, proutParams(0x3n))).status).toBe(ScsiStatus.ReservationConflict);
    const before = (await readKeys(lu, B)).generation;
    expectGood(await run(lu, proutCdb(CLEAR), B, proutParams(0x2n)));
    expect(await readKeys(lu, B)).toEqual({ generation: before + 1, keys: [] });
    expect(await readReservation(lu, B)).toBeUndefined();
    expect(await clearUa(lu, A)).toEqual([Asc.ReservationsPreempted]);
    expect(await clearUa(lu, B)).toEqual([]);
  });

  it('PREEMPT takes the reservation from its holder, who gets REGISTRATIONS PREEMPTED', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await register(lu, C, 0x3n));
    expectGood(await reserve(lu, A, 0x1n, WE));
    expect((await run(lu, [STUB_WRITE], B)).status).toBe(ScsiStatus.ReservationConflict);
    expectGood(await run(lu, proutCdb(PREEMPT, EA), B, proutParams(0x2n, 0x1n)));
    expect(await readReservation(lu, B)).toEqual({ key: 0x2n, type: EA, scope: 0 });
    expect((await readKeys(lu, B)).keys).toEqual([0x2n, 0x3n]);
    expectCheck(await run(lu, [STUB_WRITE], A), SenseKey.UnitAttention, Asc.RegistrationsPreempted);
    expect((await run(lu, [STUB_WRITE], A)).status).toBe(ScsiStatus.ReservationConflict);
    // The type changed: the registrant that kept its key hears RESERVATIONS RELEASED.
    expect(await clearUa(lu, C)).toEqual([Asc.ReservationsReleased]);
    expectGood(await run(lu, [STUB_WRITE], B));
  });

  it('PREEMPT AND ABORT behaves as PREEMPT for reservation state', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await reserve(lu, A, 0x1n, EA));
    expectGood(await run(lu, proutCdb(PREEMPT_ABORT, EA), B, proutParams(0x2n, 0x1n)));
    expect(await readReservation(lu, B)).toEqual({ key: 0x2n, type: EA, scope: 0 });
    expect(await clearUa(lu, C)).toEqual([]); // not registered: nothing to hear
  });

  it('PREEMPT of a non-holder key removes only registrations; an unknown key conflicts; key 0 is invalid', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await register(lu, C, 0x3n));
    expectGood(await reserve(lu, A, 0x1n, WE));
    expectGood(await run(lu, proutCdb(PREEMPT, WE), B, proutParams(0x2n, 0x3n)));
    expect((await readKeys(lu)).keys).toEqual([0x1n, 0x2n]);
    expect(await readReservation(lu)).toEqual({ key: 0x1n, type: WE, scope: 0 });
    expect(await clearUa(lu, C)).toEqual([Asc.RegistrationsPreempted]);
    expect((await run(lu, proutCdb(PREEMPT, WE), B, proutParams(0x2n, 0x77n))).status).toBe(
      ScsiStatus.ReservationConflict,
    );
    expectCheck(
      await run(lu, proutCdb(PREEMPT, WE), B, proutParams(0x2n, 0n)),
      SenseKey.IllegalRequest,
      Asc.InvalidFieldInParameterList,
    );
  });

  it('PREEMPT with key 0 takes an all-registrants reservation and unregisters everyone else', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await register(lu, B, 0x2n));
    expectGood(await reserve(lu, A, 0x1n, WEAR));
    expectGood(await run(lu, proutCdb(PREEMPT, WE), B, proutParams(0x2n, 0n)));
    expect((await readKeys(lu, B)).keys).toEqual([0x2n]);
    expect(await readReservation(lu, B)).toEqual({ key: 0x2n, type: WE, scope: 0 });
    expect(await clearUa(lu, A)).toEqual([Asc.RegistrationsPreempted]);
  });
});

describe('RESERVE(6) and persistent reservations (SPC-4 §5.9.3)', () => {
  it('RESERVE(6) conflicts once registrations exist; PR commands conflict under a RESERVE(6) of another nexus', async () => {
    const lu = await fresh();
    expectGood(await run(lu, [0x16], A));
    expect((await register(lu, B, 0x2n)).status).toBe(ScsiStatus.ReservationConflict);
    expect((await run(lu, prinCdb(0), B)).status).toBe(ScsiStatus.ReservationConflict);
    expectGood(await run(lu, prinCdb(0), A));
    expectGood(await run(lu, [0x17], A));
    expectGood(await register(lu, B, 0x2n));
    expect((await run(lu, [0x16], A)).status).toBe(ScsiStatus.ReservationConflict);
    expect((await run(lu, [0x16], B)).status).toBe(ScsiStatus.ReservationConflict); // registered, no reservation
    expectGood(await reserve(lu, B, 0x2n, WE));
    expectGood(await run(lu, [0x16], B)); // the holder: GOOD, nothing changes
    expectGood(await run(lu, [0x17], B));
    expect(await readReservation(lu)).toEqual({ key: 0x2n, type: WE, scope: 0 });
  });

  it('registrations and the reservation survive I_T nexus loss and logical unit reset', async () => {
    const lu = await fresh();
    expectGood(await register(lu, A, 0x1n));
    expectGood(await reserve(lu, A, 0x1n, EA));
    lu.nexusLost(A);
    lu.reset(B);
    expectCheck(await run(lu, [0x00], A), SenseKey.UnitAttention, Asc.BusDeviceResetFunctionOccurred);
    expect(await readReservation(lu, A)).toEqual({ key: 0x1n, type: EA, scope: 0 });
  });
});
