import { InputError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/**
 * One exact Ornstein–Uhlenbeck step, the noising move of Local Flow Matching
 * (arXiv 2410.02548):
 *   a' = e^{-g} a + sqrt(1 - e^{-2g}) z,   z ~ N(0, I).
 * It is the exact transition over time g of dX = -X ds + sqrt(2) dW, which
 * keeps N(0, I) invariant and pulls every other law towards it: N(m, S) goes
 * to N(e^{-g} m, e^{-2g} S + (1 - e^{-2g}) I).
 *
 * Time: in a block's flow a' sits at t = 0 (the noisier end) and a at t = 1
 * (the data-side end); the paper and its code run time the other way.
 *
 * g = Infinity gives a' = z: the pairs of the free last block (P_{N-1}
 * against independent noise), which with N = 1 are plain flow matching's.
 *
 * Batches are flat ([n, dim] row-major); the step is elementwise, so rows and
 * dimensions need no separate handling.
 */
function ouCoefficients(g: number): [number, number] {
  if (!(g > 0)) throw new InputError('g', g, 'an OU step size > 0 (Infinity for the free last block)');
  // expm1 keeps 1 - e^{-2g} accurate for the small steps next to the data.
  return [Math.exp(-g), Math.sqrt(-Math.expm1(-2 * g))];
}

/** a' from given noise z; `out` may be `a` or `z` itself (in place). */
export function ouStep<T extends Float32Array | Float64Array = Float32Array>(
  a: ArrayLike<number>,
  g: number,
  z: ArrayLike<number>,
  out: T = new Float32Array(a.length) as T,
): T {
  const [shrink, spread] = ouCoefficients(g);
  if (z.length !== a.length || out.length !== a.length) {
    throw new RangeError(`ouStep: a has ${a.length} values, z ${z.length}, out ${out.length}; expected all equal`);
  }
  // The free block's pairs must be exactly z, not 0 * a (NaN for an infinite a).
  if (shrink === 0) for (let i = 0; i < a.length; i++) out[i] = z[i];
  else for (let i = 0; i < a.length; i++) out[i] = shrink * a[i] + spread * z[i];
  return out;
}

/**
 * a' for a whole batch of pool samples `a`, drawing z from the seeded `rng`
 * (one normal per element, in order, so a seed fixes the pairs). `out` may be
 * `a` itself.
 */
export function ouStepPairs<T extends Float32Array | Float64Array = Float32Array>(
  a: ArrayLike<number>,
  g: number,
  rng: Rng,
  out: T = new Float32Array(a.length) as T,
): T {
  const [shrink, spread] = ouCoefficients(g);
  if (out.length !== a.length) throw new RangeError(`ouStepPairs: a has ${a.length} values, out ${out.length}`);
  for (let i = 0; i < a.length; i++) {
    const z = rng.normal();
    out[i] = shrink === 0 ? z : shrink * a[i] + spread * z;
  }
  return out;
}
