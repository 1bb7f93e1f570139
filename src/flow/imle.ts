import * as tf from '@tensorflow/tfjs';
import { solveAssignment } from './coupling.js';

/**
 * Implicit Maximum Likelihood Estimation (Li & Malik 2018), as used to
 * distil a many-step flow teacher into a one-step generator (MoFlow; IMLE
 * Policy), with the rejection radius of rejection-sampling IMLE.
 * Robot-agnostic: rows are flat vectors (for a policy, whole action chunks).
 *
 * For each condition c_b (b < B) there are K teacher samples y_{b,k} and m
 * generator samples s_{b,j} = G(z_{b,j}, c_b), z ~ N(0, I), all in R^D.
 * Each teacher sample picks its nearest generator sample of the same
 * condition, among those farther than the rejection radius epsilon:
 *
 *   j*(b,k) = argmin_{ j < m : ||s_{b,j} - y_{b,k}||_2 > epsilon } ||s_{b,j} - y_{b,k}||_2
 *
 *   L = 1/|V| sum_{(b,k) in V} ||s_{b,j*(b,k)} - y_{b,k}||_2
 *
 * with the un-squared L2 norm over the whole row, and V the pairs that have
 * a candidate (every pair when epsilon = 0, which disables rejection; with
 * epsilon > 0 a teacher sample whose every generator sample lies within
 * epsilon is already covered and drops out of the loss). The selection j*
 * is not differentiated through: gradients reach only the selected
 * generator samples, each pulled towards the teacher samples that chose it.
 * Because every teacher sample pulls its own nearest sample, every mode of
 * the teacher keeps generator samples near it, with about the teacher's
 * weights; plain regression (below) collapses to the conditional mean.
 *
 * The matching variant (m >= K) gives the teacher samples of a condition
 * distinct generator samples, the assignment of least total distance:
 *
 *   j* = argmin over injective j : {0..K-1} -> {0..m-1} of sum_k ||s_{b,j(k)} - y_{b,k}||_2
 *
 * (pairs within epsilon cost +inf, and drop out if assigned). Under the
 * nearest rule several teacher samples can pick one generator sample,
 * which is then pulled towards their median; matching pulls each towards
 * one.
 *
 * Layouts: generator samples [B * m, D] (condition-major: row b * m + j),
 * teacher samples [B * K, D] (row b * K + k).
 */
export interface ImleDims {
  /** Conditions B. */
  batch: number;
  /** Generator samples per condition m. */
  m: number;
  /** Teacher samples per condition K. */
  k: number;
  /** Row length D. */
  dim: number;
}

/** How teacher samples choose generator samples: each its nearest, or a least-distance one-to-one matching. */
export type ImleAssignment = 'nearest' | 'matching';

export interface ImleSelection {
  /** j*(b,k) for row b * K + k, or -1 when every candidate was rejected. */
  index: Int32Array;
  /** ||s_{b,j*} - y_{b,k}||_2 (float64 arithmetic), NaN when rejected. */
  distance: Float64Array;
  /** Number of pairs with a selected sample (|V|). */
  valid: number;
}

function checkDims(student: ArrayLike<number>, teacher: ArrayLike<number>, d: ImleDims): void {
  for (const [name, v] of Object.entries(d)) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`imle: ${name} must be a positive integer, got ${v}`);
  }
  if (student.length !== d.batch * d.m * d.dim) throw new RangeError(`imle: ${student.length} generator values, expected B ${d.batch} x m ${d.m} x D ${d.dim}`);
  if (teacher.length !== d.batch * d.k * d.dim) throw new RangeError(`imle: ${teacher.length} teacher values, expected B ${d.batch} x K ${d.k} x D ${d.dim}`);
}

/** ||a[ao : ao + dim] - b[bo : bo + dim]||_2 in float64. */
function rowDistance(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, dim: number): number {
  let ss = 0;
  for (let i = 0; i < dim; i++) {
    const diff = a[ao + i] - b[bo + i];
    ss += diff * diff;
  }
  return Math.sqrt(ss);
}

/**
 * The nearest-neighbour selection j*(b,k) above. Ties go to the lowest j.
 * `epsilon` = 0 disables rejection (a generator sample equal to the teacher
 * sample is then a valid, perfect match).
 */
export function imleSelect(student: ArrayLike<number>, teacher: ArrayLike<number>, dims: ImleDims, epsilon = 0, assignment: ImleAssignment = 'nearest'): ImleSelection {
  checkDims(student, teacher, dims);
  if (!(epsilon >= 0)) throw new RangeError(`imle: epsilon must be >= 0, got ${epsilon}`);
  if (assignment === 'matching') return matchingSelect(student, teacher, dims, epsilon);
  const { batch, m, k, dim } = dims;
  const index = new Int32Array(batch * k).fill(-1);
  const distance = new Float64Array(batch * k).fill(NaN);
  let valid = 0;
  for (let b = 0; b < batch; b++) {
    for (let q = 0; q < k; q++) {
      const row = b * k + q;
      const yo = row * dim;
      let best = Infinity;
      let arg = -1;
      for (let j = 0; j < m; j++) {
        const dist = rowDistance(student, (b * m + j) * dim, teacher, yo, dim);
        if (epsilon > 0 && !(dist > epsilon)) continue;
        if (dist < best) {
          best = dist;
          arg = j;
        }
      }
      if (arg >= 0) {
        index[row] = arg;
        distance[row] = best;
        valid++;
      }
    }
  }
  return { index, distance, valid };
}

/** Stands in for +inf in the assignment costs (the solver needs finite sums). */
const REJECTED = 1e30;

/** The matching selection: per condition, an m x m assignment with m - K zero-cost dummy teacher rows. */
function matchingSelect(student: ArrayLike<number>, teacher: ArrayLike<number>, dims: ImleDims, epsilon: number): ImleSelection {
  const { batch, m, k, dim } = dims;
  if (m < k) throw new RangeError(`imle: matching needs at least as many generator samples as teacher samples (m ${m} < K ${k})`);
  const index = new Int32Array(batch * k).fill(-1);
  const distance = new Float64Array(batch * k).fill(NaN);
  const cost = new Float64Array(m * m);
  const dist = new Float64Array(k * m);
  let valid = 0;
  for (let b = 0; b < batch; b++) {
    cost.fill(0);
    for (let q = 0; q < k; q++) {
      const yo = (b * k + q) * dim;
      for (let j = 0; j < m; j++) {
        const d = rowDistance(student, (b * m + j) * dim, teacher, yo, dim);
        dist[q * m + j] = d;
        cost[q * m + j] = epsilon > 0 && !(d > epsilon) ? REJECTED : d;
      }
    }
    const colOf = solveAssignment(cost, m);
    for (let q = 0; q < k; q++) {
      const j = colOf[q];
      if (cost[q * m + j] >= REJECTED) continue;
      index[b * k + q] = j;
      distance[b * k + q] = dist[q * m + j];
      valid++;
    }
  }
  return { index, distance, valid };
}

/**
 * Row indices of the selected pairs: generator row b * m + j*(b,k) and
 * teacher row b * K + k, for every pair in V, in (b, k) order.
 */
export function selectedRows(selection: ImleSelection, dims: ImleDims): { student: Int32Array; teacher: Int32Array } {
  const student = new Int32Array(selection.valid);
  const teacher = new Int32Array(selection.valid);
  let o = 0;
  for (let row = 0; row < selection.index.length; row++) {
    const j = selection.index[row];
    if (j < 0) continue;
    const b = Math.floor(row / dims.k);
    student[o] = b * dims.m + j;
    teacher[o] = row;
    o++;
  }
  return { student, teacher };
}

/**
 * The share of a condition's teacher samples that chose each of its
 * generator samples:
 *
 *   w_{b,j} = |{ k : j*(b,k) = j }| / K,   [B, m], row b = condition b
 *
 * (a rejected pair counts for none). When the m generator samples come
 * from m fixed latents, the same for every condition (an anchored
 * student's anchors), w_b estimates how much of the teacher's distribution
 * under c_b each latent's chunk stands for: what its gate learns.
 */
export function selectionShares(selection: ImleSelection, dims: ImleDims): Float32Array {
  const shares = new Float32Array(dims.batch * dims.m);
  for (let row = 0; row < selection.index.length; row++) {
    const j = selection.index[row];
    if (j >= 0) shares[Math.floor(row / dims.k) * dims.m + j] += 1 / dims.k;
  }
  return shares;
}

/**
 * Mean over rows of ||a_r - b_r||_2 (un-squared), the IMLE distance.
 * sqrt(sum + 1e-12) keeps the gradient finite where a row matches exactly
 * (there it is zero, as the true subgradient allows).
 */
export function meanRowDistance(a: tf.Tensor2D, b: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sqrt(tf.add(tf.sum(tf.squaredDifference(a, b), 1), 1e-12))) as tf.Scalar);
}

/**
 * The IMLE loss L above, differentiable in `student` ([B * m, D]):
 * selection on its current values (not differentiated), then the mean
 * distance of the selected rows to their teacher samples. With no valid
 * pair the loss is 0 (with a zero gradient).
 */
export function imleLoss(student: tf.Tensor2D, teacher: tf.Tensor2D | Float32Array, dims: ImleDims, epsilon = 0): { loss: tf.Scalar; selection: ImleSelection } {
  const sValues = student.dataSync();
  const tValues = teacher instanceof Float32Array ? teacher : teacher.dataSync();
  const selection = imleSelect(sValues, tValues, dims, epsilon);
  const loss = tf.tidy(() => {
    if (selection.valid === 0) return tf.mul(tf.sum(student), 0) as tf.Scalar;
    const rows = selectedRows(selection, dims);
    // The selected rows as a one-hot product (tf.gather's gradient has no wasm kernel).
    const pick = new Float32Array(selection.valid * dims.batch * dims.m);
    rows.student.forEach((r, i) => (pick[i * dims.batch * dims.m + r] = 1));
    const picked = tf.matMul(tf.tensor2d(pick, [selection.valid, dims.batch * dims.m]), student) as tf.Tensor2D;
    const targets = Float32Array.from({ length: selection.valid * dims.dim }, (_, i) => tValues[rows.teacher[Math.floor(i / dims.dim)] * dims.dim + (i % dims.dim)]);
    return meanRowDistance(picked, tf.tensor2d(targets, [selection.valid, dims.dim]));
  });
  return { loss, selection };
}

/**
 * Plain regression onto teacher samples, the negative control: row r of the
 * generator (one fresh latent per teacher sample) is pulled to teacher
 * sample r, L = mean_r ||s_r - y_r||_2^2. Its minimiser ignores the latent
 * and outputs the conditional mean E[y | c], which lies between the modes
 * of a multimodal teacher.
 */
export function regressionLoss(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.squaredDifference(student, teacher), 1)) as tf.Scalar);
}
