import { quantileOfSorted } from '../core/stats.js';
import { z } from 'zod';
import { InputError } from '../core/errors.js';

/**
 * Per-dimension normalisation of features.
 * - min_max:  y = 2 (x - min) / (max - min) - 1, into [-1, 1] (default for
 *   actions and states, as Diffusion Policy's 'limits' normaliser);
 *   a constant dimension maps to x - min.
 * - mean_std: y = (x - mean) / std; a constant dimension maps to x - mean.
 * - identity: y = x.
 */
export const NormMode = z.enum(['min_max', 'mean_std', 'identity']);
export type NormMode = z.infer<typeof NormMode>;

export const FeatureStats = z
  .object({
    min: z.array(z.number()),
    max: z.array(z.number()),
    mean: z.array(z.number()),
    std: z.array(z.number()),
    q01: z.array(z.number()),
    q99: z.array(z.number()),
  })
  .strict()
  .refine((s) => [s.max, s.mean, s.std, s.q01, s.q99].every((a) => a.length === s.min.length), {
    message: 'every statistic must have one entry per dimension',
  });
export type FeatureStats = z.infer<typeof FeatureStats>;

const CONSTANT = 1e-6;

/** Statistics of `data` laid out as rows of `dim` values. */
export function computeStats(data: Float32Array, dim: number): FeatureStats {
  const n = data.length / dim;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`computeStats: ${data.length} values do not form rows of ${dim}`);
  const stats: FeatureStats = { min: [], max: [], mean: [], std: [], q01: [], q99: [] };
  const column = new Float64Array(n);
  for (let d = 0; d < dim; d++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      column[i] = data[i * dim + d];
      sum += column[i];
    }
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (column[i] - mean) ** 2;
    column.sort();
    stats.min.push(column[0]);
    stats.max.push(column[n - 1]);
    stats.mean.push(mean);
    stats.std.push(Math.sqrt(ss / n));
    stats.q01.push(quantileOfSorted(column, 0.01));
    stats.q99.push(quantileOfSorted(column, 0.99));
  }
  return stats;
}

/** y = x * scale + offset per dimension, for one feature. */
class Affine {
  constructor(
    readonly scale: Float32Array,
    readonly offset: Float32Array,
  ) {}

  static of(stats: FeatureStats, mode: NormMode): Affine {
    const dim = stats.min.length;
    const scale = new Float32Array(dim).fill(1);
    const offset = new Float32Array(dim);
    for (let d = 0; d < dim; d++) {
      if (mode === 'min_max') {
        const range = stats.max[d] - stats.min[d];
        if (range < CONSTANT) offset[d] = -stats.min[d];
        else {
          scale[d] = 2 / range;
          offset[d] = -1 - (2 * stats.min[d]) / range;
        }
      } else if (mode === 'mean_std') {
        if (stats.std[d] >= CONSTANT) scale[d] = 1 / stats.std[d];
        offset[d] = -stats.mean[d] * scale[d];
      }
    }
    return new Affine(scale, offset);
  }
}

export class Normalizer {
  private readonly affine = new Map<string, Affine>();

  constructor(
    readonly stats: Readonly<Record<string, FeatureStats>>,
    readonly modes: Readonly<Record<string, NormMode>>,
  ) {
    for (const [key, mode] of Object.entries(modes)) {
      const s = stats[key];
      if (!s) throw new InputError(`stats["${key}"]`, undefined, `statistics for feature '${key}' (normalised with ${mode})`);
      this.affine.set(key, Affine.of(s, mode));
    }
  }

  dim(key: string): number {
    return this.get(key).scale.length;
  }

  private get(key: string): Affine {
    const a = this.affine.get(key);
    if (!a) throw new Error(`no normalisation for feature '${key}'`);
    return a;
  }

  /** Normalise rows of `key` from `src` into `dst` (may be the same array). */
  normalize(key: string, src: ArrayLike<number>, dst: Float32Array = new Float32Array(src.length)): Float32Array {
    const { scale, offset } = this.get(key);
    const dim = scale.length;
    for (let i = 0; i < src.length; i++) dst[i] = src[i] * scale[i % dim] + offset[i % dim];
    return dst;
  }

  /** Inverse of normalize. */
  unnormalize(key: string, src: ArrayLike<number>, dst: Float32Array = new Float32Array(src.length)): Float32Array {
    const { scale, offset } = this.get(key);
    const dim = scale.length;
    for (let i = 0; i < src.length; i++) dst[i] = (src[i] - offset[i % dim]) / scale[i % dim];
    return dst;
  }
}
