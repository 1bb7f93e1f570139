import { InputError } from '../core/errors.js';
import { integrate, type OdeResult, type SolverOptions, type VelocityField } from './ode.js';

/**
 * The chain of Local Flow Matching (Xu, Cheng & Xie, arXiv 2410.02548):
 * pushing pools through blocks, generating, and exact log-likelihoods.
 *
 * `blocks[0]` is block 1 (next to the data), `blocks[N-1]` block N, the free
 * block (next to the noise). Each block is a flow in its own time t in
 * [0, 1], t = 0 its noisier end (P_n; N(0, I) for block N), t = 1 its
 * data-side end (P_{n-1}; the data for block 1). The paper and its code run
 * time the other way. So:
 * - towards noise (training pools, encoding): each block from t = 1 to 0,
 *   block 1 first;
 * - towards data (generation): each block from t = 0 to 1, block N first.
 *
 * A velocity field takes and returns a whole flat batch ([n, dim]
 * row-major), as in ode.ts. Solver options are ode.ts's; the chain sets each
 * block's time span itself.
 */
export type LfmSolverOptions = Omit<SolverOptions, 't0' | 't1'>;

export interface ChainResult {
  x: Float64Array;
  /** Velocity evaluations over all blocks (network calls). */
  nfe: number;
}

function requireBlocks(blocks: readonly unknown[]): void {
  if (blocks.length === 0) throw new InputError('blocks', blocks, 'at least one block');
}

/**
 * Push a pool of P_{n-1} samples through block n, from t = 1 (data-side
 * end) to t = 0 (noisier end): the result is a pool of P_n samples, from
 * which the next block's pairs are drawn.
 */
export function pushPool(block: VelocityField, pool: ArrayLike<number>, solver: LfmSolverOptions = {}): OdeResult {
  return integrate(block, pool, { ...solver, t0: 1, t1: 0 });
}

/** Push data through blocks 1..N (each t = 1 -> 0): the latent, close to N(0, I) for a trained chain. */
export function pushThroughChain(blocks: readonly VelocityField[], data: ArrayLike<number>, solver: LfmSolverOptions = {}): ChainResult {
  requireBlocks(blocks);
  let x: ArrayLike<number> = data;
  let nfe = 0;
  for (const block of blocks) {
    const r = pushPool(block, x, solver);
    x = r.x;
    nfe += r.nfe;
  }
  return { x: x as Float64Array, nfe };
}

/**
 * Generate: from noise z ~ N(0, I) (drawn by the caller from its seeded Rng)
 * through block N, then N-1, ..., 1, each from t = 0 (noisier end) to
 * t = 1 (data-side end). `onBlock(n, x)` sees the point block n reached
 * (a sample of P_{n-1}): the (input, output) pairs a one-step block learns.
 */
export function generateThroughChain(
  blocks: readonly VelocityField[],
  noise: ArrayLike<number>,
  solver: LfmSolverOptions = {},
  onBlock?: (block: number, x: Float64Array) => void,
): ChainResult {
  requireBlocks(blocks);
  let x: ArrayLike<number> = noise;
  let nfe = 0;
  for (let n = blocks.length - 1; n >= 0; n--) {
    const r = integrate(blocks[n], x, { ...solver, t0: 0, t1: 1 });
    x = r.x;
    nfe += r.nfe;
    onBlock?.(n + 1, r.x);
  }
  return { x: x as Float64Array, nfe };
}

/**
 * Per-row divergence of a velocity field, div v = tr(dv/dx), one value per
 * row of the flat batch x (computed by the caller: exactly, by autodiff in a
 * higher layer).
 */
export type DivergenceField = (t: number, x: Float64Array) => ArrayLike<number>;

export interface DensityBlock {
  velocity: VelocityField;
  /**
   * Called right after `velocity`, with the same t and the same x array, so
   * a caller that gets both from one pass can hand back what it cached.
   */
  divergence: DivergenceField;
}

export interface LikelihoodResult {
  /** log p_data(x), one per row (natural log). */
  logLikelihood: Float64Array;
  /** The rows pushed through every block (t = 1 -> 0): the latent z. */
  latent: Float64Array;
  /** Velocity evaluations over all blocks (each with one divergence call). */
  nfe: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Exact log-likelihood of rows x under the chain, by the instantaneous change
 * of variables (Chen et al. 2018).
 *
 * Along block n's ODE dx/dt = v_n(x, t) (t = 0 noisier end, t = 1 data-side
 * end) the density obeys d/dt log p_t(x_t) = -div v_n(x_t, t). Integrate the
 * augmented ODE
 *   d/dt [x, l] = [v_n(x, t), div v_n(x, t)]
 * from t = 1 to t = 0 through block 1, then 2, ..., N, starting from
 * x^(0) = x, l = 0. It ends at the latent z = x^(N) with
 *   l = -sum_n int_0^1 div v_n(x^(n)_t, t) dt,
 * and
 *   log p_data(x) = log N(z; 0, I) + l = -|z|^2 / 2 - (d/2) ln(2 pi) + l.
 * ("Exact": no trace estimator; the error is the solver's and that of the
 * divergences the caller returns.) The official code integrates the same
 * system in its own time direction, where the divergence enters with a plus
 * sign; the two agree.
 */
export function chainLogLikelihood(blocks: readonly DensityBlock[], x: ArrayLike<number>, dim: number, solver: LfmSolverOptions = {}): LikelihoodResult {
  requireBlocks(blocks);
  if (!(Number.isInteger(dim) && dim > 0)) throw new InputError('dim', dim, 'a positive integer');
  const rows = x.length / dim;
  if (!Number.isInteger(rows)) throw new InputError('x', x, `rows of ${dim} values (length a multiple of ${dim})`);
  const size = rows * dim;
  // State [x | l]: l rides along as n extra coordinates, so the solver (and
  // dopri5's error control) treats it like the rest of the state.
  let state: Float64Array = new Float64Array(size + rows);
  for (let i = 0; i < size; i++) state[i] = x[i];
  const deriv = new Float64Array(size + rows);
  let nfe = 0;
  for (let b = 0; b < blocks.length; b++) {
    const { velocity, divergence } = blocks[b];
    const augmented: VelocityField = (t, s) => {
      const xs = s.subarray(0, size);
      const v = velocity(t, xs);
      if (v.length !== size) throw new RangeError(`chainLogLikelihood: block ${b + 1}'s velocity returned ${v.length} values for ${rows} rows of ${dim}`);
      const d = divergence(t, xs);
      if (d.length !== rows) throw new RangeError(`chainLogLikelihood: block ${b + 1}'s divergence returned ${d.length} values for ${rows} rows`);
      // integrate copies what we return before the next call, so one buffer serves every stage.
      deriv.set(v, 0);
      deriv.set(d, size);
      return deriv;
    };
    const r = integrate(augmented, state, { ...solver, t0: 1, t1: 0 });
    state = r.x;
    nfe += r.nfe;
  }
  const latent = state.slice(0, size);
  const logLikelihood = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let k = i * dim, end = k + dim; k < end; k++) sq += latent[k] * latent[k];
    logLikelihood[i] = -0.5 * sq - 0.5 * dim * LOG_2PI + state[size + i];
  }
  return { logLikelihood, latent, nfe };
}
