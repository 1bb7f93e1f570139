import * as tf from '@tensorflow/tfjs';
import { activeNativeBlas } from '../core/native-blas.js';
import { rawElementwiseOp } from '../core/raw-kernel.js';
import type { WeightMap } from '../nets/params.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this value; 0 disables clipping. */
  gradClip: number;
}

export interface AdamWState {
  step: number;
  m: WeightMap;
  v: WeightMap;
}

/**
 * AdamW (Loshchilov & Hutter 2019) with decoupled weight decay and global
 * gradient-norm clipping, as PyTorch's torch.optim.AdamW:
 *   g <- g * min(1, clip / |g|)
 *   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
 *   p <- p (1 - lr wd) - lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)
 */

/** The update of one parameter tensor; attrs: b1, b2, bc1 = 1 - b1^k, bc2 = 1 - b2^k, eps, lr, decay = 1 - lr wd, scale (the clip factor). */
const adamStep = rawElementwiseOp(
  'FlowpolicyAdamW',
  ['p', 'g', 'm', 'v'],
  3,
  ([p, g, m, v], [pOut, mOut, vOut], { b1, b2, bc1, bc2, eps, lr, decay, scale }) => {
    const blas = activeNativeBlas();
    if (blas) return blas.adamw(p, g, m, v, pOut, mOut, vOut, b1, b2, bc1, bc2, eps, lr, decay, scale);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] * scale;
      const mi = b1 * m[i] + (1 - b1) * gi;
      const vi = b2 * v[i] + (1 - b2) * gi * gi;
      mOut[i] = mi;
      vOut[i] = vi;
      pOut[i] = p[i] * decay - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
    }
  },
  ([p, g0, m0, v0], { b1, b2, bc1, bc2, eps, lr, decay, scale }) => {
    const g = tf.mul(g0, scale);
    const m = tf.add(tf.mul(m0, b1), tf.mul(g, 1 - b1));
    const v = tf.add(tf.mul(v0, b2), tf.mul(tf.square(g), 1 - b2));
    const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
    return [tf.sub(tf.mul(p, decay), tf.mul(update, lr)), m, v];
  },
);

export class AdamW {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private k = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    readonly options: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  get step(): number {
    return this.k;
  }

  /**
   * Apply one update from gradients keyed by parameter name. Returns the
   * global gradient norm before clipping, as a scalar tensor (already read
   * once here to scale the fused per-parameter updates, so reading it again
   * costs nothing).
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): tf.Scalar {
    this.k++;
    const { beta1: b1, beta2: b2, eps, weightDecay, gradClip } = this.options;
    const bc1 = 1 - Math.pow(b1, this.k);
    const bc2 = 1 - Math.pow(b2, this.k);
    // The global norm is read back to scale every update in one pass per parameter (a free sync on wasm and cpu).
    const normT = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
    const norm = normT.dataSync()[0];
    const scale = gradClip > 0 ? Math.min(1, gradClip / (norm + 1e-6)) : 1;
    const attrs = { b1, b2, bc1, bc2, eps, lr, decay: 1 - lr * weightDecay, scale };
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const next = tf.tidy(() => adamStep([p, g, m, v], attrs));
      p.assign(next[0]);
      m.assign(next[1]);
      v.assign(next[2]);
      tf.dispose(next);
    }
    return normT;
  }

  getState(): AdamWState {
    const read = (vars: Map<string, tf.Variable>): WeightMap =>
      new Map([...vars].map(([n, t]) => [n, { shape: [...t.shape], data: (t.dataSync() as Float32Array).slice() }]));
    return { step: this.k, m: read(this.m), v: read(this.v) };
  }

  setState(state: AdamWState): void {
    for (const [vars, values] of [
      [this.m, state.m],
      [this.v, state.v],
    ] as const) {
      for (const [name, t] of vars) {
        const w = values.get(name);
        if (!w || w.data.length !== t.size) throw new Error(`optimizer state lacks '${name}' or has the wrong size`);
        const value = tf.tensor(w.data, t.shape);
        t.assign(value);
        value.dispose();
      }
    }
    this.k = state.step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}
