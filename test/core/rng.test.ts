import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';

describe('Rng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
    // Seeds above 2^32 are distinct too.
    expect(new Rng(2 ** 40).nextUint32()).not.toBe(new Rng(0).nextUint32());
  });

  it('resumes exactly from a saved state, Box–Muller spare included', () => {
    const a = new Rng(7);
    a.normal();
    const state = a.getState();
    const next = [a.normal(), a.normal(), a.uniform(), a.int(10)];
    const b = Rng.fromState(JSON.parse(JSON.stringify(state)));
    expect([b.normal(), b.normal(), b.uniform(), b.int(10)]).toEqual(next);
  });

  it('draws standard normals with the right moments and tails', () => {
    const rng = new Rng(1);
    const x = rng.fillNormal(new Float64Array(100_000));
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    const beyond2 = x.filter((v) => Math.abs(v) > 2).length / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(variance).toBeCloseTo(1, 1);
    expect(beyond2).toBeCloseTo(0.0455, 2);
  });

  it('draws integers uniformly without modulo bias', () => {
    const rng = new Rng(2);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[rng.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    expect(() => rng.int(0)).toThrow(RangeError);
  });

  it('makes permutations and independent forks', () => {
    const rng = new Rng(3);
    const p = Array.from(rng.permutation(50));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    const f1 = rng.fork();
    const f2 = rng.fork();
    expect(f1.nextUint32()).not.toBe(f2.nextUint32());
  });

  it('draws Gamma with mean k for shapes above and below one', () => {
    const rng = new Rng(4);
    for (const k of [0.4, 1, 3.5]) {
      let s = 0;
      for (let i = 0; i < 40_000; i++) s += rng.gamma(k);
      expect(s / 40_000).toBeCloseTo(k, 1);
    }
  });
});
