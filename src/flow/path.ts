/**
 * Probability paths between noise and data.
 *
 * Time convention (used everywhere in flowpolicy): t = 0 is noise
 * x0 ~ N(0, I), t = 1 is data x1 (a normalised action chunk). LeRobot and
 * openpi run time the other way.
 *
 * Batches are flat: row i of a [n, dim] batch is elements [i*dim, (i+1)*dim).
 */
export interface ProbabilityPath {
  readonly name: string;
  /**
   * Point on the path and the conditional target velocity for each row:
   * writes x_t into `xt` and u_t(x_t | x0, x1) into `ut`.
   */
  sample(x0: Float32Array, x1: Float32Array, t: Float32Array, dim: number, xt: Float32Array, ut: Float32Array): void;
}

/**
 * The linear path's point x_t = (1 - t) x0 + t x1 for elements [from, to)
 * of flat batches (linearPath's x_t; a refined student re-noises its chunk
 * x1 to time t with it, x0 fresh noise).
 */
export function linearPoint(x0: Float32Array, x1: Float32Array, t: number, xt: Float32Array, from = 0, to = xt.length): void {
  for (let k = from; k < to; k++) xt[k] = (1 - t) * x0[k] + t * x1[k];
}

/**
 * The linear (conditional optimal-transport, rectified-flow) path:
 *   x_t = (1 - t) x0 + t x1,   u_t = d x_t / dt = x1 - x0.
 */
export const linearPath: ProbabilityPath = {
  name: 'linear',
  sample(x0, x1, t, dim, xt, ut) {
    const n = t.length;
    if (x0.length !== n * dim || x1.length !== n * dim || xt.length !== n * dim || ut.length !== n * dim) {
      throw new RangeError(`linearPath.sample: expected ${n} rows of ${dim}, got x0 ${x0.length}, x1 ${x1.length}`);
    }
    for (let i = 0; i < n; i++) {
      const from = i * dim;
      linearPoint(x0, x1, t[i], xt, from, from + dim);
      for (let k = from, end = from + dim; k < end; k++) ut[k] = x1[k] - x0[k];
    }
  },
};
