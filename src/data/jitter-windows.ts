import { Rng } from '../core/rng.js';

export interface JitterOptions {
  /** Jittered copies of every window. */
  copies: number;
  /** Standard deviation of the shift, in normalised observation units. */
  sigma: number;
  seed: number;
}

/**
 * Copies of normalised observation windows [n, frames * F] (frame-major, as
 * WindowSampler writes them), each window shifted by Gaussian noise:
 *
 *   x'_{c,w,i} = x_{w,i} + sigma * e_{c,w},   e_{c,w} ~ N(0, I_F)
 *
 * for copy c, window w and each of its frames i. One shift for all frames
 * of a window keeps the motion between them as recorded: only where the
 * window happened moves, so a copy reads as a plausible nearby state rather
 * than a shaky one. Deterministic in `seed`.
 */
export function jitterWindows(windows: Float32Array, shape: { windowSize: number; frames: number }, options: JitterOptions): Float32Array[] {
  const { windowSize, frames } = shape;
  const { copies, sigma, seed } = options;
  if (!(Number.isInteger(frames) && frames >= 1 && Number.isInteger(windowSize) && windowSize % frames === 0 && windows.length % windowSize === 0)) {
    throw new RangeError(`jitterWindows: ${windows.length} values do not form windows of ${windowSize} values in ${frames} frames`);
  }
  if (!(Number.isInteger(copies) && copies >= 0)) throw new RangeError(`jitterWindows: copies must be a non-negative integer, got ${copies}`);
  if (!(sigma >= 0)) throw new RangeError(`jitterWindows: sigma must be >= 0, got ${sigma}`);
  const F = windowSize / frames;
  const n = windows.length / windowSize;
  const rng = new Rng(seed);
  const shift = new Float64Array(F);
  return Array.from({ length: copies }, () => {
    const out = windows.slice();
    for (let w = 0; w < n; w++) {
      rng.fillNormal(shift);
      for (let i = 0; i < frames; i++) {
        const o = w * windowSize + i * F;
        for (let f = 0; f < F; f++) out[o + f] += sigma * shift[f];
      }
    }
    return out;
  });
}
