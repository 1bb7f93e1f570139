import * as tf from '@tensorflow/tfjs';
import { activeNativeBlas } from '../core/native-blas.js';
import { rawElementwiseOp } from '../core/raw-kernel.js';
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

const emaStep = rawElementwiseOp(
  'FlowpolicyEma',
  ['ema', 'p'],
  1,
  ([e, p], [out], { d }) => {
    const blas = activeNativeBlas();
    if (blas) return blas.ema(e, p, out, d);
    for (let i = 0; i < out.length; i++) out[i] = d * e[i] + (1 - d) * p[i];
  },
  ([e, p], { d }) => [tf.add(tf.mul(e, d), tf.mul(p, 1 - d))],
);

export function updateEma(ema: ParamStore, params: ParamStore, step: number, o: EmaOptions): void {
  const d = emaDecay(step, o);
  for (const [name, e] of ema.tensors) {
    const [next] = tf.tidy(() => emaStep([e, params.get(name)], { d }));
    (e as tf.Variable).assign(next);
    next.dispose();
  }
}
