import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/rng.js';
import type { Normalizer } from '../data/normalizer.js';
import type { WindowSampler } from '../data/windows.js';
import { otCoupling, permuteRows } from '../flow/coupling.js';
import { ouStep } from '../flow/lfm-ou.js';
import { cfmLoss } from '../flow/loss.js';
import type { ProbabilityPath } from '../flow/path.js';
import { sampleTimes, type TimeSamplerConfig } from '../flow/time-sampler.js';
import type { ParamStore } from '../nets/params.js';
import type { VelocityNet } from '../nets/velocity-net.js';
import type { StepBatch } from './optimization-loop.js';

/**
 * The regression batches of a conditional velocity field, shared by the
 * flow-matching teacher and every block of a Local Flow Matching chain.
 *
 * A pair is (x0, x1) under a condition c: x1 at t = 1 is a sample of the
 * data-side distribution (a training chunk, or a pool sample for an LFM
 * block), x0 at t = 0 its noisier partner,
 *   x0 = e^{-g} x1 + sqrt(1 - e^{-2g}) z,   z ~ N(0, I)
 * (one OU step of size g, lfm-ou.ts), or x0 = z for g = Infinity (flow
 * matching, and the free last block of a chain). The regression target is
 * the path's velocity u_t at x_t, t drawn from the time sampler.
 *
 * A step draws, from the run's generator and in this order: the rows,
 * the noise z, the times. The order is part of the contract: a chain of one
 * free block with the linear path draws exactly flow matching's batches
 * for the same seed.
 */
export interface PairSource {
  /** How many rows to draw from. */
  readonly rows: number;
  /** Copy rows `idx` into `cond` ([n, condDim]) and `x1` ([n, dim]), normalised. */
  fill(idx: ArrayLike<number>, cond: Float32Array, x1: Float32Array): void;
}

/** Training windows as a pair source (flow matching, and the pool P_0 of a chain). */
export function windowPairSource(windows: WindowSampler, normalizer: Normalizer): PairSource {
  return { rows: windows.length, fill: (idx, cond, x1) => windows.fill(idx, cond, x1, normalizer) };
}

/** A pool of chunks kept with their conditions as a pair source; row i is (cond[i], chunks[i]). */
export function poolPairSource(cond: Float32Array, chunks: Float32Array, condDim: number, dim: number): PairSource {
  const rows = chunks.length / dim;
  if (!Number.isInteger(rows) || cond.length !== rows * condDim) throw new RangeError(`poolPairSource: ${chunks.length} chunk values and ${cond.length} condition values do not form rows of ${dim} and ${condDim}`);
  return {
    rows,
    fill: (idx, c, x1) => {
      for (let b = 0; b < idx.length; b++) {
        const r = idx[b];
        c.set(cond.subarray(r * condDim, (r + 1) * condDim), b * condDim);
        x1.set(chunks.subarray(r * dim, (r + 1) * dim), b * dim);
      }
    },
  };
}

/**
 * Rows that each hold both ends of a pair, already coupled: a teacher's
 * noise x0 and the sample its ODE took it to, x1 (reflow). No noise is
 * drawn: the coupling is the data.
 */
export interface CoupledPairSource {
  readonly rows: number;
  /** Copy rows `idx` into `cond` ([n, condDim]), `x0` and `x1` ([n, dim]), normalised. */
  fill(idx: ArrayLike<number>, cond: Float32Array, x0: Float32Array, x1: Float32Array): void;
}

/** How pairs are made from a source's rows. */
export interface PairRule {
  /** OU step size between x1 and x0; Infinity: x0 is pure noise. */
  g: number;
  path: ProbabilityPath;
  timeSampler: TimeSamplerConfig;
  /** Minibatch OT pairing of noise rows with x1 rows; applies to pure-noise pairs (g = Infinity) only. */
  otCoupling: boolean;
}

/** Regression inputs for `n` rows: the condition, x_t, t and the target u_t. */
export interface Pairs {
  n: number;
  cond: Float32Array<ArrayBuffer>;
  xt: Float32Array<ArrayBuffer>;
  t: Float32Array<ArrayBuffer>;
  ut: Float32Array<ArrayBuffer>;
}

/** Draws training batches of `batch` rows into buffers reused from step to step. */
export class PairBatcher {
  readonly pairs: Pairs;
  private readonly idx: Int32Array;
  private readonly x1: Float32Array<ArrayBuffer>;
  private readonly x0: Float32Array<ArrayBuffer>;
  private readonly x0p: Float32Array<ArrayBuffer>;

  constructor(
    readonly batch: number,
    readonly condDim: number,
    readonly dim: number,
  ) {
    this.pairs = { n: batch, cond: new Float32Array(batch * condDim), xt: new Float32Array(batch * dim), t: new Float32Array(batch), ut: new Float32Array(batch * dim) };
    this.idx = new Int32Array(batch);
    this.x1 = new Float32Array(batch * dim);
    this.x0 = new Float32Array(batch * dim);
    this.x0p = new Float32Array(batch * dim);
  }

  /** One batch of coupled rows: rows uniformly with replacement, then times; the path between each row's own ends. */
  drawCoupled(source: CoupledPairSource, rule: Pick<PairRule, 'path' | 'timeSampler'>, rng: Rng): Pairs {
    const { batch: B, dim: D, idx, x1, x0 } = this;
    for (let i = 0; i < B; i++) idx[i] = rng.int(source.rows);
    source.fill(idx, this.pairs.cond, x0, x1);
    sampleTimes(rule.timeSampler, B, rng, this.pairs.t);
    rule.path.sample(x0, x1, this.pairs.t, D, this.pairs.xt, this.pairs.ut);
    return this.pairs;
  }

  /** One batch: rows uniformly with replacement, then noise, then times (see the module comment). */
  draw(source: PairSource, rule: PairRule, rng: Rng): Pairs {
    const { batch: B, dim: D, idx, x1, x0 } = this;
    for (let i = 0; i < B; i++) idx[i] = rng.int(source.rows);
    source.fill(idx, this.pairs.cond, x1);
    rng.fillNormal(x0);
    let start: Float32Array = x0;
    if (rule.g !== Infinity) ouStep(x1, rule.g, x0, x0);
    else if (rule.otCoupling) start = permuteRows(x0, otCoupling(x0, x1, B, D), D, this.x0p);
    sampleTimes(rule.timeSampler, B, rng, this.pairs.t);
    rule.path.sample(start, x1, this.pairs.t, D, this.pairs.xt, this.pairs.ut);
    return this.pairs;
  }
}

/**
 * Pairs over every row of `source`, drawn once from `rng` (noise, then
 * times; no OT coupling), so that successive validation losses compare like
 * with like. Null for an empty source.
 */
export function fixedPairs(source: PairSource, rule: PairRule, rng: Rng, condDim: number, dim: number): Pairs | null {
  const n = source.rows;
  if (n === 0) return null;
  const cond = new Float32Array(n * condDim);
  const x1 = new Float32Array(n * dim);
  source.fill(Int32Array.from({ length: n }, (_, i) => i), cond, x1);
  const x0 = new Float32Array(n * dim);
  rng.fillNormal(x0);
  if (rule.g !== Infinity) ouStep(x1, rule.g, x0, x0);
  const t = new Float32Array(n);
  sampleTimes(rule.timeSampler, n, rng, t);
  const xt = new Float32Array(n * dim);
  const ut = new Float32Array(n * dim);
  rule.path.sample(x0, x1, t, dim, xt, ut);
  return { n, cond, xt, t, ut };
}

/** The optimizer step of a batch: the regression loss of `net` with the trainable `params`. */
export function regressionStep(net: VelocityNet, params: ParamStore, p: Pairs): StepBatch {
  const { condDim, horizon, actionDim } = net.dims;
  const D = horizon * actionDim;
  const xtT = tf.tensor2d(p.xt, [p.n, D]);
  const tT = tf.tensor1d(p.t);
  const condT = tf.tensor2d(p.cond, [p.n, condDim]);
  const utT = tf.tensor2d(p.ut, [p.n, D]);
  return { loss: () => cfmLoss(net.apply(params, xtT, tT, condT), utT), tensors: [xtT, tT, condT, utT] };
}

/** Mean regression loss of `net` with weights `store` over fixed pairs, in batches of `batch` rows. */
export function pairsLoss(net: VelocityNet, store: ParamStore, p: Pairs, batch: number): number {
  const { condDim, horizon, actionDim } = net.dims;
  const D = horizon * actionDim;
  let sum = 0;
  for (let s = 0; s < p.n; s += batch) {
    const e = Math.min(p.n, s + batch);
    const b = e - s;
    const l = tf.tidy(() => {
      const v = net.apply(store, tf.tensor2d(p.xt.subarray(s * D, e * D), [b, D]), tf.tensor1d(p.t.subarray(s, e)), tf.tensor2d(p.cond.subarray(s * condDim, e * condDim), [b, condDim]));
      return tf.mul(cfmLoss(v, tf.tensor2d(p.ut.subarray(s * D, e * D), [b, D])), b);
    });
    sum += l.dataSync()[0];
    l.dispose();
  }
  return sum / p.n;
}
