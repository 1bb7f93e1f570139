import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/core/backend.js';
import { imleLoss, imleSelect, meanRowDistance, regressionLoss, selectedRows } from '../../src/flow/imle.js';
import { Rng } from '../../src/core/rng.js';
import { TEST_BACKEND } from '../helpers/backend.js';

beforeAll(async () => {
  await useBackend(TEST_BACKEND);
});

/**
 * One condition, m = 3 student samples, K = 2 teacher samples in 2-D:
 *   s0 = (0, 0), s1 = (3, 0), s2 = (0, 4);  y0 = (1, 0), y1 = (0, 3).
 * Distances: y0 -> 1, 2, sqrt(17);  y1 -> 3, sqrt(18), 1.
 */
const S = Float32Array.from([0, 0, 3, 0, 0, 4]);
const Y = Float32Array.from([1, 0, 0, 3]);
const DIMS = { batch: 1, m: 3, k: 2, dim: 2 };

describe('IMLE matching selection', () => {
  it('gives two teacher samples that share a nearest student sample distinct ones, at least total distance', () => {
    // s0 = (0, 0) is nearest to both y0 = (1, 0) and y1 = (-1, 0); s1 = (3, 0), s2 = (-4, 0).
    const s = Float32Array.from([0, 0, 3, 0, -4, 0]);
    const y = Float32Array.from([1, 0, -1, 0]);
    expect(Array.from(imleSelect(s, y, DIMS).index)).toEqual([0, 0]);
    const sel = imleSelect(s, y, DIMS, 0, 'matching');
    // y0 -> s1 (2) and y1 -> s0 (1) total 3, against y0 -> s0 (1) and y1 -> s2 (3) total 4.
    expect(Array.from(sel.index)).toEqual([1, 0]);
    expect(Array.from(sel.distance)).toEqual([2, 1]);
    expect(sel.valid).toBe(2);
  });

  it('is the least-distance injective assignment, per condition (brute force over all of them)', () => {
    const rng = new Rng(4);
    const dims = { batch: 3, m: 5, k: 3, dim: 4 };
    const s = rng.fillNormal(new Float32Array(dims.batch * dims.m * dims.dim));
    const y = rng.fillNormal(new Float32Array(dims.batch * dims.k * dims.dim));
    const sel = imleSelect(s, y, dims, 0, 'matching');
    const d = (b: number, q: number, j: number) => {
      let ss = 0;
      for (let i = 0; i < dims.dim; i++) ss += (s[(b * dims.m + j) * dims.dim + i] - y[(b * dims.k + q) * dims.dim + i]) ** 2;
      return Math.sqrt(ss);
    };
    for (let b = 0; b < dims.batch; b++) {
      let best = Infinity;
      for (let a = 0; a < dims.m; a++) for (let c = 0; c < dims.m; c++) for (let e = 0; e < dims.m; e++) {
        if (a !== c && a !== e && c !== e) best = Math.min(best, d(b, 0, a) + d(b, 1, c) + d(b, 2, e));
      }
      const chosen = [0, 1, 2].map((q) => sel.index[b * dims.k + q]);
      expect(new Set(chosen).size).toBe(3);
      expect(chosen.reduce((sum, j, q) => sum + d(b, q, j), 0)).toBeCloseTo(best, 9);
    }
  });

  it('drops pairs inside the rejection radius, and needs m >= K', () => {
    // epsilon 1.5 rejects y0 -> s0 (1) and y1 -> s2 (1): y0 -> s1 (2), y1 -> s0 (3).
    const sel = imleSelect(S, Y, DIMS, 1.5, 'matching');
    expect(Array.from(sel.index)).toEqual([1, 0]);
    expect(() => imleSelect(S.subarray(0, 2), Y, { ...DIMS, m: 1 }, 0, 'matching')).toThrow('matching needs at least as many generator samples as teacher samples (m 1 < K 2)');
  });
});

describe('IMLE nearest-neighbour selection', () => {
  it('picks the nearest student sample for each teacher sample', () => {
    const sel = imleSelect(S, Y, DIMS);
    expect(Array.from(sel.index)).toEqual([0, 2]);
    expect(Array.from(sel.distance)).toEqual([1, 1]);
    expect(sel.valid).toBe(2);
  });

  it('with a rejection radius, skips student samples within epsilon', () => {
    // epsilon 1.5: y0's candidates are s1 (2) and s2 (sqrt 17); y1's are s0 (3) and s1 (sqrt 18).
    const sel = imleSelect(S, Y, DIMS, 1.5);
    expect(Array.from(sel.index)).toEqual([1, 0]);
    expect(sel.distance[0]).toBeCloseTo(2, 12);
    expect(sel.distance[1]).toBeCloseTo(3, 12);
    // The boundary is exclusive: at epsilon = 2, s1 (exactly 2 from y0) is rejected too.
    expect(Array.from(imleSelect(S, Y, DIMS, 2).index)).toEqual([2, 0]);
  });

  it('drops a teacher sample whose every student sample lies within epsilon', () => {
    const sel = imleSelect(S, Y, DIMS, 4.2);
    // y0: only s2 (sqrt 17 = 4.12) is within 4.2 -> none beyond; y1: s1 (sqrt 18 = 4.24) remains.
    expect(Array.from(sel.index)).toEqual([-1, 1]);
    expect(sel.valid).toBe(1);
    expect(Number.isNaN(sel.distance[0])).toBe(true);
    expect(imleSelect(S, Y, DIMS, 10).valid).toBe(0);
  });

  it('epsilon 0 disables rejection: an exact match is selected', () => {
    const sel = imleSelect(Float32Array.from([1, 0, 5, 5, 9, 9]), Y, DIMS);
    expect(sel.index[0]).toBe(0);
    expect(sel.distance[0]).toBe(0);
  });

  it('breaks ties towards the lowest index and never crosses conditions', () => {
    expect(imleSelect(Float32Array.from([1, 1, -1, -1]), Float32Array.from([0, 0]), { batch: 1, m: 2, k: 1, dim: 2 }).index[0]).toBe(0);
    // Condition 1's student sample (1, 0) would be the nearest to condition 0's teacher sample, but belongs to another condition.
    const s = Float32Array.from([10, 10, 1, 0]);
    const y = Float32Array.from([1, 0, 11, 11]);
    const sel = imleSelect(s, y, { batch: 2, m: 1, k: 1, dim: 2 });
    expect(Array.from(sel.index)).toEqual([0, 0]);
    expect(sel.distance[0]).toBeCloseTo(Math.hypot(9, 10), 10);
    expect(Array.from(selectedRows(sel, { batch: 2, m: 1, k: 1, dim: 2 }).student)).toEqual([0, 1]);
  });

  it('maps selections to rows of the flat layouts', () => {
    const dims = { batch: 2, m: 3, k: 2, dim: 1 };
    // Condition 0: s = 0, 10, 20; y = 9, 1. Condition 1: s = 0, 10, 20; y = 19, 19.
    const sel = imleSelect(Float32Array.from([0, 10, 20, 0, 10, 20]), Float32Array.from([9, 1, 19, 19]), dims);
    expect(Array.from(sel.index)).toEqual([1, 0, 2, 2]);
    const rows = selectedRows(sel, dims);
    expect(Array.from(rows.student)).toEqual([1, 0, 5, 5]);
    expect(Array.from(rows.teacher)).toEqual([0, 1, 2, 3]);
  });

  it('rejects malformed shapes', () => {
    expect(() => imleSelect(S, Y, { ...DIMS, m: 2 })).toThrow(/generator values/);
    expect(() => imleSelect(S, Y, { ...DIMS, k: 3 })).toThrow(/teacher values/);
    expect(() => imleSelect(S, Y, DIMS, -1)).toThrow(/epsilon/);
  });
});

describe('IMLE loss', () => {
  it('is the mean un-squared L2 distance of the selected pairs', () => {
    const s = tf.tensor2d(S, [3, 2]);
    expect(imleLoss(s, Y, DIMS).loss.dataSync()[0]).toBeCloseTo(1, 6);
    expect(imleLoss(s, Y, DIMS, 1.5).loss.dataSync()[0]).toBeCloseTo(2.5, 6);
    expect(imleLoss(s, tf.tensor2d(Y, [2, 2]), DIMS, 4.2).loss.dataSync()[0]).toBeCloseTo(Math.sqrt(18), 5);
    expect(imleLoss(s, Y, DIMS, 10).loss.dataSync()[0]).toBe(0);
    // Un-squared: scaling every offset by 3 scales the loss by 3, not 9.
    expect(meanRowDistance(tf.tensor2d([[0, 0]]), tf.tensor2d([[3, 4]])).dataSync()[0]).toBeCloseTo(5, 5);
  });

  it('sends gradient only to the selected student samples, each towards its teacher samples', () => {
    const grad = tf.grad((s: tf.Tensor) => imleLoss(s as tf.Tensor2D, Y, DIMS).loss)(tf.tensor2d(S, [3, 2]));
    const g = Array.from(grad.dataSync());
    // d/ds0 of |s0 - y0| / 2 = (s0 - y0) / (2 |s0 - y0|) = (-0.5, 0); s2 likewise towards y1: (0, 0.5); s1 unselected.
    expect(g[0]).toBeCloseTo(-0.5, 5);
    expect(g[1]).toBeCloseTo(0, 5);
    expect(g.slice(2, 4)).toEqual([0, 0]);
    expect(g[4]).toBeCloseTo(0, 5);
    expect(g[5]).toBeCloseTo(0.5, 5);
    // With the rejection radius the selection moves, and so does the gradient: s0 and s1 now, s2 none.
    const g2 = Array.from(tf.grad((s: tf.Tensor) => imleLoss(s as tf.Tensor2D, Y, DIMS, 1.5).loss)(tf.tensor2d(S, [3, 2])).dataSync());
    expect(g2[0]).toBeCloseTo(0, 5);
    expect(g2[1]).toBeCloseTo(-0.5, 5);
    expect(g2[2]).toBeCloseTo(0.5, 5);
    expect(g2.slice(4)).toEqual([0, 0]);
    // No valid pair: zero gradient everywhere, finite.
    const g3 = Array.from(tf.grad((s: tf.Tensor) => imleLoss(s as tf.Tensor2D, Y, DIMS, 10).loss)(tf.tensor2d(S, [3, 2])).dataSync());
    expect(g3).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a sample chosen by several teacher samples collects all their pulls; an exact match has a finite zero gradient', () => {
    const s = Float32Array.from([0, 0, 100, 100]);
    const y = Float32Array.from([1, 0, -1, 0]);
    const g = Array.from(tf.grad((t: tf.Tensor) => imleLoss(t as tf.Tensor2D, y, { batch: 1, m: 2, k: 2, dim: 2 }).loss)(tf.tensor2d(s, [2, 2])).dataSync());
    expect(g[0]).toBeCloseTo(0, 5); // (-1 + 1) / 2
    expect(g.slice(2)).toEqual([0, 0]);
    const ge = Array.from(tf.grad((t: tf.Tensor) => meanRowDistance(t as tf.Tensor2D, tf.tensor2d([[1, 2]])))(tf.tensor2d([[1, 2]])).dataSync());
    expect(ge.every((v) => v === 0)).toBe(true);
  });
});

describe('regression loss (negative control)', () => {
  it('is the mean squared distance row by row, with gradient to every row', () => {
    const s = tf.tensor2d([
      [0, 0],
      [1, 1],
    ]);
    const y = tf.tensor2d([
      [3, 4],
      [1, 2],
    ]);
    expect(regressionLoss(s, y).dataSync()[0]).toBeCloseTo((25 + 1) / 2, 5);
    const g = Array.from(tf.grad((t: tf.Tensor) => regressionLoss(t as tf.Tensor2D, y))(s).dataSync());
    expect(g).toEqual([-3, -4, 0, -1]);
  });
});
