import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { sampleTimes, TimeSamplerConfig } from '../../src/flow/time-sampler.js';
import { linearPath } from '../../src/flow/path.js';

const moments = (a: Float32Array) => {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  const v = a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length;
  return { m, v };
};

describe('time samplers', () => {
  const n = 40_000;
  it('uniform has mean 1/2 and variance 1/12, inside [0, 1)', () => {
    const t = sampleTimes({ kind: 'uniform' }, n, new Rng(1));
    const { m, v } = moments(t);
    expect(m).toBeCloseTo(0.5, 2);
    expect(v).toBeCloseTo(1 / 12, 2);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...t)).toBeLessThan(1);
  });

  it('beta(a, b) has mean a/(a+b) and variance ab/((a+b)^2 (a+b+1))', () => {
    for (const [a, b] of [
      [1, 1.5],
      [0.5, 0.5],
      [3, 2],
    ]) {
      const { m, v } = moments(sampleTimes({ kind: 'beta', a, b }, n, new Rng(2)));
      expect(m).toBeCloseTo(a / (a + b), 2);
      expect(v).toBeCloseTo((a * b) / ((a + b) ** 2 * (a + b + 1)), 2);
    }
  });

  it('logit-normal has the median sigmoid(mean) and concentrates with small std', () => {
    const t = sampleTimes({ kind: 'logit-normal', mean: 1, std: 0.5 }, n, new Rng(3));
    const sorted = Float32Array.from(t).sort();
    expect(sorted[n / 2]).toBeCloseTo(1 / (1 + Math.exp(-1)), 2);
    expect(moments(t).v).toBeLessThan(1 / 12);
  });

  it('rejects bad parameters with the field named', () => {
    const r = TimeSamplerConfig.safeParse({ kind: 'beta', a: -1, b: 1 });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(['a']);
  });
});

describe('linear path', () => {
  it('goes from noise at t = 0 to data at t = 1 with velocity x1 - x0', () => {
    const x0 = Float32Array.from([1, -1, 0.5, 2]);
    const x1 = Float32Array.from([3, 3, -0.5, 0]);
    const xt = new Float32Array(4);
    const ut = new Float32Array(4);
    linearPath.sample(x0, x1, Float32Array.from([0, 1]), 2, xt, ut);
    expect(Array.from(xt)).toEqual([1, -1, -0.5, 0]);
    expect(Array.from(ut)).toEqual([2, 4, -1, -2]);
    linearPath.sample(x0, x1, Float32Array.from([0.25, 0.5]), 2, xt, ut);
    expect(xt[0]).toBeCloseTo(1.5, 6);
    expect(xt[2]).toBeCloseTo(0, 6);
  });
});
