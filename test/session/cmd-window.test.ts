import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serialAdd, serialLte } from '../../src/pdu/serial.js';
import { CmdWindow } from '../../src/session/cmd-window.js';

describe('CmdWindow (RFC 7143 §4.2.2.1)', () => {
  it('is open while CmdSN <= MaxCmdSN and counts its room', () => {
    const w = new CmdWindow({ cmdSN: 10, expCmdSN: 10, maxCmdSN: 12 });
    expect([w.open, w.room]).toEqual([true, 3]);
    expect([w.take(), w.take(), w.take()]).toEqual([10, 11, 12]);
    expect([w.open, w.room, w.cmdSN]).toEqual([false, 0, 13]);
  });

  it('MaxCmdSN = ExpCmdSN - 1 closes the window; a later update opens it', () => {
    const w = new CmdWindow({ cmdSN: 5, expCmdSN: 5, maxCmdSN: 4 });
    expect(w.open).toBe(false);
    expect(w.update(5, 5)).toBe(true);
    expect(w.open).toBe(true);
  });

  it('ignores values that are not newer, and both values when MaxCmdSN < ExpCmdSN - 1', () => {
    const w = new CmdWindow({ cmdSN: 100, expCmdSN: 100, maxCmdSN: 130 });
    expect(w.update(90, 120)).toBe(false); // older: ignored
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([100, 130]);
    expect(w.update(140, 120)).toBe(false); // MaxCmdSN < ExpCmdSN - 1: both ignored
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([100, 130]);
    expect(w.update(101, 131)).toBe(true);
    expect([w.expCmdSN, w.maxCmdSN]).toEqual([101, 131]);
  });

  it('works across the 2**32 wrap', () => {
    const w = new CmdWindow({ cmdSN: 0xfffffffe, expCmdSN: 0xfffffffe, maxCmdSN: 0 });
    expect(w.room).toBe(3);
    expect([w.take(), w.take(), w.take()]).toEqual([0xfffffffe, 0xffffffff, 0]);
    expect(w.open).toBe(false);
    expect(w.update(1, 1)).toBe(true);
    expect([w.open, w.cmdSN, w.acknowledged(0), w.acknowledged(1)]).toEqual([true, 1, true, false]);
    w.take();
    w.untake();
    expect(w.cmdSN).toBe(1);
  });

  it('ExpCmdSN and MaxCmdSN only move forward, whatever the updates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.tuple(fc.integer({ min: -40, max: 40 }), fc.integer({ min: -40, max: 40 })), { maxLength: 30 }),
        (start, moves) => {
          const w = new CmdWindow({ cmdSN: start, expCmdSN: start, maxCmdSN: serialAdd(start, 10) });
          for (const [e, m] of moves) {
            const before = { exp: w.expCmdSN, max: w.maxCmdSN };
            w.update(serialAdd(start, e), serialAdd(start, m));
            expect(serialLte(before.exp, w.expCmdSN)).toBe(true);
            expect(serialLte(before.max, w.maxCmdSN)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
