import type { Rng } from '../core/rng.js';
import type { WeightMap } from '../nets/params.js';
import { RealtimeMlp, type RealtimeKernel } from './realtime-mlp.js';
import type { StudentAnchors } from './student-config.js';

/**
 * An anchored student's gate at inference, without allocation per call:
 * the logits g(c) of its ReLU MLP on the real-time engine (realtime-mlp.ts,
 * the student's kernel), their softmax
 *
 *   p_j = exp(g_j - max g) / sum_i exp(g_i - max g),
 *
 * and the anchor drawn from it by the inverse CDF, j = min { j : u < p_0 +
 * ... + p_j } for u ~ U[0, 1) (the last anchor when rounding leaves none).
 * It runs there on both of the student's engines: through tfjs the gate
 * (80,000 multiply-adds at the default size, beside the Push-T trunk's
 * 907,000) would cost more than the whole real-time trunk.
 */
export class AnchorGate {
  /** The anchors [M, latentDim], row j = z_j. */
  readonly anchors: Float32Array;
  readonly count: number;
  /** softmax(g(c)) of the last choose() or probabilitiesOf() call. */
  readonly probabilities: Float64Array;
  readonly engine: RealtimeMlp;
  private readonly uniform = new Float64Array(1);

  constructor(
    spec: StudentAnchors,
    readonly condDim: number,
    readonly latentDim: number,
    /** The gate's weights, `gate.` removed from their names (validated by the checkpoint's registry). */
    weights: WeightMap,
    options: { kernel?: RealtimeKernel } = {},
  ) {
    const anchors = weights.get('anchors');
    if (!anchors || anchors.data.length !== spec.count * latentDim) throw new Error(`anchor gate: weight 'anchors' missing or not of ${spec.count} x ${latentDim} values`);
    this.anchors = anchors.data;
    this.count = spec.count;
    this.engine = new RealtimeMlp({ gate: spec, condDim }, weights, options);
    this.probabilities = new Float64Array(spec.count);
  }

  /** softmax(g(cond)) into `probabilities` (returned). */
  probabilitiesOf(cond: ArrayLike<number>): Float64Array {
    const input = this.engine.cond;
    for (let i = 0; i < this.condDim; i++) input[i] = cond[i];
    const g = this.engine.forward();
    const p = this.probabilities;
    let max = -Infinity;
    for (let j = 0; j < this.count; j++) if (g[j] > max) max = g[j];
    let total = 0;
    for (let j = 0; j < this.count; j++) total += p[j] = Math.exp(g[j] - max);
    for (let j = 0; j < this.count; j++) p[j] /= total;
    return p;
  }

  /** The anchor drawn for `cond` with a uniform number from `rng` (read through an array: a double passed or returned across calls would be boxed, an allocation per act()). */
  choose(cond: ArrayLike<number>, rng: Rng): number {
    const p = this.probabilitiesOf(cond);
    // u - p_0 - ... - p_j < 0, kept in the array: the same test as u < p_0 + ... + p_j.
    const u = rng.fillUniform(this.uniform);
    for (let j = 0; j < this.count - 1; j++) {
      u[0] -= p[j];
      if (u[0] < 0) return j;
    }
    return this.count - 1;
  }

  /** Copy anchor j into `out` at `offset`. */
  writeAnchor(j: number, out: Float32Array, offset = 0): void {
    const L = this.latentDim;
    const a = this.anchors;
    for (let i = 0; i < L; i++) out[offset + i] = a[j * L + i];
  }
}
