import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { jitterWindows } from '../../src/data/jitter-windows.js';

describe('jitterWindows', () => {
  // 2000 windows of 2 frames x 3 features.
  const shape = { windowSize: 6, frames: 2 };
  const windows = new Rng(1).fillNormal(new Float32Array(2000 * 6));
  const before = windows.slice();

  it('shifts each window by one Gaussian draw of std sigma, the same for each of its frames', () => {
    const copies = jitterWindows(windows, shape, { copies: 2, sigma: 0.3, seed: 4 });
    expect(copies).toHaveLength(2);
    expect(windows).toEqual(before);
    for (const copy of copies) {
      expect(copy.length).toBe(windows.length);
      let ss = 0;
      for (let w = 0; w < 2000; w++) {
        for (let f = 0; f < 3; f++) {
          const first = copy[w * 6 + f] - windows[w * 6 + f];
          const second = copy[w * 6 + 3 + f] - windows[w * 6 + 3 + f];
          expect(second).toBeCloseTo(first, 5);
          ss += first * first;
        }
      }
      // 6000 draws: the sample std is within 3% of sigma.
      expect(Math.sqrt(ss / 6000)).toBeGreaterThan(0.3 * 0.97);
      expect(Math.sqrt(ss / 6000)).toBeLessThan(0.3 * 1.03);
    }
    // The copies are independent of each other.
    expect(copies[1][0] - windows[0]).not.toBeCloseTo(copies[0][0] - windows[0], 5);
  });

  it('is deterministic in its seed', () => {
    const a = jitterWindows(windows, shape, { copies: 1, sigma: 0.1, seed: 7 });
    expect(jitterWindows(windows, shape, { copies: 1, sigma: 0.1, seed: 7 })).toEqual(a);
    expect(jitterWindows(windows, shape, { copies: 1, sigma: 0.1, seed: 8 })[0]).not.toEqual(a[0]);
  });

  it('refuses windows that do not fit the shape, and a negative sigma', () => {
    expect(() => jitterWindows(windows.subarray(1), shape, { copies: 1, sigma: 0.1, seed: 0 })).toThrow(/do not form windows of 6 values in 2 frames/);
    expect(() => jitterWindows(windows, { windowSize: 6, frames: 4 }, { copies: 1, sigma: 0.1, seed: 0 })).toThrow(/in 4 frames/);
    expect(() => jitterWindows(windows, shape, { copies: 1, sigma: -1, seed: 0 })).toThrow(/sigma must be >= 0, got -1/);
  });
});
