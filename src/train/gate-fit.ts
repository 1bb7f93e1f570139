import * as tf from '@tensorflow/tfjs';
import { Rng } from '../core/rng.js';
import { imleSelect, selectionShares } from '../flow/imle.js';
import { softCrossEntropy } from '../flow/loss.js';
import { ParamStore, type WeightMap } from '../nets/params.js';
import type { GateNet } from '../nets/gate-net.js';
import type { StudentNet } from '../policy/student-policy.js';
import { AdamW } from './adamw.js';

export interface GateFitOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** Share of the windows held out for the reported loss (not fitted on). */
  valRatio: number;
  seed: number;
}

export interface GateFitResult {
  /** The gate's weights (names without `gate.`), its anchors unchanged. */
  weights: WeightMap;
  /** Cross-entropy on the held-out windows: fitted, and of the uniform gate (log M). */
  valLoss: number;
  uniformLoss: number;
  /** The mean entropy of the targets on the held-out windows (the least the loss can reach). */
  targetEntropy: number;
  /** The share of the teacher's samples each anchor is nearest to, over all windows. */
  usage: number[];
}

/** Observation windows per forward pass when the shares are computed. */
const SHARE_WINDOWS = 256;

/**
 * The targets of an anchored student's gate: for every window, the share
 * of its K cached teacher samples nearest to each anchor's chunk
 * G(z_j, c) (flow/imle.ts selectionShares), [N, M]; `anchors` [M, latent]
 * and the generator `net` with its `params`.
 */
export function anchorShares(net: StudentNet, params: ParamStore, anchors: Float32Array, conds: Float32Array, samples: Float32Array, k: number): Float32Array {
  const L = net.trunkLatentDim;
  const M = anchors.length / L;
  const C = net.dims.condDim;
  const D = net.chunkSize;
  const N = conds.length / C;
  const shares = new Float32Array(N * M);
  const z = new Float32Array(SHARE_WINDOWS * M * L);
  for (let b = 0; b < SHARE_WINDOWS; b++) z.set(anchors, b * M * L);
  for (let o = 0; o < N; o += SHARE_WINDOWS) {
    const nb = Math.min(SHARE_WINDOWS, N - o);
    const zc = new Float32Array(nb * M * C);
    for (let b = 0; b < nb; b++) for (let j = 0; j < M; j++) zc.set(conds.subarray((o + b) * C, (o + b + 1) * C), (b * M + j) * C);
    const out = tf.tidy(() => net.apply(params, tf.tensor2d(z.subarray(0, nb * M * L), [nb * M, L]), tf.tensor2d(zc, [nb * M, C])));
    const chunks = out.dataSync();
    out.dispose();
    const dims = { batch: nb, m: M, k, dim: D };
    shares.set(selectionShares(imleSelect(chunks, samples.subarray(o * k * D, (o + nb) * k * D), dims), dims), o * M);
  }
  return shares;
}

/**
 * Fit the gate g(c) -> M logits to the anchors' shares: the soft
 * cross-entropy (flow/loss.ts) over random batches of windows, AdamW at a
 * constant learning rate, starting from `initial` (its anchors are kept).
 * Seeded and deterministic: a stopped fit is simply run again. Null when
 * `signal` aborts it.
 */
export async function fitGate(o: {
  gate: GateNet;
  initial: WeightMap;
  conds: Float32Array;
  shares: Float32Array;
  options: GateFitOptions;
  signal?: AbortSignal;
  onProgress?: (info: { step: number; steps: number; loss: number }) => void;
}): Promise<GateFitResult | null> {
  const gate = o.gate;
  const M = gate.spec.count;
  const C = gate.condDim;
  const N = o.conds.length / C;
  const { steps, batchSize, lr, valRatio, seed } = o.options;
  const rng = new Rng(seed);
  const order = Int32Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nVal = Math.min(N - 1, Math.floor(N * valRatio));
  const val = order.subarray(0, nVal);
  const fit = order.subarray(nVal);
  const gather = (rows: ArrayLike<number>): { c: tf.Tensor2D; w: tf.Tensor2D } => {
    const c = new Float32Array(rows.length * C);
    const w = new Float32Array(rows.length * M);
    for (let r = 0; r < rows.length; r++) {
      c.set(o.conds.subarray(rows[r] * C, (rows[r] + 1) * C), r * C);
      w.set(o.shares.subarray(rows[r] * M, (rows[r] + 1) * M), r * M);
    }
    return { c: tf.tensor2d(c, [rows.length, C]), w: tf.tensor2d(w, [rows.length, M]) };
  };

  const params = ParamStore.fromWeights(gate.registry, o.initial, { kind: 'trainable' });
  const trained = new Map([...params.variables()].filter(([name]) => name !== gate.anchors));
  const adam = new AdamW(trained, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 0 });
  const batchRows = new Int32Array(batchSize);
  try {
    for (let step = 1; step <= steps; step++) {
      if (o.signal?.aborted) return null;
      for (let b = 0; b < batchSize; b++) batchRows[b] = fit[rng.int(fit.length)];
      const batch = gather(batchRows);
      const { value, grads } = tf.variableGrads(() => softCrossEntropy(gate.apply(params, batch.c), batch.w), [...trained.values()]);
      const byName = new Map([...trained].map(([name, v]) => [name, grads[v.name]]));
      adam.apply(byName, lr).dispose();
      const loss = value.dataSync()[0];
      tf.dispose([value, batch.c, batch.w, ...Object.values(grads)]);
      o.onProgress?.({ step, steps, loss });
      if (step % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const held = gather(nVal > 0 ? val : fit);
    const [valLoss, uniformLoss, targetEntropy] = tf.tidy(() => [
      softCrossEntropy(gate.apply(params, held.c), held.w),
      softCrossEntropy(tf.zeros([held.c.shape[0], M]) as tf.Tensor2D, held.w),
      tf.neg(tf.mean(tf.sum(tf.mul(held.w, tf.log(tf.add(held.w, 1e-12))), 1))),
    ]).map((t) => t.dataSync()[0]);
    tf.dispose([held.c, held.w]);
    const usage = new Array<number>(M).fill(0);
    for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) usage[j] += o.shares[i * M + j] / N;
    return { weights: params.toWeights(), valLoss, uniformLoss, targetEntropy, usage };
  } finally {
    params.dispose();
    adam.dispose();
  }
}
