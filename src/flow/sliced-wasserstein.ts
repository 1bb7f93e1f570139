import { Rng } from '../core/rng.js';

/**
 * Sliced Wasserstein distance between two equal-size samples in R^d
 * (Rabin et al. 2011; Bonneel et al. 2015):
 *   SW_p(a, b) = ( E_theta W_p^p(<a, theta>, <b, theta>) )^(1/p),
 * theta uniform on the unit sphere, estimated with `projections` random
 * directions; each 1-D distance is exact (sort both projections and pair
 * them in order). Used to score generated samples against true ones.
 */
export function slicedWasserstein(a: Float32Array, b: Float32Array, dim: number, options: { projections?: number; p?: number; seed?: number } = {}): number {
  const { projections = 128, p = 2, seed = 0 } = options;
  const n = a.length / dim;
  if (!Number.isInteger(n) || b.length !== a.length) throw new RangeError(`slicedWasserstein: need two samples of equal size in R^${dim}, got ${a.length} and ${b.length} values`);
  const rng = new Rng(seed);
  const pa = new Float64Array(n);
  const pb = new Float64Array(n);
  const theta = new Float64Array(dim);
  let total = 0;
  for (let k = 0; k < projections; k++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      theta[j] = rng.normal();
      norm += theta[j] * theta[j];
    }
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) {
      let sa = 0;
      let sb = 0;
      for (let j = 0; j < dim; j++) {
        sa += a[i * dim + j] * theta[j];
        sb += b[i * dim + j] * theta[j];
      }
      pa[i] = sa / norm;
      pb[i] = sb / norm;
    }
    pa.sort();
    pb.sort();
    let w = 0;
    for (let i = 0; i < n; i++) w += Math.abs(pa[i] - pb[i]) ** p;
    total += w / n;
  }
  return (total / projections) ** (1 / p);
}
