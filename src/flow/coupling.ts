/**
 * Minibatch optimal-transport coupling (OT-CFM, Tong et al. 2023; Pooladian
 * et al. 2023): within a batch, re-pair noise samples x0 with data samples
 * x1 so that the total squared distance sum_i |x0_perm(i) - x1_i|^2 is
 * minimal. With equal batch sizes and uniform weights, the OT plan is a
 * permutation, found exactly by the assignment problem.
 */

/**
 * Exact linear assignment: the permutation `colOf` (row i -> column colOf[i])
 * minimising sum_i cost[i * n + colOf[i]]. Shortest augmenting paths with
 * dual potentials (Kuhn–Munkres in the Jonker–Volgenant form), O(n^3).
 */
export function solveAssignment(cost: Float64Array, n: number): Int32Array {
  if (cost.length !== n * n) throw new RangeError(`solveAssignment: cost must be ${n}x${n}, got ${cost.length} entries`);
  const INF = Number.POSITIVE_INFINITY;
  // 1-based arrays; index 0 is the virtual source column.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const rowOfCol = new Int32Array(n + 1);
  const way = new Int32Array(n + 1);
  const minv = new Float64Array(n + 1);
  const used = new Uint8Array(n + 1);
  for (let i = 1; i <= n; i++) {
    rowOfCol[0] = i;
    let j0 = 0;
    minv.fill(INF);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = rowOfCol[j0];
      let delta = INF;
      let j1 = 0;
      const rowBase = (i0 - 1) * n - 1;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[rowBase + j] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[rowOfCol[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (rowOfCol[j0] !== 0);
    do {
      const j1 = way[j0];
      rowOfCol[j0] = rowOfCol[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const colOf = new Int32Array(n);
  for (let j = 1; j <= n; j++) colOf[rowOfCol[j] - 1] = j - 1;
  return colOf;
}

/**
 * OT pairing of a batch: returns `perm` such that x0 row perm[i] goes with
 * x1 row i, minimising the summed squared Euclidean distance.
 */
export function otCoupling(x0: Float32Array, x1: Float32Array, n: number, dim: number): Int32Array {
  const cost = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let k = 0; k < dim; k++) {
        const diff = x1[i * dim + k] - x0[j * dim + k];
        d += diff * diff;
      }
      cost[i * n + j] = d;
    }
  }
  return solveAssignment(cost, n);
}

/** Reorder the rows of `x` by `perm` (row i of the result is row perm[i] of x). */
export function permuteRows(x: Float32Array, perm: Int32Array, dim: number, out = new Float32Array(x.length)): Float32Array {
  for (let i = 0; i < perm.length; i++) out.set(x.subarray(perm[i] * dim, perm[i] * dim + dim), i * dim);
  return out;
}
