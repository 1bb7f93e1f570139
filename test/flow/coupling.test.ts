import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { otCoupling, permuteRows, solveAssignment } from '../../src/flow/coupling.js';

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

const costOf = (cost: Float64Array, n: number, colOf: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < n; i++) s += cost[i * n + colOf[i]];
  return s;
};

describe('exact linear assignment', () => {
  it('matches brute force over all permutations on random matrices', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 40; trial++) {
      const n = 2 + (trial % 6);
      const cost = Float64Array.from({ length: n * n }, () => Math.floor(rng.uniform() * 20) - 5);
      const colOf = solveAssignment(cost, n);
      expect([...colOf].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      const best = Math.min(...permutations(n).map((p) => costOf(cost, n, p)));
      expect(costOf(cost, n, colOf)).toBeCloseTo(best, 10);
    }
  });

  it('beats the greedy nearest-neighbour pairing where greedy is suboptimal', () => {
    // Greedy takes the 0 of row 0, then pays 100 for row 1; optimum pays 1 + 1.
    const cost = Float64Array.from([0, 1, 1, 100]);
    expect(Array.from(solveAssignment(cost, 2))).toEqual([1, 0]);
  });
});

describe('minibatch OT coupling', () => {
  it('pairs a shuffled copy back to its original order', () => {
    const rng = new Rng(3);
    const n = 64;
    const dim = 4;
    const x1 = rng.fillNormal(new Float32Array(n * dim));
    const shuffle = rng.permutation(n);
    const x0 = permuteRows(x1, shuffle, dim);
    const perm = otCoupling(x0, x1, n, dim);
    expect(permuteRows(x0, perm, dim)).toEqual(x1);
  });

  it('never increases the total squared distance of the identity pairing', () => {
    const rng = new Rng(4);
    const n = 128;
    const dim = 8;
    const x0 = rng.fillNormal(new Float32Array(n * dim));
    const x1 = rng.fillNormal(new Float32Array(n * dim)).map((v) => v + 2);
    const total = (a: Float32Array) => a.reduce((s, v, i) => s + (v - x1[i]) ** 2, 0);
    const paired = permuteRows(x0, otCoupling(x0, x1, n, dim), dim);
    expect(total(paired)).toBeLessThan(total(x0) * 0.9);
  });
});
