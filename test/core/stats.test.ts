import { describe, expect, it } from 'vitest';
import { median, quantile, RecentSamples } from '../../src/core/stats.js';

describe('order statistics', () => {
  it('interpolate linearly between order statistics, as numpy.quantile does', () => {
    // numpy.quantile([4, 1, 3, 2], [0, 0.25, 0.5, 0.99, 1]) = [1, 1.75, 2.5, 3.97, 4]
    expect([0, 0.25, 0.5, 0.99, 1].map((q) => quantile([4, 1, 3, 2], q))).toEqual([1, 1.75, 2.5, expect.closeTo(3.97, 12), 4]);
    expect(median([5, 1, 9])).toBe(5);
    expect(median([])).toBeNaN();
  });

  it('keep a bounded window of a long-running quantity, and the maximum over all of it', () => {
    const s = new RecentSamples(4);
    expect(s.quantile(0.5)).toBeNull();
    expect(s.max).toBeNull();
    for (const v of [100, 1, 2, 3, 4, 5]) s.push(v);
    expect(s.total).toBe(6);
    // The window holds the last four (2, 3, 4, 5): the early 100 is out of the quantiles but is still the max.
    expect(s.quantile(0)).toBe(2);
    expect(s.quantile(1)).toBe(5);
    expect(s.max).toBe(100);
  });
});
