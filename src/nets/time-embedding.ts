import * as tf from '@tensorflow/tfjs';
import { Linear } from './dense.js';
import { mish } from './activations.js';
import type { ParamSink, ParamStore } from './params.js';

/**
 * Sinusoidal features of the flow time t in [0, 1] (t = 0 noise, t = 1
 * data), as in Transformer position encodings and Diffusion Policy:
 *   f_k = exp(-ln(10000) k / (half - 1)),  emb = [sin(s t f), cos(s t f)],
 * with s = `scale` stretching [0, 1] over the frequencies (Diffusion Policy
 * feeds integer diffusion steps 0..99; s = 100 gives continuous t the same
 * phases).
 */
export function sinusoidalEmbedding(t: tf.Tensor1D, dim: number, scale = 100): tf.Tensor2D {
  if (dim % 2 !== 0 || dim < 4) throw new RangeError(`time embedding dim must be even and >= 4, got ${dim}`);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = scale * Math.exp((-Math.log(10000) * k) / (half - 1));
  const args = tf.mul(t.reshape([-1, 1]), tf.tensor2d(freqs, [1, half]));
  return tf.concat([tf.sin(args), tf.cos(args)], 1) as tf.Tensor2D;
}

/** Sinusoidal features followed by Linear(dim, 4 dim) - Mish - Linear(4 dim, dim). */
export class TimeEmbedding {
  private readonly l1: Linear;
  private readonly l2: Linear;
  constructor(
    sink: ParamSink,
    readonly dim: number,
  ) {
    this.l1 = new Linear(sink, 'time_mlp.0', dim, 4 * dim);
    this.l2 = new Linear(sink, 'time_mlp.2', 4 * dim, dim);
  }
  apply(p: ParamStore, t: tf.Tensor1D): tf.Tensor2D {
    return this.l2.apply(p, mish(this.l1.apply(p, sinusoidalEmbedding(t, this.dim)))) as tf.Tensor2D;
  }
}
