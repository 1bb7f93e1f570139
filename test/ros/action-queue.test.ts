import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { ActionQueue, type TimedChunk } from '../../src/ros/action-queue.js';

/** A 1-D chunk whose row for tick t is f(t), rows for ticks first..first+n-1. */
function chunk(first: number, n: number, f: (t: number) => number, requestTick = first, arrivalTick = first + 1): TimedChunk {
  return { firstTick: first, rowTicks: 1, rows: Array.from({ length: n }, (_, i) => [f(first + i)]), requestTick, arrivalTick };
}

const A = (t: number) => 100 + t;
const B = (t: number) => 200 + t;
const C = (t: number) => 300 + t;

function drain(q: ActionQueue, from: number, to: number): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let t = from; t <= to; t++) out.push(q.take(t)?.[0]);
  return out;
}

describe('action queue: placing chunks in time', () => {
  it('drops rows whose tick passed before the chunk arrived, and counts them', () => {
    const q = new ActionQueue(1, { mode: 'latest' });
    expect(q.add(chunk(0, 10, A, 0, 3))).toBe(7);
    expect(q.droppedLate).toBe(3);
    expect(q.ticks()).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(q.lastDelayTicks).toBe(3);
    expect(q.take(2)).toBeUndefined();
    expect(q.take(3)?.[0]).toBe(103);
    // take() drops what lies before the tick asked for
    expect(q.take(6)?.[0]).toBe(106);
    expect(q.ticks()).toEqual([7, 8, 9]);
    expect(q.depth(7)).toBe(3);
    expect(q.depth(6)).toBe(0);
    expect(q.peek(7, 5).map((r) => r[0])).toEqual([107, 108, 109]);
    expect(q.depth(7)).toBe(3);
  });

  it('interpolates rows at a lower rate than the control rate', () => {
    const q = new ActionQueue(2, { mode: 'latest' });
    q.add({ firstTick: 0, rowTicks: 2.5, rows: [[0, 0], [10, -10], [20, -20]], requestTick: 0, arrivalTick: 0 });
    const out = drain(q, 0, 5);
    expect(out).toEqual([0, 4, 8, 12, 16, 20]);
  });

  it('rejects rows of the wrong size, bad merge settings, and arrival before request', () => {
    const q = new ActionQueue(2, { mode: 'latest' });
    expect(() => q.add({ firstTick: 0, rowTicks: 1, rows: [[1]], requestTick: 0, arrivalTick: 1 })).toThrow(InputError);
    expect(() => q.add({ firstTick: 0, rowTicks: 1, rows: [[1, 2]], requestTick: 3, arrivalTick: 1 })).toThrow(/arrivalTick/);
    expect(() => new ActionQueue(1, { mode: 'blend', weight: 1.5 })).toThrow(/merge.weight/);
    expect(() => new ActionQueue(1, { mode: 'rtc', blendTicks: -1 })).toThrow(/blendTicks/);
  });
});

describe('action queue: merge modes', () => {
  it('latest-only: the new chunk replaces the queue from its arrival on, and ends it', () => {
    const q = new ActionQueue(1, { mode: 'latest' });
    q.add(chunk(0, 16, A, 0, 1));
    expect(q.take(5)?.[0]).toBe(105); // before B arrives: A
    q.add(chunk(4, 6, B, 4, 6));
    expect(drain(q, 6, 10)).toEqual([206, 207, 208, 209, undefined]); // B, and nothing of A after B's end
    expect(q.droppedLate).toBe(1 + 2);
  });

  it('weighted blend: weight * new + (1 - weight) * old where they overlap', () => {
    const q = new ActionQueue(1, { mode: 'blend', weight: 0.25 });
    q.add(chunk(0, 10, A, 0, 0));
    q.add(chunk(5, 10, B, 5, 5));
    expect(q.depth(4)).toBe(0); // dropped on B's arrival at tick 5
    const out = [undefined, ...drain(q, 5, 15)];
    for (let t = 5; t <= 9; t++) expect(out[t - 4]).toBeCloseTo(0.25 * B(t) + 0.75 * A(t), 12);
    for (let t = 10; t <= 14; t++) expect(out[t - 4]).toBe(B(t)); // only B predicts these
    expect(out[11]).toBeUndefined();
  });

  it('temporal ensembling matches ACT: sum_i w_i a_i / sum_i w_i, w_i = exp(-m i), i = 0 the oldest', () => {
    const m = 0.3;
    const q = new ActionQueue(1, { mode: 'ensemble', m });
    q.add(chunk(0, 10, A, 0, 0));
    q.add(chunk(2, 10, B, 2, 2));
    q.add(chunk(4, 10, C, 4, 4));
    const w = [1, Math.exp(-m), Math.exp(-2 * m)];
    // tick 6: predicted by A, B and C (oldest first)
    expect(q.peek(6, 1)[0][0]).toBeCloseTo((w[0] * A(6) + w[1] * B(6) + w[2] * C(6)) / (w[0] + w[1] + w[2]), 12);
    // tick 11: only B and C (A ends at 9), B is then the oldest
    expect(q.peek(11, 1)[0][0]).toBeCloseTo((w[0] * B(11) + w[1] * C(11)) / (w[0] + w[1]), 12);
    // tick 13: C only
    expect(q.peek(13, 1)[0][0]).toBe(C(13));
    // m = 0: plain mean; a negative m favours new predictions
    const flat = new ActionQueue(1, { mode: 'ensemble', m: 0 });
    flat.add(chunk(0, 4, A, 0, 0));
    flat.add(chunk(0, 4, B, 0, 0));
    expect(flat.peek(1, 1)[0][0]).toBeCloseTo((A(1) + B(1)) / 2, 12);
  });

  it('real-time chunking: freezes the actions that run within the measured delay, then cross-fades', () => {
    const q = new ActionQueue(1, { mode: 'rtc', blendTicks: 2 });
    q.add(chunk(0, 20, A, 0, 3)); // measured delay 3 ticks
    expect(q.expectedDelayTicks).toBe(3);
    // B is requested at tick 8 and comes back early, at tick 9: ticks 9 and 10 stay frozen to A
    q.add(chunk(8, 12, B, 8, 9));
    const out = drain(q, 9, 20);
    expect(out[0]).toBe(A(9));
    expect(out[1]).toBe(A(10));
    expect(out[2]).toBeCloseTo((1 / 3) * B(11) + (2 / 3) * A(11), 12);
    expect(out[3]).toBeCloseTo((2 / 3) * B(12) + (1 / 3) * A(12), 12);
    expect(out.slice(4, 11)).toEqual([213, 214, 215, 216, 217, 218, 219]);
    expect(out[11]).toBeUndefined();
    // the estimate is the largest of the recent delays
    expect(q.expectedDelayTicks).toBe(3);
    expect(q.lastDelayTicks).toBe(1);
  });

  it('real-time chunking: a chunk later than expected takes over at its arrival', () => {
    const q = new ActionQueue(1, { mode: 'rtc', blendTicks: 0 });
    q.add(chunk(0, 30, A, 0, 1)); // delay 1
    expect(q.take(9)?.[0]).toBe(A(9));
    q.add(chunk(5, 20, B, 5, 10)); // delay 5 > 1
    expect(drain(q, 10, 11)).toEqual([B(10), B(11)]);
    expect(q.expectedDelayTicks).toBe(5);
  });

  it('latest-only differs from rtc on the same early chunk (the frozen prefix is what rtc adds)', () => {
    const q = new ActionQueue(1, { mode: 'latest' });
    q.add(chunk(0, 20, A, 0, 3));
    q.add(chunk(8, 12, B, 8, 9));
    expect(drain(q, 9, 10)).toEqual([B(9), B(10)]);
  });
});
