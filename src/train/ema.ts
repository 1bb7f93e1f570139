import * as tf from '@tensorflow/tfjs';
import type { ParamStore } from '../nets/params.js';

export interface EmaOptions {
  /** Warm-up exponent of the decay schedule (Diffusion Policy: 0.75). */
  power: number;
  /** Upper bound of the decay (Diffusion Policy: 0.9999). */
  maxDecay: number;
}

/**
 * Exponential moving average of weights, with the warm-up schedule of
 * Diffusion Policy's EMAModel so early averages are not stuck at the
 * random init:
 *   decay_k = min(maxDecay, 1 - (1 + k)^(-power)),
 *   ema <- decay_k ema + (1 - decay_k) p.
 */
export function emaDecay(step: number, o: EmaOptions): number {
  return Math.max(0, Math.min(o.maxDecay, 1 - Math.pow(1 + step, -o.power)));
}

export function updateEma(ema: ParamStore, params: ParamStore, step: number, o: EmaOptions): void {
  const d = emaDecay(step, o);
  tf.tidy(() => {
    for (const [name, e] of ema.tensors) {
      (e as tf.Variable).assign(tf.add(tf.mul(e, d), tf.mul(params.get(name), 1 - d)));
    }
  });
}
